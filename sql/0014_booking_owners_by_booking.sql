-- booking_owners keyed by (user_id, booking_id) instead of (user_id, idem_key, booking_id).
-- Idempotency keys are random within a user (UUIDs, as clients make them), so a pass's sorted
-- entries still fell on random leaves of each user's range: about one page per entry once the
-- index had grown (tests/load/wal_pages.py: 28 of the 45 pages a transaction wrote, on
-- average). Booking ids are time-ordered: each user's new entries now go to the end of that
-- user's range, a few pages per user per pass. A lookup by key reads the user's entries of the
-- last 24 h (idempotency keys expire then); idem_key stays a column (ADR 0017). The columns
-- follow the key: SQLite 3.40's integrity_check misreads a NOT NULL column placed between the
-- key's columns of a WITHOUT ROWID table as NULL.
CREATE TABLE booking_owners_by_booking (
    user_id     TEXT NOT NULL,
    booking_id  TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    PRIMARY KEY (user_id, booking_id)
) WITHOUT ROWID;
INSERT INTO booking_owners_by_booking (user_id, idem_key, booking_id)
    SELECT user_id, idem_key, booking_id FROM booking_owners ORDER BY user_id, booking_id;
DROP TABLE booking_owners;
ALTER TABLE booking_owners_by_booking RENAME TO booking_owners;
