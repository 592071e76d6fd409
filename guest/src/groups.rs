//! SCIM Groups over directory groups, and membership reconciliation: a PUT or PATCH
//! states the members a group must have; the handler validates every new member first,
//! then removes the rest and adds the new, emitting a joined/left event for each change.

use crate::context::{Ctx, Resource, Scope, etag, resource_response};
use crate::directory::{Attribute, Comparator, EventKind, Field, Group, GroupDraft, Member, Query, first_value};
use crate::error::{ScimError, ScimResult};
use crate::filter::{AttrPath, CompValue, Filter};
use crate::group_body::GroupBody;
use crate::http::Response;
use crate::listing::{self, Paging, list_response};
use crate::patch::{self, OpKind, PatchOp, Target};
use crate::projection::Projection;
use crate::render;
use crate::schema::GROUP_SCHEMA;
use crate::settings::GroupPatchResponse;
use crate::users::{DOCUMENT_ATTRIBUTE, EXTERNAL_ID};
use serde_json::{Value, json};
// foldhash, not SipHash: hashing ids was a tenth of a PUT of 1,000 members. Ordered sets
// were no better in wasm, where each comparison is a call to a byte-wise memcmp.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

/// Maps a filter or sort attribute to a stored field (and whether it is case-exact).
pub fn group_field(path: &AttrPath) -> Option<(Field, bool)> {
    if path.urn.as_deref().is_some_and(|u| !u.eq_ignore_ascii_case(GROUP_SCHEMA)) {
        return None;
    }
    let dotted = path.dotted();
    let is = |name: &str| dotted.eq_ignore_ascii_case(name);
    if is("id") {
        Some((Field::Id, true))
    } else if is("displayName") {
        Some((Field::GroupName, false))
    } else if is("externalId") {
        Some((Field::Attribute(EXTERNAL_ID.into()), true))
    } else if is("meta.created") {
        Some((Field::CreatedAt, false))
    } else if is("meta.lastModified") {
        Some((Field::UpdatedAt, false))
    } else {
        None
    }
}

/// A canonical group, split into the directory draft and the wanted member ids.
fn draft_from(ctx: &Ctx, body: GroupBody) -> ScimResult<(GroupDraft, Vec<String>)> {
    let mut members = Vec::with_capacity(body.members.len());
    let mut seen: HashSet<&str> = HashSet::with_capacity(body.members.len());
    for (i, member) in body.members.iter().enumerate() {
        if member.str("type").is_some_and(|t| t.eq_ignore_ascii_case("Group")) {
            return Err(ScimError::invalid_value(format!(
                "members[{i}]: nested groups are not supported (member \"{}\")",
                member.str("value").unwrap_or_default()
            )));
        }
        let Some(id) = member.str("value") else {
            return Err(ScimError::invalid_value(format!("members[{i}]: 'value' (the user's id) is required")));
        };
        if seen.insert(id) {
            members.push(id.to_string());
        }
    }
    let resource = body.resource;
    let mut attributes = Vec::new();
    if let Some(x) = resource.get(EXTERNAL_ID).and_then(Value::as_str) {
        attributes.push(Attribute::single(EXTERNAL_ID, x));
    }
    let name = resource.get("displayName").and_then(Value::as_str).unwrap_or_default().to_string();
    attributes.push(Attribute::single(DOCUMENT_ATTRIBUTE, Value::Object(resource).to_string()));
    let draft = GroupDraft { name, organization: ctx.scope.organization().map(str::to_string), attributes };
    Ok((draft, members))
}

fn visible(scope: &Scope, group: &Group) -> bool {
    match scope {
        Scope::Realm => true,
        Scope::Organization { id, .. } => group.organization.as_deref() == Some(id),
    }
}

fn load(ctx: &mut Ctx, id: &str) -> ScimResult<Group> {
    match ctx.dir.get_group(id)? {
        Some(group) if visible(&ctx.scope, &group) => Ok(group),
        _ => Err(ScimError::not_found("Group", id)),
    }
}

fn full(ctx: &mut Ctx, group: &Group, projection: &Projection) -> ScimResult<String> {
    let members = if projection.wants("members") { Some(ctx.dir.group_member_ids(&group.id)?) } else { None };
    Ok(render::group(ctx, group, members.as_deref(), projection))
}

/// A group just written, whose members are known to be `members`: no need to read them back.
fn written(ctx: &Ctx, group: &Group, members: &[String]) -> ScimResult<String> {
    let projection = Projection::from_request(ctx.request)?;
    Ok(render::group(ctx, group, projection.wants("members").then_some(members), &projection))
}

/// Checks that every member joining the group is a user of the scope.
fn validate_joining(ctx: &mut Ctx, joining: &[&str]) -> ScimResult<()> {
    for &id in joining {
        let exists = ctx.dir.get_user(id)?.is_some();
        let in_scope = exists
            && match ctx.scope.organization().map(str::to_string) {
                Some(org) => ctx.dir.is_organization_member(&org, id)?,
                None => true,
            };
        if !in_scope {
            let where_ = match &ctx.scope {
                Scope::Realm => "in this realm".to_string(),
                Scope::Organization { alias, .. } => format!("in organization \"{alias}\""),
            };
            return Err(ScimError::invalid_value(format!(
                "members: no user with id \"{id}\" {where_}; the group was not changed"
            )));
        }
    }
    Ok(())
}

/// Makes the group's membership exactly `wanted`, from `current`: `joining` are the
/// wanted not in `current` (validated), and `named` members whose user names are known.
fn reconcile(
    ctx: &mut Ctx,
    group_id: &str,
    current: &[String],
    named: &[Member],
    wanted: &[String],
    joining: &[&str],
) -> ScimResult<bool> {
    let wanted_set: HashSet<&str> =
        if current.is_empty() { HashSet::new() } else { wanted.iter().map(String::as_str).collect() };
    let leaving: Vec<&str> = current.iter().map(String::as_str).filter(|id| !wanted_set.contains(id)).collect();
    let mut changed = false;
    for member in names_of(ctx, group_id, &leaving, named)? {
        if ctx.dir.remove_member(group_id, &member.user_id)? {
            ctx.emit(EventKind::MemberLeft, group_id, Some(&member.user_id), json!({"userName": member.username}))?;
            changed = true;
        }
    }
    for &id in joining {
        if ctx.dir.add_member(group_id, id)? {
            ctx.emit(EventKind::MemberJoined, group_id, Some(id), json!({}))?;
            changed = true;
        }
    }
    Ok(changed)
}

/// The members `ids` of a group with their user names (for the events of their leaving):
/// from `named` where it has them, else one user read each, or, for many, all members'
/// names at once.
fn names_of(ctx: &mut Ctx, group_id: &str, ids: &[&str], named: &[Member]) -> ScimResult<Vec<Member>> {
    const READ_ONE_BY_ONE: usize = 16;
    let named: HashMap<&str, &Member> =
        if ids.is_empty() { HashMap::new() } else { named.iter().map(|m| (m.user_id.as_str(), m)).collect() };
    let mut found = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match named.get(id) {
            Some(member) => found.push((*member).clone()),
            None => missing.push(*id),
        }
    }
    if missing.len() > READ_ONE_BY_ONE {
        let missing: HashSet<&str> = missing.into_iter().collect();
        found.extend(ctx.dir.group_members(group_id)?.into_iter().filter(|m| missing.contains(m.user_id.as_str())));
    } else {
        for id in missing {
            let username = ctx.dir.get_user(id)?.map(|u| u.username).unwrap_or_default();
            found.push(Member { user_id: id.to_string(), username });
        }
    }
    Ok(found)
}

/// Refuses an externalId that belongs to another group.
fn check_unique(ctx: &mut Ctx, draft: &GroupDraft, own_id: Option<&str>) -> ScimResult<()> {
    if let Some(x) = first_value(&draft.attributes, EXTERNAL_ID)
        && ctx.dir.get_groups_by_attribute(EXTERNAL_ID, x)?.into_iter().any(|g| Some(g.id.as_str()) != own_id)
    {
        // The value, never the holder: the client may not be allowed to see it.
        return Err(ScimError::uniqueness(format!("externalId \"{x}\" is already used by another group")));
    }
    Ok(())
}

/// Writes a draft and the wanted membership over an existing group whose members are
/// `current` (the user names of `named` among them are known).
fn save(
    ctx: &mut Ctx,
    existing: &Group,
    draft: &GroupDraft,
    wanted: &[String],
    current: &[String],
    named: &[Member],
) -> ScimResult<Group> {
    let current_ids: HashSet<&str> = current.iter().map(String::as_str).collect();
    let joining: Vec<&str> = wanted.iter().map(String::as_str).filter(|id| !current_ids.contains(id)).collect();
    validate_joining(ctx, &joining)?;
    let unchanged = draft.name == existing.name && draft.attributes == existing.attributes;
    if !unchanged {
        check_unique(ctx, draft, Some(&existing.id))?;
        let updated = ctx.dir.update_group(&existing.id, draft)?;
        let resource = ctx.event_resource(Resource::Group(&updated))?;
        ctx.emit(
            EventKind::GroupUpdated,
            &updated.id,
            None,
            json!({"displayName": updated.name, "resource": resource}),
        )?;
    }
    let members_changed = reconcile(ctx, &existing.id, current, named, wanted, &joining)?;
    if unchanged && !members_changed {
        return Ok(existing.clone());
    }
    load(ctx, &existing.id)
}

/// POST /Groups: creates the group, or adopts the one with the same externalId (unless the
/// realm's `upsert_by` leaves externalId out: then 409).
pub fn create(ctx: &mut Ctx, body: GroupBody) -> ScimResult<Response> {
    let (draft, wanted) = draft_from(ctx, body)?;
    // A bad `attributes` parameter fails before anything is written.
    Projection::from_request(ctx.request)?;
    let existing = match first_value(&draft.attributes, EXTERNAL_ID) {
        Some(x) => ctx.dir.get_groups_by_attribute(EXTERNAL_ID, x)?.into_iter().next(),
        None => None,
    };
    let (status, group) = match existing {
        Some(existing) if !visible(&ctx.scope, &existing) || !ctx.settings.upsert_by_external_id => {
            return Err(ScimError::uniqueness(format!(
                "externalId \"{}\" is already used by another group",
                first_value(&draft.attributes, EXTERNAL_ID).unwrap_or_default()
            )));
        }
        Some(existing) => {
            let current = ctx.dir.group_member_ids(&existing.id)?;
            (200, save(ctx, &existing, &draft, &wanted, &current, &[])?)
        }
        None => {
            let joining: Vec<&str> = wanted.iter().map(String::as_str).collect();
            validate_joining(ctx, &joining)?;
            let group = ctx.dir.create_group(&draft)?;
            let resource = ctx.event_resource(Resource::Group(&group))?;
            ctx.emit(
                EventKind::GroupCreated,
                &group.id,
                None,
                json!({"displayName": group.name, "resource": resource}),
            )?;
            if reconcile(ctx, &group.id, &[], &[], &wanted, &joining)? {
                (201, load(ctx, &group.id)?)
            } else {
                (201, group)
            }
        }
    };
    let body = written(ctx, &group, &wanted)?;
    Ok(resource_response(status, body, group.version, Some(ctx.location("Groups", &group.id))))
}

/// GET /Groups/{id}.
pub fn get(ctx: &mut Ctx, id: &str) -> ScimResult<Response> {
    let group = load(ctx, id)?;
    if ctx.not_modified(group.version) {
        return Ok(Response::empty(304).with_header("etag", crate::context::etag(group.version)));
    }
    let projection = Projection::from_request(ctx.request)?;
    let body = full(ctx, &group, &projection)?;
    Ok(resource_response(200, body, group.version, None))
}

/// The store query of a list request in this scope.
pub fn query(ctx: &Ctx) -> ScimResult<Query> {
    listing::build_query(ctx.request, &group_field, ctx.scope.organization().map(str::to_string))
}

/// One page of groups, rendered as the request asks, and the number of all matches.
pub fn page(ctx: &mut Ctx, query: &Query) -> ScimResult<(u32, Vec<String>)> {
    let projection = Projection::from_request(ctx.request)?;
    let page = ctx.dir.search_groups(query)?;
    let mut resources = Vec::with_capacity(page.items.len());
    for group in &page.items {
        resources.push(full(ctx, group, &projection)?);
    }
    Ok((page.total, resources))
}

/// GET /Groups with filter, sorting and paging.
pub fn list(ctx: &mut Ctx) -> ScimResult<Response> {
    let (total, resources) = page(ctx, &query(ctx)?)?;
    let start_index = Paging::from_request(ctx.request)?.start_index;
    Ok(list_response(total, start_index, &resources))
}

/// PUT /Groups/{id}: replaces the group; its members become exactly those sent.
pub fn replace(ctx: &mut Ctx, id: &str, body: GroupBody) -> ScimResult<Response> {
    // The body first: a call begins its store transaction at its first directory call.
    let (draft, wanted) = draft_from(ctx, body)?;
    let existing = load(ctx, id)?;
    ctx.check_if_match(existing.version)?;
    let current = ctx.dir.group_member_ids(&existing.id)?;
    let group = save(ctx, &existing, &draft, &wanted, &current, &[])?;
    let body = written(ctx, &group, &wanted)?;
    Ok(resource_response(200, body, group.version, None))
}

/// PATCH /Groups/{id}: applies the operations to the group with the members they name
/// (all of them when an operation replaces or clears the members), then saves the result
/// like a PUT. Answers 204 with the new ETag unless the request asks for attributes or the
/// realm's `group_patch_response` is `200` (RFC 7644 §3.5.2 allows either): a group can
/// have many thousands of members, and an IdP that adds one should not have to read them
/// all back.
pub fn patch(ctx: &mut Ctx, id: &str, body: &Value) -> ScimResult<Response> {
    let ops = patch::parse_request(ctx.profile.group, body)?;
    let projection = Projection::from_request(ctx.request)?;
    let existing = load(ctx, id)?;
    ctx.check_if_match(existing.version)?;
    let members = match named_members(&ops) {
        Some(named) => members_among(ctx, &existing.id, &named)?,
        None => ctx.dir.group_members(&existing.id)?,
    };
    let mut resource = render::group_document(&existing);
    if !members.is_empty() {
        let list = members.iter().map(|m| json!({"value": m.user_id, "display": m.username})).collect();
        resource.insert("members".into(), Value::Array(list));
    }
    patch::apply(ctx.profile.group, &mut resource, &ops)?;
    let body = GroupBody::from_value(ctx.profile.group, Value::Object(resource), false)?;
    let (draft, wanted) = draft_from(ctx, body)?;
    let current: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
    let group = save(ctx, &existing, &draft, &wanted, &current, &members)?;
    if projection.is_everything() && ctx.settings.group_patch_response == GroupPatchResponse::NoContent {
        return Ok(Response::empty(204).with_header("etag", etag(group.version)));
    }
    let body = full(ctx, &group, &projection)?;
    Ok(resource_response(200, body, group.version, None))
}

/// The user ids that PATCH operations name when they change no other member: adds of
/// listed values, removes of listed values or by `members[value eq "…"]`. None when an
/// operation replaces, clears or edits the members as a whole, which needs all of them.
/// A filter compares without regard to case; the directory's ids are lowercase UUIDs,
/// so a filter's id is looked up as sent and in lowercase.
fn named_members(ops: &[PatchOp]) -> Option<Vec<String>> {
    let mut named = Vec::new();
    for op in ops {
        let Target::Path(path) = &op.target else { continue };
        if !names_members(&path.attr) {
            continue;
        }
        if path.attr.sub.is_some() || path.sub.is_some() {
            return None;
        }
        match (op.op, &path.filter) {
            (OpKind::Remove, Some(filter)) => value_ids(filter, &mut named)?,
            (OpKind::Add, None) | (OpKind::Remove, None) => {
                let listed = match op.value.as_ref()? {
                    Value::Array(items) => items.iter().collect(),
                    Value::Null => return None,
                    item => vec![item],
                };
                for item in listed {
                    named.push(item.get("value")?.as_str()?.to_string());
                }
            }
            _ => return None,
        }
    }
    named.sort();
    named.dedup();
    Some(named)
}

/// Whether a path names the group's `members`.
fn names_members(attr: &AttrPath) -> bool {
    attr.name.eq_ignore_ascii_case("members")
        && attr.urn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(GROUP_SCHEMA))
}

/// The ids a `value eq "…"` filter (or a disjunction of them) selects, as sent and in
/// lowercase; None for any other filter.
fn value_ids(filter: &Filter, out: &mut Vec<String>) -> Option<()> {
    match filter {
        Filter::Or(a, b) => {
            value_ids(a, out)?;
            value_ids(b, out)
        }
        Filter::Compare { path, op: Comparator::Eq, value: CompValue::Str(id) }
            if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value") =>
        {
            out.push(id.clone());
            out.push(id.to_lowercase());
            Some(())
        }
        _ => None,
    }
}

/// The members of a group among `ids`, read without reading the others.
fn members_among(ctx: &mut Ctx, group_id: &str, ids: &[String]) -> ScimResult<Vec<Member>> {
    let mut members = Vec::new();
    for (id, groups) in ids.iter().zip(ctx.dir.groups_of_users(ids)?) {
        if groups.iter().any(|g| g.group_id == group_id) {
            let username = ctx.dir.get_user(id)?.map(|u| u.username).unwrap_or_default();
            members.push(Member { user_id: id.clone(), username });
        }
    }
    Ok(members)
}

/// DELETE /Groups/{id}.
pub fn delete(ctx: &mut Ctx, id: &str) -> ScimResult<Response> {
    let group = load(ctx, id)?;
    ctx.check_if_match(group.version)?;
    ctx.dir.delete_group(id)?;
    ctx.emit(EventKind::GroupDeleted, id, None, json!({"displayName": group.name}))?;
    Ok(Response::empty(204))
}
