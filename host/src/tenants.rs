//! The tenant registry: each realm with its compiled module, token hashes, organizations,
//! limits and guest settings, resolved once from the configuration and the store (realms
//! created and changed through the admin API) so that a request finds everything it needs
//! with one map lookup.

use crate::auth::TokenHash;
use crate::bindings::types;
use crate::config::{Config, Limits, ModuleSource, OrganizationConfig, RealmConfig};
use crate::limits::{HostCount, RealmLimiter};
use crate::modules::Modules;
use crate::runtime::{Module, Runtime};
use crate::store::{Store, StoredRealm, StoredToken};
use crate::write_plan::WritePlans;
use anyhow::Context as _;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    /// The aliases of the organizations the configuration declares (the admin API cannot
    /// delete those: the next start would bring them back).
    pub configured_organizations: BTreeSet<String>,
    /// Created through the admin API (else declared by the configuration).
    pub managed: bool,
    pub limits: Limits,
    /// The realm's request rate and concurrency, shared across module swaps.
    pub limiter: Arc<RealmLimiter>,
    /// Whether its calls begin as writes, learned from the last ones.
    pub write_plans: Arc<WritePlans>,
    /// What the guest receives as its config.
    pub guest_config: types::Config,
    /// What the admin API changed over the configuration.
    pub overrides: Overrides,
}

/// Limits and settings set through the admin API, which win over the configuration's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub limits: Option<Limits>,
    pub settings: Option<BTreeMap<String, String>>,
}

impl Overrides {
    /// Reads the overrides a store keeps for a realm.
    pub fn of(stored: &StoredRealm) -> anyhow::Result<Overrides> {
        let name = &stored.name;
        let limits = stored
            .limits
            .as_deref()
            .map(|json| {
                let limits: Limits = serde_json::from_str(json)
                    .with_context(|| format!("realm \"{name}\": the limits kept in the store are damaged"))?;
                limits.check(&format!("realm \"{name}\" limits"))?;
                Ok::<_, anyhow::Error>(limits)
            })
            .transpose()?;
        let settings = stored
            .settings
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .with_context(|| format!("realm \"{name}\": the settings kept in the store are damaged"))?;
        Ok(Overrides { limits, settings })
    }

    /// The limits and settings a realm runs with: these overrides over the spec's.
    pub fn over(&self, spec: &RealmSpec) -> (Limits, BTreeMap<String, String>) {
        (self.limits.unwrap_or(spec.limits), self.settings.clone().unwrap_or_else(|| spec.settings.clone()))
    }

    /// The overrides as the store keeps them: (limits, settings) as JSON.
    pub fn to_stored(&self) -> (Option<String>, Option<String>) {
        let limits = self.limits.as_ref().map(|l| serde_json::to_string(l).expect("limits serialize"));
        let settings = self.settings.as_ref().map(|s| serde_json::to_string(s).expect("settings serialize"));
        (limits, settings)
    }
}

/// What a realm is made of before it is loaded: the configuration's entry, or the
/// defaults for a realm created through the admin API.
pub struct RealmSpec<'a> {
    pub name: &'a str,
    pub module: ModuleSource,
    pub tokens: Vec<TokenHash>,
    pub organizations: &'a [OrganizationConfig],
    pub limits: Limits,
    pub settings: BTreeMap<String, String>,
    pub managed: bool,
}

impl<'a> RealmSpec<'a> {
    /// A realm of the configuration.
    pub fn configured(config: &Config, name: &'a str, realm: &'a RealmConfig) -> RealmSpec<'a> {
        RealmSpec {
            name,
            module: realm.module.clone(),
            tokens: realm.tokens.clone(),
            organizations: &realm.organizations,
            limits: config.limits_of(realm),
            settings: realm.settings.clone(),
            managed: false,
        }
    }

    /// The realm of this name as the configuration declares it, else as the admin API
    /// creates it.
    pub fn of(config: &'a Config, name: &'a str) -> RealmSpec<'a> {
        match config.realms.get(name) {
            Some(realm) => Self::configured(config, name, realm),
            None => Self::managed(config, name),
        }
    }

    /// A realm created through the admin API: the bundled module and the server's limits.
    pub fn managed(config: &Config, name: &'a str) -> RealmSpec<'a> {
        RealmSpec {
            name,
            module: ModuleSource::Bundled,
            tokens: Vec::new(),
            organizations: &[],
            limits: config.limits,
            settings: BTreeMap::new(),
            managed: true,
        }
    }
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
    /// The realm's organizations in the order of their aliases.
    pub fn organizations_by_alias(&self) -> Vec<&types::OrganizationRef> {
        let mut organizations: Vec<_> = self.organizations.values().collect();
        organizations.sort_by(|a, b| a.alias.cmp(&b.alias));
        organizations
    }

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
    /// Realms whose module could not be loaded at start-up, and why: they answer 503
    /// while every other realm serves.
    broken: RwLock<BTreeMap<String, String>>,
}

/// A realm's module that cannot be read or compiled, or does not implement the world.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UnloadableModule(String);

impl Tenants {
    /// Loads every realm of the configuration and every realm created through the admin
    /// API: creates the configuration's realms and organizations in the store, and compiles
    /// each distinct module once.
    pub fn load(
        config: &Config,
        store: &dyn Store,
        runtime: &Runtime,
        modules: &dyn Modules,
        hosts: &Arc<HostCount>,
    ) -> anyhow::Result<Tenants> {
        let stored: HashMap<String, StoredRealm> = store
            .realms()
            .context("cannot read the realms of the store")?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        let (mut realms, mut broken) = (HashMap::new(), BTreeMap::new());
        // A realm whose module does not load is set aside; anything else stops the start.
        let mut place = |name: &str, opened: anyhow::Result<Tenant>| match opened {
            Ok(tenant) => {
                realms.insert(name.to_string(), Arc::new(tenant));
                Ok(())
            }
            Err(e) if e.is::<UnloadableModule>() => {
                tracing::error!(realm = name, "the realm will answer 503: {e:#}");
                broken.insert(name.to_string(), format!("{e:#}"));
                Ok(())
            }
            Err(e) => Err(e),
        };
        for (name, realm) in &config.realms {
            store.ensure_realm(name).with_context(|| format!("realm \"{name}\": cannot create it in the store"))?;
            for org in &realm.organizations {
                let display = org.name.clone().unwrap_or_else(|| org.alias.clone());
                store
                    .ensure_organization(name, &org.alias, &display)
                    .with_context(|| format!("realm \"{name}\": cannot create organization \"{}\"", org.alias))?;
            }
            let overrides = stored.get(name).map(Overrides::of).transpose()?.unwrap_or_default();
            place(
                name,
                Self::open(RealmSpec::configured(config, name, realm), overrides, store, runtime, modules, hosts),
            )?;
        }
        for realm in stored.values().filter(|r| r.managed && !config.realms.contains_key(&r.name)) {
            let spec = RealmSpec::managed(config, &realm.name);
            place(&realm.name, Self::open(spec, Overrides::of(realm)?, store, runtime, modules, hosts))?;
        }
        Ok(Tenants { realms: RwLock::new(realms), broken: RwLock::new(broken) })
    }

    /// Why a realm could not start, if it could not.
    pub fn broken(&self, realm: &str) -> Option<String> {
        self.broken.read().expect("broken realms").get(realm).cloned()
    }

    /// Marks a realm as one that cannot start, and why: it answers 503.
    pub fn set_broken(&self, realm: &str, why: String) {
        self.broken.write().expect("broken realms").insert(realm.to_string(), why);
    }

    /// Every realm that could not start, and why.
    pub fn all_broken(&self) -> BTreeMap<String, String> {
        self.broken.read().expect("broken realms").clone()
    }

    /// Makes a realm ready to serve, as the store holds it: its module (an installed one
    /// wins over the spec's), its organizations, its tokens and limits. It writes nothing
    /// (the configuration's organizations are created once, by [`Tenants::load`]).
    pub fn open(
        spec: RealmSpec,
        overrides: Overrides,
        store: &dyn Store,
        runtime: &Runtime,
        modules: &dyn Modules,
        hosts: &Arc<HostCount>,
    ) -> anyhow::Result<Tenant> {
        let name = spec.name;
        let unloadable = |why: String| anyhow::Error::new(UnloadableModule(format!("realm \"{name}\": {why}")));
        // A store that cannot be read is not a broken module: the caller may try again.
        let installed =
            modules.current(name).with_context(|| format!("realm \"{name}\": cannot read its installed module"))?;
        let bytes = match (installed, &spec.module) {
            (Some(installed), _) => Cow::Owned(
                modules
                    .bytes(name, &installed.digest)
                    .map_err(|e| unloadable(format!("cannot read its installed module {}: {e}", installed.digest)))?,
            ),
            (None, ModuleSource::Bundled) => Cow::Borrowed(BUNDLED_GUEST),
            (None, ModuleSource::Path(path)) => Cow::Owned(
                std::fs::read(path)
                    .map_err(|e| unloadable(format!("cannot read its module {}: {e}", path.display())))?,
            ),
        };
        let module = runtime.load(&bytes).map_err(|e| unloadable(format!("its module cannot be loaded: {e:?}")))?;
        let organizations = store
            .organizations(name)
            .with_context(|| format!("realm \"{name}\": cannot read its organizations"))?
            .into_iter()
            .map(|o| (o.alias.clone(), types::OrganizationRef { id: o.id, alias: o.alias }))
            .collect();
        let (limits, settings) = overrides.over(&spec);
        Ok(Tenant {
            name: name.to_string(),
            module,
            tokens: spec.tokens,
            issued: IssuedToken::load(store, name)?,
            organizations,
            configured_organizations: spec.organizations.iter().map(|o| o.alias.clone()).collect(),
            managed: spec.managed,
            limits,
            limiter: Arc::new(RealmLimiter::shared(&limits, hosts.clone())),
            write_plans: Arc::default(),
            guest_config: types::Config { realm: name.to_string(), settings: settings.into_iter().collect() },
            overrides,
        })
    }

    /// The realm of this name.
    pub fn get(&self, realm: &str) -> Option<Arc<Tenant>> {
        self.realms.read().expect("tenant table").get(realm).cloned()
    }

    /// Every realm, by name.
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        let mut all: Vec<_> = self.realms.read().expect("tenant table").values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Starts serving a realm; false (and nothing changes) when one of that name exists.
    pub fn insert(&self, tenant: Tenant) -> bool {
        let mut realms = self.realms.write().expect("tenant table");
        if realms.contains_key(&tenant.name) {
            return false;
        }
        realms.insert(tenant.name.clone(), Arc::new(tenant));
        true
    }

    /// Serves a realm's tenant, in place of the one of that name if there is one.
    pub fn put(&self, tenant: Tenant) {
        self.broken.write().expect("broken realms").remove(&tenant.name);
        self.realms.write().expect("tenant table").insert(tenant.name.clone(), Arc::new(tenant));
    }

    /// Stops serving a realm (calls already running finish); returns it.
    pub fn remove(&self, realm: &str) -> Option<Arc<Tenant>> {
        self.realms.write().expect("tenant table").remove(realm)
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
