-- An account made by signing in at an identity provider is bound to the provider's issuer
-- and the person's `sub` there, never to a name alone: a second person at the provider who
-- chooses the same preferred_username must not get the first one's account.
ALTER TABLE users ADD COLUMN external_issuer TEXT;
ALTER TABLE users ADD COLUMN external_subject TEXT;
CREATE UNIQUE INDEX users_by_external_identity ON users (external_issuer, external_subject);

-- Groups recorded before provider groups were kept apart from local ones (oidc.group_prefix)
-- may carry a local group's name, and its rights: forget them. Each person's groups come
-- back, mapped, at their next sign-in.
DELETE FROM external_groups;
