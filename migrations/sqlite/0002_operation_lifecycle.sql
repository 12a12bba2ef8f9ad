-- What workers need to run operations: the input, leases, retries,
-- idempotency keys, and why an operation failed.
ALTER TABLE operations ADD COLUMN input TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(input));
ALTER TABLE operations ADD COLUMN error_code TEXT;
ALTER TABLE operations ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
-- Not claimed before this time: retries wait out their backoff here.
ALTER TABLE operations ADD COLUMN available_at TEXT NOT NULL DEFAULT '1970-01-01T00:00:00.000Z';
-- The worker that claimed it last, and until when its claim holds.
ALTER TABLE operations ADD COLUMN claimed_by TEXT;
ALTER TABLE operations ADD COLUMN lease_expires_at TEXT;
ALTER TABLE operations ADD COLUMN idempotency_key TEXT;
ALTER TABLE operations ADD COLUMN request_hash TEXT;

CREATE UNIQUE INDEX operations_idempotency_key ON operations (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX operations_claimable ON operations (created_at) WHERE status = 'pending';
CREATE INDEX operations_leases ON operations (lease_expires_at) WHERE status = 'processing';
CREATE INDEX operations_finished ON operations (updated_at) WHERE status IN ('completed', 'failed');

-- updated_at moves when what clients see changes, not when a lease is
-- renewed.
DROP TRIGGER operations_touch_updated_at;
CREATE TRIGGER operations_touch_updated_at
AFTER UPDATE OF operation_type, status, result, error_message, error_code, attempts ON operations
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE operations
       SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE id = NEW.id;
END;
