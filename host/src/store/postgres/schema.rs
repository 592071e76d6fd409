//! The schema of the PostgreSQL store, and its migrations: numbered steps, applied in
//! order and recorded in `schema_migrations`, each in a transaction that holds an
//! advisory lock, so that hosts starting at once on one database apply each step once.
//!
//! Text that is compared or sorted is `COLLATE "C"`: byte order, as the SQLite store
//! compares, whatever the database's locale, and what makes a `sw` range and the list
//! order the same on both stores.

use super::*;

/// The schema's history, one step a version: the step at index `i` brings a database at
/// version `i` to `i + 1`. A step is never changed once released.
const STEPS: &[&str] = &[SCHEMA_1, SCHEMA_2, SCHEMA_3, SCHEMA_4, SCHEMA_5];

/// The advisory lock the migrations hold (any constant of this store's own).
const MIGRATION_LOCK: i64 = 0x5c1_4057;

/// Brings the database up to the schema of this build; refuses a database of a newer
/// schema, which this build would misread.
pub(super) fn migrate(conn: &mut Connection) -> DirResult<()> {
    loop {
        conn.begin("BEGIN")?;
        conn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        conn.batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )?;
        let version: i32 = conn.query("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])?[0].get(0);
        let version = version as usize;
        if version > STEPS.len() {
            conn.rollback();
            return Err(DirectoryError::Unavailable(format!(
                "the database's schema is version {version}, newer than this build's {}: \
                 run the scim-host that wrote it, or a later one",
                STEPS.len()
            )));
        }
        let Some(step) = STEPS.get(version) else {
            conn.rollback();
            return Ok(());
        };
        conn.batch(step)?;
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&(version as i32 + 1), &now_millis()],
        )?;
        conn.commit()?;
    }
}

/// Version 1. `pg_trgm` serves `co` and `ew` (`LIKE '%…%'`) from GIN indexes; it is a
/// trusted extension, which the database's owner may create.
const SCHEMA_1: &str = r#"
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- List places: one sequence for every realm, so that inserts never wait on each other
-- for a number; a realm's list order is the order of its places.
CREATE SEQUENCE list_places;
CREATE TABLE realms (
    name TEXT COLLATE "C" PRIMARY KEY,
    created_at BIGINT NOT NULL,
    managed BOOLEAN NOT NULL DEFAULT FALSE,
    limits TEXT,
    settings TEXT
);
CREATE TABLE users (
    realm TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    username_lower TEXT COLLATE "C" NOT NULL,
    email TEXT COLLATE "C",
    email_lower TEXT COLLATE "C",
    first_name TEXT COLLATE "C",
    first_name_lower TEXT COLLATE "C",
    last_name TEXT COLLATE "C",
    last_name_lower TEXT COLLATE "C",
    enabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    seq BIGINT NOT NULL DEFAULT nextval('list_places'),
    PRIMARY KEY (realm, id)
);
CREATE UNIQUE INDEX users_by_username ON users (realm, username_lower);
CREATE INDEX users_by_email ON users (realm, email_lower);
CREATE UNIQUE INDEX users_in_order ON users (realm, seq);
CREATE INDEX users_by_username_trigram ON users USING gin (username_lower gin_trgm_ops);
CREATE INDEX users_by_email_trigram ON users USING gin (email_lower gin_trgm_ops);
CREATE TABLE user_attributes (
    realm TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    position INTEGER NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    value_lower TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (realm, user_id, name, position),
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE INDEX user_attributes_by_value ON user_attributes (realm, name, value_lower);
CREATE UNIQUE INDEX user_external_ids ON user_attributes (realm, value) WHERE name = 'externalId';
CREATE INDEX user_attributes_by_value_trigram ON user_attributes USING gin (value_lower gin_trgm_ops);
CREATE TABLE groups (
    realm TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    name_lower TEXT COLLATE "C" NOT NULL,
    organization TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    seq BIGINT NOT NULL DEFAULT nextval('list_places'),
    PRIMARY KEY (realm, id)
);
CREATE INDEX groups_by_name ON groups (realm, name_lower);
CREATE INDEX groups_by_organization ON groups (realm, organization);
CREATE UNIQUE INDEX groups_in_order ON groups (realm, seq);
CREATE INDEX groups_by_name_trigram ON groups USING gin (name_lower gin_trgm_ops);
CREATE TABLE group_attributes (
    realm TEXT COLLATE "C" NOT NULL,
    group_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    position INTEGER NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    value_lower TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (realm, group_id, name, position),
    FOREIGN KEY (realm, group_id) REFERENCES groups (realm, id) ON DELETE CASCADE
);
CREATE INDEX group_attributes_by_value ON group_attributes (realm, name, value_lower);
CREATE UNIQUE INDEX group_external_ids ON group_attributes (realm, value) WHERE name = 'externalId';
CREATE TABLE memberships (
    realm TEXT COLLATE "C" NOT NULL,
    group_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    -- The order members joined in.
    seq BIGINT NOT NULL DEFAULT nextval('list_places'),
    PRIMARY KEY (realm, group_id, user_id),
    FOREIGN KEY (realm, group_id) REFERENCES groups (realm, id) ON DELETE CASCADE,
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE INDEX memberships_by_user_group ON memberships (realm, user_id, group_id);
CREATE TABLE organizations (
    realm TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    alias TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (realm, id),
    UNIQUE (realm, alias)
);
CREATE TABLE organization_members (
    realm TEXT COLLATE "C" NOT NULL,
    organization_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    managed BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (realm, organization_id, user_id),
    FOREIGN KEY (realm, organization_id) REFERENCES organizations (realm, id) ON DELETE CASCADE,
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE INDEX organization_members_by_user ON organization_members (realm, user_id);
CREATE TABLE credentials (
    realm TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    type TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (realm, user_id, type),
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE TABLE tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    realm TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
    organization TEXT COLLATE "C",
    hash TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX tokens_by_realm ON tokens (realm);
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    realm TEXT COLLATE "C" NOT NULL,
    time BIGINT NOT NULL,
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    related_id TEXT,
    details TEXT NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX events_by_realm ON events (realm, seq);
"#;

/// Version 2: installed modules, kept by digest, and each realm's history of them, so that
/// every host on the database serves every realm's module.
const SCHEMA_2: &str = r#"
CREATE TABLE modules (
    digest TEXT COLLATE "C" PRIMARY KEY,
    bytes BYTEA NOT NULL,
    kept_at BIGINT NOT NULL
);
CREATE TABLE realm_modules (
    realm TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
    n BIGSERIAL,
    digest TEXT COLLATE "C" NOT NULL REFERENCES modules (digest),
    installed_at BIGINT NOT NULL,
    PRIMARY KEY (realm, n)
);
"#;

/// Version 3: attribute values of any length. A B-tree entry holds at most 2,704 bytes, so
/// the indexes by value (lookups, `eq` filters, unique external ids) hold a digest of it;
/// `co`, `sw` and `ew` stay on the trigram indexes.
const SCHEMA_3: &str = r#"
DROP INDEX user_attributes_by_value;
CREATE INDEX user_attributes_by_value ON user_attributes (realm, name, md5(value_lower));
DROP INDEX group_attributes_by_value;
CREATE INDEX group_attributes_by_value ON group_attributes (realm, name, md5(value_lower));
DROP INDEX user_external_ids;
CREATE UNIQUE INDEX user_external_ids ON user_attributes (realm, md5(value)) WHERE name = 'externalId';
DROP INDEX group_external_ids;
CREATE UNIQUE INDEX group_external_ids ON group_attributes (realm, md5(value)) WHERE name = 'externalId';
"#;

/// Version 4: the hosts serving the database, each with the time it last said it was alive.
const SCHEMA_4: &str = r#"
CREATE TABLE hosts (
    id TEXT COLLATE "C" PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
"#;

/// Version 5: webhook subscriptions with their delivery state and log; each event keeps
/// the organization of the request that made it.
const SCHEMA_5: &str = r#"
ALTER TABLE events ADD COLUMN organization TEXT;
CREATE TABLE webhooks (
    realm TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    url TEXT NOT NULL,
    types TEXT NOT NULL,
    organization TEXT,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    cursor BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failing_since BIGINT,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    lease_holder TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (realm, id)
);
CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE enabled;
CREATE TABLE webhook_attempts (
    n BIGSERIAL PRIMARY KEY,
    realm TEXT COLLATE "C" NOT NULL,
    webhook_id TEXT COLLATE "C" NOT NULL,
    event_seq BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    attempted_at BIGINT NOT NULL,
    status INTEGER,
    latency_ms BIGINT NOT NULL,
    response TEXT NOT NULL,
    FOREIGN KEY (realm, webhook_id) REFERENCES webhooks (realm, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (realm, webhook_id, n);
"#;
