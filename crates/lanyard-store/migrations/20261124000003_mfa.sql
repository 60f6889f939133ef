-- Second factors and the tenant's MFA policy.

ALTER TABLE tenants ADD COLUMN mfa_policy TEXT NOT NULL DEFAULT '{}';

-- WebAuthn credentials (the webauthn-rs Passkey, public data only, as JSON).
CREATE TABLE passkeys (
    cred_id       TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    data          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- Recovery codes, stored as hashes; a used code keeps its row with used_at set.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
