-- The token signing keys, so that every replica signs with the same key and all of them
-- switch within a second of `portcullis key activate`. A key is `next` (published, not
-- signing), `active` (signs; exactly one), or `retired` (published until the tokens it
-- signed have expired). The private key is sealed (AES-256-GCM) under the key-encryption
-- key in keys.dir, which never enters the database; `private_sealed` is NULL in a backup
-- made without --include-keys.
CREATE TABLE signing_keys (
    id             TEXT PRIMARY KEY,
    state          TEXT NOT NULL,
    algorithm      TEXT NOT NULL,
    private_sealed TEXT,
    chain_pem      TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    activated_at   BIGINT,
    retired_at     BIGINT
);
-- At most one key signs, whatever two replicas or an admin and a replica do at once.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
