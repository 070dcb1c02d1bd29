-- Tables of the testkit module: routes mounted only in the `test` environment, used by the
-- kernel's integration tests to exercise writes, the outbox and durable timers end to end.
CREATE TABLE testkit_kv (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);

CREATE TABLE testkit_deliveries (
    event_id    TEXT PRIMARY KEY,
    key         TEXT NOT NULL,
    delivered_ms INTEGER NOT NULL
);
