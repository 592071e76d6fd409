//! Realms placed across several stores: the configuration names stores (`default`, and
//! those under `[stores]`), each realm lives whole in one of them, and one host serves
//! realms from all at once. [`PlacedStore`] is the [`Store`] (and the [`Modules`]) the
//! rest of the host sees: every operation names its realm, and goes to the store that
//! holds it. Every table a realm's data lives in is keyed by realm first, so nothing of a
//! realm spans two stores (components are kept by digest in each store that runs them).
//!
//! Where a realm lives is what the stores hold, not a map kept beside them: a host reads
//! it from every store at start, and again when it reads a realm's record (a change heard
//! from another host, a creation, an import or an export). A realm no configuration places
//! that two stores hold is served from neither, on every host alike: no host guesses.

use super::*;
use crate::modules::{Installed, Modules};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

/// One of the stores realms are placed in.
pub struct NamedStore {
    /// `default`, or its name under `[stores]`.
    pub name: String,
    pub store: Arc<dyn Store>,
    /// Where the store's realms keep their modules.
    pub modules: Arc<dyn Modules>,
}

/// The stores of a configuration, routed to by realm. Hosts beat in each store apart
/// (see `hosts.rs`), so this store keeps the trait's single-host heartbeat.
pub struct PlacedStore {
    /// The `default` store first.
    stores: Vec<NamedStore>,
    /// The store the configuration places each of its realms in (absent: `default`).
    configured: HashMap<String, usize>,
    /// The store each realm known to live somewhere lives in.
    found: RwLock<HashMap<String, usize>>,
    /// Realms found in two stores and placed in neither, with why: served from none.
    ambiguous: RwLock<BTreeMap<String, String>>,
}

/// Where the stores hold a realm's record.
enum Held {
    Nowhere,
    In(usize, StoredRealm),
    /// In two stores, and placed in neither by the configuration: why.
    Ambiguous(String),
}

impl PlacedStore {
    /// Places realms across `stores` (`default` first); `configured` names the store each
    /// realm of the configuration lives in, when it names one.
    pub fn new(stores: Vec<NamedStore>, configured: &HashMap<String, String>) -> anyhow::Result<PlacedStore> {
        anyhow::ensure!(!stores.is_empty(), "no store to place realms in");
        let mut placed =
            PlacedStore { stores, configured: HashMap::new(), found: RwLock::default(), ambiguous: RwLock::default() };
        for (realm, store) in configured {
            let index = placed.index_named(store).map_err(|e| anyhow::anyhow!("realm \"{realm}\": {e}"))?;
            placed.configured.insert(realm.clone(), index);
        }
        Ok(placed)
    }

    /// The stores, `default` first.
    pub fn stores(&self) -> &[NamedStore] {
        &self.stores
    }

    /// The names of the stores, `default` first.
    pub fn names(&self) -> Vec<&str> {
        self.stores.iter().map(|s| s.name.as_str()).collect()
    }

    /// The name of the store a realm lives in (or would be created in).
    pub fn store_of(&self, realm: &str) -> &str {
        &self.stores[self.index_of(realm)].name
    }

    /// Why a realm is served from no store, when two hold it.
    pub fn ambiguous(&self) -> BTreeMap<String, String> {
        self.ambiguous.read().expect("ambiguous realms").clone()
    }

    /// Creates a realm through the admin API in the store named (else where the
    /// configuration places it, else `default`). A realm whose data a store still holds is
    /// taken over there, with its data; naming another store for it is a conflict. Every
    /// store must answer: a realm's name is unique across them.
    pub fn create_realm_in(&self, store: Option<&str>, realm: &StoredRealm, event: &OperatorEvent) -> DirResult<()> {
        let wanted = store.map(|name| self.index_named(name)).transpose()?;
        let name = &realm.name;
        let held = match self.holding(name)? {
            Held::Ambiguous(why) => {
                return Err(DirectoryError::Conflict { constraint: "realm-store".into(), detail: why });
            }
            Held::In(held, _) => Some(held),
            Held::Nowhere => None,
        };
        let index = match (held, wanted) {
            (Some(held), Some(wanted)) if held != wanted => {
                return Err(DirectoryError::Conflict {
                    constraint: "realm-store".into(),
                    detail: format!(
                        "realm \"{name}\" already has data in store \"{}\": move it with `scim-host realm export` and `realm import`",
                        self.stores[held].name
                    ),
                });
            }
            (Some(held), _) => held,
            (None, Some(wanted)) => wanted,
            (None, None) => self.index_of(name),
        };
        // `holding` asked every store, but only its own for a configured realm: ask the rest.
        if held.is_none()
            && let Some(&placed) = self.configured.get(name)
            && let Some(other) = self.held_in_any(name, Some(placed))?
        {
            return Err(self.elsewhere(name, other));
        }
        self.stores[index].store.create_realm(realm, event)?;
        if held.is_none() {
            self.give_way(name, index)?;
        }
        self.found.write().expect("placements").insert(name.clone(), index);
        Ok(())
    }

    /// Checks that the stores answer: the names of those that do not, with why. A host
    /// serves the realms of the others.
    pub fn stores_down(&self) -> BTreeMap<String, String> {
        let query = EventQuery { limit: 1, ..Default::default() };
        let down = self.stores.iter().filter_map(|named| match named.store.events("", &query) {
            Ok(_) => None,
            Err(e) => Some((named.name.clone(), e.to_string())),
        });
        down.collect()
    }

    fn index_named(&self, name: &str) -> DirResult<usize> {
        self.stores.iter().position(|s| s.name == name).ok_or_else(|| {
            DirectoryError::Invalid(format!(
                "no store is named \"{name}\"; the stores are: {}",
                self.names().join(", ")
            ))
        })
    }

    /// Where a realm is routed: the store found holding it, else the one the configuration
    /// places it in, else `default`.
    fn index_of(&self, realm: &str) -> usize {
        if let Some(&index) = self.found.read().expect("placements").get(realm) {
            return index;
        }
        self.configured.get(realm).copied().unwrap_or(0)
    }

    fn of(&self, realm: &str) -> &NamedStore {
        &self.stores[self.index_of(realm)]
    }

    /// What the stores that hold a realm come to: a configured realm is in its store (or
    /// nowhere yet); any other is in the one store that holds it, or ambiguous.
    fn decide(&self, realm: &str, mut holders: Vec<(usize, StoredRealm)>) -> Held {
        if let Some(&placed) = self.configured.get(realm) {
            return match holders.into_iter().find(|(index, _)| *index == placed) {
                Some((index, record)) => Held::In(index, record),
                None => Held::Nowhere,
            };
        }
        match holders.len() {
            0 => Held::Nowhere,
            1 => {
                let (index, record) = holders.pop().expect("one");
                Held::In(index, record)
            }
            _ => Held::Ambiguous(format!(
                "realm \"{realm}\" is in two stores, \"{}\" and \"{}\": delete it from one",
                self.stores[holders[0].0].name, self.stores[holders[1].0].name
            )),
        }
    }

    /// Reads a realm's record from the stores, and routes the realm accordingly from now
    /// on. A store that does not answer is taken not to hold it when another does (its
    /// realms are unavailable anyway); when none does, the answer is its error.
    fn holding(&self, realm: &str) -> DirResult<Held> {
        let asked: Vec<usize> = match self.configured.get(realm) {
            Some(&placed) => vec![placed],
            None => (0..self.stores.len()).collect(),
        };
        let (mut holders, mut failed) = (Vec::new(), None);
        for index in asked {
            match self.stores[index].store.realm(realm) {
                Ok(Some(record)) => holders.push((index, record)),
                Ok(None) => {}
                Err(e) => failed = Some(e),
            }
        }
        if let (Some(e), true) = (failed, holders.is_empty()) {
            return Err(e);
        }
        let held = self.decide(realm, holders);
        let (mut found, mut ambiguous) =
            (self.found.write().expect("placements"), self.ambiguous.write().expect("ambiguous realms"));
        match &held {
            Held::In(index, _) => {
                found.insert(realm.to_string(), *index);
                ambiguous.remove(realm);
            }
            Held::Nowhere => {
                found.remove(realm);
                ambiguous.remove(realm);
            }
            Held::Ambiguous(why) => {
                found.remove(realm);
                ambiguous.insert(realm.to_string(), why.clone());
            }
        }
        Ok(held)
    }

    /// The store, other than `except`, that holds a realm's record, if one does; every
    /// store must answer.
    fn held_in_any(&self, realm: &str, except: Option<usize>) -> DirResult<Option<usize>> {
        for (index, named) in self.stores.iter().enumerate().filter(|(i, _)| Some(*i) != except) {
            let answer = named.store.realm(realm).map_err(|e| {
                DirectoryError::Unavailable(format!("store \"{}\" must answer for a realm's name: {e}", named.name))
            })?;
            if answer.is_some() {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }

    /// No constraint spans two stores: a realm of that name created or imported in another
    /// one at the same moment (through another host) is found once ours is committed, and
    /// ours, just made in store `index`, gives way. Both may give way; never both stay.
    fn give_way(&self, realm: &str, index: usize) -> DirResult<()> {
        match self.held_in_any(realm, Some(index)) {
            Ok(None) => Ok(()),
            Ok(Some(other)) => {
                self.stores[index].store.delete_realm(realm)?;
                Err(self.elsewhere(realm, other))
            }
            Err(e) => {
                self.stores[index].store.delete_realm(realm)?;
                Err(e)
            }
        }
    }

    fn elsewhere(&self, realm: &str, index: usize) -> DirectoryError {
        DirectoryError::Conflict {
            constraint: "realm-store".into(),
            detail: format!("realm \"{realm}\" exists in store \"{}\"", self.stores[index].name),
        }
    }
}

impl Store for PlacedStore {
    fn ensure_realm(&self, realm: &str) -> DirResult<()> {
        self.of(realm).store.ensure_realm(realm)?;
        let index = self.index_of(realm);
        self.found.write().expect("placements").insert(realm.to_string(), index);
        Ok(())
    }

    /// Every realm of every store, each from the store it is placed in; one that two stores
    /// hold and none is placed in is left out, with why in [`PlacedStore::ambiguous`]. A
    /// configured realm whose data is only in another store than the configuration's is an
    /// error: the configuration moved away from its data.
    fn realms(&self) -> DirResult<Vec<StoredRealm>> {
        let mut holders: BTreeMap<String, Vec<(usize, StoredRealm)>> = BTreeMap::new();
        for (index, named) in self.stores.iter().enumerate() {
            let realms = named.store.realms().map_err(|e| match self.stores.len() {
                1 => e,
                _ => DirectoryError::Unavailable(format!("store \"{}\": {e}", named.name)),
            })?;
            for realm in realms {
                holders.entry(realm.name.clone()).or_default().push((index, realm));
            }
        }
        let (mut realms, mut found, mut ambiguous) = (Vec::new(), HashMap::new(), BTreeMap::new());
        for (name, held) in holders {
            let stores: Vec<usize> = held.iter().map(|(index, _)| *index).collect();
            if let Some(&placed) = self.configured.get(&name) {
                let elsewhere: Vec<&str> =
                    stores.iter().filter(|&&i| i != placed).map(|&i| self.stores[i].name.as_str()).collect();
                if !stores.contains(&placed) {
                    return Err(DirectoryError::Unavailable(format!(
                        "realm \"{name}\" is configured in store \"{}\" but its data is in store \"{}\": \
                         move it with `scim-host realm export` and `realm import`, or configure it there",
                        self.stores[placed].name, elsewhere[0]
                    )));
                }
                if !elsewhere.is_empty() {
                    tracing::warn!(realm = %name, stores = ?elsewhere, "a copy of a configured realm is left in other stores than its own");
                }
            }
            match self.decide(&name, held) {
                Held::In(index, record) => {
                    found.insert(name, index);
                    realms.push(record);
                }
                Held::Ambiguous(why) => {
                    tracing::error!(realm = %name, "{why}");
                    ambiguous.insert(name, why);
                }
                Held::Nowhere => {}
            }
        }
        *self.found.write().expect("placements") = found;
        *self.ambiguous.write().expect("ambiguous realms") = ambiguous;
        Ok(realms)
    }

    fn realm(&self, name: &str) -> DirResult<Option<StoredRealm>> {
        match self.holding(name)? {
            Held::In(_, record) => Ok(Some(record)),
            Held::Nowhere | Held::Ambiguous(_) => Ok(None),
        }
    }

    fn create_realm(&self, realm: &StoredRealm, event: &OperatorEvent) -> DirResult<()> {
        self.create_realm_in(None, realm, event)
    }

    fn update_realm(
        &self,
        realm: &str,
        limits: Option<&str>,
        settings: Option<&str>,
        event: &OperatorEvent,
    ) -> DirResult<bool> {
        self.of(realm).store.update_realm(realm, limits, settings, event)
    }

    /// Deletes a realm from its store. Where it was stays known (its modules are forgotten
    /// next, there) until the realm's record is read again.
    fn delete_realm(&self, realm: &str) -> DirResult<bool> {
        self.of(realm).store.delete_realm(realm)
    }

    fn ensure_organization(&self, realm: &str, alias: &str, name: &str) -> DirResult<Organization> {
        self.of(realm).store.ensure_organization(realm, alias, name)
    }

    fn organizations(&self, realm: &str) -> DirResult<Vec<Organization>> {
        self.of(realm).store.organizations(realm)
    }

    fn create_organization(
        &self,
        realm: &str,
        alias: &str,
        name: &str,
        event: &OperatorEvent,
    ) -> DirResult<Organization> {
        self.of(realm).store.create_organization(realm, alias, name, event)
    }

    fn delete_organization(&self, realm: &str, alias: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.of(realm).store.delete_organization(realm, alias, event)
    }

    fn record(&self, realm: &str, event: &OperatorEvent) -> DirResult<()> {
        self.of(realm).store.record(realm, event)
    }

    fn begin(&self, realm: &str, access: Access, request_id: &str) -> DirResult<Box<dyn Transaction>> {
        self.of(realm).store.begin(realm, access, request_id)
    }

    fn events(&self, realm: &str, query: &EventQuery) -> DirResult<Vec<StoredEvent>> {
        self.of(realm).store.events(realm, query)
    }

    /// Prunes every store that answers; one that does not is tried again next time.
    fn prune_events(&self, before: i64, batch: u32) -> DirResult<u64> {
        let mut deleted = 0;
        for named in &self.stores {
            match named.store.prune_events(before, batch) {
                Ok(n) => deleted += n,
                Err(e) => tracing::warn!(store = %named.name, "cannot prune old events: {e}"),
            }
        }
        Ok(deleted)
    }

    fn insert_token(&self, token: &StoredToken, event: &OperatorEvent) -> DirResult<()> {
        self.of(&token.realm).store.insert_token(token, event)
    }

    fn tokens(&self, realm: &str) -> DirResult<Vec<StoredToken>> {
        self.of(realm).store.tokens(realm)
    }

    fn revoke_token(&self, realm: &str, id: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.of(realm).store.revoke_token(realm, id, event)
    }

    /// Each store's metrics, labelled with its name when there are several.
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        match &self.stores[..] {
            [only] => only.store.register_metrics(registry),
            stores => {
                for named in stores {
                    let label = (std::borrow::Cow::Borrowed("store"), std::borrow::Cow::Owned(named.name.clone()));
                    named.store.register_metrics(registry.sub_registry_with_label(label));
                }
            }
        }
    }

    fn writes_in_parallel(&self, realm: &str) -> bool {
        self.of(realm).store.writes_in_parallel(realm)
    }

    fn create_webhook(&self, webhook: &StoredWebhook, event: &OperatorEvent) -> DirResult<()> {
        self.of(&webhook.realm).store.create_webhook(webhook, event)
    }

    fn webhooks(&self, realm: &str) -> DirResult<Vec<StoredWebhook>> {
        self.of(realm).store.webhooks(realm)
    }

    fn update_webhook(&self, webhook: &StoredWebhook, event: &OperatorEvent) -> DirResult<bool> {
        self.of(&webhook.realm).store.update_webhook(webhook, event)
    }

    fn delete_webhook(&self, realm: &str, id: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.of(realm).store.delete_webhook(realm, id, event)
    }

    /// The due subscriptions of every store that answers, of realms placed in it.
    fn due_webhooks(
        &self,
        now: i64,
        host: &str,
        lease: std::time::Duration,
        limit: u32,
    ) -> DirResult<Vec<StoredWebhook>> {
        let mut due = Vec::new();
        for (index, named) in self.stores.iter().enumerate() {
            match named.store.due_webhooks(now, host, lease, limit) {
                Ok(webhooks) => {
                    // A realm served from neither of two stores delivers from neither either.
                    let ambiguous = self.ambiguous.read().expect("ambiguous realms");
                    let placed_here =
                        |w: &StoredWebhook| self.index_of(&w.realm) == index && !ambiguous.contains_key(&w.realm);
                    due.extend(webhooks.into_iter().filter(placed_here));
                }
                Err(e) => tracing::warn!(store = %named.name, "cannot read the webhooks due: {e}"),
            }
        }
        Ok(due)
    }

    fn webhook_progress(&self, progress: &WebhookProgress) -> DirResult<bool> {
        self.of(&progress.realm).store.webhook_progress(progress)
    }

    fn webhook_attempts(&self, realm: &str, id: &str, limit: u32) -> DirResult<Vec<WebhookAttempt>> {
        self.of(realm).store.webhook_attempts(realm, id, limit)
    }

    fn follow_changes(&self, follower: Arc<dyn ChangeFollower>) {
        for named in &self.stores {
            named.store.follow_changes(follower.clone());
        }
    }

    /// Exports a realm from the store that holds it (of two, name one alone with `--store`).
    fn export_realm(&self, realm: &str, out: &mut dump::Out) -> DirResult<()> {
        match self.holding(realm)? {
            Held::In(index, _) => self.stores[index].store.export_realm(realm, out),
            Held::Ambiguous(why) => {
                Err(DirectoryError::Unavailable(format!("{why}, or name the store to export from")))
            }
            Held::Nowhere => self.of(realm).store.export_realm(realm, out),
        }
    }

    /// Loads a realm where the configuration places it (else in `default`); a realm of
    /// that name in any of the stores is a conflict.
    fn import_realm(&self, realm: &str, rows: &mut dump::Rows) -> DirResult<()> {
        if let Some(held) = self.held_in_any(realm, None)? {
            return Err(DirectoryError::Conflict {
                constraint: "realm".into(),
                detail: format!("realm \"{realm}\" already exists in store \"{}\"", self.stores[held].name),
            });
        }
        let index = self.index_of(realm);
        self.stores[index].store.import_realm(realm, rows)?;
        self.give_way(realm, index)?;
        self.found.write().expect("placements").insert(realm.to_string(), index);
        Ok(())
    }
}

impl Modules for PlacedStore {
    fn keep(&self, realm: &str, digest: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.of(realm).modules.keep(realm, digest, bytes)
    }

    fn bytes(&self, realm: &str, digest: &str) -> std::io::Result<Vec<u8>> {
        self.of(realm).modules.bytes(realm, digest)
    }

    fn history(&self, realm: &str) -> std::io::Result<Vec<Installed>> {
        self.of(realm).modules.history(realm)
    }

    fn record(&self, realm: &str, digest: &str, previous: &str) -> std::io::Result<()> {
        self.of(realm).modules.record(realm, digest, previous)
    }

    fn forget(&self, realm: &str) -> std::io::Result<()> {
        self.of(realm).modules.forget(realm)
    }

    fn restore(&self, realm: &str, history: &[Installed]) -> std::io::Result<()> {
        self.of(realm).modules.restore(realm, history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::DiskModules;
    use crate::store::sqlite::test_support::operator_event;

    /// Two SQLite stores, `default` and `b`, and the directories they live in.
    fn two_stores() -> (Vec<NamedStore>, Vec<tempfile::TempDir>) {
        let dirs = vec![tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let stores = ["default", "b"]
            .into_iter()
            .zip(&dirs)
            .map(|(name, dir)| NamedStore {
                name: name.into(),
                store: Arc::new(SqliteStore::open(&dir.path().join("scim-host.db")).unwrap()),
                modules: Arc::new(DiskModules::open(dir.path()).unwrap()),
            })
            .collect();
        (stores, dirs)
    }

    fn realm(name: &str) -> StoredRealm {
        StoredRealm { name: name.into(), managed: true, created_at: 0, limits: None, settings: None }
    }

    fn placed(configured: &[(&str, &str)]) -> (PlacedStore, Vec<tempfile::TempDir>) {
        let (stores, dirs) = two_stores();
        let configured = configured.iter().map(|(r, s)| (r.to_string(), s.to_string())).collect();
        (PlacedStore::new(stores, &configured).unwrap(), dirs)
    }

    #[test]
    fn a_realm_in_two_stores_is_served_from_the_one_it_is_placed_in_and_else_from_neither() {
        for configured in [vec![], vec![("x", "b")]] {
            let (placed, _dirs) = placed(&configured);
            for named in &placed.stores {
                named.store.create_realm(&realm("x"), &operator_event("REALM_CREATED", "x")).unwrap();
            }
            match configured.is_empty() {
                true => {
                    assert!(placed.realms().unwrap().is_empty(), "served from neither");
                    let why = &placed.ambiguous()["x"];
                    assert!(why.contains("realm \"x\" is in two stores, \"default\" and \"b\""), "{why}");
                }
                false => {
                    assert_eq!(placed.realms().unwrap().len(), 1);
                    assert_eq!(placed.store_of("x"), "b");
                }
            }
        }
    }

    /// A host that served a realm from one store, and hears of it after a copy appeared in
    /// another (an import before the delete of a move), serves neither: a host started
    /// since would serve neither, and a token revoked in one copy must not open the other.
    #[test]
    fn a_realm_copied_into_a_second_store_is_served_from_neither() {
        let (placed, _dirs) = placed(&[]);
        placed.create_realm_in(None, &realm("x"), &operator_event("REALM_CREATED", "x")).unwrap();
        assert!(placed.realm("x").unwrap().is_some());
        placed.stores[1].store.create_realm(&realm("x"), &operator_event("REALM_CREATED", "x")).unwrap();
        assert!(placed.realm("x").unwrap().is_none(), "served from neither");
        assert!(placed.ambiguous()["x"].contains("two stores"));
        let e = placed.create_realm_in(None, &realm("x"), &operator_event("REALM_CREATED", "x")).unwrap_err();
        assert!(matches!(e, DirectoryError::Conflict { .. }), "{e}");
        placed.stores[0].store.delete_realm("x").unwrap();
        assert!(placed.realm("x").unwrap().is_some(), "the one copy left serves");
        assert_eq!(placed.store_of("x"), "b");
        assert!(placed.ambiguous().is_empty());
    }

    #[test]
    fn a_realm_created_through_another_host_is_found_where_it_is() {
        let (placed, _dirs) = placed(&[]);
        assert!(placed.realms().unwrap().is_empty());
        placed.stores[1].store.create_realm(&realm("late"), &operator_event("REALM_CREATED", "late")).unwrap();
        assert_eq!(placed.store_of("late"), "default", "not known yet");
        assert!(placed.realm("late").unwrap().is_some());
        assert_eq!(placed.store_of("late"), "b");
        let mut tx = placed.begin("late", Access::Write, "r").unwrap();
        tx.create_user(&UserDraft { username: "ada".into(), ..Default::default() }).unwrap();
        tx.commit().unwrap();
        let mut in_b = placed.stores[1].store.begin("late", Access::Read, "r").unwrap();
        assert!(in_b.get_user_by_username("ada").unwrap().is_some(), "the write went to the realm's store");
        assert!(placed.stores[0].store.realms().unwrap().is_empty(), "and nothing to the other");
    }

    #[test]
    fn a_realm_whose_data_is_in_one_store_is_never_created_in_another() {
        let (placed, _dirs) = placed(&[]);
        placed.stores[0].store.ensure_realm("left").unwrap();
        let event = operator_event("REALM_CREATED", "left");
        let e = placed.create_realm_in(Some("b"), &realm("left"), &event).unwrap_err();
        assert!(matches!(&e, DirectoryError::Conflict { detail, .. } if detail.contains("store \"default\"")), "{e}");
        assert!(placed.stores[1].store.realms().unwrap().is_empty());
        placed.create_realm_in(None, &realm("left"), &event).unwrap();
        assert!(placed.realms().unwrap()[0].managed, "taken over where its data is");
        let e = placed.create_realm_in(Some("c"), &realm("new"), &event).unwrap_err();
        assert!(matches!(&e, DirectoryError::Invalid(why) if why.contains("default, b")), "{e}");
    }

    /// A store in which, whenever a realm is created, another host creates the same realm
    /// in the rival store at that moment.
    struct Raced {
        inner: Arc<dyn Store>,
        rival: Arc<dyn Store>,
    }

    impl Store for Raced {
        fn create_realm(&self, realm: &StoredRealm, event: &OperatorEvent) -> DirResult<()> {
            self.inner.create_realm(realm, event)?;
            self.rival.create_realm(realm, event)
        }
        fn ensure_realm(&self, realm: &str) -> DirResult<()> {
            self.inner.ensure_realm(realm)
        }
        fn realms(&self) -> DirResult<Vec<StoredRealm>> {
            self.inner.realms()
        }
        fn realm(&self, name: &str) -> DirResult<Option<StoredRealm>> {
            self.inner.realm(name)
        }
        fn update_realm(&self, r: &str, l: Option<&str>, s: Option<&str>, e: &OperatorEvent) -> DirResult<bool> {
            self.inner.update_realm(r, l, s, e)
        }
        fn delete_realm(&self, realm: &str) -> DirResult<bool> {
            self.inner.delete_realm(realm)
        }
        fn ensure_organization(&self, realm: &str, alias: &str, name: &str) -> DirResult<Organization> {
            self.inner.ensure_organization(realm, alias, name)
        }
        fn organizations(&self, realm: &str) -> DirResult<Vec<Organization>> {
            self.inner.organizations(realm)
        }
        fn create_organization(&self, r: &str, a: &str, n: &str, e: &OperatorEvent) -> DirResult<Organization> {
            self.inner.create_organization(r, a, n, e)
        }
        fn delete_organization(&self, realm: &str, alias: &str, event: &OperatorEvent) -> DirResult<bool> {
            self.inner.delete_organization(realm, alias, event)
        }
        fn record(&self, realm: &str, event: &OperatorEvent) -> DirResult<()> {
            self.inner.record(realm, event)
        }
        fn begin(&self, realm: &str, access: Access, request_id: &str) -> DirResult<Box<dyn Transaction>> {
            self.inner.begin(realm, access, request_id)
        }
        fn events(&self, realm: &str, query: &EventQuery) -> DirResult<Vec<StoredEvent>> {
            self.inner.events(realm, query)
        }
        fn prune_events(&self, before: i64, batch: u32) -> DirResult<u64> {
            self.inner.prune_events(before, batch)
        }
        fn insert_token(&self, token: &StoredToken, event: &OperatorEvent) -> DirResult<()> {
            self.inner.insert_token(token, event)
        }
        fn tokens(&self, realm: &str) -> DirResult<Vec<StoredToken>> {
            self.inner.tokens(realm)
        }
        fn revoke_token(&self, realm: &str, id: &str, event: &OperatorEvent) -> DirResult<bool> {
            self.inner.revoke_token(realm, id, event)
        }
    }

    #[test]
    fn a_realm_created_in_two_stores_at_once_stays_in_one_at_most() {
        let (mut stores, _dirs) = two_stores();
        let rival = stores[0].store.clone();
        stores[1].store = Arc::new(Raced { inner: stores[1].store.clone(), rival });
        let placed = PlacedStore::new(stores, &HashMap::new()).unwrap();
        let e = placed.create_realm_in(Some("b"), &realm("x"), &operator_event("REALM_CREATED", "x")).unwrap_err();
        assert!(matches!(&e, DirectoryError::Conflict { detail, .. } if detail.contains("store \"default\"")), "{e}");
        let names = |i: usize| placed.stores[i].store.realms().unwrap().into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(
            (names(0), names(1)),
            (vec!["x".to_string()], vec![]),
            "the other host's realm stays, ours gave way"
        );
        assert!(placed.ambiguous().is_empty());
    }

    #[test]
    fn a_dump_of_a_realm_another_store_holds_is_not_imported_beside_it() {
        let (placed, _dirs) = placed(&[("copy", "b")]);
        placed.create_realm_in(Some("b"), &realm("x"), &operator_event("REALM_CREATED", "x")).unwrap();
        let mut dump = Vec::new();
        dump::export(&placed, &placed, "x", &mut dump).unwrap();
        let e = dump::import(&placed, &placed, &dump[..], None).unwrap_err().to_string();
        assert!(e.contains("realm \"x\" already exists in store \"b\""), "{e}");
        dump::import(&placed, &placed, &dump[..], Some("copy")).unwrap();
        assert_eq!(placed.store_of("copy"), "b", "imported where the configuration places it");
        let in_b: Vec<_> = placed.stores[1].store.realms().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(in_b, ["copy", "x"]);
    }
}
