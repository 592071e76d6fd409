//! Changes made through other hosts: hosts that share a store serve the same realms, and
//! a realm, organization, token, limit, setting or module changed through one of them
//! reaches the others as soon as the store tells them (on PostgreSQL, at the change's
//! commit). Each host then reads the realm's tenant again from the store: what it serves
//! is what the store holds, whatever the order in which the news arrives.

use crate::app::App;
use crate::store::ChangeFollower;
use crate::store::Store as _;
use crate::tenants::{IssuedToken, Overrides, RealmSpec, Tenants, UnloadableModule};
use std::sync::{Arc, Weak};

/// Starts following the store's changes for `app`, until it stops.
pub fn follow(app: &Arc<App>) {
    let follower = Follower { app: Arc::downgrade(app), runtime: tokio::runtime::Handle::current() };
    app.store.follow_changes(Arc::new(follower));
}

#[derive(Clone)]
struct Follower {
    app: Weak<App>,
    runtime: tokio::runtime::Handle,
}

/// How long a host waits before it reads again a realm it could not read (the store busy
/// or away): it tries until it succeeds, so that no change, a revoked token least of all,
/// is left unheard.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

impl ChangeFollower for Follower {
    fn changed(&self, realm: Option<&str>) {
        let Some(app) = self.app.upgrade() else { return };
        let realm = realm.map(str::to_string);
        let follower = self.clone();
        self.runtime.spawn(async move {
            let failed = {
                // In turn with this host's own admin changes, which change the tenants too.
                let _changing = app.admin_changes.lock().await;
                let reading = app.clone();
                let read = tokio::task::spawn_blocking(move || match realm {
                    Some(realm) => reload(&reading, &realm).err().map(|e| (vec![realm], e)),
                    None => reload_all(&reading),
                });
                match read.await {
                    Ok(failed) => failed,
                    Err(e) => {
                        tracing::error!("following a change panicked: {e}");
                        None
                    }
                }
            };
            let Some((realms, e)) = failed else { return };
            tracing::warn!(?realms, "cannot read a change made through another host yet, trying again: {e:#}");
            drop(app);
            tokio::time::sleep(RETRY).await;
            for realm in realms {
                follower.changed(Some(&realm));
            }
        });
    }

    fn done(&self) -> bool {
        self.app.upgrade().is_none_or(|app| *app.closing.borrow())
    }
}

/// Every realm, read again: those of the store, and those this host serves. Returns the
/// realms it could not read, and the last reason.
fn reload_all(app: &App) -> Option<(Vec<String>, anyhow::Error)> {
    let mut names: Vec<String> = match app.store.realms() {
        Ok(realms) => realms.into_iter().map(|r| r.name).collect(),
        Err(e) => return Some((app.tenants.all().iter().map(|t| t.name.clone()).collect(), e.into())),
    };
    names.extend(app.tenants.all().iter().map(|t| t.name.clone()));
    names.sort();
    names.dedup();
    let (mut failed, mut last) = (Vec::new(), None);
    for name in names {
        if let Err(e) = reload(app, &name) {
            failed.push(name);
            last = Some(e);
        }
    }
    last.map(|e| (failed, e))
}

/// Reads a realm's tenant again from the store and serves it (calls already running keep
/// the tenant they began with). A realm the store no longer holds stops being served,
/// unless this host's configuration declares it; one two stores hold answers 503. The realm's rate limiter and write plans
/// carry over, unless its limits changed.
pub fn reload(app: &App, realm: &str) -> anyhow::Result<()> {
    let configured = app.config.realms.contains_key(realm);
    let Some(stored) = app.store.realm(realm)?.filter(|r| r.managed || configured) else {
        if !configured && app.tenants.remove(realm).is_some() {
            tracing::info!(realm, "realm deleted through another host");
        }
        // Two stores hold it: no host serves either copy (503 with why, as at start).
        if let Some(why) = app.store.ambiguous().remove(realm) {
            app.tenants.set_broken(realm, why);
        }
        return Ok(());
    };
    let spec = RealmSpec::of(&app.config, realm);
    let overrides = Overrides::of(&stored)?;
    let opened = Tenants::open(spec, overrides, app.store.as_ref(), &app.runtime, app.modules.as_ref(), &app.hosts);
    let mut fresh = match opened {
        Ok(tenant) => tenant,
        Err(e) if e.is::<UnloadableModule>() => {
            // The host that installed the module checked it: this one keeps serving the
            // last, with the realm's tokens as they are now.
            tracing::error!(realm, "the realm's module does not load here, it keeps its last: {e:#}");
            let issued = IssuedToken::load(app.store.as_ref(), realm)?;
            app.tenants.update(realm, |tenant| tenant.issued = issued);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if let Some(current) = app.tenants.get(realm) {
        if current.limits == fresh.limits {
            fresh.limiter = current.limiter.clone();
        }
        if current.module.digest != fresh.module.digest {
            tracing::info!(realm, from = %current.module.digest, to = %fresh.module.digest, "module swapped through another host");
        }
        fresh.write_plans = current.write_plans.clone();
    }
    app.tenants.put(fresh);
    Ok(())
}
