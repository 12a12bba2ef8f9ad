-- Keys the service signs with, made once per database so that every
-- process over it agrees. `completion_tokens` signs the tokens an HTTP
-- target presents to finish the operation it was handed. gen_random_uuid
-- draws from the server's strong random source.
CREATE TABLE service_keys (
    name TEXT PRIMARY KEY,
    key  TEXT NOT NULL
);
INSERT INTO service_keys (name, key)
VALUES ('completion_tokens', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
