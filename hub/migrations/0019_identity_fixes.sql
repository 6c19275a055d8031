-- Logins that cannot be confused (review of issues 15/16): an email is unique whatever its case
-- (another tenant could otherwise register BOSS@x.com and shadow boss@x.com), and a username
-- has no "@", so a login with "@" is an email and one without is a username. A password change
-- revokes the user's logins ('password').
ALTER TABLE users DROP CONSTRAINT users_email_key;
CREATE UNIQUE INDEX users_email_lower ON users (lower(email)) WHERE email IS NOT NULL;
ALTER TABLE users DROP CONSTRAINT users_username_check;
ALTER TABLE users ADD CONSTRAINT users_username_check
    CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{1,63}$');
ALTER TABLE token_families DROP CONSTRAINT token_families_revoked_reason_check;
ALTER TABLE token_families ADD CONSTRAINT token_families_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'reuse', 'disabled', 'password'));
