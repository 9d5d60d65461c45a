-- Which authenticator vouched for a refresh token's subject: 'local' (the users table) or
-- 'ldap' (the directory, asked again on every use).
ALTER TABLE refresh_tokens ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
