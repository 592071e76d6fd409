//! The [`Directory`] trait: the operations of the WIT `directory` interface, one to one,
//! over the records of this crate, and the one error type every implementation answers.

use crate::records::*;

/// What a directory operation can fail with. A handler acts on the first four; the last
/// two are the host's own: a guest never sees them, since the host stops the call (and
/// rolls it back, and for `Transient` runs it again) instead of returning them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The user, group or organization named does not exist (its id).
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule would be broken: `constraint` names it (`username`,
    /// `external-id`), `detail` the value at fault, never the resource holding it.
    #[error("conflict on {constraint}: {detail}")]
    Conflict {
        /// The rule's name.
        constraint: String,
        /// A sentence naming the value at fault.
        detail: String,
    },
    /// The operation cannot be done as asked (why).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The store is broken or unreachable; a handler answers 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A concurrent transaction got in the way (a busy database, a serialization
    /// failure): rolled back and run again, the whole call will succeed.
    #[error("transient: {0}")]
    Transient(String),
    /// The call's deadline passed during the operation, which was interrupted.
    #[error("the call ran past its deadline")]
    PastDeadline,
}

/// What a directory answers.
pub type DirResult<T> = Result<T, DirectoryError>;

/// The identity store of one realm, as one call sees it: everything it reads or writes
/// happens in one transaction. Implemented by the guest's adapter over the WIT imports,
/// by [`crate::memory::MemoryDirectory`] and by every store of the host; the
/// `conformance` suite holds them to the same answers.
pub trait Directory {
    /// The user with this id.
    fn get_user(&mut self, id: &str) -> DirResult<Option<User>>;
    /// As `get_user`, carrying only the attributes named: a resource rendered from a
    /// stored document needs that document, not every searchable copy of its values.
    fn get_user_selected(&mut self, id: &str, attributes: &[String]) -> DirResult<Option<User>> {
        let mut user = self.get_user(id)?;
        if let Some(user) = &mut user {
            user.attributes.retain(|a| attributes.contains(&a.name));
        }
        Ok(user)
    }
    /// The user with this username, compared without regard to case.
    fn get_user_by_username(&mut self, username: &str) -> DirResult<Option<User>>;
    /// Users whose primary e-mail is this address (without regard to case).
    fn get_users_by_email(&mut self, email: &str) -> DirResult<Vec<User>>;
    /// Users having this exact value for the attribute.
    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<User>>;
    /// One page of the users matching the query.
    fn search_users(&mut self, query: &Query) -> DirResult<Page<User>>;
    /// As `search_users`, each user carrying only the attributes named.
    fn search_users_selected(&mut self, query: &Query, attributes: &[String]) -> DirResult<Page<User>> {
        let mut page = self.search_users(query)?;
        for user in &mut page.items {
            user.attributes.retain(|a| attributes.contains(&a.name));
        }
        Ok(page)
    }
    /// Creates a user: `Conflict` when its username (without regard to case) or its
    /// `externalId` is taken in the realm.
    fn create_user(&mut self, draft: &UserDraft) -> DirResult<User>;
    /// Replaces a user's fields and attributes, under the same uniqueness rules.
    fn update_user(&mut self, id: &str, draft: &UserDraft) -> DirResult<User>;
    /// Deletes a user with its memberships and credentials; false when it did not exist.
    fn delete_user(&mut self, id: &str) -> DirResult<bool>;

    /// The group with this id.
    fn get_group(&mut self, id: &str) -> DirResult<Option<Group>>;
    /// Groups having this exact value for the attribute.
    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<Group>>;
    /// One page of the groups matching the query.
    fn search_groups(&mut self, query: &Query) -> DirResult<Page<Group>>;
    /// Creates a group: `Conflict` when its `externalId` is taken in the realm.
    fn create_group(&mut self, draft: &GroupDraft) -> DirResult<Group>;
    /// Replaces a group's name and attributes (its organization stays).
    fn update_group(&mut self, id: &str, draft: &GroupDraft) -> DirResult<Group>;
    /// Deletes a group and its memberships; false when it did not exist.
    fn delete_group(&mut self, id: &str) -> DirResult<bool>;

    /// The members of a group, in the order they joined.
    fn group_members(&mut self, group_id: &str) -> DirResult<Vec<Member>>;
    /// The members' ids, in the order of `group_members`.
    fn group_member_ids(&mut self, group_id: &str) -> DirResult<Vec<String>> {
        Ok(self.group_members(group_id)?.into_iter().map(|m| m.user_id).collect())
    }
    /// The groups a user belongs to, in the order joined.
    fn user_groups(&mut self, user_id: &str) -> DirResult<Vec<Membership>>;
    /// The groups of each user, in the order of `user_ids` (an unknown id has none).
    fn groups_of_users(&mut self, user_ids: &[String]) -> DirResult<Vec<Vec<Membership>>> {
        user_ids.iter().map(|id| self.user_groups(id)).collect()
    }
    /// Adds the user to the group; false when already a member; `NotFound` when either
    /// does not exist.
    fn add_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool>;
    /// Removes the user from the group; false when not a member.
    fn remove_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool>;

    /// The organization with this alias.
    fn get_organization(&mut self, alias: &str) -> DirResult<Option<Organization>>;
    /// Whether the user is a member of the organization (by id).
    fn is_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool>;
    /// Makes the user a member of the organization; false when it already was.
    fn add_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool>;
    /// Ends the user's membership of the organization and of the organization's groups;
    /// false when it was not a member.
    fn remove_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool>;

    /// Sets the user's password; a store keeps only a salted hash of it, and nothing ever
    /// returns either.
    fn set_password(&mut self, user_id: &str, password: &str) -> DirResult<()>;

    /// Records an admin event in the call's transaction.
    fn emit(&mut self, event: &AdminEvent) -> DirResult<()>;

    /// Opens a savepoint; savepoints nest.
    fn savepoint(&mut self) -> DirResult<()>;
    /// Keeps what was done since the innermost open savepoint, and closes it; `Invalid`
    /// when none is open.
    fn release_savepoint(&mut self) -> DirResult<()>;
    /// Undoes what was done since the innermost open savepoint (events included), and
    /// closes it; `Invalid` when none is open.
    fn rollback_to_savepoint(&mut self) -> DirResult<()>;
}
