-- Booking: events, shows, zones (with their seat counters, kept in the same transactions as
-- the bookings that move them) and bookings.
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    organizer_id    TEXT NOT NULL,
    slug            TEXT NOT NULL UNIQUE,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    category        TEXT NOT NULL DEFAULT '',
    venue           TEXT NOT NULL DEFAULT '',
    starts_ms       INTEGER NOT NULL,
    sale_starts_ms  INTEGER NOT NULL,
    max_per_user    INTEGER NOT NULL CHECK (max_per_user BETWEEN 1 AND 100000),
    currency        TEXT NOT NULL DEFAULT 'USD',
    status          TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    deleted_ms      INTEGER,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE INDEX events_listing ON events (tenant_id, status, starts_ms) WHERE deleted_ms IS NULL;
CREATE INDEX events_organizer ON events (organizer_id);

CREATE TABLE shows (
    id                TEXT PRIMARY KEY,
    event_id          TEXT NOT NULL REFERENCES events (id),
    starts_ms         INTEGER NOT NULL,
    ends_ms           INTEGER NOT NULL,
    queue_enabled     INTEGER NOT NULL DEFAULT 0,
    admit_per_minute  INTEGER NOT NULL DEFAULT 60,
    created_ms        INTEGER NOT NULL
);
CREATE INDEX shows_event ON shows (event_id, starts_ms);

CREATE TABLE zones (
    id            TEXT PRIMARY KEY,
    show_id       TEXT NOT NULL REFERENCES shows (id),
    event_id      TEXT NOT NULL REFERENCES events (id),
    name          TEXT NOT NULL,
    price_amount  INTEGER NOT NULL CHECK (price_amount >= 0),
    currency      TEXT NOT NULL,
    capacity      INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 10000000),
    held          INTEGER NOT NULL DEFAULT 0,
    confirmed     INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL,
    CHECK (held >= 0 AND confirmed >= 0 AND held + confirmed <= capacity)
);
CREATE INDEX zones_show ON zones (show_id);

CREATE TABLE bookings (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    event_id    TEXT NOT NULL REFERENCES events (id),
    show_id     TEXT NOT NULL REFERENCES shows (id),
    zone_id     TEXT NOT NULL REFERENCES zones (id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    currency    TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('reserved', 'confirmed', 'cancelled', 'expired', 'refunded')),
    expires_ms  INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;  -- time-ordered ids: one B-tree, appended at its right edge
CREATE INDEX bookings_user ON bookings (user_id, created_ms);
CREATE INDEX bookings_live ON bookings (status, zone_id);
