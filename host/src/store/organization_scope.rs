//! The directory of a call in organization scope: a [`Transaction`] bound to one
//! organization, whatever the guest asks of it.
//!
//! The guest is untrusted code (an uploaded module as much as the stock one), so the
//! bound is the host's: users outside the organization and groups it does not own do not
//! exist for the call. Lookups and searches find only members and the organization's
//! groups; a user's groups and a group's members are cut to them; writes reach only them.
//! A user created here becomes a managed member (Keycloak's model), and deleting it here
//! offboards it: a managed member of no other organization is deleted, any other member
//! only leaves. The host records the organization membership events it causes itself, so
//! no guest can leave them out.
//!
//! A collision with a user outside on `userName` or `externalId` is the store's uniqueness
//! conflict, whose detail names the value and never the holder.

use super::*;

/// A transaction seen through one organization.
pub struct OrganizationScoped {
    inner: Box<dyn Transaction>,
    /// The organization's id.
    organization: String,
    /// Events of the users this call created, recorded at commit: after the guest's own
    /// `USER_CREATED`, in the order a reader expects.
    joined: Vec<AdminEvent>,
    /// Users and groups this call took out of the organization: its events may still
    /// name them.
    removed_users: Vec<String>,
    removed_groups: Vec<String>,
    /// How much of `joined`, `removed_users` and `removed_groups` each open savepoint
    /// keeps when rolled back to.
    savepoints: Vec<(usize, usize, usize)>,
}

impl OrganizationScoped {
    pub fn new(mut inner: Box<dyn Transaction>, organization: String) -> Self {
        inner.bind_lookups_to_organization(&organization);
        OrganizationScoped {
            inner,
            organization,
            joined: Vec::new(),
            removed_users: Vec::new(),
            removed_groups: Vec::new(),
            savepoints: Vec::new(),
        }
    }

    fn is_member(&mut self, user_id: &str) -> DirResult<bool> {
        self.inner.is_organization_member(&self.organization, user_id)
    }

    /// The user, if it is a member; otherwise not found, as if it did not exist.
    fn member(&mut self, user_id: &str) -> DirResult<()> {
        if self.is_member(user_id)? { Ok(()) } else { Err(DirectoryError::NotFound(user_id.to_string())) }
    }

    fn owns(&self, group: &Group) -> bool {
        group.organization.as_deref() == Some(self.organization.as_str())
    }

    /// The group, if the organization owns it; otherwise not found.
    fn own_group(&mut self, group_id: &str) -> DirResult<Group> {
        match self.inner.get_group(group_id)? {
            Some(group) if self.owns(&group) => Ok(group),
            _ => Err(DirectoryError::NotFound(group_id.to_string())),
        }
    }

    /// The users among these that are members.
    fn members(&mut self, users: Vec<User>) -> DirResult<Vec<User>> {
        self.only_members(users, |u| &u.id)
    }

    /// The items among these whose user (`user_of`) is a member, in one store call.
    fn only_members<T>(&mut self, items: Vec<T>, user_of: fn(&T) -> &String) -> DirResult<Vec<T>> {
        let ids: Vec<String> = items.iter().map(|item| user_of(item).clone()).collect();
        let member = self.inner.organization_members_among(&self.organization, &ids)?;
        Ok(items.into_iter().zip(member).filter_map(|(item, keep)| keep.then_some(item)).collect())
    }

    /// The query, restricted to the organization whatever it asked for.
    fn bound(&self, query: &Query) -> Query {
        Query { organization: Some(self.organization.clone()), ..query.clone() }
    }

    /// Each user's memberships cut to the organization's groups; nothing for a non-member.
    fn own_memberships(&mut self, user_ids: &[String], all: Vec<Vec<Membership>>) -> DirResult<Vec<Vec<Membership>>> {
        let member = self.inner.organization_members_among(&self.organization, user_ids)?;
        let mut groups: Vec<String> = all.iter().flatten().map(|m| m.group_id.clone()).collect();
        groups.sort();
        groups.dedup();
        let owned = self.inner.organization_groups_among(&self.organization, &groups)?;
        let owned: std::collections::HashSet<&String> =
            groups.iter().zip(owned).filter_map(|(g, o)| o.then_some(g)).collect();
        Ok(all
            .into_iter()
            .zip(member)
            .map(|(of_user, member)| {
                if member { of_user.into_iter().filter(|m| owned.contains(&m.group_id)).collect() } else { Vec::new() }
            })
            .collect())
    }

    /// Whether an event a guest records names only the organization's users and groups
    /// (or ones this call removed from it): a user event its user, a group event its
    /// group, a membership event its group and its user.
    fn names_only_its_own(&mut self, event: &AdminEvent) -> DirResult<bool> {
        let id = event.resource_id.as_str();
        let (group, user) = match (event.kind, event.related_id.as_deref()) {
            (EventKind::UserCreated | EventKind::UserUpdated, None) => (None, Some(id)),
            (EventKind::GroupCreated | EventKind::GroupUpdated | EventKind::GroupDeleted, None) => (Some(id), None),
            (EventKind::MemberJoined | EventKind::MemberLeft, Some(user)) => (Some(id), Some(user)),
            _ => return Ok(false),
        };
        if let Some(group) = group
            && !self.removed_groups.iter().any(|g| g == group)
            && !self.inner.organization_groups_among(&self.organization, &[group.to_string()])?[0]
        {
            return Ok(false);
        }
        if let Some(user) = user
            && !self.removed_users.iter().any(|u| u == user)
            && !self.is_member(user)?
        {
            return Ok(false);
        }
        Ok(true)
    }

    /// An organization membership event about a user.
    fn event(&self, kind: EventKind, user: &str, username: &str, managed: bool) -> AdminEvent {
        let mut details = serde_json::json!({ "userName": username });
        if managed {
            details["membershipType"] = "MANAGED".into();
        }
        AdminEvent {
            kind,
            resource_id: user.to_string(),
            related_id: Some(self.organization.clone()),
            details: details.to_string(),
        }
    }
}

impl Directory for OrganizationScoped {
    fn get_user(&mut self, id: &str) -> DirResult<Option<User>> {
        if !self.is_member(id)? {
            return Ok(None);
        }
        self.inner.get_user(id)
    }

    fn get_user_selected(&mut self, id: &str, attributes: &[String]) -> DirResult<Option<User>> {
        if !self.is_member(id)? {
            return Ok(None);
        }
        self.inner.get_user_selected(id, attributes)
    }

    fn get_user_by_username(&mut self, username: &str) -> DirResult<Option<User>> {
        let found = self.inner.get_user_by_username(username)?;
        Ok(self.members(found.into_iter().collect())?.pop())
    }

    fn get_users_by_email(&mut self, email: &str) -> DirResult<Vec<User>> {
        let found = self.inner.get_users_by_email(email)?;
        self.members(found)
    }

    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<User>> {
        let found = self.inner.get_users_by_attribute(name, value)?;
        self.members(found)
    }

    fn search_users(&mut self, query: &Query) -> DirResult<Page<User>> {
        let query = self.bound(query);
        self.inner.search_users(&query)
    }

    fn search_users_selected(&mut self, query: &Query, attributes: &[String]) -> DirResult<Page<User>> {
        let query = self.bound(query);
        self.inner.search_users_selected(&query, attributes)
    }

    fn create_user(&mut self, draft: &UserDraft) -> DirResult<User> {
        let user = self.inner.create_user(draft)?;
        // Both or neither: a guest that ignored a failed join would leave a realm user
        // that belongs to no organization.
        if let Err(e) = self.inner.join_organization(&self.organization, &user.id, MembershipType::Managed) {
            self.inner.delete_user(&user.id)?;
            return Err(e);
        }
        self.joined.push(self.event(EventKind::OrganizationMemberJoined, &user.id, &user.username, true));
        Ok(user)
    }

    fn update_user(&mut self, id: &str, draft: &UserDraft) -> DirResult<User> {
        self.member(id)?;
        self.inner.update_user(id, draft)
    }

    fn delete_user(&mut self, id: &str) -> DirResult<bool> {
        let Some(user) = self.get_user(id)? else { return Ok(false) };
        let offboarding = self.inner.offboard_organization_member(&self.organization, id)?;
        if offboarding == Offboarding::NotMember {
            return Ok(false);
        }
        self.removed_users.push(id.to_string());
        // A user created by this same call joined before it leaves.
        if let Some(at) = self.joined.iter().position(|e| e.resource_id == id) {
            let joined = self.joined.remove(at);
            self.inner.emit(&joined)?;
        }
        let left = self.event(EventKind::OrganizationMemberLeft, id, &user.username, false);
        self.inner.emit(&left)?;
        if offboarding == Offboarding::Deleted {
            let details = serde_json::json!({ "userName": user.username }).to_string();
            let deleted =
                AdminEvent { kind: EventKind::UserDeleted, resource_id: id.to_string(), related_id: None, details };
            self.inner.emit(&deleted)?;
        }
        Ok(true)
    }

    fn get_group(&mut self, id: &str) -> DirResult<Option<Group>> {
        Ok(self.inner.get_group(id)?.filter(|g| self.owns(g)))
    }

    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<Group>> {
        let mut groups = self.inner.get_groups_by_attribute(name, value)?;
        groups.retain(|g| self.owns(g));
        Ok(groups)
    }

    fn search_groups(&mut self, query: &Query) -> DirResult<Page<Group>> {
        let query = self.bound(query);
        self.inner.search_groups(&query)
    }

    fn create_group(&mut self, draft: &GroupDraft) -> DirResult<Group> {
        let draft = GroupDraft { organization: Some(self.organization.clone()), ..draft.clone() };
        self.inner.create_group(&draft)
    }

    fn update_group(&mut self, id: &str, draft: &GroupDraft) -> DirResult<Group> {
        self.own_group(id)?;
        self.inner.update_group(id, draft)
    }

    fn delete_group(&mut self, id: &str) -> DirResult<bool> {
        if self.get_group(id)?.is_none() {
            return Ok(false);
        }
        self.removed_groups.push(id.to_string());
        self.inner.delete_group(id)
    }

    fn group_members(&mut self, group_id: &str) -> DirResult<Vec<Member>> {
        self.own_group(group_id)?;
        let members = self.inner.group_members(group_id)?;
        self.only_members(members, |m| &m.user_id)
    }

    fn group_member_ids(&mut self, group_id: &str) -> DirResult<Vec<String>> {
        self.own_group(group_id)?;
        let ids = self.inner.group_member_ids(group_id)?;
        self.only_members(ids, |id| id)
    }

    fn user_groups(&mut self, user_id: &str) -> DirResult<Vec<Membership>> {
        let ids = [user_id.to_string()];
        let all = vec![self.inner.user_groups(user_id)?];
        Ok(self.own_memberships(&ids, all)?.pop().unwrap_or_default())
    }

    fn groups_of_users(&mut self, user_ids: &[String]) -> DirResult<Vec<Vec<Membership>>> {
        let all = self.inner.groups_of_users(user_ids)?;
        self.own_memberships(user_ids, all)
    }

    fn add_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        self.own_group(group_id)?;
        self.member(user_id)?;
        self.inner.add_member(group_id, user_id)
    }

    fn remove_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        self.own_group(group_id)?;
        if !self.is_member(user_id)? {
            return Ok(false);
        }
        self.inner.remove_member(group_id, user_id)
    }

    fn get_organization(&mut self, alias: &str) -> DirResult<Option<Organization>> {
        Ok(self.inner.get_organization(alias)?.filter(|o| o.id == self.organization))
    }

    fn is_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        if organization_id != self.organization {
            return Ok(false);
        }
        self.is_member(user_id)
    }

    /// Only the members a user's creation made, already members: no user outside can be
    /// pulled in.
    fn add_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        if organization_id == self.organization && self.is_member(user_id)? {
            return Ok(false);
        }
        Err(DirectoryError::NotFound(user_id.to_string()))
    }

    /// Refused: a member leaves through `delete_user`, which offboards it (and records
    /// it); ending the membership alone would leave a managed user behind, unrecorded.
    fn remove_organization_member(&mut self, _organization_id: &str, _user_id: &str) -> DirResult<bool> {
        Err(DirectoryError::Invalid("in organization scope, a member leaves by deleting the user".into()))
    }

    fn set_password(&mut self, user_id: &str, password: &str) -> DirResult<()> {
        self.member(user_id)?;
        self.inner.set_password(user_id, password)
    }

    /// The guest's own events; those of the organization's memberships and of a user's
    /// deletion are the host's to record, and name nothing outside the organization.
    fn emit(&mut self, event: &AdminEvent) -> DirResult<()> {
        let recorded_by_host = matches!(
            event.kind,
            EventKind::OrganizationMemberJoined | EventKind::OrganizationMemberLeft | EventKind::UserDeleted
        );
        if recorded_by_host {
            return Err(DirectoryError::Invalid(format!("{} is recorded by the host", event.kind.name())));
        }
        if !self.names_only_its_own(event)? {
            return Err(DirectoryError::Invalid(format!(
                "{} names a resource outside the organization",
                event.kind.name()
            )));
        }
        self.inner.emit(event)
    }

    fn savepoint(&mut self) -> DirResult<()> {
        self.inner.savepoint()?;
        self.savepoints.push((self.joined.len(), self.removed_users.len(), self.removed_groups.len()));
        Ok(())
    }

    fn release_savepoint(&mut self) -> DirResult<()> {
        self.inner.release_savepoint()?;
        self.savepoints.pop();
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> DirResult<()> {
        self.inner.rollback_to_savepoint()?;
        if let Some((joined, users, groups)) = self.savepoints.pop() {
            self.joined.truncate(joined);
            self.removed_users.truncate(users);
            self.removed_groups.truncate(groups);
        }
        Ok(())
    }
}

impl Transaction for OrganizationScoped {
    /// Already bound, to its own organization.
    fn bind_lookups_to_organization(&mut self, _organization_id: &str) {}

    fn set_deadline(&mut self, deadline: Deadline) {
        self.inner.set_deadline(deadline)
    }

    fn writer_since(&self) -> Option<std::time::Instant> {
        self.inner.writer_since()
    }

    fn organization_members_among(&mut self, organization_id: &str, user_ids: &[String]) -> DirResult<Vec<bool>> {
        if organization_id != self.organization {
            return Ok(vec![false; user_ids.len()]);
        }
        self.inner.organization_members_among(organization_id, user_ids)
    }

    fn organization_groups_among(&mut self, organization_id: &str, group_ids: &[String]) -> DirResult<Vec<bool>> {
        if organization_id != self.organization {
            return Ok(vec![false; group_ids.len()]);
        }
        self.inner.organization_groups_among(organization_id, group_ids)
    }

    fn join_organization(&mut self, organization_id: &str, user_id: &str, _: MembershipType) -> DirResult<bool> {
        self.add_organization_member(organization_id, user_id)
    }

    fn offboard_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<Offboarding> {
        if organization_id != self.organization {
            return Ok(Offboarding::NotMember);
        }
        self.inner.offboard_organization_member(organization_id, user_id)
    }

    fn commit(mut self: Box<Self>) -> DirResult<()> {
        for event in std::mem::take(&mut self.joined) {
            self.inner.emit(&event)?;
        }
        self.inner.commit()
    }
}
