-- Operations, as clients poll them. Any program may insert a row with an
-- id, an operation_type and a status; every other column has a default.
CREATE TABLE operations (
    id             UUID PRIMARY KEY,
    operation_type TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    result         JSONB,
    error_message  TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- An UPDATE that does not set updated_at itself (another program's, say)
-- still moves it.
CREATE FUNCTION operations_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at = OLD.updated_at THEN
        NEW.updated_at := clock_timestamp();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER operations_touch_updated_at
BEFORE UPDATE ON operations
FOR EACH ROW EXECUTE FUNCTION operations_touch_updated_at();
