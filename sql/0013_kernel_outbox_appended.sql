-- The outbox as a rowid table: rows are appended at the right edge of an integer B-tree, which
-- SQLite fills page by page, where the text-keyed (WITHOUT ROWID) table split and rebalanced
-- three sibling pages as it grew: ~12 of the ~30 pages a batch of ~40 reservations wrote to the
-- WAL, now ~5 (tests/load/wal_pages.py counts them; ADR 0015). Only undelivered events are
-- indexed (few, and gone from the index once delivered); seq is the commit order.
CREATE TABLE outbox_appended (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL,
    type         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    delivered_ms INTEGER
);
INSERT INTO outbox_appended (id, type, payload, created_ms, delivered_ms)
    SELECT id, type, payload, created_ms, delivered_ms FROM outbox ORDER BY created_ms, id;
DROP TABLE outbox;
ALTER TABLE outbox_appended RENAME TO outbox;
CREATE INDEX outbox_undelivered ON outbox (seq) WHERE delivered_ms IS NULL;
