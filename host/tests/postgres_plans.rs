//! The PostgreSQL store's hot paths are served by indexes: on two realms of 10,000 users
//! each (with attributes, groups, memberships and events), analyzed, and with sequential
//! scans priced out (`enable_seqscan = off`, so that the planner's choice on a small table
//! does not hide a missing index), each query's plan names the index that serves it.

#[path = "../../tests/src/scratch_postgres.rs"]
#[allow(dead_code)]
mod scratch_postgres;

use scim_host::store::PostgresStore;

/// (what, the query as the store runs it, the index its plan must use)
const HOT_PATHS: &[(&str, &str, &str)] = &[
    ("user by userName", "SELECT id FROM users WHERE realm = 'r' AND username_lower = 'ann'", "users_by_username"),
    ("user by e-mail", "SELECT id FROM users WHERE realm = 'r' AND email_lower = 'ann@example.org'", "users_by_email"),
    ("userName sw", "SELECT id FROM users WHERE realm = 'r' AND username_lower LIKE 'an%'", "users_by_username"),
    (
        "userName co",
        "SELECT id FROM users WHERE realm = 'r' AND username_lower LIKE '%1234%'",
        "users_by_username_trigram",
    ),
    (
        "e-mail ew",
        "SELECT id FROM users WHERE realm = 'r' AND email_lower LIKE '%123@example.org'",
        "users_by_email_trigram",
    ),
    (
        "a page of users after a cursor",
        "SELECT id FROM users WHERE realm = 'r' AND seq > 100 ORDER BY seq LIMIT 50",
        "users_in_order",
    ),
    (
        "user by externalId (attribute eq)",
        "SELECT user_id FROM user_attributes WHERE realm = 'r' AND name = 'externalId'
         AND md5(value_lower) = md5('x-ann') AND value_lower = 'x-ann'",
        "user_attributes_by_value|user_external_ids",
    ),
    (
        "attribute co",
        "SELECT user_id FROM user_attributes WHERE realm = 'r' AND name = 'title' AND value_lower LIKE '%u1234%'",
        "user_attributes_by_value_trigram",
    ),
    ("group by displayName", "SELECT id FROM groups WHERE realm = 'r' AND name_lower = 'staff'", "groups_by_name"),
    (
        "a group's members",
        "SELECT user_id FROM memberships WHERE realm = 'r' AND group_id = 'g' ORDER BY seq",
        "memberships_pkey",
    ),
    (
        "a user's groups",
        "SELECT group_id FROM memberships WHERE realm = 'r' AND user_id = 'u'",
        "memberships_by_user_group",
    ),
    (
        "events after a cursor",
        "SELECT seq FROM events WHERE realm = 'r' AND seq > 10 ORDER BY seq LIMIT 100",
        "events_by_realm",
    ),
    ("a realm's tokens", "SELECT id FROM tokens WHERE realm = 'r'", "tokens_by_realm"),
];

/// Two realms of 10,000 users, each with an externalId and a title, 1,000 groups, a
/// membership per user, events (most of them realm `s`'s), a few tokens.
const DATA: &str = "
INSERT INTO realms (name, created_at) VALUES ('r', 0), ('s', 0);
INSERT INTO users (realm, id, username, username_lower, email, email_lower, enabled, created_at, updated_at, version)
    SELECT realm, 'u' || i, 'User' || i, 'user' || i, 'user' || i || '@example.org', 'user' || i || '@example.org',
           TRUE, 0, 0, 1
    FROM generate_series(1, 10000) i, (VALUES ('r'), ('s')) realms (realm);
INSERT INTO user_attributes (realm, user_id, name, position, value, value_lower)
    SELECT realm, id, attribute, 0, attribute || '-' || id, lower(attribute || '-' || id)
    FROM users, (VALUES ('externalId'), ('title')) attributes (attribute);
INSERT INTO groups (realm, id, name, name_lower, created_at, updated_at, version)
    SELECT realm, 'g' || i, 'Group ' || i, 'group ' || i, 0, 0, 1
    FROM generate_series(1, 500) i, (VALUES ('r'), ('s')) realms (realm);
INSERT INTO memberships (realm, group_id, user_id)
    SELECT realm, 'g' || (1 + substr(id, 2)::INT % 500), id FROM users;
INSERT INTO events (realm, time, kind, resource_id, details, request_id)
    SELECT realm, 0, 'USER_CREATED', id, '{}', 'request' FROM users WHERE realm = 's' OR id < 'u2';
INSERT INTO tokens (id, realm, hash, label, created_at)
    SELECT 't' || i, 'r', 'hash', 'label', 0 FROM generate_series(1, 20) i;
";

#[test]
fn postgres_hot_paths_are_served_by_indexes() {
    let url = scratch_postgres::fresh_database();
    PostgresStore::open(&url).expect("the store creates its schema");
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client.batch_execute(DATA).unwrap();
    // VACUUM: as autovacuum would, it also moves the GIN indexes' pending entries in.
    client.batch_execute("VACUUM ANALYZE").unwrap();
    client.batch_execute("SET enable_seqscan = off").unwrap();
    let mut missing = Vec::new();
    for (what, query, index) in HOT_PATHS {
        let plan: Vec<String> =
            client.query(&format!("EXPLAIN {query}"), &[]).unwrap().iter().map(|row| row.get(0)).collect();
        let plan = plan.join("\n");
        if plan.contains("Seq Scan") || !index.split('|').any(|index| plan.contains(index)) {
            missing.push(format!("{what}: expected {index}\n{plan}"));
        }
    }
    assert!(missing.is_empty(), "hot paths without their index:\n\n{}", missing.join("\n\n"));
}
