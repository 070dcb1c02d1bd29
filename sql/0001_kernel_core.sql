-- Kernel tables: the outbox, the subscribers' inbox, durable timers and a writability probe.
CREATE TABLE outbox (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    delivered_ms INTEGER
) WITHOUT ROWID;  -- ids sort by time: the primary key is the table, appended at its right edge
CREATE INDEX outbox_undelivered ON outbox (created_ms) WHERE delivered_ms IS NULL;

CREATE TABLE inbox (
    subscriber  TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    PRIMARY KEY (subscriber, event_id)
) WITHOUT ROWID;

CREATE TABLE timers (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    due_ms      INTEGER NOT NULL,
    payload     TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    done_ms     INTEGER
);
CREATE INDEX timers_pending ON timers (due_ms) WHERE done_ms IS NULL;

CREATE TABLE kernel_probe (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    touched_ms  INTEGER NOT NULL
);
