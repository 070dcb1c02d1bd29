-- The virtual waiting room (survives restarts) and e-ticket check-ins.
CREATE TABLE queue_entries (
    id           INTEGER PRIMARY KEY,
    show_id      TEXT NOT NULL REFERENCES shows (id),
    user_id      TEXT NOT NULL,
    position     INTEGER NOT NULL,
    joined_ms    INTEGER NOT NULL,
    admitted_ms  INTEGER,
    UNIQUE (show_id, user_id)
);
CREATE INDEX queue_waiting ON queue_entries (show_id, admitted_ms, position);

CREATE TABLE ticket_checkins (
    booking_id  TEXT PRIMARY KEY REFERENCES bookings (id),
    used_ms     INTEGER NOT NULL,
    used_by     TEXT NOT NULL
);
