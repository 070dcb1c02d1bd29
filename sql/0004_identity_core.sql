-- Identity: tenants (campuses), users, roles, refresh-token families, e-mail tokens, MFA.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',  -- {"allowed_email_domains": [".edu"], "platform_fee_bps": 500}
    created_ms  INTEGER NOT NULL
);
INSERT INTO tenants (id, slug, name, settings, created_ms) VALUES ('default', 'default', 'Souk', '{}', 0);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    email           TEXT NOT NULL UNIQUE,  -- stored lower-cased
    display_name    TEXT NOT NULL,
    bio             TEXT NOT NULL DEFAULT '',
    avatar_url      TEXT NOT NULL DEFAULT '',
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    password_hash   TEXT NOT NULL,
    email_verified  INTEGER NOT NULL DEFAULT 0,
    disabled        INTEGER NOT NULL DEFAULT 0,
    not_before_ms   INTEGER NOT NULL DEFAULT 0,  -- access tokens issued earlier are dead
    mfa_secret      TEXT,
    mfa_enabled     INTEGER NOT NULL DEFAULT 0,
    mfa_last_step   INTEGER NOT NULL DEFAULT 0,  -- TOTP codes are single-use
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE INDEX users_tenant ON users (tenant_id);
CREATE INDEX users_updated ON users (updated_ms);

CREATE TABLE user_roles (
    user_id     TEXT NOT NULL REFERENCES users (id),
    role        TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
) WITHOUT ROWID;

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,  -- SHA-256 of the opaque token; the token itself is never stored
    user_id     TEXT NOT NULL REFERENCES users (id),
    family_id   TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,  -- absolute: the family's first token + 7 days
    rotated_ms  INTEGER,
    revoked_ms  INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE email_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    used_ms     INTEGER
);

CREATE TABLE mfa_recovery_codes (
    user_id     TEXT NOT NULL REFERENCES users (id),
    code_hash   TEXT NOT NULL,
    used_ms     INTEGER,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;
