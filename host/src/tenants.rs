//! The tenant registry: each realm with its compiled module, token hashes, organizations,
//! limits and guest settings, resolved once from the configuration so that a request
//! finds everything it needs with one map lookup.

use crate::auth::TokenHash;
use crate::bindings::types;
use crate::config::{Config, Limits, ModuleSource};
use crate::limits::RealmLimiter;
use crate::modules::ModuleStore;
use crate::runtime::{Module, Runtime};
use crate::store::{Store, StoredToken};
use anyhow::Context as _;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The stock guest, built by `build.rs` and embedded in the binary.
pub static BUNDLED_GUEST: &[u8] = include_bytes!(env!("SCIM_HOST_BUNDLED_GUEST"));

/// One realm, ready to serve.
#[derive(Clone)]
pub struct Tenant {
    pub name: String,
    pub module: Arc<Module>,
    /// The realm tokens of the configuration.
    pub tokens: Vec<TokenHash>,
    /// Tokens issued through the admin API, each for the realm or one organization.
    pub issued: Vec<IssuedToken>,
    /// Organizations by alias.
    pub organizations: HashMap<String, types::OrganizationRef>,
    pub limits: Limits,
    /// The realm's request rate and concurrency, shared across module swaps.
    pub limiter: Arc<RealmLimiter>,
    /// What the guest receives as its config.
    pub guest_config: types::Config,
}

/// A token issued through the admin API.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    /// The organization alias it is limited to; the whole realm when `None`.
    pub organization: Option<String>,
    pub hash: TokenHash,
}

impl IssuedToken {
    /// The tokens a store keeps for a realm (a damaged hash is skipped, and logged).
    pub fn load(store: &dyn Store, realm: &str) -> anyhow::Result<Vec<IssuedToken>> {
        let stored = store.tokens(realm).with_context(|| format!("realm \"{realm}\": cannot read its tokens"))?;
        Ok(Self::from_stored(realm, stored))
    }

    /// The issued tokens of stored records (a damaged hash is skipped, and logged).
    pub fn from_stored(realm: &str, stored: Vec<StoredToken>) -> Vec<IssuedToken> {
        stored
            .into_iter()
            .filter_map(|t| match TokenHash::parse(&t.hash) {
                Ok(hash) => Some(IssuedToken { organization: t.organization, hash }),
                Err(e) => {
                    tracing::error!(realm, token = %t.id, "skipping a stored token: {e}");
                    None
                }
            })
            .collect()
    }
}

impl Tenant {
    /// The token hashes that open a scope: the realm's tokens everywhere, an
    /// organization's tokens only in that organization.
    pub fn token_hashes(&self, organization: Option<&str>) -> Vec<TokenHash> {
        let issued =
            self.issued.iter().filter(|t| t.organization.is_none() || t.organization.as_deref() == organization);
        self.tokens.iter().cloned().chain(issued.map(|t| t.hash.clone())).collect()
    }
}

/// Every realm the server knows.
#[derive(Default)]
pub struct Tenants {
    realms: RwLock<HashMap<String, Arc<Tenant>>>,
}

impl Tenants {
    /// Loads every realm of the configuration: creates it and its organizations in the
    /// store, and compiles its module (once per distinct module).
    pub fn load(
        config: &Config,
        store: &dyn Store,
        runtime: &Runtime,
        modules: &ModuleStore,
    ) -> anyhow::Result<Tenants> {
        let mut realms = HashMap::new();
        for (name, realm) in &config.realms {
            // A module installed through the admin API wins over the configuration's.
            let bytes = match (modules.current(name), &realm.module) {
                (Some(installed), _) => {
                    std::borrow::Cow::Owned(modules.bytes(&installed.digest).with_context(|| {
                        format!("realm \"{name}\": cannot read its installed module {}", installed.digest)
                    })?)
                }
                (None, ModuleSource::Bundled) => std::borrow::Cow::Borrowed(BUNDLED_GUEST),
                (None, ModuleSource::Path(path)) => std::borrow::Cow::Owned(
                    std::fs::read(path)
                        .with_context(|| format!("realm \"{name}\": cannot read its module {}", path.display()))?,
                ),
            };
            let module = runtime
                .load(&bytes)
                .map_err(|e| anyhow::anyhow!("realm \"{name}\": its module cannot be loaded: {e:?}"))?;
            store.ensure_realm(name).with_context(|| format!("realm \"{name}\": cannot create it in the store"))?;
            let mut organizations = HashMap::new();
            for org in &realm.organizations {
                let display = org.name.clone().unwrap_or_else(|| org.alias.clone());
                let stored = store
                    .ensure_organization(name, &org.alias, &display)
                    .with_context(|| format!("realm \"{name}\": cannot create organization \"{}\"", org.alias))?;
                organizations.insert(org.alias.clone(), types::OrganizationRef { id: stored.id, alias: stored.alias });
            }
            let tenant = Tenant {
                name: name.clone(),
                module,
                tokens: realm.tokens.clone(),
                issued: IssuedToken::load(store, name)?,
                organizations,
                limits: config.limits_of(realm),
                limiter: Arc::new(RealmLimiter::new(&config.limits_of(realm))),
                guest_config: types::Config {
                    realm: name.clone(),
                    settings: realm.settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                },
            };
            realms.insert(name.clone(), Arc::new(tenant));
        }
        Ok(Tenants { realms: RwLock::new(realms) })
    }

    /// The realm of this name.
    pub fn get(&self, realm: &str) -> Option<Arc<Tenant>> {
        self.realms.read().expect("tenant table").get(realm).cloned()
    }

    /// Makes a realm run another module, atomically: calls already running keep the
    /// tenant (and module) they started with; every later call gets the new one.
    /// Returns the tenant as it was, or `None` for an unknown realm.
    pub fn swap_module(&self, realm: &str, module: Arc<Module>) -> Option<Arc<Tenant>> {
        self.update(realm, |tenant| tenant.module = module)
    }

    /// Replaces a realm's tenant by a changed copy, atomically (as [`Tenants::swap_module`]).
    pub fn update(&self, realm: &str, change: impl FnOnce(&mut Tenant)) -> Option<Arc<Tenant>> {
        let mut realms = self.realms.write().expect("tenant table");
        let current = realms.get(realm)?.clone();
        let mut next = (*current).clone();
        change(&mut next);
        realms.insert(realm.to_string(), Arc::new(next));
        Some(current)
    }
}
