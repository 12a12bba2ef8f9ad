-- Every change of an operation, by this service or any other program, is
-- recorded here in commit order, so that each process can tell which of
-- the operations it holds in memory changed. The service reads it every
-- few tens of milliseconds and deletes all but the newest rows; the newest
-- row is never deleted, so a sequence number is never used twice.
CREATE TABLE operation_changes (
    seq INTEGER PRIMARY KEY,
    operation_id TEXT NOT NULL
);

CREATE TRIGGER operations_record_insert AFTER INSERT ON operations
BEGIN
    INSERT INTO operation_changes (operation_id) VALUES (NEW.id);
END;

CREATE TRIGGER operations_record_update
AFTER UPDATE OF operation_type, status, result, error_message, error_code, attempts, progress, created_at, updated_at
ON operations
BEGIN
    INSERT INTO operation_changes (operation_id) VALUES (NEW.id);
END;

CREATE TRIGGER operations_record_delete AFTER DELETE ON operations
BEGIN
    INSERT INTO operation_changes (operation_id) VALUES (OLD.id);
END;
