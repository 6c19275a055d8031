-- Bearer tokens of platform administrators (POST /api/admin/login): random, stored as sha256.
CREATE TABLE admin_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX admin_tokens_expires ON admin_tokens (expires_at);

-- Lookups by a customer's current sessions across a tenant's routers.
CREATE INDEX current_sessions_user ON current_sessions (username);
