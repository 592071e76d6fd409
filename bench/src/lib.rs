//! Shared pieces of the benchmarks. [`MemoryStore`] lets the wasm path run against the very
//! in-memory directory the native path uses, so that the difference between the two is
//! the cost of the sandbox alone (instance, WIT crossings, conversions), not of storage.

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

fn attributes_out(a: Vec<d::Attribute>) -> Vec<s::Attribute> {
    a.into_iter().map(|a| s::Attribute { name: a.name, values: a.values }).collect()
}

fn attributes_in(a: &[s::Attribute]) -> Vec<d::Attribute> {
    a.iter().map(|a| d::Attribute { name: a.name.clone(), values: a.values.clone() }).collect()
}

fn user(u: d::User) -> s::User {
    s::User {
        id: u.id,
        username: u.username,
        email: u.email,
        first_name: u.first_name,
        last_name: u.last_name,
        enabled: u.enabled,
        created_at: u.created_at,
        updated_at: u.updated_at,
        version: u.version,
        attributes: attributes_out(u.attributes),
    }
}

fn user_draft(u: &s::UserDraft) -> d::UserDraft {
    d::UserDraft {
        username: u.username.clone(),
        email: u.email.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        enabled: u.enabled,
        attributes: attributes_in(&u.attributes),
    }
}

fn group(g: d::Group) -> s::Group {
    s::Group {
        id: g.id,
        name: g.name,
        organization: g.organization,
        created_at: g.created_at,
        updated_at: g.updated_at,
        version: g.version,
        attributes: attributes_out(g.attributes),
    }
}

fn group_draft(g: &s::GroupDraft) -> d::GroupDraft {
    d::GroupDraft {
        name: g.name.clone(),
        organization: g.organization.clone(),
        attributes: attributes_in(&g.attributes),
    }
}

fn field(f: &s::Field) -> d::Field {
    match f {
        s::Field::Id => d::Field::Id,
        s::Field::Username => d::Field::Username,
        s::Field::Email => d::Field::Email,
        s::Field::FirstName => d::Field::FirstName,
        s::Field::LastName => d::Field::LastName,
        s::Field::GroupName => d::Field::GroupName,
        s::Field::Enabled => d::Field::Enabled,
        s::Field::CreatedAt => d::Field::CreatedAt,
        s::Field::UpdatedAt => d::Field::UpdatedAt,
        s::Field::Attribute(name) => d::Field::Attribute(name.clone()),
    }
}

fn comparator(c: s::Comparator) -> d::Comparator {
    match c {
        s::Comparator::Eq => d::Comparator::Eq,
        s::Comparator::Ne => d::Comparator::Ne,
        s::Comparator::Co => d::Comparator::Co,
        s::Comparator::Sw => d::Comparator::Sw,
        s::Comparator::Ew => d::Comparator::Ew,
        s::Comparator::Pr => d::Comparator::Pr,
        s::Comparator::Gt => d::Comparator::Gt,
        s::Comparator::Ge => d::Comparator::Ge,
        s::Comparator::Lt => d::Comparator::Lt,
        s::Comparator::Le => d::Comparator::Le,
    }
}

fn query(q: &s::Query) -> d::Query {
    d::Query {
        filter: q
            .filter
            .iter()
            .map(|n| match n {
                s::FilterNode::Condition(c) => d::FilterNode::Condition(d::Condition {
                    field: field(&c.field),
                    op: comparator(c.op),
                    value: c.value.clone(),
                    case_exact: c.case_exact,
                }),
                s::FilterNode::AllOf(c) => d::FilterNode::AllOf(c.clone()),
                s::FilterNode::AnyOf(c) => d::FilterNode::AnyOf(c.clone()),
                s::FilterNode::Negate(c) => d::FilterNode::Negate(*c),
            })
            .collect(),
        organization: q.organization.clone(),
        sort: q.sort.as_ref().map(|k| d::SortKey { field: field(&k.field), descending: k.descending }),
        offset: q.offset,
        limit: q.limit,
    }
}

fn event_kind(k: s::EventKind) -> d::EventKind {
    match k {
        s::EventKind::UserCreated => d::EventKind::UserCreated,
        s::EventKind::UserUpdated => d::EventKind::UserUpdated,
        s::EventKind::UserDeleted => d::EventKind::UserDeleted,
        s::EventKind::GroupCreated => d::EventKind::GroupCreated,
        s::EventKind::GroupUpdated => d::EventKind::GroupUpdated,
        s::EventKind::GroupDeleted => d::EventKind::GroupDeleted,
        s::EventKind::MemberJoined => d::EventKind::MemberJoined,
        s::EventKind::MemberLeft => d::EventKind::MemberLeft,
        s::EventKind::OrganizationMemberJoined => d::EventKind::OrganizationMemberJoined,
        s::EventKind::OrganizationMemberLeft => d::EventKind::OrganizationMemberLeft,
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
    fn events(&self, _realm: &str, _after: i64, _limit: u32) -> StoreResult<Vec<s::StoredEvent>> {
        Ok(Vec::new())
    }
}

impl MemoryTransaction {
    fn with<T>(&self, f: impl FnOnce(&mut MemoryDirectory) -> d::DirResult<T>) -> StoreResult<T> {
        f(&mut self.0.lock().unwrap()).map_err(error)
    }
}

use scim_guest::Directory as _;

impl Transaction for MemoryTransaction {
    fn get_user(&mut self, id: &str) -> StoreResult<Option<s::User>> {
        self.with(|d| d.get_user(id)).map(|u| u.map(user))
    }
    fn get_user_by_username(&mut self, name: &str) -> StoreResult<Option<s::User>> {
        self.with(|d| d.get_user_by_username(name)).map(|u| u.map(user))
    }
    fn get_users_by_email(&mut self, email: &str) -> StoreResult<Vec<s::User>> {
        self.with(|d| d.get_users_by_email(email)).map(|v| v.into_iter().map(user).collect())
    }
    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> StoreResult<Vec<s::User>> {
        self.with(|d| d.get_users_by_attribute(name, value)).map(|v| v.into_iter().map(user).collect())
    }
    fn search_users(&mut self, q: &s::Query) -> StoreResult<s::Page<s::User>> {
        let page = self.with(|d| d.search_users(&query(q)))?;
        Ok(s::Page { total: page.total, items: page.items.into_iter().map(user).collect() })
    }
    fn create_user(&mut self, draft: &s::UserDraft) -> StoreResult<s::User> {
        self.with(|d| d.create_user(&user_draft(draft))).map(user)
    }
    fn update_user(&mut self, id: &str, draft: &s::UserDraft) -> StoreResult<s::User> {
        self.with(|d| d.update_user(id, &user_draft(draft))).map(user)
    }
    fn delete_user(&mut self, id: &str) -> StoreResult<bool> {
        self.with(|d| d.delete_user(id))
    }
    fn get_group(&mut self, id: &str) -> StoreResult<Option<s::Group>> {
        self.with(|d| d.get_group(id)).map(|g| g.map(group))
    }
    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> StoreResult<Vec<s::Group>> {
        self.with(|d| d.get_groups_by_attribute(name, value)).map(|v| v.into_iter().map(group).collect())
    }
    fn search_groups(&mut self, q: &s::Query) -> StoreResult<s::Page<s::Group>> {
        let page = self.with(|d| d.search_groups(&query(q)))?;
        Ok(s::Page { total: page.total, items: page.items.into_iter().map(group).collect() })
    }
    fn create_group(&mut self, draft: &s::GroupDraft) -> StoreResult<s::Group> {
        self.with(|d| d.create_group(&group_draft(draft))).map(group)
    }
    fn update_group(&mut self, id: &str, draft: &s::GroupDraft) -> StoreResult<s::Group> {
        self.with(|d| d.update_group(id, &group_draft(draft))).map(group)
    }
    fn delete_group(&mut self, id: &str) -> StoreResult<bool> {
        self.with(|d| d.delete_group(id))
    }
    fn group_members(&mut self, group_id: &str) -> StoreResult<Vec<s::Member>> {
        let members = self.with(|d| d.group_members(group_id))?;
        Ok(members.into_iter().map(|m| s::Member { user_id: m.user_id, username: m.username }).collect())
    }
    fn user_groups(&mut self, user_id: &str) -> StoreResult<Vec<s::Membership>> {
        let groups = self.with(|d| d.user_groups(user_id))?;
        Ok(groups.into_iter().map(|m| s::Membership { group_id: m.group_id, group_name: m.group_name }).collect())
    }
    fn add_member(&mut self, group_id: &str, user_id: &str) -> StoreResult<bool> {
        self.with(|d| d.add_member(group_id, user_id))
    }
    fn remove_member(&mut self, group_id: &str, user_id: &str) -> StoreResult<bool> {
        self.with(|d| d.remove_member(group_id, user_id))
    }
    fn get_organization(&mut self, alias: &str) -> StoreResult<Option<s::Organization>> {
        let org = self.with(|d| d.get_organization(alias))?;
        Ok(org.map(|o| s::Organization { id: o.id, alias: o.alias, name: o.name }))
    }
    fn is_organization_member(&mut self, org: &str, user_id: &str) -> StoreResult<bool> {
        self.with(|d| d.is_organization_member(org, user_id))
    }
    fn add_organization_member(&mut self, org: &str, user_id: &str) -> StoreResult<bool> {
        self.with(|d| d.add_organization_member(org, user_id))
    }
    fn remove_organization_member(&mut self, org: &str, user_id: &str) -> StoreResult<bool> {
        self.with(|d| d.remove_organization_member(org, user_id))
    }
    fn emit(&mut self, event: &s::AdminEvent) -> StoreResult<()> {
        let event = d::AdminEvent {
            kind: event_kind(event.kind),
            resource_id: event.resource_id.clone(),
            related_id: event.related_id.clone(),
            details: event.details.clone(),
        };
        self.with(|d| d.emit(&event))
    }
    fn commit(self: Box<Self>) -> StoreResult<()> {
        Ok(())
    }
}
