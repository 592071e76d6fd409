//! The schema of the SQLite store, and its migrations: numbered steps, applied in order
//! and recorded in the database's `user_version`.

use super::*;

/// The schema's history, one step a version: the step at index `i` brings a database at
/// `user_version` `i` to `i + 1`. A change of the schema is a new step at the end; a step
/// is never changed once released, since databases out there went through it.
const STEPS: &[fn(&Connection) -> rusqlite::Result<()>] = &[
    // 1: the schema as it stood when versions began to be numbered. Creates what is
    // missing, and brings a database of any earlier release up to it.
    |conn| {
        conn.execute_batch(SCHEMA)?;
        unnumbered(conn)?;
        conn.execute_batch(&list_order_schema())
    },
    // 2: webhook subscriptions with their delivery state and log; each event keeps the
    // organization of the request that made it.
    |conn| {
        // Written to apply over any database step 1 leaves, as step 1 is.
        let has_organization: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('events') WHERE name = 'organization')",
            [],
            |r| r.get(0),
        )?;
        if !has_organization {
            conn.execute_batch("ALTER TABLE events ADD COLUMN organization TEXT")?;
        }
        conn.execute_batch(WEBHOOKS)
    },
];

const WEBHOOKS: &str = r#"
CREATE TABLE IF NOT EXISTS webhooks (
    realm TEXT NOT NULL,
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    types TEXT NOT NULL,
    organization TEXT,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    disabled_reason TEXT,
    cursor INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failing_since INTEGER,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    lease_holder TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (realm, id)
);
CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks (next_attempt_at) WHERE enabled;
CREATE TABLE IF NOT EXISTS webhook_attempts (
    realm TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    attempted_at INTEGER NOT NULL,
    status INTEGER,
    latency_ms INTEGER NOT NULL,
    response TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_by_webhook ON webhook_attempts (realm, webhook_id, n);
"#;

/// Brings the database up to the schema of this build, step by step, each in a
/// transaction of its own with its version; refuses a database of a newer schema, which
/// this build would misread.
pub(super) fn migrate(conn: &mut Connection) -> DirResult<()> {
    loop {
        // IMMEDIATE: another process opening the same file waits, then finds it done.
        let step = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(failed)?;
        let version: i64 = step.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(failed)?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > STEPS.len() {
            return Err(DirectoryError::Unavailable(format!(
                "the database's schema is version {version}, newer than this build's {}: \
                 run the scim-host that wrote it, or a later one",
                STEPS.len()
            )));
        }
        let Some(up) = STEPS.get(version) else { return Ok(()) };
        up(&step).map_err(failed)?;
        step.pragma_update(None, "user_version", version as i64 + 1).map_err(failed)?;
        step.commit().map_err(failed)?;
    }
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS realms (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    managed INTEGER NOT NULL DEFAULT 0,
    limits TEXT,
    settings TEXT
);
CREATE TABLE IF NOT EXISTS users (
    realm TEXT NOT NULL,
    id TEXT NOT NULL,
    username TEXT NOT NULL,
    username_lower TEXT NOT NULL,
    email TEXT,
    email_lower TEXT,
    first_name TEXT,
    first_name_lower TEXT,
    last_name TEXT,
    last_name_lower TEXT,
    enabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    -- Place in the realm's list order (insertion order), see `list_buckets`.
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (realm, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS users_by_username ON users (realm, username_lower);
CREATE INDEX IF NOT EXISTS users_by_email ON users (realm, email_lower);
DROP INDEX IF EXISTS users_by_creation;
CREATE TABLE IF NOT EXISTS user_attributes (
    realm TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    value TEXT NOT NULL,
    value_lower TEXT NOT NULL,
    PRIMARY KEY (realm, user_id, name, position),
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS user_attributes_by_value ON user_attributes (realm, name, value_lower);
CREATE UNIQUE INDEX IF NOT EXISTS user_external_ids ON user_attributes (realm, value) WHERE name = 'externalId';
CREATE TABLE IF NOT EXISTS groups (
    realm TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    organization TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (realm, id)
);
CREATE INDEX IF NOT EXISTS groups_by_name ON groups (realm, name_lower);
CREATE INDEX IF NOT EXISTS groups_by_organization ON groups (realm, organization);
DROP INDEX IF EXISTS groups_by_creation;
-- How many of a realm's users (or groups) hold each run of 1,024 list places: a page at
-- any startIndex sums at most a thousand counts per million resources, then skips fewer
-- than 1,024 index entries, instead of walking `startIndex` entries.
CREATE TABLE IF NOT EXISTS list_buckets (
    realm TEXT NOT NULL,
    kind TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (realm, kind, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_attributes (
    realm TEXT NOT NULL,
    group_id TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    value TEXT NOT NULL,
    value_lower TEXT NOT NULL,
    PRIMARY KEY (realm, group_id, name, position),
    FOREIGN KEY (realm, group_id) REFERENCES groups (realm, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS group_attributes_by_value ON group_attributes (realm, name, value_lower);
CREATE UNIQUE INDEX IF NOT EXISTS group_external_ids ON group_attributes (realm, value) WHERE name = 'externalId';
CREATE TABLE IF NOT EXISTS memberships (
    realm TEXT NOT NULL,
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    UNIQUE (realm, group_id, user_id),
    FOREIGN KEY (realm, group_id) REFERENCES groups (realm, id) ON DELETE CASCADE,
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
-- Covering, so that a user's groups are found without reading the table (a non-covering
-- index lost to the primary key's, which scanned every membership of the realm).
DROP INDEX IF EXISTS memberships_by_user;
CREATE INDEX IF NOT EXISTS memberships_by_user_group ON memberships (realm, user_id, group_id);
CREATE TABLE IF NOT EXISTS organizations (
    realm TEXT NOT NULL,
    id TEXT NOT NULL,
    alias TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (realm, id),
    UNIQUE (realm, alias)
);
CREATE TABLE IF NOT EXISTS organization_members (
    realm TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- 1 for a managed member (created through the organization), 0 for an unmanaged one.
    managed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (realm, organization_id, user_id),
    FOREIGN KEY (realm, organization_id) REFERENCES organizations (realm, id) ON DELETE CASCADE,
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS organization_members_by_user ON organization_members (realm, user_id);
CREATE TABLE IF NOT EXISTS credentials (
    realm TEXT NOT NULL,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (realm, user_id, type),
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    realm TEXT NOT NULL,
    organization TEXT,
    hash TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_by_realm ON tokens (realm);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    realm TEXT NOT NULL,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    related_id TEXT,
    details TEXT NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_realm ON events (realm, seq);
"#;

/// log2 of the list places one `list_buckets` row counts.
pub(super) const BUCKET_BITS: u32 = 10;

/// The list order's index and bucket counts, kept by triggers so that no writer can miss
/// them. Run after [`unnumbered`], which gives an older database the `seq` columns.
fn list_order_schema() -> String {
    ["users", "groups"]
        .map(|table| {
            format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS {table}_in_order ON {table} (realm, seq);
                 CREATE TRIGGER IF NOT EXISTS {table}_counted AFTER INSERT ON {table} BEGIN
                     INSERT INTO list_buckets (realm, kind, bucket, count)
                     VALUES (new.realm, '{table}', new.seq >> {BUCKET_BITS}, 1)
                     ON CONFLICT (realm, kind, bucket) DO UPDATE SET count = count + 1;
                 END;
                 CREATE TRIGGER IF NOT EXISTS {table}_uncounted AFTER DELETE ON {table} BEGIN
                     UPDATE list_buckets SET count = count - 1
                     WHERE realm = old.realm AND kind = '{table}' AND bucket = old.seq >> {BUCKET_BITS};
                 END;"
            )
        })
        .join("\n")
}

/// Brings a database written before versions were numbered up to the schema of version 1.
fn unnumbered(conn: &Connection) -> rusqlite::Result<()> {
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('realms')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (column, definition) in [("managed", "INTEGER NOT NULL DEFAULT 0"), ("limits", "TEXT"), ("settings", "TEXT")] {
        if !columns.iter().any(|c| c == column) {
            conn.execute_batch(&format!("ALTER TABLE realms ADD COLUMN {column} {definition}"))?;
        }
    }
    // Members of an earlier version's organizations are unmanaged: what created them is unknown.
    let managed =
        conn.prepare("SELECT 1 FROM pragma_table_info('organization_members') WHERE name = 'managed'")?.exists([])?;
    if !managed {
        conn.execute_batch("ALTER TABLE organization_members ADD COLUMN managed INTEGER NOT NULL DEFAULT 0")?;
    }
    // Counters of an earlier version, now the sum of `list_buckets`: left there, they
    // would only go stale.
    for column in ["user_count", "group_count"] {
        if columns.iter().any(|c| c == column) {
            conn.execute_batch(&format!("ALTER TABLE realms DROP COLUMN {column}"))?;
        }
    }
    for table in ["users", "groups"] {
        let has_seq =
            conn.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = 'seq'"))?.exists([])?;
        if !has_seq {
            // The list order of an older database: creation, then id, as it listed before.
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
                 UPDATE {table} SET seq = o.n FROM (
                     SELECT realm, id, row_number() OVER (PARTITION BY realm ORDER BY created_at, id) AS n FROM {table}
                 ) o WHERE {table}.realm = o.realm AND {table}.id = o.id;
                 INSERT INTO list_buckets (realm, kind, bucket, count)
                     SELECT realm, '{table}', seq >> {BUCKET_BITS}, count(*) FROM {table} GROUP BY realm, seq >> {BUCKET_BITS};"
            ))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::test_support::*;

    #[test]
    fn a_database_of_an_earlier_version_gets_the_realm_columns_and_keeps_its_realms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch("CREATE TABLE realms (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL); INSERT INTO realms VALUES ('kept', 1);")
            .unwrap();
        drop(old);
        let store = SqliteStore::open(&path).unwrap();
        let realms = store.realms().unwrap();
        assert_eq!(realms.len(), 1);
        assert_eq!((realms[0].name.as_str(), realms[0].managed, realms[0].limits.as_deref()), ("kept", false, None));
        let event = operator_event("REALM_UPDATED", "kept");
        assert!(store.update_realm("kept", Some("{}"), None, &event).unwrap());
        assert_eq!(store.realms().unwrap()[0].limits.as_deref(), Some("{}"));
    }

    fn version(path: &std::path::Path) -> usize {
        let version: i64 =
            Connection::open(path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        version as usize
    }

    #[test]
    fn a_new_database_is_at_the_last_version_and_a_reopened_one_runs_no_step() {
        let (dir, store) = store();
        drop(store);
        let path = dir.path().join("test.db");
        assert_eq!(version(&path), STEPS.len());
        // Step 1 would create the table again.
        Connection::open(&path).unwrap().execute_batch("DROP TABLE list_buckets").unwrap();
        SqliteStore::open(&path).unwrap();
        let tables: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'list_buckets'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0, "no step ran again");
    }

    #[test]
    fn a_database_of_a_newer_schema_is_refused_not_misread() {
        let (dir, store) = store();
        drop(store);
        let path = dir.path().join("test.db");
        Connection::open(&path).unwrap().pragma_update(None, "user_version", STEPS.len() as i64 + 1).unwrap();
        let refused = SqliteStore::open(&path).err().expect("a newer schema is refused");
        assert!(refused.to_string().contains("newer than this build's"), "{refused}");
        assert_eq!(version(&path), STEPS.len() + 1, "left as it was");
    }

    #[test]
    fn an_older_database_gets_list_places_in_creation_order() {
        let (dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        for n in 0..5 {
            tx.create_user(&draft(&format!("u{n}"), &format!("x{n}"))).unwrap();
        }
        tx.commit().unwrap();
        drop(store);
        // Before list places, users listed by creation time, then id, and realms kept counters.
        let conn = Connection::open(dir.path().join("test.db")).unwrap();
        conn.execute_batch(
            "DROP TRIGGER users_counted; DROP TRIGGER users_uncounted; DROP INDEX users_in_order;
             ALTER TABLE users DROP COLUMN seq; DELETE FROM list_buckets;
             ALTER TABLE realms ADD COLUMN user_count INTEGER NOT NULL DEFAULT 5;
             UPDATE users SET created_at = 100 - CAST(substr(username, 2) AS INTEGER);
             PRAGMA user_version = 0;",
        )
        .unwrap();
        drop(conn);
        let reopened = SqliteStore::open(&dir.path().join("test.db")).unwrap();
        let mut tx = reopened.begin("r", Access::Write, "test").unwrap();
        tx.create_user(&draft("new", "x-new")).unwrap();
        tx.commit().unwrap();
        assert_eq!(usernames_at(&reopened, 0, 10), ["u4", "u3", "u2", "u1", "u0", "new"]);
        assert_eq!(usernames_at(&reopened, 2, 10), ["u2", "u1", "u0", "new"]);
        let conn = Connection::open(dir.path().join("test.db")).unwrap();
        let counted: i64 = conn
            .query_row("SELECT sum(count) FROM list_buckets WHERE realm = 'r' AND kind = 'users'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(counted, 6, "the migration counted the old users, the trigger the new one");
        let stale =
            conn.prepare("SELECT 1 FROM pragma_table_info('realms') WHERE name = 'user_count'").unwrap().exists([]);
        assert!(!stale.unwrap(), "the old counter is gone");
    }
}
