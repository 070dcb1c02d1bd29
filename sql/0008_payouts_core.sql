-- Money: payments and their checkout sagas, the double-entry ledger, refunds and payouts.

CREATE TABLE payments (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    booking_id          TEXT NOT NULL,
    seller_id           TEXT NOT NULL,   -- whose pending balance the sale credits
    amount              INTEGER NOT NULL CHECK (amount > 0),
    fee                 INTEGER NOT NULL CHECK (fee >= 0 AND fee <= amount),
    currency            TEXT NOT NULL,
    refunded            INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    fee_refunded        INTEGER NOT NULL DEFAULT 0 CHECK (fee_refunded >= 0 AND fee_refunded <= fee),
    status              TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
    psp_intent_id       TEXT UNIQUE,
    checkout_url        TEXT,
    return_path         TEXT NOT NULL,
    escrow_due_ms       INTEGER NOT NULL,   -- the seller's share becomes available then
    escrow_released_ms  INTEGER,
    created_ms          INTEGER NOT NULL,
    updated_ms          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX payments_booking ON payments (booking_id);
CREATE INDEX payments_user ON payments (user_id, created_ms);

-- The checkout saga of a payment: its current state and every step taken, once each.
CREATE TABLE checkout_sagas (
    payment_id  TEXT PRIMARY KEY REFERENCES payments (id),
    booking_id  TEXT NOT NULL,
    state       TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX checkout_sagas_state ON checkout_sagas (state);
CREATE TABLE checkout_saga_steps (
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    step        TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    PRIMARY KEY (payment_id, step)
) WITHOUT ROWID;

-- Webhook events already applied: a replay is acknowledged and changes nothing.
CREATE TABLE psp_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    received_ms  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE refunds (
    id             TEXT PRIMARY KEY,
    payment_id     TEXT NOT NULL REFERENCES payments (id),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    currency       TEXT NOT NULL,
    reason         TEXT NOT NULL,
    actor_id       TEXT NOT NULL,   -- empty: the saga's own compensation
    status         TEXT NOT NULL CHECK (status IN ('pending', 'succeeded')),
    psp_refund_id  TEXT,
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX refunds_payment ON refunds (payment_id);

CREATE TABLE payouts (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount > 0),
    currency       TEXT NOT NULL,
    status         TEXT NOT NULL
                   CHECK (status IN ('pending_approval', 'in_transit', 'paid', 'denied')),
    reason         TEXT NOT NULL DEFAULT '',
    decided_by     TEXT,
    decided_ms     INTEGER,
    psp_payout_id  TEXT,
    paid_ms        INTEGER,
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX payouts_user ON payouts (user_id, created_ms);
CREATE INDEX payouts_status ON payouts (status, created_ms);

-- The platform's fee per tenant, in basis points; tenants without a row pay the configured default.
CREATE TABLE fee_rates (
    tenant_id   TEXT PRIMARY KEY,
    bps         INTEGER NOT NULL CHECK (bps BETWEEN 0 AND 10000),
    updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;

-- The ledger. An account's balance is its debits minus its credits, kept in step with its
-- entries; a transfer's entries sum to zero and never change.
CREATE TABLE ledger_accounts (
    id          TEXT PRIMARY KEY,   -- "<kind>:<owner>:<currency>"
    kind        TEXT NOT NULL,
    owner_id    TEXT NOT NULL,      -- "platform" for the platform's own accounts
    currency    TEXT NOT NULL,
    balance     INTEGER NOT NULL DEFAULT 0,
    created_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_id);

CREATE TABLE ledger_transfers (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    reference   TEXT NOT NULL,
    currency    TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),   -- the sum of its debits
    created_ms  INTEGER NOT NULL,
    UNIQUE (kind, reference)   -- a sale, a release, a refund happens once
) WITHOUT ROWID;

CREATE TABLE ledger_entries (
    id           INTEGER PRIMARY KEY,
    transfer_id  TEXT NOT NULL REFERENCES ledger_transfers (id),
    account_id   TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount       INTEGER NOT NULL CHECK (amount <> 0),   -- debit > 0, credit < 0
    currency     TEXT NOT NULL,
    created_ms   INTEGER NOT NULL
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_transfer ON ledger_entries (transfer_id);

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE ON ledger_transfers
BEGIN SELECT RAISE(ABORT, 'ledger transfers are immutable'); END;
CREATE TRIGGER ledger_transfers_no_delete BEFORE DELETE ON ledger_transfers
BEGIN SELECT RAISE(ABORT, 'ledger transfers are immutable'); END;
