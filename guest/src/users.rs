//! SCIM Users over directory users: the mapping between the two, and the User endpoints
//! (idempotent POST, GET, list, PUT, PATCH, DELETE) for both scopes.
//!
//! A SCIM user is stored as Keycloak stores one: username, e-mail, names and the enabled
//! flag in their own fields; the whole canonical resource in the `scim` attribute; and
//! the attributes clients filter on (externalId, displayName, e-mail values…) as
//! attributes of their own, so the store can index and search them.

use crate::context::{Ctx, Resource, Scope, resource_response};
use crate::directory::{EventKind, Field, Query, User, UserDraft, first_value};
use crate::error::{ScimError, ScimResult};
use crate::filter::AttrPath;
use crate::http::Response;
use crate::listing::{self, Paging, list_response};
use crate::patch;
use crate::projection::Projection;
use crate::render;
use crate::schema::{Kind, ResourceType, Returned, USER_SCHEMA};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The attribute holding the canonical SCIM resource.
pub const DOCUMENT_ATTRIBUTE: &str = "scim";
/// The attribute holding the client's id for the resource.
pub const EXTERNAL_ID: &str = "externalId";
/// The attributes `render::user` reads; the others are searchable copies of the document's values.
const RENDERED: [&str; 2] = [DOCUMENT_ATTRIBUTE, EXTERNAL_ID];

/// Attributes that live in the directory's own fields or are computed, never stored as
/// searchable attributes.
const NOT_STORED: [&str; 7] = ["schemas", "id", "meta", "userName", "active", "password", "groups"];

/// Maps a filter or sort attribute to a stored field and whether it compares with case,
/// as the schema defines it. Any attribute of the User schema or its extension can be
/// filtered on; a complex attribute without a sub-attribute means its `value`.
pub fn user_field(rt: &ResourceType, path: &AttrPath) -> Option<(Field, bool)> {
    let core = path.urn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(USER_SCHEMA));
    if core {
        let dotted = path.dotted();
        let is = |name: &str| dotted.eq_ignore_ascii_case(name);
        let column = match () {
            _ if is("id") => Some((Field::Id, true)),
            _ if is("userName") => Some((Field::Username, false)),
            _ if is("active") => Some((Field::Enabled, false)),
            _ if is("name.givenName") => Some((Field::FirstName, false)),
            _ if is("name.familyName") => Some((Field::LastName, false)),
            _ if is("meta.created") => Some((Field::CreatedAt, false)),
            _ if is("meta.lastModified") => Some((Field::UpdatedAt, false)),
            _ => None,
        };
        if column.is_some() {
            return column;
        }
    }
    let (schema, prefix) = match &path.urn {
        Some(urn) if !core => {
            let ext = rt.extension(urn)?;
            (ext, format!("{}:", ext.id))
        }
        _ => (rt.schema, String::new()),
    };
    let def = schema.attr(&path.name)?;
    if def.returned == Returned::Never || (core && NOT_STORED.contains(&def.name)) {
        return None;
    }
    match (&path.sub, def.kind) {
        (None, Kind::Complex) => {
            let value = def.sub_attr("value")?;
            Some((Field::Attribute(format!("{prefix}{}.{}", def.name, value.name)), value.case_exact))
        }
        (None, _) => Some((Field::Attribute(format!("{prefix}{}", def.name)), def.case_exact)),
        (Some(sub), Kind::Complex) => {
            let sub = def.sub_attr(sub)?;
            Some((Field::Attribute(format!("{prefix}{}.{}", def.name, sub.name)), sub.case_exact))
        }
        (Some(_), _) => None,
    }
}

/// A leaf value as the directory stores it.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Stores every leaf of a resource object as an attribute named by its path. The items
/// of a list of objects become one attribute per sub-attribute, aligned by position (an
/// empty string where an item lacks it), so that a value filter can match one item.
fn store_leaves(object: &Map<String, Value>, prefix: &str, out: &mut BTreeMap<String, Vec<String>>) {
    for (key, value) in object {
        let name = format!("{prefix}{key}");
        match value {
            Value::Array(items) if items.iter().any(Value::is_object) => {
                let mut subs: Vec<&String> = items.iter().filter_map(Value::as_object).flat_map(|o| o.keys()).collect();
                subs.sort();
                subs.dedup();
                for sub in subs {
                    let values =
                        items.iter().map(|item| item.get(sub.as_str()).map(text).unwrap_or_default()).collect();
                    out.insert(format!("{name}.{sub}"), values);
                }
            }
            Value::Array(items) => {
                out.insert(name, items.iter().map(text).collect());
            }
            Value::Object(sub) => {
                for (key, value) in sub {
                    out.insert(format!("{name}.{key}"), vec![text(value)]);
                }
            }
            Value::Null => {}
            scalar => {
                out.insert(name, vec![text(scalar)]);
            }
        }
    }
}

/// The directory draft for a canonical SCIM user of this resource type.
pub fn draft_from(rt: &ResourceType, resource: &Map<String, Value>) -> UserDraft {
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let core: Map<String, Value> = resource
        .iter()
        .filter(|(k, _)| !NOT_STORED.contains(&k.as_str()) && !k.starts_with("urn:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    store_leaves(&core, "", &mut attributes);
    for ext in rt.extensions {
        if let Some(Value::Object(object)) = resource.get(ext.id) {
            store_leaves(object, &format!("{}:", ext.id), &mut attributes);
        }
    }
    let mut document = resource.clone();
    document.remove("password");
    attributes.insert(DOCUMENT_ATTRIBUTE.to_string(), vec![Value::Object(document).to_string()]);

    let emails = resource.get("emails").and_then(Value::as_array);
    let email = emails.and_then(|list| {
        list.iter()
            .find(|e| e.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| list.first())
            .and_then(|e| e.get("value"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let name = |sub: &str| resource.get("name").and_then(|n| n.get(sub)).and_then(Value::as_str).map(str::to_string);
    UserDraft {
        username: resource.get("userName").and_then(Value::as_str).unwrap_or_default().to_string(),
        email,
        first_name: name("givenName"),
        last_name: name("familyName"),
        enabled: resource.get("active").and_then(Value::as_bool).unwrap_or(true),
        attributes: attributes.into_iter().map(|(name, values)| crate::directory::Attribute { name, values }).collect(),
    }
}

fn draft_of(user: &User) -> UserDraft {
    UserDraft {
        username: user.username.clone(),
        email: user.email.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        enabled: user.enabled,
        attributes: user.attributes.clone(),
    }
}

/// The user with this id, if it is visible in the scope.
fn load(ctx: &mut Ctx, id: &str) -> ScimResult<User> {
    let user = ctx.dir.get_user(id)?;
    visible(ctx, user, id)
}

/// As `load`, with only the attributes `render::user` reads.
fn load_rendered(ctx: &mut Ctx, id: &str) -> ScimResult<User> {
    let user = ctx.dir.get_user_selected(id, &RENDERED.map(String::from))?;
    visible(ctx, user, id)
}

fn visible(ctx: &mut Ctx, user: Option<User>, id: &str) -> ScimResult<User> {
    let user = user.ok_or_else(|| ScimError::not_found("User", id))?;
    if let Scope::Organization { id: org, .. } = &ctx.scope
        && !ctx.dir.is_organization_member(org, id)?
    {
        return Err(ScimError::not_found("User", id));
    }
    Ok(user)
}

/// Renders a user with its groups, honouring `attributes` / `excludedAttributes`.
fn full(ctx: &mut Ctx, user: &User, projection: &Projection) -> ScimResult<String> {
    let groups = if projection.wants("groups") { ctx.dir.user_groups(&user.id)? } else { Vec::new() };
    render::user(ctx, user, &groups, projection)
}

/// Refuses a draft whose userName or externalId belongs to another user. The detail names
/// the value, never the holder: the client may not be allowed to see it.
fn check_unique(ctx: &mut Ctx, draft: &UserDraft, own_id: Option<&str>) -> ScimResult<()> {
    if let Some(other) = ctx.dir.get_user_by_username(&draft.username)?
        && Some(other.id.as_str()) != own_id
    {
        return Err(ScimError::uniqueness(format!("userName \"{}\" is already taken", draft.username)));
    }
    if let Some(external_id) = first_value(&draft.attributes, EXTERNAL_ID)
        && ctx.dir.get_users_by_attribute(EXTERNAL_ID, external_id)?.into_iter().any(|u| Some(u.id.as_str()) != own_id)
    {
        return Err(ScimError::uniqueness(format!("externalId \"{external_id}\" is already used by another user")));
    }
    Ok(())
}

/// Writes a draft over an existing user; no write (and no event) when nothing changed.
fn save(ctx: &mut Ctx, existing: &User, draft: &UserDraft) -> ScimResult<User> {
    if *draft == draft_of(existing) {
        return Ok(existing.clone());
    }
    check_unique(ctx, draft, Some(&existing.id))?;
    let user = ctx.dir.update_user(&existing.id, draft)?;
    let resource = ctx.event_resource(Resource::User(&user))?;
    ctx.emit(EventKind::UserUpdated, &user.id, None, json!({"userName": user.username, "resource": resource}))?;
    Ok(user)
}

/// Hands a password the client sent to the directory, which keeps only its hash; it is
/// never part of the stored document, so never returned.
fn set_password(ctx: &mut Ctx, user_id: &str, resource: &Map<String, Value>) -> ScimResult<()> {
    match resource.get("password") {
        Some(Value::String(password)) => Ok(ctx.dir.set_password(user_id, password)?),
        _ => Ok(()),
    }
}

/// Makes the user a member of the scope's organization, if there is one.
fn join_scope(ctx: &mut Ctx, user: &User) -> ScimResult<()> {
    if let Some(org) = ctx.scope.organization().map(str::to_string)
        && ctx.dir.add_organization_member(&org, &user.id)?
    {
        ctx.emit(EventKind::OrganizationMemberJoined, &user.id, Some(&org), json!({"userName": user.username}))?;
    }
    Ok(())
}

/// A user body in canonical form, with the profile's rule applied, then checked for
/// required attributes (`require_schemas` is false for the result of a PATCH).
fn prepared(ctx: &Ctx, body: &Value, require_schemas: bool) -> ScimResult<Map<String, Value>> {
    let rt = ctx.profile.user;
    let mut resource = rt.canonical_form(body, require_schemas)?;
    (ctx.profile.prepare_user)(&mut resource, ctx.config)?;
    rt.check_required(&resource)?;
    Ok(resource)
}

/// POST /Users: creates the user, or adopts the one with the same externalId, else the
/// same userName, applying the payload to it (200 instead of 409). The realm's `upsert_by`
/// and `username_ignores_case` settings choose the keys; a key left out answers 409.
pub fn create(ctx: &mut Ctx, body: &Value) -> ScimResult<Response> {
    let resource = prepared(ctx, body, true)?;
    let draft = draft_from(ctx.profile.user, &resource);
    let settings = ctx.settings;
    let by_external_id = match first_value(&draft.attributes, EXTERNAL_ID) {
        Some(x) if settings.upsert_by_external_id => ctx.dir.get_users_by_attribute(EXTERNAL_ID, x)?.into_iter().next(),
        _ => None,
    };
    let existing = match by_external_id {
        Some(user) => Some(user),
        None if settings.upsert_by_username => ctx
            .dir
            .get_user_by_username(&draft.username)?
            .filter(|user| settings.username_ignores_case || user.username == draft.username),
        None => None,
    };
    let adopts_by_both =
        settings.upsert_by_external_id && settings.upsert_by_username && settings.username_ignores_case;
    if existing.is_none() && !adopts_by_both {
        check_unique(ctx, &draft, None)?;
    }
    let projection = Projection::from_request(ctx.request)?;
    let (status, user) = match existing {
        Some(existing) => (200, save(ctx, &existing, &draft)?),
        None => {
            // Unique: the two lookups above, in this same transaction, found no user with
            // this externalId or userName, or `check_unique` did.
            let user = ctx.dir.create_user(&draft)?;
            let resource = ctx.event_resource(Resource::User(&user))?;
            ctx.emit(EventKind::UserCreated, &user.id, None, json!({"userName": user.username, "resource": resource}))?;
            (201, user)
        }
    };
    set_password(ctx, &user.id, &resource)?;
    join_scope(ctx, &user)?;
    let body = match status {
        // A user this call created is in no group yet.
        201 => render::user(ctx, &user, &[], &projection)?,
        _ => full(ctx, &user, &projection)?,
    };
    Ok(resource_response(status, body, user.version, Some(ctx.location("Users", &user.id))))
}

/// GET /Users/{id}.
pub fn get(ctx: &mut Ctx, id: &str) -> ScimResult<Response> {
    let user = load_rendered(ctx, id)?;
    if ctx.not_modified(user.version) {
        return Ok(Response::empty(304).with_header("etag", crate::context::etag(user.version)));
    }
    let projection = Projection::from_request(ctx.request)?;
    let body = full(ctx, &user, &projection)?;
    Ok(resource_response(200, body, user.version, None))
}

/// The store query of a list request in this scope.
pub fn query(ctx: &Ctx) -> ScimResult<Query> {
    let rt = ctx.profile.user;
    let username_case_exact = !ctx.settings.username_ignores_case;
    let field = |path: &AttrPath| match user_field(rt, path)? {
        (Field::Username, _) => Some((Field::Username, username_case_exact)),
        other => Some(other),
    };
    listing::build_query(ctx.request, &field, ctx.scope.organization().map(str::to_string))
}

/// One page of users, rendered as the request asks, and the number of all matches.
pub fn page(ctx: &mut Ctx, query: &Query) -> ScimResult<(u32, Vec<String>)> {
    let projection = Projection::from_request(ctx.request)?;
    let page = ctx.dir.search_users_selected(query, &RENDERED.map(String::from))?;
    // The page's groups in one directory call, not one per user.
    let groups = if projection.wants("groups") {
        let ids: Vec<String> = page.items.iter().map(|u| u.id.clone()).collect();
        ctx.dir.groups_of_users(&ids)?
    } else {
        vec![Vec::new(); page.items.len()]
    };
    let mut resources = Vec::with_capacity(page.items.len());
    for (user, groups) in page.items.iter().zip(&groups) {
        resources.push(render::user(ctx, user, groups, &projection)?);
    }
    Ok((page.total, resources))
}

/// GET /Users with filter, sorting and paging.
pub fn list(ctx: &mut Ctx) -> ScimResult<Response> {
    let (total, resources) = page(ctx, &query(ctx)?)?;
    let start_index = Paging::from_request(ctx.request)?.start_index;
    Ok(list_response(total, start_index, &resources))
}

/// PUT /Users/{id}: replaces the user.
pub fn replace(ctx: &mut Ctx, id: &str, body: &Value) -> ScimResult<Response> {
    // The body first: a call begins its store transaction at its first directory call.
    let resource = prepared(ctx, body, true)?;
    let existing = load(ctx, id)?;
    ctx.check_if_match(existing.version)?;
    let user = save(ctx, &existing, &draft_from(ctx.profile.user, &resource))?;
    set_password(ctx, &user.id, &resource)?;
    let projection = Projection::from_request(ctx.request)?;
    let body = full(ctx, &user, &projection)?;
    Ok(resource_response(200, body, user.version, None))
}

/// PATCH /Users/{id}: applies the operations, validates the result as a whole, saves.
pub fn patch(ctx: &mut Ctx, id: &str, body: &Value) -> ScimResult<Response> {
    let ops = patch::parse_request(ctx.profile.user, body)?;
    let existing = load(ctx, id)?;
    ctx.check_if_match(existing.version)?;
    let mut resource = render::user_document(&existing);
    patch::apply(ctx.profile.user, &mut resource, &ops)?;
    let resource = prepared(ctx, &Value::Object(resource), false)?;
    let user = save(ctx, &existing, &draft_from(ctx.profile.user, &resource))?;
    set_password(ctx, &user.id, &resource)?;
    let projection = Projection::from_request(ctx.request)?;
    let body = full(ctx, &user, &projection)?;
    Ok(resource_response(200, body, user.version, None))
}

/// DELETE /Users/{id}: deletes the user. In organization scope the host's directory
/// offboards it instead (a managed member of no other organization is deleted, any other
/// member leaves the organization) and records the events itself.
pub fn delete(ctx: &mut Ctx, id: &str) -> ScimResult<Response> {
    let user = load(ctx, id)?;
    ctx.check_if_match(user.version)?;
    ctx.dir.delete_user(id)?;
    if ctx.scope.organization().is_none() {
        ctx.emit(EventKind::UserDeleted, id, None, json!({"userName": user.username}))?;
    }
    Ok(Response::empty(204))
}
