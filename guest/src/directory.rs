//! The identity store as the SCIM logic sees it: the [`Directory`] trait over the shared
//! `scim-directory` records. The wasm adapter implements it with the host's imports; tests
//! and benchmarks implement it in memory. Nothing here knows SCIM.

pub use scim_directory::*;

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
    /// As `get_user`, carrying only the attributes named.
    fn get_user_selected(&mut self, id: &str, attributes: &[String]) -> DirResult<Option<User>> {
        let mut user = self.get_user(id)?;
        if let Some(user) = &mut user {
            user.attributes.retain(|a| attributes.contains(&a.name));
        }
        Ok(user)
    }
    fn get_user_by_username(&mut self, username: &str) -> DirResult<Option<User>>;
    fn get_users_by_email(&mut self, email: &str) -> DirResult<Vec<User>>;
    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<User>>;
    fn search_users(&mut self, query: &Query) -> DirResult<Page<User>>;
    /// As `search_users`, each user carrying only the attributes named.
    fn search_users_selected(&mut self, query: &Query, attributes: &[String]) -> DirResult<Page<User>> {
        let mut page = self.search_users(query)?;
        for user in &mut page.items {
            user.attributes.retain(|a| attributes.contains(&a.name));
        }
        Ok(page)
    }
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
    /// The members' ids, in the order of `group_members`.
    fn group_member_ids(&mut self, group_id: &str) -> DirResult<Vec<String>> {
        Ok(self.group_members(group_id)?.into_iter().map(|m| m.user_id).collect())
    }
    fn user_groups(&mut self, user_id: &str) -> DirResult<Vec<Membership>>;
    /// The groups of each user, in the order of `user_ids`.
    fn groups_of_users(&mut self, user_ids: &[String]) -> DirResult<Vec<Vec<Membership>>> {
        user_ids.iter().map(|id| self.user_groups(id)).collect()
    }
    fn add_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool>;
    fn remove_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool>;

    fn get_organization(&mut self, alias: &str) -> DirResult<Option<Organization>>;
    fn is_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool>;
    fn add_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool>;
    fn remove_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool>;

    /// Sets the user's password; the store keeps only a hash of it.
    fn set_password(&mut self, user_id: &str, password: &str) -> DirResult<()>;

    fn emit(&mut self, event: &AdminEvent) -> DirResult<()>;

    /// Opens a savepoint; savepoints nest.
    fn savepoint(&mut self) -> DirResult<()>;
    /// Keeps what was done since the innermost open savepoint, and closes it.
    fn release_savepoint(&mut self) -> DirResult<()>;
    /// Undoes what was done since the innermost open savepoint, and closes it.
    fn rollback_to_savepoint(&mut self) -> DirResult<()>;
}
