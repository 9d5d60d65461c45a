-- People who sign in through OIDC: a user row (so that they can own personal access
-- tokens) whose password hash never verifies, and the groups their identity provider gave
-- them at their last sign-in.
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local';

CREATE TABLE external_groups (
    user_name  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    PRIMARY KEY (user_name, group_name)
);
