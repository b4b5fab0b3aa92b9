-- The plugin registry (platform-wide) and per-tenant installs.

-- One row per plugin id; its kind never changes between versions.
CREATE TABLE plugins (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

-- Published versions: immutable once stored (yanking only hides a version from new installs).
CREATE TABLE plugin_versions (
    plugin_id     TEXT NOT NULL REFERENCES plugins(id),
    version       TEXT NOT NULL,
    manifest      TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    component     BLOB NOT NULL,
    published_by  INTEGER,
    published_at  TEXT NOT NULL,
    yanked_at     TEXT,
    PRIMARY KEY (plugin_id, version)
);

-- A tenant's install: the version in use, its configuration, the capabilities granted, an
-- optional deadline within the platform's limit, and what it was before the last change
-- (for rollback).
CREATE TABLE tenant_plugins (
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    plugin_id     TEXT NOT NULL REFERENCES plugins(id),
    version       TEXT NOT NULL,
    config        TEXT NOT NULL,
    grants        TEXT NOT NULL,
    deadline_ms   INTEGER,
    previous      TEXT,
    revision      INTEGER NOT NULL,
    installed_by  INTEGER,
    installed_at  TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id)
);

-- Every install, upgrade, configuration change, rollback and uninstall.
CREATE TABLE plugin_audit (
    tenant_id     INTEGER NOT NULL,
    id            INTEGER PRIMARY KEY,
    plugin_id     TEXT NOT NULL,
    action        TEXT NOT NULL,
    from_version  TEXT,
    to_version    TEXT,
    detail        TEXT NOT NULL,
    actor         INTEGER,
    at            TEXT NOT NULL
);
CREATE INDEX plugin_audit_by_plugin ON plugin_audit (tenant_id, plugin_id, id);
