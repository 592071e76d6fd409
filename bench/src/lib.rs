//! Shared pieces of the benchmarks. [`MemoryStore`] lets the wasm path run against the very
//! in-memory directory the native path uses, so that the difference between the two is
//! the cost of the sandbox alone (instance, WIT crossings), not of storage.

pub mod sandbox;

use scim_directory::memory::MemoryDirectory;
use scim_host::store::{self as s, Access, DirResult, Transaction};
use std::sync::{Arc, Mutex};

/// A host [`s::Store`] over a guest [`MemoryDirectory`]. For benchmarks only: it writes
/// through at once, so dropping a transaction does not roll back.
#[derive(Clone, Default)]
pub struct MemoryStore {
    pub directory: Arc<Mutex<MemoryDirectory>>,
}

struct MemoryTransaction(Arc<Mutex<MemoryDirectory>>);

impl s::Store for MemoryStore {
    fn ensure_realm(&self, _realm: &str) -> DirResult<()> {
        Ok(())
    }
    fn ensure_organization(&self, _realm: &str, alias: &str, name: &str) -> DirResult<s::Organization> {
        let id = self.directory.lock().unwrap().add_organization(alias);
        Ok(s::Organization { id, alias: alias.into(), name: name.into() })
    }
    fn begin(&self, _realm: &str, _access: Access, _request_id: &str) -> DirResult<Box<dyn Transaction>> {
        Ok(Box::new(MemoryTransaction(self.directory.clone())))
    }
    fn events(&self, _realm: &str, _query: &s::EventQuery) -> DirResult<Vec<s::StoredEvent>> {
        Ok(Vec::new())
    }
    fn tokens(&self, _realm: &str) -> DirResult<Vec<s::StoredToken>> {
        Ok(Vec::new())
    }
    fn realms(&self) -> DirResult<Vec<s::StoredRealm>> {
        Ok(Vec::new())
    }
    fn organizations(&self, _realm: &str) -> DirResult<Vec<s::Organization>> {
        Ok(Vec::new())
    }
    // The benchmarks call guests only: the operator's changes are not kept.
    fn insert_token(&self, _token: &s::StoredToken, _event: &s::OperatorEvent) -> DirResult<()> {
        Err(not_kept())
    }
    fn revoke_token(&self, _realm: &str, _id: &str, _event: &s::OperatorEvent) -> DirResult<bool> {
        Err(not_kept())
    }
    fn create_realm(&self, _realm: &s::StoredRealm, _event: &s::OperatorEvent) -> DirResult<()> {
        Err(not_kept())
    }
    fn update_realm(&self, _: &str, _: Option<&str>, _: Option<&str>, _: &s::OperatorEvent) -> DirResult<bool> {
        Err(not_kept())
    }
    fn delete_realm(&self, _realm: &str) -> DirResult<bool> {
        Err(not_kept())
    }
    fn create_organization(&self, _: &str, _: &str, _: &str, _: &s::OperatorEvent) -> DirResult<s::Organization> {
        Err(not_kept())
    }
    fn delete_organization(&self, _realm: &str, _alias: &str, _event: &s::OperatorEvent) -> DirResult<bool> {
        Err(not_kept())
    }
    fn record(&self, _realm: &str, _event: &s::OperatorEvent) -> DirResult<()> {
        Ok(())
    }
    fn prune_events(&self, _before: i64, _batch: u32) -> DirResult<u64> {
        Ok(0)
    }
}

fn not_kept() -> s::DirectoryError {
    s::DirectoryError::Invalid("the benchmark store keeps no operator changes".into())
}

impl MemoryTransaction {
    fn with<T>(&self, f: impl FnOnce(&mut MemoryDirectory) -> DirResult<T>) -> DirResult<T> {
        f(&mut self.0.lock().unwrap())
    }
}

use scim_guest::Directory;

impl Directory for MemoryTransaction {
    fn get_user(&mut self, id: &str) -> DirResult<Option<s::User>> {
        self.with(|d| d.get_user(id))
    }
    fn get_user_by_username(&mut self, name: &str) -> DirResult<Option<s::User>> {
        self.with(|d| d.get_user_by_username(name))
    }
    fn get_users_by_email(&mut self, email: &str) -> DirResult<Vec<s::User>> {
        self.with(|d| d.get_users_by_email(email))
    }
    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<s::User>> {
        self.with(|d| d.get_users_by_attribute(name, value))
    }
    fn search_users(&mut self, q: &s::Query) -> DirResult<s::Page<s::User>> {
        self.with(|d| d.search_users(q))
    }
    fn create_user(&mut self, draft: &s::UserDraft) -> DirResult<s::User> {
        self.with(|d| d.create_user(draft))
    }
    fn update_user(&mut self, id: &str, draft: &s::UserDraft) -> DirResult<s::User> {
        self.with(|d| d.update_user(id, draft))
    }
    fn delete_user(&mut self, id: &str) -> DirResult<bool> {
        self.with(|d| d.delete_user(id))
    }
    fn get_group(&mut self, id: &str) -> DirResult<Option<s::Group>> {
        self.with(|d| d.get_group(id))
    }
    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<s::Group>> {
        self.with(|d| d.get_groups_by_attribute(name, value))
    }
    fn search_groups(&mut self, q: &s::Query) -> DirResult<s::Page<s::Group>> {
        self.with(|d| d.search_groups(q))
    }
    fn create_group(&mut self, draft: &s::GroupDraft) -> DirResult<s::Group> {
        self.with(|d| d.create_group(draft))
    }
    fn update_group(&mut self, id: &str, draft: &s::GroupDraft) -> DirResult<s::Group> {
        self.with(|d| d.update_group(id, draft))
    }
    fn delete_group(&mut self, id: &str) -> DirResult<bool> {
        self.with(|d| d.delete_group(id))
    }
    fn group_members(&mut self, group_id: &str) -> DirResult<Vec<s::Member>> {
        self.with(|d| d.group_members(group_id))
    }
    fn group_member_ids(&mut self, group_id: &str) -> DirResult<Vec<String>> {
        self.with(|d| d.group_member_ids(group_id))
    }
    fn user_groups(&mut self, user_id: &str) -> DirResult<Vec<s::Membership>> {
        self.with(|d| d.user_groups(user_id))
    }
    fn add_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        self.with(|d| d.add_member(group_id, user_id))
    }
    fn remove_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        self.with(|d| d.remove_member(group_id, user_id))
    }
    fn get_organization(&mut self, alias: &str) -> DirResult<Option<s::Organization>> {
        self.with(|d| d.get_organization(alias))
    }
    fn is_organization_member(&mut self, org: &str, user_id: &str) -> DirResult<bool> {
        self.with(|d| d.is_organization_member(org, user_id))
    }
    fn add_organization_member(&mut self, org: &str, user_id: &str) -> DirResult<bool> {
        self.with(|d| d.add_organization_member(org, user_id))
    }
    fn remove_organization_member(&mut self, org: &str, user_id: &str) -> DirResult<bool> {
        self.with(|d| d.remove_organization_member(org, user_id))
    }
    fn set_password(&mut self, user_id: &str, password: &str) -> DirResult<()> {
        self.with(|d| d.set_password(user_id, password))
    }
    fn emit(&mut self, event: &s::AdminEvent) -> DirResult<()> {
        self.with(|d| d.emit(event))
    }
    fn savepoint(&mut self) -> DirResult<()> {
        self.with(|d| d.savepoint())
    }
    fn release_savepoint(&mut self) -> DirResult<()> {
        self.with(|d| d.release_savepoint())
    }
    fn rollback_to_savepoint(&mut self) -> DirResult<()> {
        self.with(|d| d.rollback_to_savepoint())
    }
}

impl Transaction for MemoryTransaction {
    /// Lookups are not capped here: the benchmark's organization scope filters alone.
    fn bind_lookups_to_organization(&mut self, _organization_id: &str) {}
    fn join_organization(&mut self, org: &str, user_id: &str, _: s::MembershipType) -> DirResult<bool> {
        self.with(|d| d.add_organization_member(org, user_id))
    }
    fn offboard_organization_member(&mut self, org: &str, user_id: &str) -> DirResult<s::Offboarding> {
        let left = self.with(|d| d.remove_organization_member(org, user_id))?;
        Ok(if left { s::Offboarding::Left } else { s::Offboarding::NotMember })
    }
    fn commit(self: Box<Self>) -> DirResult<()> {
        Ok(())
    }
}
