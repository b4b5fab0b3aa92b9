-- Tessera foundation schema (SQLite). Timestamps are TEXT in one canonical form
-- (RFC 3339, UTC, three fraction digits) so text order is time order on both databases.
-- Every tenant-owned table leads its keys with tenant_id. Each index is paid on every
-- record write, so there are only the ones reads need (see BENCHMARKS.md).

CREATE TABLE tenants (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    is_platform_admin INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    disabled_at       TEXT
);

CREATE TABLE departments (
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    parent_id     INTEGER,
    head_user_id  INTEGER,
    UNIQUE (tenant_id, name)
);

CREATE TABLE roles (
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    is_admin     INTEGER NOT NULL DEFAULT 0,
    permissions  TEXT NOT NULL DEFAULT '{}',
    UNIQUE (tenant_id, name)
);

CREATE TABLE memberships (
    tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
    user_id        INTEGER NOT NULL REFERENCES users(id),
    role_id        INTEGER NOT NULL REFERENCES roles(id),
    department_id  INTEGER,
    manager_id     INTEGER,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    role_id      INTEGER NOT NULL REFERENCES roles(id),
    created_by   INTEGER NOT NULL REFERENCES users(id),
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);

CREATE TABLE login_failures (
    email  TEXT NOT NULL,
    at     TEXT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, at);

CREATE TABLE apps (
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    id           INTEGER PRIMARY KEY,
    key          TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    UNIQUE (tenant_id, key)
);

CREATE TABLE forms (
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    id           INTEGER PRIMARY KEY,
    app_id       INTEGER,
    key          TEXT NOT NULL,
    name         TEXT NOT NULL,
    definition   TEXT NOT NULL,
    version      INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted_at   TEXT,
    UNIQUE (tenant_id, key)
);

CREATE TABLE records (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL,
    form_id     INTEGER NOT NULL,
    data        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    created_by  INTEGER,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT
);
CREATE INDEX records_form ON records (tenant_id, form_id, id);

-- Uniqueness of field values, enforced by the primary key (never read-then-write).
CREATE TABLE record_unique (
    tenant_id  INTEGER NOT NULL,
    form_id    INTEGER NOT NULL,
    field      TEXT NOT NULL,
    value      TEXT NOT NULL,
    record_id  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, form_id, field, value)
) WITHOUT ROWID;

CREATE TABLE revisions (
    tenant_id   INTEGER NOT NULL,
    record_id   INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    op          TEXT NOT NULL,
    actor_id    INTEGER,
    at          TEXT NOT NULL,
    changes     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, record_id, version)
) WITHOUT ROWID;

-- Transactional outbox: every record write appends its event in the same transaction.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    form_id     INTEGER,
    record_id   INTEGER,
    version     INTEGER,
    actor_id    INTEGER,
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE counters (
    tenant_id  INTEGER NOT NULL,
    name       TEXT NOT NULL,
    value      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE idempotency_keys (
    tenant_id     INTEGER NOT NULL,
    key           TEXT NOT NULL,
    principal     TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    body          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, principal, key)
);

CREATE TABLE attachments (
    tenant_id     INTEGER NOT NULL,
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    bytes         BLOB NOT NULL,
    created_by    INTEGER,
    created_at    TEXT NOT NULL
);
