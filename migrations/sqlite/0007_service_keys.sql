-- Keys the service signs with, made once per database so that every
-- process over it agrees. `completion_tokens` signs the tokens an HTTP
-- target presents to finish the operation it was handed.
CREATE TABLE service_keys (
    name TEXT PRIMARY KEY,
    key  TEXT NOT NULL
);
INSERT INTO service_keys (name, key) VALUES ('completion_tokens', lower(hex(randomblob(32))));
