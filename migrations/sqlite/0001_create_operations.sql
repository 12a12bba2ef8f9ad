-- Operations, as clients poll them. Any program may insert a row with an id
-- (lowercase hyphenated UUID), an operation_type and a status; every other
-- column has a default.
CREATE TABLE operations (
    id             TEXT PRIMARY KEY NOT NULL
                   CHECK (length(id) = 36 AND id = lower(id)),
    operation_type TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    result         TEXT CHECK (result IS NULL OR json_valid(result)),
    error_message  TEXT,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- An UPDATE that does not set updated_at itself (another program's, say)
-- still moves it.
CREATE TRIGGER operations_touch_updated_at
AFTER UPDATE ON operations
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE operations
       SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE id = NEW.id;
END;
