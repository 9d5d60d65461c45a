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
    id           BIGSERIAL PRIMARY KEY,
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

-- Recent audit records, for the admin API: bounded (audit.keep_events, audit.keep_for),
-- written in batches. The audit log stays the record of truth.
CREATE TABLE audit_events (
    id           BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    -- Identical records written in the same quarter second (a pull storm's tokens) are one
    -- row: how many, and when the last one was.
    count     BIGINT NOT NULL,
    last_at   BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    subject   TEXT NOT NULL,
    target    TEXT NOT NULL,
    client    TEXT NOT NULL,
    requested TEXT NOT NULL,
    granted   TEXT NOT NULL,
    detail    TEXT NOT NULL
);
-- No index but the id: each one costs every token request a little (the table is written
-- once per request and read rarely, newest first, by an admin).
