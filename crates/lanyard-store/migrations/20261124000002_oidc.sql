-- Relying parties and signing keys for the OpenID Connect provider.

CREATE TABLE clients (
    client_id              TEXT PRIMARY KEY,
    tenant_id              TEXT NOT NULL REFERENCES tenants(id),
    spec                   TEXT NOT NULL,   -- the whole registration as JSON (ClientSpec)
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX clients_tenant ON clients (tenant_id);

-- Token signing keys. The private key (PKCS#8) is sealed under the key-encryption key named
-- by kek_id. A key signs from activates_at until a newer key of its algorithm activates
-- (retires_at), and stays published in the JWKS until expires_at.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    sealed_private TEXT NOT NULL,
    kek_id         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    activates_at   BIGINT NOT NULL,
    retires_at     BIGINT,
    expires_at     BIGINT
);
CREATE UNIQUE INDEX signing_keys_alg_seq ON signing_keys (alg, seq);
