-- The simulated PSP's own books (it stands for a provider outside Souk: nothing else reads these).
CREATE TABLE psp_sim_intents (
    id           TEXT PRIMARY KEY,
    reference    TEXT NOT NULL UNIQUE,   -- the merchant's payment id: creating twice is one intent
    amount       INTEGER NOT NULL CHECK (amount > 0),
    currency     TEXT NOT NULL,
    return_url   TEXT NOT NULL,
    status       TEXT NOT NULL
                 CHECK (status IN ('requires_payment', 'processing', 'succeeded', 'failed')),
    charges      INTEGER NOT NULL DEFAULT 0,   -- captured charges: never more than one
    refunded     INTEGER NOT NULL DEFAULT 0,
    card_last4   TEXT NOT NULL DEFAULT '',
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE psp_sim_refunds (
    id          TEXT PRIMARY KEY,
    reference   TEXT NOT NULL UNIQUE,
    intent_id   TEXT NOT NULL REFERENCES psp_sim_intents (id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    created_ms  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE psp_sim_payouts (
    id          TEXT PRIMARY KEY,
    reference   TEXT NOT NULL UNIQUE,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    currency    TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
) WITHOUT ROWID;

-- Webhook events to the merchant, delivered until a 2xx answer.
CREATE TABLE psp_sim_webhooks (
    id            TEXT PRIMARY KEY,
    type          TEXT NOT NULL,
    body          TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    delivered_ms  INTEGER,
    created_ms    INTEGER NOT NULL
) WITHOUT ROWID;
