-- The SAML identity provider: registered service providers, the certificates that wrap the
-- RS256 signing keys, and the persistent (pairwise) NameIDs handed out.

CREATE TABLE saml_sps (
    entity_id   TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    spec        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX saml_sps_tenant ON saml_sps (tenant_id);

-- One self-signed certificate per RS256 signing key; it lives and retires with its key.
CREATE TABLE saml_certificates (
    kid         TEXT PRIMARY KEY REFERENCES signing_keys(kid) ON DELETE CASCADE,
    der_base64  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Persistent NameIDs: random, stable per (SP, person), never derived from the person's data.
CREATE TABLE saml_persistent_ids (
    entity_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name_id     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (entity_id, user_id)
);
CREATE UNIQUE INDEX saml_persistent_ids_value ON saml_persistent_ids (entity_id, name_id);
