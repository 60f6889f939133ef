-- Portable DDL: the same text runs on SQLite and PostgreSQL. Ids are UUID text, times are
-- Unix milliseconds (BIGINT), dates are ISO text, flags are 0/1 BIGINT, JSON is text.

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    slug            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    client_of       TEXT REFERENCES tenants(id),
    preset          TEXT NOT NULL,
    password_policy TEXT NOT NULL,
    branding        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE locations (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    parent_id   TEXT REFERENCES locations(id),
    name        TEXT NOT NULL,
    name_lower  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX locations_sibling_name ON locations (tenant_id, COALESCE(parent_id, ''), name_lower);

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    name_lower  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_name ON accounts (tenant_id, name_lower);

CREATE TABLE roles (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    name            TEXT NOT NULL,
    name_lower      TEXT NOT NULL,
    rank            BIGINT NOT NULL,
    scope           TEXT NOT NULL,
    reports_only    BIGINT NOT NULL,
    can_sign_in     BIGINT NOT NULL,
    sees_sensitive  BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX roles_name ON roles (tenant_id, name_lower);

CREATE TABLE role_privileges (
    role_id    TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    privilege  TEXT NOT NULL,
    PRIMARY KEY (role_id, privilege)
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    given_name         TEXT NOT NULL,
    family_name        TEXT NOT NULL,
    username           TEXT,
    username_lower     TEXT,
    email              TEXT,
    email_lower        TEXT,
    phone              TEXT,
    kind               TEXT,
    status             TEXT NOT NULL,
    location_id        TEXT REFERENCES locations(id),
    main_role_id       TEXT REFERENCES roles(id),
    date_of_birth      TEXT,
    ni_number          TEXT,
    anonymised         BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (tenant_id, username_lower);
CREATE UNIQUE INDEX users_email ON users (tenant_id, email_lower);
CREATE INDEX users_tenant_status ON users (tenant_id, status);

CREATE TABLE user_roles (
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id  TEXT NOT NULL REFERENCES roles(id),
    PRIMARY KEY (user_id, role_id)
);

CREATE TABLE user_groups (
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);

CREATE TABLE user_attributes (
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE employments (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    starts_on   TEXT NOT NULL,
    ends_on     TEXT,
    main        BIGINT NOT NULL
);
CREATE INDEX employments_user ON employments (user_id);

CREATE TABLE passwords (
    user_id     TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    hash        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- TOTP enrolments; the secret is sealed (AES-256-GCM) under the key named by key_id.
CREATE TABLE totp_enrolments (
    user_id       TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    sealed_secret TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    confirmed_at  BIGINT NOT NULL,
    last_step     BIGINT
);

CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    before_json  TEXT,
    after_json   TEXT,
    at           BIGINT NOT NULL
);
CREATE INDEX audit_target ON audit_log (target_kind, target_id);
CREATE INDEX audit_tenant_at ON audit_log (tenant_id, at);
