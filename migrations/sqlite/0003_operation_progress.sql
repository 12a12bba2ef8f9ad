-- Progress a running handler reports: {"percent": 0-100, "message": "..."}.
ALTER TABLE operations ADD COLUMN progress TEXT CHECK (progress IS NULL OR json_valid(progress));

DROP TRIGGER operations_touch_updated_at;
CREATE TRIGGER operations_touch_updated_at
AFTER UPDATE OF operation_type, status, result, error_message, error_code, attempts, progress ON operations
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE operations
       SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE id = NEW.id;
END;
