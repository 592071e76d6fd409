//! The vocabulary of the identity store, shaped like Keycloak's: users, groups,
//! memberships, organizations, attributes, structured queries and admin events, as plain
//! Rust records. It is the Rust face of the WIT `directory` interface, shared by the guest
//! library (its `Directory` trait) and the host's store (its `Transaction` trait), so the
//! two sides of the sandbox speak the same types and only the WIT crossing converts.
//! Nothing here knows SCIM, SQL or WIT.

/// A multi-valued attribute (Keycloak's attribute multimap entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute's name.
    pub name: String,
    /// Its values, in order.
    pub values: Vec<String>,
}

/// A user of the realm. Times are milliseconds since the Unix epoch; `version` grows by
/// one with every change (the SCIM ETag); attributes are sorted by name.
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
    pub version: u64,
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

/// A group of the realm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub organization: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: u64,
    pub attributes: Vec<Attribute>,
}

/// The writable part of a group.
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

/// An organization of the realm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub alias: String,
    pub name: String,
}

/// A stored property a query can test or sort by.
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

/// A SCIM comparison operator.
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

/// One test of a field against a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub field: Field,
    pub op: Comparator,
    pub value: String,
    pub case_exact: bool,
}

/// One node of a flattened filter; the last node of a list is the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterNode {
    Condition(Condition),
    AllOf(Vec<u32>),
    AnyOf(Vec<u32>),
    Negate(u32),
    /// One item of the list `attribute` satisfies `node` on its own: the conditions under
    /// it name `<attribute>.<sub>` attributes, whose values align by position.
    SomeValue {
        attribute: String,
        node: u32,
    },
}

/// The order of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub field: Field,
    pub descending: bool,
}

/// A search, evaluated and paged by the store.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Query {
    pub filter: Vec<FilterNode>,
    pub organization: Option<String>,
    pub sort: Option<SortKey>,
    pub offset: u32,
    pub limit: u32,
}

/// A page of search results and the number of all matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub total: u32,
    pub items: Vec<T>,
}

/// What happened, for the admin event log.
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

/// An admin event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminEvent {
    pub kind: EventKind,
    pub resource_id: String,
    pub related_id: Option<String>,
    pub details: String,
}

impl Attribute {
    /// An attribute with one value.
    pub fn single(name: &str, value: impl Into<String>) -> Self {
        Attribute { name: name.to_string(), values: vec![value.into()] }
    }

    /// Attributes as a directory keeps them: sorted by name, those of no value left out.
    pub fn as_stored(attributes: &[Attribute]) -> Vec<Attribute> {
        let mut stored: Vec<Attribute> = attributes.iter().filter(|a| !a.values.is_empty()).cloned().collect();
        stored.sort_by(|a, b| a.name.cmp(&b.name));
        stored
    }
}

impl User {
    /// The user a directory creates from `draft`: version 1, created and updated `now`.
    pub fn created(id: String, draft: &UserDraft, now: i64) -> User {
        User {
            id,
            username: draft.username.clone(),
            email: draft.email.clone(),
            first_name: draft.first_name.clone(),
            last_name: draft.last_name.clone(),
            enabled: draft.enabled,
            created_at: now,
            updated_at: now,
            version: 1,
            attributes: Attribute::as_stored(&draft.attributes),
        }
    }
}

impl Group {
    /// The group a directory creates from `draft`: version 1, created and updated `now`.
    pub fn created(id: String, draft: &GroupDraft, now: i64) -> Group {
        Group {
            id,
            name: draft.name.clone(),
            organization: draft.organization.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
            attributes: Attribute::as_stored(&draft.attributes),
        }
    }
}

/// The first value of the named attribute.
pub fn first_value<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a str> {
    attributes.iter().find(|a| a.name == name).and_then(|a| a.values.first()).map(String::as_str)
}

impl EventKind {
    /// The name stored and shown (`MEMBER_JOINED`), in Keycloak's admin-event style.
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
