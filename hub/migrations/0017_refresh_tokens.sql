-- One identity service for seed 003's login and seed 004's /v1 auth (issue 16): every login
-- starts a token family; its access tokens name it (JWT "fam"), its refresh tokens belong to it.
-- A refresh token is used once: using it rotates it (a new one in the same family); presenting
-- a rotated one again is reuse (a stolen token), which revokes the whole family. Logout revokes
-- the family too, so its access tokens stop working at once, not when they expire.
CREATE TABLE token_families (
    id uuid PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_reason text CHECK (revoked_reason IN ('logout', 'reuse', 'disabled'))
);
CREATE INDEX token_families_user ON token_families (user_id);
CREATE INDEX token_families_expires ON token_families (expires_at);

CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,  -- sha256 of the token; the token itself is never stored
    family_id uuid NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz  -- used (and replaced): presenting it again is reuse
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Seed 004's users have a full name and a phone; self-registered users (POST /v1/auth/register,
-- off unless enabled) are viewers of no tenant until a platform admin assigns one.
ALTER TABLE users ADD COLUMN fullname text, ADD COLUMN phone text;
ALTER TABLE users DROP CONSTRAINT users_check;
ALTER TABLE users ADD CONSTRAINT users_platform_admin_has_no_tenant
    CHECK (role <> 'platform_admin' OR tenant_id IS NULL);
