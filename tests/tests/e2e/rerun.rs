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
    inner: Arc<dyn Store>,
    failures_left: Arc<AtomicU32>,
}

struct FlakyTransaction {
    inner: Box<dyn Transaction>,
    failures_left: Arc<AtomicU32>,
}

impl Store for Flaky {
    fn ensure_realm(&self, realm: &str) -> DirResult<()> {
        self.inner.ensure_realm(realm)
    }
    fn ensure_organization(&self, realm: &str, alias: &str, name: &str) -> DirResult<Organization> {
        self.inner.ensure_organization(realm, alias, name)
    }
    fn begin(&self, realm: &str, access: Access, request_id: &str) -> DirResult<Box<dyn Transaction>> {
        Ok(Box::new(FlakyTransaction {
            inner: self.inner.begin(realm, access, request_id)?,
            failures_left: self.failures_left.clone(),
        }))
    }
    fn events(&self, realm: &str, query: &EventQuery) -> DirResult<Vec<StoredEvent>> {
        self.inner.events(realm, query)
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
    fn realms(&self) -> DirResult<Vec<StoredRealm>> {
        self.inner.realms()
    }
    fn create_realm(&self, realm: &StoredRealm, event: &OperatorEvent) -> DirResult<()> {
        self.inner.create_realm(realm, event)
    }
    fn update_realm(&self, realm: &str, l: Option<&str>, s: Option<&str>, e: &OperatorEvent) -> DirResult<bool> {
        self.inner.update_realm(realm, l, s, e)
    }
    fn delete_realm(&self, realm: &str) -> DirResult<bool> {
        self.inner.delete_realm(realm)
    }
    fn organizations(&self, realm: &str) -> DirResult<Vec<Organization>> {
        self.inner.organizations(realm)
    }
    fn create_organization(&self, r: &str, alias: &str, name: &str, e: &OperatorEvent) -> DirResult<Organization> {
        self.inner.create_organization(r, alias, name, e)
    }
    fn delete_organization(&self, realm: &str, alias: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.inner.delete_organization(realm, alias, event)
    }
    fn record(&self, realm: &str, event: &OperatorEvent) -> DirResult<()> {
        self.inner.record(realm, event)
    }
    fn prune_events(&self, before: i64, batch: u32) -> DirResult<u64> {
        self.inner.prune_events(before, batch)
    }
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.inner.register_metrics(registry)
    }
    fn writes_in_parallel(&self, realm: &str) -> bool {
        self.inner.writes_in_parallel(realm)
    }
    fn modules(&self) -> Option<std::sync::Arc<dyn scim_host::modules::Modules>> {
        self.inner.modules()
    }
    fn follow_changes(&self, follower: std::sync::Arc<dyn scim_host::store::ChangeFollower>) {
        self.inner.follow_changes(follower)
    }
    fn heartbeat(&self, host: &str, alive: std::time::Duration) -> DirResult<usize> {
        self.inner.heartbeat(host, alive)
    }
    fn heartbeat_stop(&self, host: &str) -> DirResult<()> {
        self.inner.heartbeat_stop(host)
    }
}

impl Directory for FlakyTransaction {
    fn create_user(&mut self, draft: &UserDraft) -> DirResult<User> {
        let created = self.inner.create_user(draft)?;
        if self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(DirectoryError::Transient("database is locked (injected)".into()));
        }
        Ok(created)
    }
    fn get_user(&mut self, id: &str) -> DirResult<Option<User>> {
        self.inner.get_user(id)
    }
    fn get_user_by_username(&mut self, u: &str) -> DirResult<Option<User>> {
        self.inner.get_user_by_username(u)
    }
    fn get_users_by_email(&mut self, e: &str) -> DirResult<Vec<User>> {
        self.inner.get_users_by_email(e)
    }
    fn get_users_by_attribute(&mut self, n: &str, v: &str) -> DirResult<Vec<User>> {
        self.inner.get_users_by_attribute(n, v)
    }
    fn search_users(&mut self, q: &Query) -> DirResult<Page<User>> {
        self.inner.search_users(q)
    }
    fn update_user(&mut self, id: &str, d: &UserDraft) -> DirResult<User> {
        self.inner.update_user(id, d)
    }
    fn delete_user(&mut self, id: &str) -> DirResult<bool> {
        self.inner.delete_user(id)
    }
    fn get_group(&mut self, id: &str) -> DirResult<Option<Group>> {
        self.inner.get_group(id)
    }
    fn get_groups_by_attribute(&mut self, n: &str, v: &str) -> DirResult<Vec<Group>> {
        self.inner.get_groups_by_attribute(n, v)
    }
    fn search_groups(&mut self, q: &Query) -> DirResult<Page<Group>> {
        self.inner.search_groups(q)
    }
    fn create_group(&mut self, d: &GroupDraft) -> DirResult<Group> {
        self.inner.create_group(d)
    }
    fn update_group(&mut self, id: &str, d: &GroupDraft) -> DirResult<Group> {
        self.inner.update_group(id, d)
    }
    fn delete_group(&mut self, id: &str) -> DirResult<bool> {
        self.inner.delete_group(id)
    }
    fn group_members(&mut self, g: &str) -> DirResult<Vec<Member>> {
        self.inner.group_members(g)
    }
    fn group_member_ids(&mut self, g: &str) -> DirResult<Vec<String>> {
        self.inner.group_member_ids(g)
    }
    fn user_groups(&mut self, u: &str) -> DirResult<Vec<Membership>> {
        self.inner.user_groups(u)
    }
    fn add_member(&mut self, g: &str, u: &str) -> DirResult<bool> {
        self.inner.add_member(g, u)
    }
    fn remove_member(&mut self, g: &str, u: &str) -> DirResult<bool> {
        self.inner.remove_member(g, u)
    }
    fn get_organization(&mut self, a: &str) -> DirResult<Option<Organization>> {
        self.inner.get_organization(a)
    }
    fn is_organization_member(&mut self, o: &str, u: &str) -> DirResult<bool> {
        self.inner.is_organization_member(o, u)
    }
    fn add_organization_member(&mut self, o: &str, u: &str) -> DirResult<bool> {
        self.inner.add_organization_member(o, u)
    }
    fn remove_organization_member(&mut self, o: &str, u: &str) -> DirResult<bool> {
        self.inner.remove_organization_member(o, u)
    }
    fn set_password(&mut self, u: &str, password: &str) -> DirResult<()> {
        self.inner.set_password(u, password)
    }
    fn emit(&mut self, e: &AdminEvent) -> DirResult<()> {
        self.inner.emit(e)
    }
    fn savepoint(&mut self) -> DirResult<()> {
        self.inner.savepoint()
    }
    fn release_savepoint(&mut self) -> DirResult<()> {
        self.inner.release_savepoint()
    }
    fn rollback_to_savepoint(&mut self) -> DirResult<()> {
        self.inner.rollback_to_savepoint()
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
    fn join_organization(&mut self, o: &str, u: &str, m: MembershipType) -> DirResult<bool> {
        self.inner.join_organization(o, u, m)
    }
    fn offboard_organization_member(&mut self, o: &str, u: &str) -> DirResult<Offboarding> {
        self.inner.offboard_organization_member(o, u)
    }
    fn commit(self: Box<Self>) -> DirResult<()> {
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
