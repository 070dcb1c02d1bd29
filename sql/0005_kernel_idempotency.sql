-- Idempotency keys: the first response to (caller, route, key) is kept 24 h and replayed byte
-- for byte; written in the same transaction as the effect where the route supports it.
CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,
    route        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    PRIMARY KEY (caller, route, idem_key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_ms);
