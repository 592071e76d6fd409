//! Both stores pass the store conformance suite: each check runs in a realm of its own, in
//! one write transaction, on one database.

#[path = "../../tests/src/scratch_postgres.rs"]
#[allow(dead_code)]
mod scratch_postgres;

use scim_directory::conformance::{Subject, run};
use scim_host::store::{Access, AdminEvent, EventKind, EventQuery, PostgresStore, SqliteStore, Store, Transaction};

struct Stored<S> {
    store: S,
    realms: u32,
}

impl<S: Store> Subject for Stored<S> {
    type Dir = dyn Transaction;

    fn fresh(&mut self) -> Box<dyn Transaction> {
        self.realms += 1;
        let realm = format!("realm{}", self.realms);
        self.store.ensure_realm(&realm).unwrap();
        for alias in ["acme", "globex"] {
            self.store.ensure_organization(&realm, alias, alias).unwrap();
        }
        self.store.begin(&realm, Access::Write, "conformance").unwrap()
    }

    fn committed_events(&mut self, transaction: Box<dyn Transaction>) -> Vec<AdminEvent> {
        transaction.commit().unwrap();
        let realm = format!("realm{}", self.realms);
        let events = self.store.events(&realm, &EventQuery { limit: 100, ..EventQuery::default() }).unwrap();
        events
            .into_iter()
            .map(|e| {
                assert_eq!(e.request_id, "conformance", "events carry the request id the transaction began with");
                AdminEvent {
                    kind: EventKind::from_name(&e.kind).expect("a known kind"),
                    resource_id: e.resource_id,
                    related_id: e.related_id,
                    details: e.details,
                }
            })
            .collect()
    }
}

#[test]
fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("conformance.db")).unwrap();
    run(&mut Stored { store, realms: 0 });
}

#[test]
fn postgres_store_conforms() {
    let store = PostgresStore::open(&scratch_postgres::fresh_database()).unwrap();
    run(&mut Stored { store, realms: 0 });
}
