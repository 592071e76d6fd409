//! The store's vocabulary: plain records, independent of WIT and of SQL.

/// A multi-valued attribute (Keycloak's attribute multimap entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<String>,
}

/// A user of a realm. Times are milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Grows by one with every change; the guest's ETag.
    pub version: u64,
    /// Sorted by name.
    pub attributes: Vec<Attribute>,
}

/// The writable part of a user.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UserDraft {
    pub username: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub enabled: bool,
    pub attributes: Vec<Attribute>,
}

/// A group of a realm, possibly owned by an organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub organization: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Grows by one with every change, membership changes included.
    pub version: u64,
    pub attributes: Vec<Attribute>,
}

/// The writable part of a group. The organization is fixed at creation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GroupDraft {
    pub name: String,
    pub organization: Option<String>,
    pub attributes: Vec<Attribute>,
}

/// A member of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub username: String,
}

/// A group a user belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub group_id: String,
    pub group_name: String,
}

/// An organization of a realm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub alias: String,
    pub name: String,
}

/// What a condition compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Id,
    Username,
    Email,
    FirstName,
    LastName,
    GroupName,
    Enabled,
    CreatedAt,
    UpdatedAt,
    Attribute(String),
}

/// How a condition compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparator {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Pr,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One comparison of a filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub field: Field,
    pub op: Comparator,
    pub value: String,
    pub case_exact: bool,
}

/// A filter node; children are indexes of earlier nodes, the last node is the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterNode {
    Condition(Condition),
    AllOf(Vec<u32>),
    AnyOf(Vec<u32>),
    Negate(u32),
}

/// The order of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub field: Field,
    pub descending: bool,
}

/// A search: filter, organization restriction, order and page.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Query {
    pub filter: Vec<FilterNode>,
    pub organization: Option<String>,
    pub sort: Option<SortKey>,
    pub offset: u32,
    pub limit: u32,
}

/// One page of a search and the number of all matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub total: u32,
    pub items: Vec<T>,
}

/// The kinds of admin event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    UserCreated,
    UserUpdated,
    UserDeleted,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    MemberJoined,
    MemberLeft,
    OrganizationMemberJoined,
    OrganizationMemberLeft,
}

impl EventKind {
    /// The name stored and shown (`MEMBER_JOINED`), Keycloak's admin-event style.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::UserCreated => "USER_CREATED",
            EventKind::UserUpdated => "USER_UPDATED",
            EventKind::UserDeleted => "USER_DELETED",
            EventKind::GroupCreated => "GROUP_CREATED",
            EventKind::GroupUpdated => "GROUP_UPDATED",
            EventKind::GroupDeleted => "GROUP_DELETED",
            EventKind::MemberJoined => "MEMBER_JOINED",
            EventKind::MemberLeft => "MEMBER_LEFT",
            EventKind::OrganizationMemberJoined => "ORGANIZATION_MEMBER_JOINED",
            EventKind::OrganizationMemberLeft => "ORGANIZATION_MEMBER_LEFT",
        }
    }
}

/// An admin event as a guest emits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminEvent {
    pub kind: EventKind,
    pub resource_id: String,
    pub related_id: Option<String>,
    pub details: String,
    /// The request that caused it.
    pub request_id: String,
}

/// An admin event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Increases with every event of the store.
    pub seq: i64,
    /// Milliseconds since the epoch.
    pub time: i64,
    pub kind: String,
    pub resource_id: String,
    pub related_id: Option<String>,
    pub details: String,
    pub request_id: String,
}
