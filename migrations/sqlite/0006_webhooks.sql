-- Completion webhooks. An operation may name its own callback.
ALTER TABLE operations ADD COLUMN callback_url TEXT;

-- Whether every finished operation is recorded for delivery (there are
-- configured endpoints), or only those with a callback_url. Set by each
-- process at start from its configuration.
CREATE TABLE webhook_recording (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    every_operation BOOLEAN NOT NULL
);
INSERT INTO webhook_recording (id, every_operation) VALUES (1, 0);

-- The outbox: an operation's finish, recorded by the statement that
-- finishes it (whichever it is), so that a crash after the commit loses
-- nothing. The dispatcher turns each event into one delivery per endpoint.
CREATE TABLE webhook_events (
    operation_id TEXT PRIMARY KEY REFERENCES operations (id) ON DELETE CASCADE,
    event_type   TEXT NOT NULL,
    recorded_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TRIGGER operations_record_webhook_event
AFTER UPDATE OF status ON operations
FOR EACH ROW
WHEN NEW.status IN ('completed', 'failed') AND OLD.status NOT IN ('completed', 'failed')
    AND (NEW.callback_url IS NOT NULL OR (SELECT every_operation FROM webhook_recording WHERE id = 1))
BEGIN
    INSERT OR IGNORE INTO webhook_events (operation_id, event_type) VALUES (NEW.id, 'operation.' || NEW.status);
END;

-- One event to one endpoint: the body as signed (the same at every
-- attempt), where it stands, and when it is next due. A claim is a lease,
-- so that one process delivers it at a time and a dead one's claims are
-- taken over.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    operation_id     TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    endpoint         TEXT NOT NULL,
    url              TEXT NOT NULL,
    webhook_id       TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'gone', 'refused', 'exhausted')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    lease_expires_at TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (operation_id, endpoint)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

-- Every attempt, for GET /api/v1/operations/{id}/deliveries.
CREATE TABLE webhook_attempts (
    delivery_id   INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    attempted_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    outcome       TEXT NOT NULL,
    response_code INTEGER,
    error         TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
