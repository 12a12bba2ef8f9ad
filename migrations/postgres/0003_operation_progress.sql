-- Progress a running handler reports: {"percent": 0-100, "message": "..."}.
ALTER TABLE operations ADD COLUMN progress JSONB;

DROP TRIGGER operations_touch_updated_at ON operations;
CREATE TRIGGER operations_touch_updated_at
BEFORE UPDATE OF operation_type, status, result, error_message, error_code, attempts, progress ON operations
FOR EACH ROW EXECUTE FUNCTION operations_touch_updated_at();

-- Every change, by this service or any other program, is announced on the
-- channel longrun_operations with the operation's id, so that waiting
-- clients in every process sharing the database hear of it.
CREATE FUNCTION operations_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('longrun_operations', COALESCE(NEW.id, OLD.id)::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER operations_notify_change
AFTER INSERT OR DELETE OR UPDATE OF operation_type, status, result, error_message, error_code, attempts, progress,
    created_at, updated_at
ON operations
FOR EACH ROW EXECUTE FUNCTION operations_notify_change();
