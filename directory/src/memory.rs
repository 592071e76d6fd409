//! An in-memory [`Directory`]: the store the SCIM logic is unit-tested and benchmarked
//! against natively, and a reference for what the host's store must answer. It keeps the
//! same rules as the host's store: usernames unique without regard to case, externalId
//! unique per resource type, memberships removed with their user or group.

use crate::*;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// A realm held in memory.
#[derive(Default, Clone, Debug)]
pub struct MemoryDirectory {
    users: BTreeMap<String, User>,
    groups: BTreeMap<String, Group>,
    /// (group id, user id), in insertion order per group.
    members: Vec<(String, String)>,
    /// The same memberships by user, each user's groups in the order joined: a page of
    /// users reads its groups without a scan of every membership.
    groups_of_user: BTreeMap<String, Vec<String>>,
    organizations: Vec<Organization>,
    organization_members: BTreeSet<(String, String)>,
    /// Every event emitted, in order.
    pub events: Vec<AdminEvent>,
    /// Users with a password, and how many times it was set (the password itself is
    /// not kept, as no store keeps it).
    pub passwords: BTreeMap<String, u32>,
    /// How many times a group's whole membership was read: a change of a few members
    /// of a large group should not read the rest.
    pub membership_reads: u32,
    /// The state at each open savepoint, innermost last.
    savepoints: Vec<MemoryDirectory>,
    clock: i64,
    next_id: u64,
}

impl MemoryDirectory {
    /// An empty realm.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an organization; returns its id.
    pub fn add_organization(&mut self, alias: &str) -> String {
        let id = format!("org-{alias}");
        self.organizations.push(Organization { id: id.clone(), alias: alias.to_string(), name: alias.to_string() });
        id
    }

    fn tick(&mut self) -> i64 {
        self.clock += 1;
        1_700_000_000_000 + self.clock
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        // Lowercase UUID text that differs from the previous id in its first characters,
        // as the store's random ones do (sets of ids compare them), yet repeatable: the
        // counter through a multiplicative hash, and the counter itself at the end.
        let x = self.next_id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            x >> 32,
            (x >> 16) & 0xffff,
            x & 0xfff,
            (x >> 4) & 0xfff,
            self.next_id
        )
    }

    fn check_user_unique(&self, draft: &UserDraft, own: Option<&str>) -> DirResult<()> {
        let others = || self.users.values().filter(|u| Some(u.id.as_str()) != own);
        if others().any(|u| u.username.to_lowercase() == draft.username.to_lowercase()) {
            return Err(DirectoryError::Conflict {
                constraint: "username".into(),
                detail: format!("username \"{}\" exists", draft.username),
            });
        }
        if let Some(x) = first_value(&draft.attributes, "externalId")
            && others().any(|u| first_value(&u.attributes, "externalId") == Some(x))
        {
            return Err(DirectoryError::Conflict {
                constraint: "external-id".into(),
                detail: format!("externalId \"{x}\" exists"),
            });
        }
        Ok(())
    }

    fn touch_group(&mut self, group_id: &str) {
        let now = self.tick();
        if let Some(g) = self.groups.get_mut(group_id) {
            g.updated_at = now;
            g.version += 1;
        }
    }
}

/// The text values a user or group has for a field.
trait Fields {
    fn values(&self, field: &Field) -> Vec<String>;
    fn attributes(&self) -> &[Attribute];
    /// How many items the list `prefix` has (its longest `prefix.sub` attribute).
    fn list_len(&self, prefix: &str) -> usize {
        self.attributes().iter().filter(|a| in_list(&a.name, prefix)).map(|a| a.values.len()).max().unwrap_or(0)
    }
    fn id(&self) -> &str;
    fn created(&self) -> i64;
}

impl Fields for User {
    fn values(&self, field: &Field) -> Vec<String> {
        match field {
            Field::Id => vec![self.id.clone()],
            Field::Username => vec![self.username.clone()],
            Field::Email => self.email.iter().cloned().collect(),
            Field::FirstName => self.first_name.iter().cloned().collect(),
            Field::LastName => self.last_name.iter().cloned().collect(),
            Field::GroupName => Vec::new(),
            Field::Enabled => vec![self.enabled.to_string()],
            Field::CreatedAt => vec![self.created_at.to_string()],
            Field::UpdatedAt => vec![self.updated_at.to_string()],
            Field::Attribute(name) => attribute_values(&self.attributes, name),
        }
    }
    fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created_at
    }
}

impl Fields for Group {
    fn values(&self, field: &Field) -> Vec<String> {
        match field {
            Field::Id => vec![self.id.clone()],
            Field::GroupName => vec![self.name.clone()],
            Field::CreatedAt => vec![self.created_at.to_string()],
            Field::UpdatedAt => vec![self.updated_at.to_string()],
            Field::Attribute(name) => attribute_values(&self.attributes, name),
            _ => Vec::new(),
        }
    }
    fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created_at
    }
}

fn attribute_values(attributes: &[Attribute], name: &str) -> Vec<String> {
    attributes.iter().filter(|a| a.name == name).flat_map(|a| a.values.clone()).collect()
}

fn is_numeric(field: &Field) -> bool {
    matches!(field, Field::CreatedAt | Field::UpdatedAt)
}

fn test(condition: &Condition, actual: &str) -> bool {
    let (a, b) = if condition.case_exact {
        (actual.to_string(), condition.value.clone())
    } else {
        (actual.to_lowercase(), condition.value.to_lowercase())
    };
    let ordering = if is_numeric(&condition.field) {
        a.parse::<i64>().ok().zip(b.parse::<i64>().ok()).map(|(x, y)| x.cmp(&y))
    } else {
        Some(a.cmp(&b))
    };
    match condition.op {
        Comparator::Eq => a == b,
        Comparator::Ne => a != b,
        Comparator::Co => a.contains(&b),
        Comparator::Sw => a.starts_with(&b),
        Comparator::Ew => a.ends_with(&b),
        Comparator::Pr => !a.is_empty(),
        Comparator::Gt => ordering == Some(Ordering::Greater),
        Comparator::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
        Comparator::Lt => ordering == Some(Ordering::Less),
        Comparator::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
    }
}

/// One item of a list a `some-value` node is testing: the list's name and a position.
type Item<'a> = Option<(&'a str, usize)>;

/// Whether an attribute belongs to the list `prefix` (`emails.type` to `emails`).
fn in_list(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.'))
}

fn eval<T: Fields>(nodes: &[FilterNode], index: usize, item: &T, at: Item) -> bool {
    match &nodes[index] {
        FilterNode::Condition(c) => {
            let mut values = item.values(&c.field);
            // Inside a value filter, an attribute of the list has the one value at the
            // item's position.
            if let (Field::Attribute(name), Some((prefix, position))) = (&c.field, at)
                && in_list(name, prefix)
            {
                values = values.into_iter().nth(position).into_iter().collect();
            }
            if c.op == Comparator::Ne {
                // `ne` holds when no value equals (an absent attribute is "not equal").
                !values.iter().any(|v| !test(c, v))
            } else {
                values.iter().any(|v| test(c, v))
            }
        }
        FilterNode::AllOf(children) => children.iter().all(|&c| eval(nodes, c as usize, item, at)),
        FilterNode::AnyOf(children) => children.iter().any(|&c| eval(nodes, c as usize, item, at)),
        FilterNode::Negate(child) => !eval(nodes, *child as usize, item, at),
        FilterNode::SomeValue { attribute, node } => {
            let items = item.list_len(attribute);
            (0..items).any(|position| eval(nodes, *node as usize, item, Some((attribute, position))))
        }
    }
}

fn run<T: Fields + Clone>(items: Vec<&T>, query: &Query) -> Page<T> {
    let mut matched: Vec<&T> = items
        .into_iter()
        .filter(|item| query.filter.is_empty() || eval(&query.filter, query.filter.len() - 1, *item, None))
        .collect();
    matched.sort_by(|a, b| {
        let by_key = match &query.sort {
            Some(key) => {
                let (x, y) = (a.values(&key.field).first().cloned(), b.values(&key.field).first().cloned());
                let o = if is_numeric(&key.field) {
                    x.and_then(|v| v.parse::<i64>().ok()).cmp(&y.and_then(|v| v.parse::<i64>().ok()))
                } else {
                    x.map(|v| v.to_lowercase()).cmp(&y.map(|v| v.to_lowercase()))
                };
                if key.descending { o.reverse() } else { o }
            }
            None => Ordering::Equal,
        };
        by_key.then(a.created().cmp(&b.created())).then(a.id().cmp(b.id()))
    });
    let total = matched.len() as u32;
    let items = matched.into_iter().skip(query.offset as usize).take(query.limit as usize).cloned().collect();
    Page { total, items }
}

impl Directory for MemoryDirectory {
    fn get_user(&mut self, id: &str) -> DirResult<Option<User>> {
        Ok(self.users.get(id).cloned())
    }

    fn get_user_by_username(&mut self, username: &str) -> DirResult<Option<User>> {
        let wanted = username.to_lowercase();
        Ok(self.users.values().find(|u| u.username.to_lowercase() == wanted).cloned())
    }

    fn get_users_by_email(&mut self, email: &str) -> DirResult<Vec<User>> {
        let wanted = email.to_lowercase();
        Ok(self
            .users
            .values()
            .filter(|u| u.email.as_deref().map(str::to_lowercase) == Some(wanted.clone()))
            .cloned()
            .collect())
    }

    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<User>> {
        Ok(self
            .users
            .values()
            // No copy of each user's values: the upsert benchmark probes 1,000 users this way.
            .filter(|u| u.attributes.iter().any(|a| a.name == name && a.values.iter().any(|v| v == value)))
            .cloned()
            .collect())
    }

    fn search_users(&mut self, query: &Query) -> DirResult<Page<User>> {
        let items: Vec<&User> = self
            .users
            .values()
            .filter(|u| {
                query
                    .organization
                    .as_ref()
                    .is_none_or(|o| self.organization_members.contains(&(o.clone(), u.id.clone())))
            })
            .collect();
        Ok(run(items, query))
    }

    fn create_user(&mut self, draft: &UserDraft) -> DirResult<User> {
        self.check_user_unique(draft, None)?;
        let now = self.tick();
        let user = User::created(self.new_id(), draft, now);
        self.users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    fn update_user(&mut self, id: &str, draft: &UserDraft) -> DirResult<User> {
        self.check_user_unique(draft, Some(id))?;
        let now = self.tick();
        let user = self.users.get_mut(id).ok_or_else(|| DirectoryError::NotFound(id.to_string()))?;
        user.username = draft.username.clone();
        user.email = draft.email.clone();
        user.first_name = draft.first_name.clone();
        user.last_name = draft.last_name.clone();
        user.enabled = draft.enabled;
        user.attributes = Attribute::as_stored(&draft.attributes);
        user.updated_at = now;
        user.version += 1;
        Ok(user.clone())
    }

    fn delete_user(&mut self, id: &str) -> DirResult<bool> {
        let existed = self.users.remove(id).is_some();
        self.members.retain(|(_, u)| u != id);
        self.groups_of_user.remove(id);
        self.organization_members.retain(|(_, u)| u != id);
        self.passwords.remove(id);
        Ok(existed)
    }

    fn get_group(&mut self, id: &str) -> DirResult<Option<Group>> {
        Ok(self.groups.get(id).cloned())
    }

    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<Group>> {
        Ok(self
            .groups
            .values()
            .filter(|g| attribute_values(&g.attributes, name).iter().any(|v| v == value))
            .cloned()
            .collect())
    }

    fn search_groups(&mut self, query: &Query) -> DirResult<Page<Group>> {
        let items: Vec<&Group> = self
            .groups
            .values()
            .filter(|g| query.organization.is_none() || g.organization == query.organization)
            .collect();
        Ok(run(items, query))
    }

    fn create_group(&mut self, draft: &GroupDraft) -> DirResult<Group> {
        if let Some(x) = first_value(&draft.attributes, "externalId")
            && self.groups.values().any(|g| first_value(&g.attributes, "externalId") == Some(x))
        {
            return Err(DirectoryError::Conflict {
                constraint: "external-id".into(),
                detail: format!("externalId \"{x}\" exists"),
            });
        }
        let now = self.tick();
        let group = Group::created(self.new_id(), draft, now);
        self.groups.insert(group.id.clone(), group.clone());
        Ok(group)
    }

    fn update_group(&mut self, id: &str, draft: &GroupDraft) -> DirResult<Group> {
        let now = self.tick();
        let group = self.groups.get_mut(id).ok_or_else(|| DirectoryError::NotFound(id.to_string()))?;
        group.name = draft.name.clone();
        group.attributes = Attribute::as_stored(&draft.attributes);
        group.updated_at = now;
        group.version += 1;
        Ok(group.clone())
    }

    fn delete_group(&mut self, id: &str) -> DirResult<bool> {
        let existed = self.groups.remove(id).is_some();
        self.members.retain(|(g, _)| g != id);
        self.groups_of_user.values_mut().for_each(|groups| groups.retain(|g| g != id));
        Ok(existed)
    }

    fn group_members(&mut self, group_id: &str) -> DirResult<Vec<Member>> {
        self.membership_reads += 1;
        Ok(self
            .members
            .iter()
            .filter(|(g, _)| g == group_id)
            .filter_map(|(_, u)| self.users.get(u))
            .map(|u| Member { user_id: u.id.clone(), username: u.username.clone() })
            .collect())
    }

    fn user_groups(&mut self, user_id: &str) -> DirResult<Vec<Membership>> {
        Ok(self
            .groups_of_user
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|g| self.groups.get(g))
            .map(|g| Membership { group_id: g.id.clone(), group_name: g.name.clone() })
            .collect())
    }

    fn add_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        if !self.groups.contains_key(group_id) {
            return Err(DirectoryError::NotFound(group_id.to_string()));
        }
        if !self.users.contains_key(user_id) {
            return Err(DirectoryError::NotFound(user_id.to_string()));
        }
        let groups = self.groups_of_user.entry(user_id.to_string()).or_default();
        if groups.iter().any(|g| g == group_id) {
            return Ok(false);
        }
        groups.push(group_id.to_string());
        self.members.push((group_id.to_string(), user_id.to_string()));
        self.touch_group(group_id);
        Ok(true)
    }

    fn remove_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        let before = self.members.len();
        self.members.retain(|(g, u)| !(g == group_id && u == user_id));
        if let Some(groups) = self.groups_of_user.get_mut(user_id) {
            groups.retain(|g| g != group_id);
        }
        let removed = self.members.len() != before;
        if removed {
            self.touch_group(group_id);
        }
        Ok(removed)
    }

    fn get_organization(&mut self, alias: &str) -> DirResult<Option<Organization>> {
        Ok(self.organizations.iter().find(|o| o.alias == alias).cloned())
    }

    fn is_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        Ok(self.organization_members.contains(&(organization_id.to_string(), user_id.to_string())))
    }

    fn add_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        Ok(self.organization_members.insert((organization_id.to_string(), user_id.to_string())))
    }

    fn remove_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        let removed = self.organization_members.remove(&(organization_id.to_string(), user_id.to_string()));
        let org_groups: BTreeSet<String> = self
            .groups
            .values()
            .filter(|g| g.organization.as_deref() == Some(organization_id))
            .map(|g| g.id.clone())
            .collect();
        self.members.retain(|(g, u)| !(u == user_id && org_groups.contains(g)));
        if let Some(groups) = self.groups_of_user.get_mut(user_id) {
            groups.retain(|g| !org_groups.contains(g));
        }
        Ok(removed)
    }

    fn set_password(&mut self, user_id: &str, _password: &str) -> DirResult<()> {
        if !self.users.contains_key(user_id) {
            return Err(DirectoryError::NotFound(user_id.to_string()));
        }
        *self.passwords.entry(user_id.to_string()).or_default() += 1;
        Ok(())
    }

    fn emit(&mut self, event: &AdminEvent) -> DirResult<()> {
        self.events.push(event.clone());
        Ok(())
    }

    fn savepoint(&mut self) -> DirResult<()> {
        let mut snapshot = self.clone();
        snapshot.savepoints.clear();
        self.savepoints.push(snapshot);
        Ok(())
    }

    fn release_savepoint(&mut self) -> DirResult<()> {
        self.savepoints.pop().map(drop).ok_or_else(|| DirectoryError::Invalid("no savepoint is open".into()))
    }

    fn rollback_to_savepoint(&mut self) -> DirResult<()> {
        let snapshot = self.savepoints.pop().ok_or_else(|| DirectoryError::Invalid("no savepoint is open".into()))?;
        let open = std::mem::take(&mut self.savepoints);
        *self = MemoryDirectory { savepoints: open, ..snapshot };
        Ok(())
    }
}
