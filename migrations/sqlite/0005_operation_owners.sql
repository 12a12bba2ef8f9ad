-- Who an operation belongs to: a token's `sub`, or '' for no one (created
-- without a token). Idempotency keys are each owner's own.
ALTER TABLE operations ADD COLUMN owner TEXT NOT NULL DEFAULT '';

DROP INDEX operations_idempotency_key;
CREATE UNIQUE INDEX operations_owner_idempotency_key ON operations (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Listing, newest first: an owner's, and everyone's. Operations of no one
-- (all of them in none mode) stay out of the indexes by owner, which they
-- would only slow down.
CREATE INDEX operations_by_owner ON operations (owner, created_at, id) WHERE owner <> '';
CREATE INDEX operations_by_creation ON operations (created_at, id);
-- Claims take pending operations in (created_at, id) order: with the
-- index above in the running for that order, the claimable index holds it
-- too, so that a claim never walks every operation to find the pending.
DROP INDEX operations_claimable;
CREATE INDEX operations_claimable ON operations (created_at, id) WHERE status = 'pending';
-- Counting an owner's unfinished operations, for the quota.
CREATE INDEX operations_unfinished_by_owner ON operations (owner)
    WHERE owner <> '' AND status IN ('pending', 'processing');

-- A change of owner is a change clients see.
DROP TRIGGER operations_touch_updated_at;
CREATE TRIGGER operations_touch_updated_at
AFTER UPDATE OF operation_type, status, result, error_message, error_code, attempts, progress, owner ON operations
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE operations
       SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE id = NEW.id;
END;

DROP TRIGGER operations_record_update;
CREATE TRIGGER operations_record_update
AFTER UPDATE OF operation_type, status, result, error_message, error_code, attempts, progress, owner, created_at, updated_at
ON operations
BEGIN
    INSERT INTO operation_changes (operation_id) VALUES (NEW.id);
END;
