//! The identity store as the SCIM logic sees it: a plain Rust mirror of the WIT
//! `directory` interface. The wasm adapter implements [`Directory`] with the host's
//! imports; tests and benchmarks implement it in memory. Nothing here knows SCIM.

/// A multi-valued attribute (Keycloak's attribute multimap entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute's name.
    pub name: String,
    /// Its values, in order.
    pub values: Vec<String>,
}

/// A user of the realm.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq, Default)]
pub struct UserDraft {
    pub username: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub enabled: bool,
    pub attributes: Vec<Attribute>,
}

/// A group of the realm.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq, Default)]
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
#[derive(Clone, Debug, PartialEq)]
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

/// A failure of the store that the SCIM logic can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryError {
    NotFound(String),
    Conflict { constraint: String, detail: String },
    Invalid(String),
    Unavailable(String),
}

/// What the directory answers.
pub type DirResult<T> = Result<T, DirectoryError>;

/// The identity store of one realm.
pub trait Directory {
    fn get_user(&mut self, id: &str) -> DirResult<Option<User>>;
    fn get_user_by_username(&mut self, username: &str) -> DirResult<Option<User>>;
    fn get_users_by_email(&mut self, email: &str) -> DirResult<Vec<User>>;
    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<User>>;
    fn search_users(&mut self, query: &Query) -> DirResult<Page<User>>;
    fn create_user(&mut self, draft: &UserDraft) -> DirResult<User>;
    fn update_user(&mut self, id: &str, draft: &UserDraft) -> DirResult<User>;
    fn delete_user(&mut self, id: &str) -> DirResult<bool>;

    fn get_group(&mut self, id: &str) -> DirResult<Option<Group>>;
    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<Group>>;
    fn search_groups(&mut self, query: &Query) -> DirResult<Page<Group>>;
    fn create_group(&mut self, draft: &GroupDraft) -> DirResult<Group>;
    fn update_group(&mut self, id: &str, draft: &GroupDraft) -> DirResult<Group>;
    fn delete_group(&mut self, id: &str) -> DirResult<bool>;

    fn group_members(&mut self, group_id: &str) -> DirResult<Vec<Member>>;
    fn user_groups(&mut self, user_id: &str) -> DirResult<Vec<Membership>>;
    fn add_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool>;
    fn remove_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool>;

    fn get_organization(&mut self, alias: &str) -> DirResult<Option<Organization>>;
    fn is_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool>;
    fn add_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool>;
    fn remove_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool>;

    fn emit(&mut self, event: &AdminEvent) -> DirResult<()>;
}

impl Attribute {
    /// An attribute with one value.
    pub fn single(name: &str, value: impl Into<String>) -> Self {
        Attribute { name: name.to_string(), values: vec![value.into()] }
    }
}

/// The first value of the named attribute.
pub fn first_value<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a str> {
    attributes.iter().find(|a| a.name == name).and_then(|a| a.values.first()).map(String::as_str)
}
