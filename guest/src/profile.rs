//! What a handler built on this library serves: its resource types (with their extension
//! schemas) and its own rule for users. The stock handler serves [`Profile::STOCK`]; a
//! plugin guest declares a `static` profile of its own and calls
//! [`crate::handle_with`] with it, and every endpoint (validation, storage, filters,
//! PATCH, Bulk, `/Schemas`, `/ResourceTypes`) follows.

use crate::error::ScimResult;
use crate::schema::{GROUP_TYPE, ResourceType, Schema, USER_TYPE};
use crate::settings::Config;
use serde_json::{Map, Value};

/// The resource types and rules of a handler.
pub struct Profile {
    /// `/Users`: the core User schema and the extensions accepted, stored and published.
    pub user: &'static ResourceType,
    /// `/Groups`.
    pub group: &'static ResourceType,
    /// Runs on every user about to be validated and stored (POST, PUT, PATCH, Bulk),
    /// with the user in canonical form (attribute names as the schema spells them,
    /// extensions under their URN). It may change the user, or refuse it with an error
    /// that becomes the response. Required attributes are checked after it, so it may
    /// supply one the client left out. It receives the tenant's [`Config`], whose
    /// settings may change what it does per tenant.
    pub prepare_user: fn(&mut Map<String, Value>, &Config) -> ScimResult<()>,
}

fn unchanged(_user: &mut Map<String, Value>, _config: &Config) -> ScimResult<()> {
    Ok(())
}

impl Profile {
    /// The stock handler: core User with the Enterprise extension, core Group.
    pub const STOCK: Profile = Profile { user: &USER_TYPE, group: &GROUP_TYPE, prepare_user: unchanged };

    /// The resource types served, in `/ResourceTypes` order.
    pub fn resource_types(&self) -> [&'static ResourceType; 2] {
        [self.user, self.group]
    }

    /// Every schema served (each resource type's core schema, then its extensions).
    pub fn schemas(&self) -> Vec<&'static Schema> {
        self.resource_types()
            .iter()
            .flat_map(|rt| std::iter::once(rt.schema).chain(rt.extensions.iter().copied()))
            .collect()
    }
}
