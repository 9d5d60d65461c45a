-- Local users, groups and refresh tokens. Times are Unix seconds; flags are 0/1 integers
-- so that SQLite and PostgreSQL read back the same types.
CREATE TABLE users (
    name                TEXT PRIMARY KEY,
    password_hash       TEXT NOT NULL,
    disabled            BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);

CREATE TABLE groups (
    name       TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
    user_name  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    PRIMARY KEY (group_name, user_name)
);
CREATE INDEX group_members_by_user ON group_members (user_name);

-- Refresh tokens (docker's identity token). Only the SHA-256 of the secret is stored.
CREATE TABLE refresh_tokens (
    token_hash   TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    subject      TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    service      TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX refresh_tokens_by_subject ON refresh_tokens (subject);
