-- The audit log: every privileged write records who did what to which entity, from where,
-- in the same transaction as the change (db::tx::audit).
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at_ms       INTEGER NOT NULL,
    tenant_id   TEXT,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   TEXT,
    ip          TEXT,
    user_agent  TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at_ms);
CREATE INDEX audit_log_action ON audit_log (action, at_ms);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, at_ms);
