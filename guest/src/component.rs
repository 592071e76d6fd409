//! The wasm component: the `scim-handler` world's bindings, [`HostDirectory`] (the
//! library's [`Directory`] over the host's `directory` imports) and [`serve`], which
//! answers one `handler.handle` call with a [`Profile`]. Only conversions live here; the
//! SCIM logic is the library's.
//!
//! A crate becomes a component by exporting a profile with [`crate::export_profile!`]:
//! the stock component (`guest/stock`) exports [`Profile::STOCK`], a plugin its own.

use crate::context::Scope;
use crate::directory::{self as d, DirResult, Directory};
use crate::http::Request;
use crate::profile::Profile;

wit_bindgen::generate!({
    path: "../wit",
    world: "scim-handler",
    default_bindings_module: "scim_guest::component",
    // The bindings' runtime through this crate: a plugin depends on scim-guest alone.
    runtime_path: "scim_guest::component::rt",
    pub_export_macro: true,
    export_macro_name: "export_handler",
});

#[doc(hidden)]
pub use wit_bindgen::rt;

use scim::host::directory as wit;
use scim::host::types;

/// Answers one `handler.handle` call: converts the request, runs the library with
/// `profile` against the host's directory, converts the response.
pub fn serve(
    profile: &'static Profile,
    scope: types::Scope,
    config: types::Config,
    request: types::Request,
) -> types::Response {
    let scope = match scope {
        types::Scope::Realm => Scope::Realm,
        types::Scope::Organization(org) => Scope::Organization { id: org.id, alias: org.alias },
    };
    let request = Request {
        method: request.method,
        path: request.path,
        query: request.query,
        headers: request.headers,
        body: request.body,
        base_url: request.base_url,
    };
    let config = crate::Config { realm: config.realm, settings: config.settings.into_iter().collect() };
    let response = crate::handle_with(profile, &config, &mut HostDirectory, scope, &request);
    types::Response { status: response.status, headers: response.headers, body: response.body }
}

/// Exports a component serving a profile: `scim_guest::export_profile!(MY_PROFILE);`,
/// where `MY_PROFILE` is a `static` [`Profile`].
#[macro_export]
macro_rules! export_profile {
    ($profile:expr) => {
        struct ScimGuestComponent;

        impl $crate::component::exports::scim::host::handler::Guest for ScimGuestComponent {
            fn handle(
                scope: $crate::component::scim::host::types::Scope,
                config: $crate::component::scim::host::types::Config,
                request: $crate::component::scim::host::types::Request,
            ) -> $crate::component::scim::host::types::Response {
                $crate::component::serve(&$profile, scope, config, request)
            }
        }

        $crate::component::export_handler!(ScimGuestComponent with_types_in $crate::component);
    };
}

/// The host's directory, reached through the component's imports.
pub struct HostDirectory;

fn error(e: wit::Error) -> d::DirectoryError {
    match e {
        wit::Error::NotFound(id) => d::DirectoryError::NotFound(id),
        wit::Error::Conflict(c) => d::DirectoryError::Conflict { constraint: c.constraint, detail: c.detail },
        wit::Error::Invalid(why) => d::DirectoryError::Invalid(why),
        wit::Error::Unavailable(why) => d::DirectoryError::Unavailable(why),
    }
}

fn attributes_in(attributes: Vec<wit::Attribute>) -> Vec<d::Attribute> {
    attributes.into_iter().map(|a| d::Attribute { name: a.name, values: a.values }).collect()
}

fn attributes_out(attributes: &[d::Attribute]) -> Vec<wit::Attribute> {
    attributes.iter().map(|a| wit::Attribute { name: a.name.clone(), values: a.values.clone() }).collect()
}

fn membership(m: wit::Membership) -> d::Membership {
    d::Membership { group_id: m.group_id, group_name: m.group_name }
}

fn user(u: wit::User) -> d::User {
    d::User {
        id: u.id,
        username: u.username,
        email: u.email,
        first_name: u.first_name,
        last_name: u.last_name,
        enabled: u.enabled,
        created_at: u.created_at,
        updated_at: u.updated_at,
        version: u.version,
        attributes: attributes_in(u.attributes),
    }
}

fn user_draft(u: &d::UserDraft) -> wit::UserDraft {
    wit::UserDraft {
        username: u.username.clone(),
        email: u.email.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        enabled: u.enabled,
        attributes: attributes_out(&u.attributes),
    }
}

fn group(g: wit::Group) -> d::Group {
    d::Group {
        id: g.id,
        name: g.name,
        organization: g.organization,
        created_at: g.created_at,
        updated_at: g.updated_at,
        version: g.version,
        attributes: attributes_in(g.attributes),
    }
}

fn group_draft(g: &d::GroupDraft) -> wit::GroupDraft {
    wit::GroupDraft {
        name: g.name.clone(),
        organization: g.organization.clone(),
        attributes: attributes_out(&g.attributes),
    }
}

fn field(f: &d::Field) -> wit::Field {
    match f {
        d::Field::Id => wit::Field::Id,
        d::Field::Username => wit::Field::Username,
        d::Field::Email => wit::Field::Email,
        d::Field::FirstName => wit::Field::FirstName,
        d::Field::LastName => wit::Field::LastName,
        d::Field::GroupName => wit::Field::GroupName,
        d::Field::Enabled => wit::Field::Enabled,
        d::Field::CreatedAt => wit::Field::CreatedAt,
        d::Field::UpdatedAt => wit::Field::UpdatedAt,
        d::Field::Attribute(name) => wit::Field::Attribute(name.clone()),
    }
}

fn comparator(op: d::Comparator) -> wit::Comparator {
    match op {
        d::Comparator::Eq => wit::Comparator::Eq,
        d::Comparator::Ne => wit::Comparator::Ne,
        d::Comparator::Co => wit::Comparator::Co,
        d::Comparator::Sw => wit::Comparator::Sw,
        d::Comparator::Ew => wit::Comparator::Ew,
        d::Comparator::Pr => wit::Comparator::Pr,
        d::Comparator::Gt => wit::Comparator::Gt,
        d::Comparator::Ge => wit::Comparator::Ge,
        d::Comparator::Lt => wit::Comparator::Lt,
        d::Comparator::Le => wit::Comparator::Le,
    }
}

fn query(q: &d::Query) -> wit::Query {
    wit::Query {
        filter: q
            .filter
            .iter()
            .map(|node| match node {
                d::FilterNode::Condition(c) => wit::FilterNode::Condition(wit::Condition {
                    field: field(&c.field),
                    op: comparator(c.op),
                    value: c.value.clone(),
                    case_exact: c.case_exact,
                }),
                d::FilterNode::AllOf(children) => wit::FilterNode::AllOf(children.clone()),
                d::FilterNode::AnyOf(children) => wit::FilterNode::AnyOf(children.clone()),
                d::FilterNode::Negate(child) => wit::FilterNode::Negate(*child),
                d::FilterNode::SomeValue { attribute, node } => {
                    wit::FilterNode::SomeValue(wit::ValueFilter { attribute: attribute.clone(), node: *node })
                }
            })
            .collect(),
        organization: q.organization.clone(),
        sort: q.sort.as_ref().map(|s| wit::SortKey { field: field(&s.field), descending: s.descending }),
        offset: q.offset,
        limit: q.limit,
    }
}

fn event_kind(k: d::EventKind) -> wit::EventKind {
    match k {
        d::EventKind::UserCreated => wit::EventKind::UserCreated,
        d::EventKind::UserUpdated => wit::EventKind::UserUpdated,
        d::EventKind::UserDeleted => wit::EventKind::UserDeleted,
        d::EventKind::GroupCreated => wit::EventKind::GroupCreated,
        d::EventKind::GroupUpdated => wit::EventKind::GroupUpdated,
        d::EventKind::GroupDeleted => wit::EventKind::GroupDeleted,
        d::EventKind::MemberJoined => wit::EventKind::MemberJoined,
        d::EventKind::MemberLeft => wit::EventKind::MemberLeft,
        d::EventKind::OrganizationMemberJoined => wit::EventKind::OrganizationMemberJoined,
        d::EventKind::OrganizationMemberLeft => wit::EventKind::OrganizationMemberLeft,
    }
}

impl Directory for HostDirectory {
    fn get_user(&mut self, id: &str) -> DirResult<Option<d::User>> {
        wit::get_user(id).map(|u| u.map(user)).map_err(error)
    }
    fn get_user_selected(&mut self, id: &str, attributes: &[String]) -> DirResult<Option<d::User>> {
        wit::get_user_selected(id, attributes).map(|u| u.map(user)).map_err(error)
    }
    fn get_user_by_username(&mut self, username: &str) -> DirResult<Option<d::User>> {
        wit::get_user_by_username(username).map(|u| u.map(user)).map_err(error)
    }
    fn get_users_by_email(&mut self, email: &str) -> DirResult<Vec<d::User>> {
        wit::get_users_by_email(email).map(|v| v.into_iter().map(user).collect()).map_err(error)
    }
    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<d::User>> {
        wit::get_users_by_attribute(name, value).map(|v| v.into_iter().map(user).collect()).map_err(error)
    }
    fn search_users(&mut self, q: &d::Query) -> DirResult<d::Page<d::User>> {
        wit::search_users(&query(q))
            .map(|p| d::Page { total: p.total, items: p.users.into_iter().map(user).collect() })
            .map_err(error)
    }
    fn search_users_selected(&mut self, q: &d::Query, attributes: &[String]) -> DirResult<d::Page<d::User>> {
        wit::search_users_selected(&query(q), attributes)
            .map(|p| d::Page { total: p.total, items: p.users.into_iter().map(user).collect() })
            .map_err(error)
    }
    fn create_user(&mut self, draft: &d::UserDraft) -> DirResult<d::User> {
        wit::create_user(&user_draft(draft)).map(user).map_err(error)
    }
    fn update_user(&mut self, id: &str, draft: &d::UserDraft) -> DirResult<d::User> {
        wit::update_user(id, &user_draft(draft)).map(user).map_err(error)
    }
    fn delete_user(&mut self, id: &str) -> DirResult<bool> {
        wit::delete_user(id).map_err(error)
    }

    fn get_group(&mut self, id: &str) -> DirResult<Option<d::Group>> {
        wit::get_group(id).map(|g| g.map(group)).map_err(error)
    }
    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<d::Group>> {
        wit::get_groups_by_attribute(name, value).map(|v| v.into_iter().map(group).collect()).map_err(error)
    }
    fn search_groups(&mut self, q: &d::Query) -> DirResult<d::Page<d::Group>> {
        wit::search_groups(&query(q))
            .map(|p| d::Page { total: p.total, items: p.groups.into_iter().map(group).collect() })
            .map_err(error)
    }
    fn create_group(&mut self, draft: &d::GroupDraft) -> DirResult<d::Group> {
        wit::create_group(&group_draft(draft)).map(group).map_err(error)
    }
    fn update_group(&mut self, id: &str, draft: &d::GroupDraft) -> DirResult<d::Group> {
        wit::update_group(id, &group_draft(draft)).map(group).map_err(error)
    }
    fn delete_group(&mut self, id: &str) -> DirResult<bool> {
        wit::delete_group(id).map_err(error)
    }

    fn group_members(&mut self, group_id: &str) -> DirResult<Vec<d::Member>> {
        wit::group_members(group_id)
            .map(|v| v.into_iter().map(|m| d::Member { user_id: m.user_id, username: m.username }).collect())
            .map_err(error)
    }
    fn group_member_ids(&mut self, group_id: &str) -> DirResult<Vec<String>> {
        wit::group_member_ids(group_id).map_err(error)
    }
    fn user_groups(&mut self, user_id: &str) -> DirResult<Vec<d::Membership>> {
        wit::user_groups(user_id).map(|v| v.into_iter().map(membership).collect()).map_err(error)
    }
    fn groups_of_users(&mut self, user_ids: &[String]) -> DirResult<Vec<Vec<d::Membership>>> {
        let groups = wit::groups_of_users(user_ids).map_err(error)?;
        if groups.len() != user_ids.len() {
            return Err(d::DirectoryError::Unavailable(format!(
                "the host answered {} group lists for {} users",
                groups.len(),
                user_ids.len()
            )));
        }
        Ok(groups.into_iter().map(|of_user| of_user.into_iter().map(membership).collect()).collect())
    }
    fn add_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        wit::add_member(group_id, user_id).map_err(error)
    }
    fn remove_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        wit::remove_member(group_id, user_id).map_err(error)
    }

    fn get_organization(&mut self, alias: &str) -> DirResult<Option<d::Organization>> {
        wit::get_organization(alias)
            .map(|o| o.map(|o| d::Organization { id: o.id, alias: o.alias, name: o.name }))
            .map_err(error)
    }
    fn is_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        wit::is_organization_member(organization_id, user_id).map_err(error)
    }
    fn add_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        wit::add_organization_member(organization_id, user_id).map_err(error)
    }
    fn remove_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        wit::remove_organization_member(organization_id, user_id).map_err(error)
    }

    fn set_password(&mut self, user_id: &str, password: &str) -> DirResult<()> {
        wit::set_password(user_id, password).map_err(error)
    }

    fn emit(&mut self, event: &d::AdminEvent) -> DirResult<()> {
        wit::emit(&wit::AdminEvent {
            kind: event_kind(event.kind),
            resource_id: event.resource_id.clone(),
            related_id: event.related_id.clone(),
            details: event.details.clone(),
        })
        .map_err(error)
    }
    fn savepoint(&mut self) -> DirResult<()> {
        wit::savepoint().map_err(error)
    }
    fn release_savepoint(&mut self) -> DirResult<()> {
        wit::release_savepoint().map_err(error)
    }
    fn rollback_to_savepoint(&mut self) -> DirResult<()> {
        wit::rollback_to_savepoint().map_err(error)
    }
}
