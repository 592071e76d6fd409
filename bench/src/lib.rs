//! Shared pieces of the benchmarks. [`MemoryStore`] lets the wasm path run against the very
//! in-memory directory the native path uses, so that the difference between the two is
//! the cost of the sandbox alone (instance, WIT crossings), not of storage.

pub mod sandbox;

use scim_guest::directory as d;
use scim_guest::memory::MemoryDirectory;
use scim_host::store::{self as s, Access, StoreResult, Transaction};
use std::sync::{Arc, Mutex};

/// A host [`s::Store`] over a guest [`MemoryDirectory`]. For benchmarks only: it writes
/// through at once, so dropping a transaction does not roll back.
#[derive(Clone, Default)]
pub struct MemoryStore {
    pub directory: Arc<Mutex<MemoryDirectory>>,
}

struct MemoryTransaction(Arc<Mutex<MemoryDirectory>>);

fn error(e: d::DirectoryError) -> s::StoreError {
    match e {
        d::DirectoryError::NotFound(id) => s::StoreError::NotFound(id),
        d::DirectoryError::Conflict { constraint, detail } => s::StoreError::Conflict { constraint, detail },
        d::DirectoryError::Invalid(why) => s::StoreError::Invalid(why),
        d::DirectoryError::Unavailable(why) => s::StoreError::Failed(why),
    }
}

impl s::Store for MemoryStore {
    fn ensure_realm(&self, _realm: &str) -> StoreResult<()> {
        Ok(())
    }
    fn ensure_organization(&self, _realm: &str, alias: &str, name: &str) -> StoreResult<s::Organization> {
        let id = self.directory.lock().unwrap().add_organization(alias);
        Ok(s::Organization { id, alias: alias.into(), name: name.into() })
    }
    fn begin(&self, _realm: &str, _access: Access) -> StoreResult<Box<dyn Transaction>> {
        Ok(Box::new(MemoryTransaction(self.directory.clone())))
    }
    fn events(&self, _realm: &str, _query: &s::EventQuery) -> StoreResult<Vec<s::StoredEvent>> {
        Ok(Vec::new())
    }
    fn tokens(&self, _realm: &str) -> StoreResult<Vec<s::StoredToken>> {
        Ok(Vec::new())
    }
    fn realms(&self) -> StoreResult<Vec<s::StoredRealm>> {
        Ok(Vec::new())
    }
    fn organizations(&self, _realm: &str) -> StoreResult<Vec<s::Organization>> {
        Ok(Vec::new())
    }
    // The benchmarks call guests only: the operator's changes are not kept.
    fn insert_token(&self, _token: &s::StoredToken, _event: &s::OperatorEvent) -> StoreResult<()> {
        Err(not_kept())
    }
    fn revoke_token(&self, _realm: &str, _id: &str, _event: &s::OperatorEvent) -> StoreResult<bool> {
        Err(not_kept())
    }
    fn create_realm(&self, _realm: &s::StoredRealm, _event: &s::OperatorEvent) -> StoreResult<()> {
        Err(not_kept())
    }
    fn update_realm(&self, _: &str, _: Option<&str>, _: Option<&str>, _: &s::OperatorEvent) -> StoreResult<bool> {
        Err(not_kept())
    }
    fn delete_realm(&self, _realm: &str) -> StoreResult<bool> {
        Err(not_kept())
    }
    fn create_organization(&self, _: &str, _: &str, _: &str, _: &s::OperatorEvent) -> StoreResult<s::Organization> {
        Err(not_kept())
    }
    fn delete_organization(&self, _realm: &str, _alias: &str, _event: &s::OperatorEvent) -> StoreResult<bool> {
        Err(not_kept())
    }
    fn record(&self, _realm: &str, _event: &s::OperatorEvent) -> StoreResult<()> {
        Ok(())
    }
    fn prune_events(&self, _before: i64, _batch: u32) -> StoreResult<u64> {
        Ok(0)
    }
}

fn not_kept() -> s::StoreError {
    s::StoreError::Invalid("the benchmark store keeps no operator changes".into())
}

impl MemoryTransaction {
    fn with<T>(&self, f: impl FnOnce(&mut MemoryDirectory) -> d::DirResult<T>) -> StoreResult<T> {
        f(&mut self.0.lock().unwrap()).map_err(error)
    }
}

use scim_guest::Directory as _;

impl Transaction for MemoryTransaction {
    /// Lookups are not capped here: the benchmark's organization scope filters alone.
    fn bind_lookups_to_organization(&mut self, _organization_id: &str) {}
    fn get_user(&mut self, id: &str) -> StoreResult<Option<s::User>> {
        self.with(|d| d.get_user(id))
    }
    fn get_user_by_username(&mut self, name: &str) -> StoreResult<Option<s::User>> {
        self.with(|d| d.get_user_by_username(name))
    }
    fn get_users_by_email(&mut self, email: &str) -> StoreResult<Vec<s::User>> {
        self.with(|d| d.get_users_by_email(email))
    }
    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> StoreResult<Vec<s::User>> {
        self.with(|d| d.get_users_by_attribute(name, value))
    }
    fn search_users(&mut self, q: &s::Query) -> StoreResult<s::Page<s::User>> {
        self.with(|d| d.search_users(q))
    }
    fn create_user(&mut self, draft: &s::UserDraft) -> StoreResult<s::User> {
        self.with(|d| d.create_user(draft))
    }
    fn update_user(&mut self, id: &str, draft: &s::UserDraft) -> StoreResult<s::User> {
        self.with(|d| d.update_user(id, draft))
    }
    fn delete_user(&mut self, id: &str) -> StoreResult<bool> {
        self.with(|d| d.delete_user(id))
    }
    fn get_group(&mut self, id: &str) -> StoreResult<Option<s::Group>> {
        self.with(|d| d.get_group(id))
    }
    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> StoreResult<Vec<s::Group>> {
        self.with(|d| d.get_groups_by_attribute(name, value))
    }
    fn search_groups(&mut self, q: &s::Query) -> StoreResult<s::Page<s::Group>> {
        self.with(|d| d.search_groups(q))
    }
    fn create_group(&mut self, draft: &s::GroupDraft) -> StoreResult<s::Group> {
        self.with(|d| d.create_group(draft))
    }
    fn update_group(&mut self, id: &str, draft: &s::GroupDraft) -> StoreResult<s::Group> {
        self.with(|d| d.update_group(id, draft))
    }
    fn delete_group(&mut self, id: &str) -> StoreResult<bool> {
        self.with(|d| d.delete_group(id))
    }
    fn group_members(&mut self, group_id: &str) -> StoreResult<Vec<s::Member>> {
        self.with(|d| d.group_members(group_id))
    }
    fn group_member_ids(&mut self, group_id: &str) -> StoreResult<Vec<String>> {
        self.with(|d| d.group_member_ids(group_id))
    }
    fn user_groups(&mut self, user_id: &str) -> StoreResult<Vec<s::Membership>> {
        self.with(|d| d.user_groups(user_id))
    }
    fn add_member(&mut self, group_id: &str, user_id: &str) -> StoreResult<bool> {
        self.with(|d| d.add_member(group_id, user_id))
    }
    fn remove_member(&mut self, group_id: &str, user_id: &str) -> StoreResult<bool> {
        self.with(|d| d.remove_member(group_id, user_id))
    }
    fn get_organization(&mut self, alias: &str) -> StoreResult<Option<s::Organization>> {
        self.with(|d| d.get_organization(alias))
    }
    fn is_organization_member(&mut self, org: &str, user_id: &str) -> StoreResult<bool> {
        self.with(|d| d.is_organization_member(org, user_id))
    }
    fn add_organization_member(&mut self, org: &str, user_id: &str, _: s::MembershipType) -> StoreResult<bool> {
        self.with(|d| d.add_organization_member(org, user_id))
    }
    fn offboard_organization_member(&mut self, org: &str, user_id: &str) -> StoreResult<s::Offboarding> {
        let left = self.with(|d| d.remove_organization_member(org, user_id))?;
        Ok(if left { s::Offboarding::Left } else { s::Offboarding::NotMember })
    }
    fn remove_organization_member(&mut self, org: &str, user_id: &str) -> StoreResult<bool> {
        self.with(|d| d.remove_organization_member(org, user_id))
    }
    fn set_password_hash(&mut self, user_id: &str, hash: &str) -> StoreResult<()> {
        self.with(|d| d.set_password(user_id, hash))
    }
    fn emit(&mut self, event: &s::AdminEvent, _request_id: &str) -> StoreResult<()> {
        self.with(|d| d.emit(event))
    }
    fn savepoint(&mut self) -> StoreResult<()> {
        self.with(|d| d.savepoint())
    }
    fn release_savepoint(&mut self) -> StoreResult<()> {
        self.with(|d| d.release_savepoint())
    }
    fn rollback_to_savepoint(&mut self) -> StoreResult<()> {
        self.with(|d| d.rollback_to_savepoint())
    }
    fn commit(self: Box<Self>) -> StoreResult<()> {
        Ok(())
    }
}
