//! The records of the identity store: users, groups, memberships, organizations,
//! attributes, structured queries and admin events.

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
    /// Identifier assigned by the store (a UUID); never changes.
    pub id: String,
    /// Login name, unique in the realm without regard to case.
    pub username: String,
    /// Primary e-mail address.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the user may sign in.
    pub enabled: bool,
    /// Creation time.
    pub created_at: i64,
    /// Time of the last change.
    pub updated_at: i64,
    /// Incremented by every change.
    pub version: u64,
    /// Every other attribute; `externalId` is unique per realm among users.
    pub attributes: Vec<Attribute>,
}

/// The writable part of a user.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UserDraft {
    /// Login name; unique in the realm without regard to case.
    pub username: String,
    /// Primary e-mail address.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the user may sign in.
    pub enabled: bool,
    /// The complete attribute set; replaces the stored one.
    pub attributes: Vec<Attribute>,
}

/// A group of the realm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Identifier assigned by the store (a UUID); never changes.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The id of the organization that owns the group, if any.
    pub organization: Option<String>,
    /// Creation time, milliseconds since the epoch.
    pub created_at: i64,
    /// Time of the last change (membership changes included).
    pub updated_at: i64,
    /// Incremented by every change, membership changes included.
    pub version: u64,
    /// Every other attribute; `externalId` is unique per realm among groups.
    pub attributes: Vec<Attribute>,
}

/// The writable part of a group.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GroupDraft {
    /// Display name.
    pub name: String,
    /// The owning organization's id; only honoured on create.
    pub organization: Option<String>,
    /// The complete attribute set; replaces the stored one.
    pub attributes: Vec<Attribute>,
}

/// A member of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The user's id.
    pub user_id: String,
    /// The user's username.
    pub username: String,
}

/// A group a user belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The group's id.
    pub group_id: String,
    /// The group's name.
    pub group_name: String,
}

/// An organization of the realm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    /// Identifier assigned by the store.
    pub id: String,
    /// The alias used in URLs (`.../organizations/{alias}/...`).
    pub alias: String,
    /// Display name.
    pub name: String,
}

/// A stored property a query can test or sort by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// The resource id.
    Id,
    /// A user's username (compared without regard to case unless `case_exact`).
    Username,
    /// A user's primary e-mail.
    Email,
    /// A user's given name.
    FirstName,
    /// A user's family name.
    LastName,
    /// A group's name.
    GroupName,
    /// A user's enabled flag; values are `true` or `false`.
    Enabled,
    /// Creation time; values are milliseconds since the epoch, as decimal text.
    CreatedAt,
    /// Last change; values are milliseconds since the epoch, as decimal text.
    UpdatedAt,
    /// Any value of the named attribute.
    Attribute(String),
}

/// A SCIM comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparator {
    /// Equal.
    Eq,
    /// Not equal: no value equals (an absent attribute is not equal).
    Ne,
    /// Contains.
    Co,
    /// Starts with.
    Sw,
    /// Ends with.
    Ew,
    /// Present (has a value); the condition's value is ignored.
    Pr,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
}

/// One test of a field against a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// What is tested.
    pub field: Field,
    /// How it is tested.
    pub op: Comparator,
    /// The value compared with.
    pub value: String,
    /// Whether text is compared with regard to case.
    pub case_exact: bool,
}

/// One node of a flattened filter; the last node of a list is the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterNode {
    /// A leaf test.
    Condition(Condition),
    /// True when every referenced node is true.
    AllOf(Vec<u32>),
    /// True when any referenced node is true.
    AnyOf(Vec<u32>),
    /// True when the referenced node is false.
    Negate(u32),
    /// One item of the list `attribute` satisfies `node` on its own: the conditions under
    /// it name `<attribute>.<sub>` attributes, whose values align by position.
    SomeValue {
        /// The list's name, e.g. `emails`.
        attribute: String,
        /// The node one item must satisfy.
        node: u32,
    },
}

/// The order of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey {
    /// The field sorted by; ties are broken by creation order, then id.
    pub field: Field,
    /// Descending when true.
    pub descending: bool,
}

/// A search, evaluated and paged by the store.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Query {
    /// The filter; empty matches everything. The last node is the root.
    pub filter: Vec<FilterNode>,
    /// Restrict users to members of this organization, or groups to those it owns (id).
    pub organization: Option<String>,
    /// The order; creation order when absent.
    pub sort: Option<SortKey>,
    /// How many matches to skip (0-based); see the WIT `query` for a store's latitude after deletes.
    pub offset: u32,
    /// The most matches to return.
    pub limit: u32,
}

/// A page of search results and the number of all matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// How many items match, on every page.
    pub total: u32,
    /// The items of this page.
    pub items: Vec<T>,
}

/// What happened, for the admin event log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A user was created.
    UserCreated,
    /// A user was changed.
    UserUpdated,
    /// A user was deleted.
    UserDeleted,
    /// A group was created.
    GroupCreated,
    /// A group was changed.
    GroupUpdated,
    /// A group was deleted.
    GroupDeleted,
    /// A user joined a group.
    MemberJoined,
    /// A user left a group.
    MemberLeft,
    /// A user joined an organization.
    OrganizationMemberJoined,
    /// A user left an organization.
    OrganizationMemberLeft,
}

/// An admin event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminEvent {
    /// What happened.
    pub kind: EventKind,
    /// The resource it happened to (a user or group id).
    pub resource_id: String,
    /// The related resource: the user of a member event, the organization of an organization member event.
    pub related_id: Option<String>,
    /// A JSON object with whatever the recorder wants to keep.
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
    /// Every kind, in the order declared.
    pub const ALL: [EventKind; 10] = [
        EventKind::UserCreated,
        EventKind::UserUpdated,
        EventKind::UserDeleted,
        EventKind::GroupCreated,
        EventKind::GroupUpdated,
        EventKind::GroupDeleted,
        EventKind::MemberJoined,
        EventKind::MemberLeft,
        EventKind::OrganizationMemberJoined,
        EventKind::OrganizationMemberLeft,
    ];

    /// The kind of this [`EventKind::name`].
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

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
