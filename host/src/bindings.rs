//! The WIT `directory` interface implemented over a store [`Transaction`], and the
//! conversions between WIT types and store types. This is the only place both meet:
//! nothing below it knows WIT, nothing above it knows SQL.
//!
//! Errors a guest can act on (`not-found`, `conflict`, `invalid`, `unavailable`) are
//! returned as WIT variants; a transient store conflict is a trap that makes the host
//! roll back and run the whole call again.

use crate::store::{self, DirectoryError, Transaction};

/// The longest `details` of an event a guest records.
const MAX_EVENT_DETAILS_BYTES: usize = 64 << 10;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "scim-handler",
    imports: { default: trappable },
    trappable_error_type: { "scim:host/directory.error" => crate::store::DirectoryError },
});

pub use exports::scim::host::handler::Guest as HandlerExport;
pub use scim::host::directory as wit;
pub use scim::host::types;

/// What a guest call can see and what it left behind: the store data of one wasmtime
/// `Store`, which lives exactly as long as one call.
pub struct CallState {
    /// The call's transaction; taken back by the host when the call returns.
    pub transaction: Option<Box<dyn Transaction>>,
    /// Set when the store reported a transient conflict: the call must run again.
    pub rerun: bool,
    /// The last uniqueness conflict the store reported, for the log of a 409.
    pub last_conflict: Option<(String, String)>,
    /// The guest's memory cap; records whether the guest hit it.
    pub memory: crate::runtime::MemoryCap,
    /// When the call must stop.
    pub deadline: store::Deadline,
    /// The thread's CPU time when the call began.
    pub cpu_at_start: std::time::Duration,
    /// The thread's CPU time when the guest's last directory call returned: what the guest
    /// spent since is its own, however long the store took (hashing a password).
    pub cpu_after_last_directory_call: std::time::Duration,
    /// The cores long calls share, and this call's turn on them while it runs long.
    pub long_calls: std::sync::Arc<crate::runtime::LongCalls>,
    pub permit: Option<crate::runtime::Permit>,
    /// Held once the call has run past its grace: counts it among the long calls.
    pub long: Option<crate::runtime::LongCall>,
    /// The realm's admission, to cut the call when the realm starts cooling down.
    pub limiter: Option<std::sync::Arc<crate::limits::RealmLimiter>>,
    pub wasi: wasmtime_wasi::WasiCtx,
    pub table: wasmtime::component::ResourceTable,
}

impl wasmtime_wasi::WasiView for CallState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Marks a trap raised because the store asked for the call to run again.
#[derive(Debug, thiserror::Error)]
#[error("transient store conflict: {0}")]
pub struct Rerun(pub String);

impl CallState {
    /// When the call must stop: its deadline, or sooner once it holds the store's writer
    /// (its write hold after it took it).
    pub fn cutoff(&self) -> std::time::Instant {
        self.deadline.cutoff(self.writer_since())
    }

    /// Since when the call holds the store's writer, if it does.
    pub fn writer_since(&self) -> Option<std::time::Instant> {
        self.transaction.as_ref().and_then(|t| t.writer_since())
    }

    /// The transaction, for one directory operation.
    fn tx(&mut self) -> Result<InStore<'_>, DirectoryError> {
        // Out of its own code (perhaps waiting for the store's writer): a long call's turn
        // on the cores goes to the next, and comes back at its next tick.
        self.permit = None;
        // The writer's statements are not interrupted (see the store): a call holding it
        // is stopped before its next operation instead.
        if self.writer_since().is_some() && std::time::Instant::now() >= self.cutoff() {
            return Err(DirectoryError::PastDeadline);
        }
        if self.transaction.is_none() {
            return Err(DirectoryError::Unavailable("the call's transaction has already ended".into()));
        }
        Ok(InStore(self))
    }
}

/// The call's transaction during one directory operation; when the operation is over, the
/// CPU the guest spends outside the store is counted from then on.
struct InStore<'a>(&'a mut CallState);

impl std::ops::Deref for InStore<'_> {
    type Target = dyn Transaction;
    fn deref(&self) -> &Self::Target {
        self.0.transaction.as_deref().expect("`tx` checked it is there")
    }
}

impl std::ops::DerefMut for InStore<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.transaction.as_deref_mut().expect("`tx` checked it is there")
    }
}

impl Drop for InStore<'_> {
    fn drop(&mut self) {
        self.0.cpu_after_last_directory_call = crate::runtime::thread_cpu_time();
    }
}

fn attributes_in(attributes: Vec<wit::Attribute>) -> Vec<store::Attribute> {
    attributes.into_iter().map(|a| store::Attribute { name: a.name, values: a.values }).collect()
}

fn attributes_out(attributes: Vec<store::Attribute>) -> Vec<wit::Attribute> {
    attributes.into_iter().map(|a| wit::Attribute { name: a.name, values: a.values }).collect()
}

fn membership(m: store::Membership) -> wit::Membership {
    wit::Membership { group_id: m.group_id, group_name: m.group_name }
}

fn user(u: store::User) -> wit::User {
    wit::User {
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

fn users(list: Vec<store::User>) -> Vec<wit::User> {
    list.into_iter().map(user).collect()
}

fn user_draft(d: wit::UserDraft) -> store::UserDraft {
    store::UserDraft {
        username: d.username,
        email: d.email,
        first_name: d.first_name,
        last_name: d.last_name,
        enabled: d.enabled,
        attributes: attributes_in(d.attributes),
    }
}

fn group(g: store::Group) -> wit::Group {
    wit::Group {
        id: g.id,
        name: g.name,
        organization: g.organization,
        created_at: g.created_at,
        updated_at: g.updated_at,
        version: g.version,
        attributes: attributes_out(g.attributes),
    }
}

fn group_draft(d: wit::GroupDraft) -> store::GroupDraft {
    store::GroupDraft { name: d.name, organization: d.organization, attributes: attributes_in(d.attributes) }
}

fn field(f: wit::Field) -> store::Field {
    match f {
        wit::Field::Id => store::Field::Id,
        wit::Field::Username => store::Field::Username,
        wit::Field::Email => store::Field::Email,
        wit::Field::FirstName => store::Field::FirstName,
        wit::Field::LastName => store::Field::LastName,
        wit::Field::GroupName => store::Field::GroupName,
        wit::Field::Enabled => store::Field::Enabled,
        wit::Field::CreatedAt => store::Field::CreatedAt,
        wit::Field::UpdatedAt => store::Field::UpdatedAt,
        wit::Field::Attribute(name) => store::Field::Attribute(name),
    }
}

fn comparator(c: wit::Comparator) -> store::Comparator {
    match c {
        wit::Comparator::Eq => store::Comparator::Eq,
        wit::Comparator::Ne => store::Comparator::Ne,
        wit::Comparator::Co => store::Comparator::Co,
        wit::Comparator::Sw => store::Comparator::Sw,
        wit::Comparator::Ew => store::Comparator::Ew,
        wit::Comparator::Pr => store::Comparator::Pr,
        wit::Comparator::Gt => store::Comparator::Gt,
        wit::Comparator::Ge => store::Comparator::Ge,
        wit::Comparator::Lt => store::Comparator::Lt,
        wit::Comparator::Le => store::Comparator::Le,
    }
}

fn query(q: wit::Query) -> store::Query {
    store::Query {
        filter: q
            .filter
            .into_iter()
            .map(|node| match node {
                wit::FilterNode::Condition(c) => store::FilterNode::Condition(store::Condition {
                    field: field(c.field),
                    op: comparator(c.op),
                    value: c.value,
                    case_exact: c.case_exact,
                }),
                wit::FilterNode::AllOf(children) => store::FilterNode::AllOf(children),
                wit::FilterNode::AnyOf(children) => store::FilterNode::AnyOf(children),
                wit::FilterNode::Negate(child) => store::FilterNode::Negate(child),
                wit::FilterNode::SomeValue(v) => store::FilterNode::SomeValue { attribute: v.attribute, node: v.node },
            })
            .collect(),
        organization: q.organization,
        sort: q.sort.map(|s| store::SortKey { field: field(s.field), descending: s.descending }),
        offset: q.offset,
        limit: q.limit,
    }
}

fn event_kind(k: wit::EventKind) -> store::EventKind {
    match k {
        wit::EventKind::UserCreated => store::EventKind::UserCreated,
        wit::EventKind::UserUpdated => store::EventKind::UserUpdated,
        wit::EventKind::UserDeleted => store::EventKind::UserDeleted,
        wit::EventKind::GroupCreated => store::EventKind::GroupCreated,
        wit::EventKind::GroupUpdated => store::EventKind::GroupUpdated,
        wit::EventKind::GroupDeleted => store::EventKind::GroupDeleted,
        wit::EventKind::MemberJoined => store::EventKind::MemberJoined,
        wit::EventKind::MemberLeft => store::EventKind::MemberLeft,
        wit::EventKind::OrganizationMemberJoined => store::EventKind::OrganizationMemberJoined,
        wit::EventKind::OrganizationMemberLeft => store::EventKind::OrganizationMemberLeft,
    }
}

/// The largest page a guest may ask the store for in one search.
const MAX_SEARCH_LIMIT: u32 = 10_000;

/// A guest's query, refused when it asks for a larger page than one search may return.
fn bounded(q: wit::Query) -> Result<store::Query, DirectoryError> {
    let q = query(q);
    if q.limit > MAX_SEARCH_LIMIT {
        return Err(DirectoryError::Invalid(format!("a search returns at most {MAX_SEARCH_LIMIT} rows")));
    }
    Ok(q)
}

impl types::Host for CallState {}

impl wit::Host for CallState {
    fn convert_error(&mut self, error: DirectoryError) -> wasmtime::Result<wit::Error> {
        Ok(match error {
            DirectoryError::NotFound(id) => wit::Error::NotFound(id),
            DirectoryError::Conflict { constraint, detail } => {
                self.last_conflict = Some((constraint.clone(), detail.clone()));
                wit::Error::Conflict(wit::Conflict { constraint, detail })
            }
            DirectoryError::Invalid(why) => wit::Error::Invalid(why),
            DirectoryError::Unavailable(why) => wit::Error::Unavailable(why),
            DirectoryError::Transient(why) => {
                self.rerun = true;
                return Err(Rerun(why).into());
            }
            DirectoryError::PastDeadline => return Err(crate::runtime::PastDeadline.into()),
        })
    }

    fn get_user(&mut self, id: String) -> Result<Option<wit::User>, DirectoryError> {
        Ok(self.tx()?.get_user(&id)?.map(user))
    }

    fn get_user_selected(&mut self, id: String, attributes: Vec<String>) -> Result<Option<wit::User>, DirectoryError> {
        Ok(self.tx()?.get_user_selected(&id, &attributes)?.map(user))
    }

    fn get_user_by_username(&mut self, username: String) -> Result<Option<wit::User>, DirectoryError> {
        Ok(self.tx()?.get_user_by_username(&username)?.map(user))
    }

    fn get_users_by_email(&mut self, email: String) -> Result<Vec<wit::User>, DirectoryError> {
        Ok(users(self.tx()?.get_users_by_email(&email)?))
    }

    fn get_users_by_attribute(&mut self, name: String, value: String) -> Result<Vec<wit::User>, DirectoryError> {
        Ok(users(self.tx()?.get_users_by_attribute(&name, &value)?))
    }

    fn search_users(&mut self, q: wit::Query) -> Result<wit::UserPage, DirectoryError> {
        let q = bounded(q)?;
        let page = self.tx()?.search_users(&q)?;
        Ok(wit::UserPage { total: page.total, users: users(page.items) })
    }

    fn search_users_selected(
        &mut self,
        q: wit::Query,
        attributes: Vec<String>,
    ) -> Result<wit::UserPage, DirectoryError> {
        let q = bounded(q)?;
        let page = self.tx()?.search_users_selected(&q, &attributes)?;
        Ok(wit::UserPage { total: page.total, users: users(page.items) })
    }

    fn create_user(&mut self, draft: wit::UserDraft) -> Result<wit::User, DirectoryError> {
        Ok(user(self.tx()?.create_user(&user_draft(draft))?))
    }

    fn update_user(&mut self, id: String, draft: wit::UserDraft) -> Result<wit::User, DirectoryError> {
        Ok(user(self.tx()?.update_user(&id, &user_draft(draft))?))
    }

    fn delete_user(&mut self, id: String) -> Result<bool, DirectoryError> {
        self.tx()?.delete_user(&id)
    }

    fn get_group(&mut self, id: String) -> Result<Option<wit::Group>, DirectoryError> {
        Ok(self.tx()?.get_group(&id)?.map(group))
    }

    fn get_groups_by_attribute(&mut self, name: String, value: String) -> Result<Vec<wit::Group>, DirectoryError> {
        Ok(self.tx()?.get_groups_by_attribute(&name, &value)?.into_iter().map(group).collect())
    }

    fn search_groups(&mut self, q: wit::Query) -> Result<wit::GroupPage, DirectoryError> {
        let q = bounded(q)?;
        let page = self.tx()?.search_groups(&q)?;
        Ok(wit::GroupPage { total: page.total, groups: page.items.into_iter().map(group).collect() })
    }

    fn create_group(&mut self, draft: wit::GroupDraft) -> Result<wit::Group, DirectoryError> {
        Ok(group(self.tx()?.create_group(&group_draft(draft))?))
    }

    fn update_group(&mut self, id: String, draft: wit::GroupDraft) -> Result<wit::Group, DirectoryError> {
        Ok(group(self.tx()?.update_group(&id, &group_draft(draft))?))
    }

    fn delete_group(&mut self, id: String) -> Result<bool, DirectoryError> {
        self.tx()?.delete_group(&id)
    }

    fn group_members(&mut self, group_id: String) -> Result<Vec<wit::Member>, DirectoryError> {
        let members = self.tx()?.group_members(&group_id)?;
        Ok(members.into_iter().map(|m| wit::Member { user_id: m.user_id, username: m.username }).collect())
    }

    fn group_member_ids(&mut self, group_id: String) -> Result<Vec<String>, DirectoryError> {
        self.tx()?.group_member_ids(&group_id)
    }

    fn user_groups(&mut self, user_id: String) -> Result<Vec<wit::Membership>, DirectoryError> {
        let groups = self.tx()?.user_groups(&user_id)?;
        Ok(groups.into_iter().map(membership).collect())
    }

    fn groups_of_users(&mut self, user_ids: Vec<String>) -> Result<Vec<Vec<wit::Membership>>, DirectoryError> {
        let groups = self.tx()?.groups_of_users(&user_ids)?;
        Ok(groups.into_iter().map(|of_user| of_user.into_iter().map(membership).collect()).collect())
    }

    fn add_member(&mut self, group_id: String, user_id: String) -> Result<bool, DirectoryError> {
        self.tx()?.add_member(&group_id, &user_id)
    }

    fn remove_member(&mut self, group_id: String, user_id: String) -> Result<bool, DirectoryError> {
        self.tx()?.remove_member(&group_id, &user_id)
    }

    fn get_organization(&mut self, alias: String) -> Result<Option<wit::Organization>, DirectoryError> {
        let organization = self.tx()?.get_organization(&alias)?;
        Ok(organization.map(|o| wit::Organization { id: o.id, alias: o.alias, name: o.name }))
    }

    fn is_organization_member(&mut self, organization_id: String, user_id: String) -> Result<bool, DirectoryError> {
        self.tx()?.is_organization_member(&organization_id, &user_id)
    }

    fn add_organization_member(&mut self, organization_id: String, user_id: String) -> Result<bool, DirectoryError> {
        self.tx()?.add_organization_member(&organization_id, &user_id)
    }

    fn remove_organization_member(&mut self, organization_id: String, user_id: String) -> Result<bool, DirectoryError> {
        self.tx()?.remove_organization_member(&organization_id, &user_id)
    }

    fn set_password(&mut self, user_id: String, password: String) -> Result<(), DirectoryError> {
        self.tx()?.set_password(&user_id, &password)
    }

    fn savepoint(&mut self) -> Result<(), DirectoryError> {
        self.tx()?.savepoint()
    }

    fn release_savepoint(&mut self) -> Result<(), DirectoryError> {
        self.tx()?.release_savepoint()
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), DirectoryError> {
        self.tx()?.rollback_to_savepoint()
    }

    fn emit(&mut self, event: wit::AdminEvent) -> Result<(), DirectoryError> {
        // Kept for the event retention and delivered by webhooks: bounded like a resource.
        if event.details.len() > MAX_EVENT_DETAILS_BYTES {
            let why = format!("an event's details are longer than {MAX_EVENT_DETAILS_BYTES} bytes");
            return Err(DirectoryError::Invalid(why));
        }
        let event = store::AdminEvent {
            kind: event_kind(event.kind),
            resource_id: event.resource_id,
            related_id: event.related_id,
            details: event.details,
        };
        self.tx()?.emit(&event)
    }
}
