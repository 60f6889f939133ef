-- Delegated administration: a version per person (the admin API's ETag: an update names the
-- version it read and fails if someone changed the person since), and the indexes its
-- listings page through (keyset pagination by name, or by id = creation order).

ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX users_tenant_id ON users (tenant_id, id);
CREATE INDEX users_tenant_name ON users (tenant_id, LOWER(family_name), LOWER(given_name), id);
CREATE INDEX users_location ON users (location_id);
CREATE INDEX user_roles_role ON user_roles (role_id);
CREATE INDEX user_groups_name ON user_groups (name);
CREATE INDEX employments_account ON employments (account_id);

-- Logins (email, username) of anonymised people, as keyed hashes (HMAC under the key file's
-- key, never the login): a realm file that still lists an anonymised person is told so
-- instead of re-creating him with his personal data.
CREATE TABLE forgotten_logins (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    mac         TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, mac)
);

-- Every sign-in, accepted or refused, beside the audit of changes: who (when known), how,
-- through which app or upstream, from where. Pruned after `[signin] record_retention_days`.
CREATE TABLE sign_ins (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT REFERENCES users(id) ON DELETE SET NULL,
    login       TEXT,
    outcome     TEXT NOT NULL,
    method      TEXT NOT NULL,
    reason      TEXT,
    app         TEXT,
    upstream    TEXT,
    ip          TEXT,
    user_agent  TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX sign_ins_tenant_at ON sign_ins (tenant_id, at);
CREATE INDEX sign_ins_user ON sign_ins (user_id);
