-- The per-user index of bookings, written behind them by a periodic pass rather than in each
-- reservation's transaction (docs/decisions/0012): an index keyed by user costs one random page
-- per reservation; a pass sorting a few seconds' worth writes many entries per page.
-- idem_key is '' for a booking made without an Idempotency-Key.
CREATE TABLE booking_owners (
    user_id     TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    booking_id  TEXT NOT NULL,
    PRIMARY KEY (user_id, idem_key, booking_id)
) WITHOUT ROWID;
INSERT INTO booking_owners (user_id, idem_key, booking_id)
    SELECT user_id, COALESCE(idem_key, ''), id FROM bookings;
DROP INDEX bookings_user;

-- Every booking whose entry was added before indexed_through_ms (unix ms, real clock) is in
-- booking_owners; clean = 1 after a graceful stop (nothing waits in memory). Otherwise start-up
-- indexes again the bookings minted since the mark, less a margin.
CREATE TABLE booking_owners_mark (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_through_ms  INTEGER NOT NULL,
    clean               INTEGER NOT NULL CHECK (clean IN (0, 1))
);
INSERT INTO booking_owners_mark (id, indexed_through_ms, clean)
    VALUES (1, CAST(strftime('%s', 'now') AS INTEGER) * 1000, 1);
