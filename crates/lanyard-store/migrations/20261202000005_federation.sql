-- Upstream identity providers of a tenant (`[[tenant.connection]]`), and which upstream
-- person is which Lanyard person.

CREATE TABLE connections (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    -- The client secret, sealed under the key-encryption key (never in `spec`).
    secret      TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- (connection, upstream subject) -> person: a changed email never makes a second person.
CREATE TABLE federated_links (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    connection  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, connection, subject)
);
CREATE INDEX federated_links_user ON federated_links (user_id);
