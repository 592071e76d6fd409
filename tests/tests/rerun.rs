//! A transient store conflict (a busy database, a serialization failure) rolls the call
//! back and runs it again, whole: the client sees one clean answer.

use scim_host::store::*;
use scim_host_e2e::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The embedded store, except that the first `create_user` of each of the first calls
/// fails as if another writer had got in the way.
struct Flaky {
    inner: SqliteStore,
    failures_left: Arc<AtomicU32>,
}

struct FlakyTransaction {
    inner: Box<dyn Transaction>,
    failures_left: Arc<AtomicU32>,
}

impl Store for Flaky {
    fn ensure_realm(&self, realm: &str) -> StoreResult<()> {
        self.inner.ensure_realm(realm)
    }
    fn ensure_organization(&self, realm: &str, alias: &str, name: &str) -> StoreResult<Organization> {
        self.inner.ensure_organization(realm, alias, name)
    }
    fn begin(&self, realm: &str, access: Access) -> StoreResult<Box<dyn Transaction>> {
        Ok(Box::new(FlakyTransaction {
            inner: self.inner.begin(realm, access)?,
            failures_left: self.failures_left.clone(),
        }))
    }
    fn events(&self, realm: &str, query: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
        self.inner.events(realm, query)
    }
    fn insert_token(&self, token: &StoredToken, event: &OperatorEvent) -> StoreResult<()> {
        self.inner.insert_token(token, event)
    }
    fn tokens(&self, realm: &str) -> StoreResult<Vec<StoredToken>> {
        self.inner.tokens(realm)
    }
    fn revoke_token(&self, realm: &str, id: &str, event: &OperatorEvent) -> StoreResult<bool> {
        self.inner.revoke_token(realm, id, event)
    }
    fn realms(&self) -> StoreResult<Vec<StoredRealm>> {
        self.inner.realms()
    }
    fn create_realm(&self, realm: &StoredRealm, event: &OperatorEvent) -> StoreResult<()> {
        self.inner.create_realm(realm, event)
    }
    fn update_realm(&self, realm: &str, l: Option<&str>, s: Option<&str>, e: &OperatorEvent) -> StoreResult<bool> {
        self.inner.update_realm(realm, l, s, e)
    }
    fn delete_realm(&self, realm: &str) -> StoreResult<bool> {
        self.inner.delete_realm(realm)
    }
    fn organizations(&self, realm: &str) -> StoreResult<Vec<Organization>> {
        self.inner.organizations(realm)
    }
    fn create_organization(&self, r: &str, alias: &str, name: &str, e: &OperatorEvent) -> StoreResult<Organization> {
        self.inner.create_organization(r, alias, name, e)
    }
    fn delete_organization(&self, realm: &str, alias: &str, event: &OperatorEvent) -> StoreResult<bool> {
        self.inner.delete_organization(realm, alias, event)
    }
    fn record(&self, realm: &str, event: &OperatorEvent) -> StoreResult<()> {
        self.inner.record(realm, event)
    }
    fn prune_events(&self, before: i64, batch: u32) -> StoreResult<u64> {
        self.inner.prune_events(before, batch)
    }
}

impl Transaction for FlakyTransaction {
    fn bind_lookups_to_organization(&mut self, organization_id: &str) {
        self.inner.bind_lookups_to_organization(organization_id)
    }
    fn set_deadline(&mut self, deadline: Deadline) {
        self.inner.set_deadline(deadline)
    }
    fn writer_since(&self) -> Option<std::time::Instant> {
        self.inner.writer_since()
    }
    fn create_user(&mut self, draft: &UserDraft) -> StoreResult<User> {
        let created = self.inner.create_user(draft)?;
        if self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(StoreError::Transient("database is locked (injected)".into()));
        }
        Ok(created)
    }
    fn get_user(&mut self, id: &str) -> StoreResult<Option<User>> {
        self.inner.get_user(id)
    }
    fn get_user_by_username(&mut self, u: &str) -> StoreResult<Option<User>> {
        self.inner.get_user_by_username(u)
    }
    fn get_users_by_email(&mut self, e: &str) -> StoreResult<Vec<User>> {
        self.inner.get_users_by_email(e)
    }
    fn get_users_by_attribute(&mut self, n: &str, v: &str) -> StoreResult<Vec<User>> {
        self.inner.get_users_by_attribute(n, v)
    }
    fn search_users(&mut self, q: &Query) -> StoreResult<Page<User>> {
        self.inner.search_users(q)
    }
    fn update_user(&mut self, id: &str, d: &UserDraft) -> StoreResult<User> {
        self.inner.update_user(id, d)
    }
    fn delete_user(&mut self, id: &str) -> StoreResult<bool> {
        self.inner.delete_user(id)
    }
    fn get_group(&mut self, id: &str) -> StoreResult<Option<Group>> {
        self.inner.get_group(id)
    }
    fn get_groups_by_attribute(&mut self, n: &str, v: &str) -> StoreResult<Vec<Group>> {
        self.inner.get_groups_by_attribute(n, v)
    }
    fn search_groups(&mut self, q: &Query) -> StoreResult<Page<Group>> {
        self.inner.search_groups(q)
    }
    fn create_group(&mut self, d: &GroupDraft) -> StoreResult<Group> {
        self.inner.create_group(d)
    }
    fn update_group(&mut self, id: &str, d: &GroupDraft) -> StoreResult<Group> {
        self.inner.update_group(id, d)
    }
    fn delete_group(&mut self, id: &str) -> StoreResult<bool> {
        self.inner.delete_group(id)
    }
    fn group_members(&mut self, g: &str) -> StoreResult<Vec<Member>> {
        self.inner.group_members(g)
    }
    fn group_member_ids(&mut self, g: &str) -> StoreResult<Vec<String>> {
        self.inner.group_member_ids(g)
    }
    fn user_groups(&mut self, u: &str) -> StoreResult<Vec<Membership>> {
        self.inner.user_groups(u)
    }
    fn add_member(&mut self, g: &str, u: &str) -> StoreResult<bool> {
        self.inner.add_member(g, u)
    }
    fn remove_member(&mut self, g: &str, u: &str) -> StoreResult<bool> {
        self.inner.remove_member(g, u)
    }
    fn get_organization(&mut self, a: &str) -> StoreResult<Option<Organization>> {
        self.inner.get_organization(a)
    }
    fn is_organization_member(&mut self, o: &str, u: &str) -> StoreResult<bool> {
        self.inner.is_organization_member(o, u)
    }
    fn add_organization_member(&mut self, o: &str, u: &str, m: MembershipType) -> StoreResult<bool> {
        self.inner.add_organization_member(o, u, m)
    }
    fn offboard_organization_member(&mut self, o: &str, u: &str) -> StoreResult<Offboarding> {
        self.inner.offboard_organization_member(o, u)
    }
    fn remove_organization_member(&mut self, o: &str, u: &str) -> StoreResult<bool> {
        self.inner.remove_organization_member(o, u)
    }
    fn set_password_hash(&mut self, u: &str, hash: &str) -> StoreResult<()> {
        self.inner.set_password_hash(u, hash)
    }
    fn emit(&mut self, e: &AdminEvent, request_id: &str) -> StoreResult<()> {
        self.inner.emit(e, request_id)
    }
    fn savepoint(&mut self) -> StoreResult<()> {
        self.inner.savepoint()
    }
    fn release_savepoint(&mut self) -> StoreResult<()> {
        self.inner.release_savepoint()
    }
    fn rollback_to_savepoint(&mut self) -> StoreResult<()> {
        self.inner.rollback_to_savepoint()
    }
    fn commit(self: Box<Self>) -> StoreResult<()> {
        self.inner.commit()
    }
}

#[tokio::test]
async fn a_transient_conflict_reruns_the_whole_call_and_applies_it_once() {
    let server =
        TestServer::start_with_store(|inner| Arc::new(Flaky { inner, failures_left: Arc::new(AtomicU32::new(2)) }))
            .await;
    for scope in BOTH_SCOPES {
        let created = server
            .post(&format!("{}/Users", server.base(scope)), user(&format!("retry-{}", scope == Scope::Realm), "x"))
            .await;
        let created = created.expect(201);
        let listed = server.get(&format!("{}/Users", server.base(scope))).await.expect(200);
        assert_eq!(listed.body["totalResults"], json!(1), "{scope:?}");
        server.delete(&format!("{}/Users/{}", server.base(Scope::Realm), created.id())).await.expect(204);
    }
    let created: Vec<_> = server.events().await.into_iter().filter(|e| e["type"] == "USER_CREATED").collect();
    assert_eq!(created.len(), 2, "the rolled-back attempts left no events: {created:?}");
}

#[tokio::test]
async fn a_conflict_that_never_clears_is_a_503_with_nothing_applied() {
    let server = TestServer::start_with_store(|inner| {
        Arc::new(Flaky { inner, failures_left: Arc::new(AtomicU32::new(u32::MAX)) })
    })
    .await;
    let answer = server.post(&format!("{}/Users", server.base(Scope::Realm)), user("never", "x-never")).await;
    answer.assert_scim_error(503);
    assert!(answer.body["detail"].as_str().unwrap().contains("5 attempts"), "{}", answer.text);
    assert_eq!(server.get(&format!("{}/Users", server.base(Scope::Realm))).await.body["totalResults"], json!(0));
    assert!(server.events().await.is_empty());
}
