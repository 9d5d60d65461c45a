-- Credentials for machines: personal access tokens, robot accounts and their secrets.
-- Refresh tokens can now belong to a robot, or derive from a personal access token (whose
-- scopes then limit every grant made through them), so their table is rebuilt without the
-- foreign key to users.

CREATE TABLE refresh_tokens_v2 (
    token_hash   TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    subject_kind TEXT NOT NULL,
    subject      TEXT NOT NULL,
    pat_id       TEXT,
    service      TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
INSERT INTO refresh_tokens_v2
    (token_hash, id, subject_kind, subject, pat_id, service, client_id, created_at, expires_at, last_used_at, revoked_at)
    SELECT token_hash, id, 'user', subject, NULL, service, client_id, created_at, expires_at, last_used_at, revoked_at
    FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_v2 RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_by_subject ON refresh_tokens (subject_kind, subject);

-- Personal access tokens: named, scoped, optionally expiring; only the SHA-256 is stored.
CREATE TABLE access_tokens (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    owner        TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX access_tokens_by_owner ON access_tokens (owner);

-- Robot accounts (`robot:NAME` in policies) and their secrets (several may be live while
-- a secret is being rotated).
CREATE TABLE robots (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    disabled    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT
);

CREATE TABLE robot_secrets (
    id           TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL UNIQUE,
    robot        TEXT NOT NULL REFERENCES robots(name) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX robot_secrets_by_robot ON robot_secrets (robot);

-- Bumped by every change to credentials, so that every replica sharing a PostgreSQL
-- database forgets what it remembered (SQLite uses a file beside the database instead).
CREATE TABLE credential_epoch (
    id    BIGINT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO credential_epoch (id, value) VALUES (1, 0);
