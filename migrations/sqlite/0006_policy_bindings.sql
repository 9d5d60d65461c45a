-- Rules admins make at run time (the admin API, `portcullis binding`/`role`), beside the
-- policy files and with their semantics. Lists are space-separated: no subject, action or
-- repository pattern can hold a space.
CREATE TABLE policy_roles (
    name        TEXT PRIMARY KEY,
    actions     TEXT NOT NULL,
    description TEXT,
    made_by     TEXT NOT NULL,
    made_at     BIGINT NOT NULL,
    updated_by  TEXT,
    updated_at  BIGINT
);

CREATE TABLE policy_bindings (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    effect       TEXT NOT NULL,
    subjects     TEXT NOT NULL,
    role         TEXT,
    actions      TEXT,
    repositories TEXT NOT NULL,
    catalog      BIGINT NOT NULL,
    admin_api    BIGINT NOT NULL,
    description  TEXT,
    expires_at   BIGINT,
    made_by      TEXT NOT NULL,
    made_at      BIGINT NOT NULL,
    updated_by   TEXT,
    updated_at   BIGINT
);

-- Moves whenever rules in the database change or a reload of the policy files is asked
-- for: every replica, seeing the credential epoch move, reads it and reloads when it moved.
CREATE TABLE policy_state (
    id         BIGINT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO policy_state (id, generation) VALUES (1, 0);

-- Recent audit records, for the admin API: bounded (audit.keep_events, audit.keep_for).
-- The audit log stays the record of truth. Records are written a batch to a row (one JSON
-- array per record, a line each): a row per record cost each token request ~35,000
-- instructions through sqlx, a row per batch a few hundred. Identical records of a batch
-- are one line with a count.
CREATE TABLE audit_batches (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    first_at   BIGINT NOT NULL,
    last_at    BIGINT NOT NULL,
    records    BIGINT NOT NULL,
    body       TEXT NOT NULL
);

-- Sessions of the pages people sign in to, in the database so that any replica serves any
-- session and a restart signs no one out. Only a hash of the session id is kept: a copy of
-- the table opens no session.
CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL,
    groups     TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Unused this long, a session ends before its expiry (idle timeout).
    idle_until BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_name, expires_at);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
