-- What workers need to run operations: the input, leases, retries,
-- idempotency keys, and why an operation failed.
ALTER TABLE operations
    ADD COLUMN input            JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN error_code       TEXT,
    ADD COLUMN attempts         INTEGER NOT NULL DEFAULT 0,
    -- Not claimed before this time: retries wait out their backoff here.
    ADD COLUMN available_at     TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    -- The worker that claimed it last, and until when its claim holds.
    ADD COLUMN claimed_by       TEXT,
    ADD COLUMN lease_expires_at TIMESTAMPTZ,
    ADD COLUMN idempotency_key  TEXT,
    ADD COLUMN request_hash     TEXT;

CREATE UNIQUE INDEX operations_idempotency_key ON operations (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX operations_claimable ON operations (created_at) WHERE status = 'pending';
CREATE INDEX operations_leases ON operations (lease_expires_at) WHERE status = 'processing';
CREATE INDEX operations_finished ON operations (updated_at) WHERE status IN ('completed', 'failed');

-- updated_at moves when what clients see changes, not when a lease is
-- renewed.
DROP TRIGGER operations_touch_updated_at ON operations;
CREATE TRIGGER operations_touch_updated_at
BEFORE UPDATE OF operation_type, status, result, error_message, error_code, attempts ON operations
FOR EACH ROW EXECUTE FUNCTION operations_touch_updated_at();
