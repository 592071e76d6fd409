//! The hosts serving one store: each says every second that it is alive, and counts the
//! others that did within [`ALIVE`]; realms' request rates are shared among them (see
//! `limits::HostCount`). A host that stops says so; one that is killed ages out.

use crate::app::App;
use crate::store::Store as _;
use std::sync::Arc;
use std::time::Duration;

/// How often a host says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a host counts as alive after it last said so.
pub const ALIVE: Duration = Duration::from_secs(3);

/// Keeps this host's heartbeat and the count of hosts, until the server stops.
pub fn start(app: Arc<App>) {
    let id = uuid::Uuid::new_v4().to_string();
    let mut closing = app.closing.subscribe();
    tokio::spawn(async move {
        loop {
            let (store, me) = (app.store.clone(), id.clone());
            match tokio::task::spawn_blocking(move || store.heartbeat(&me, ALIVE)).await {
                Ok(Ok(hosts)) => {
                    if hosts != app.hosts.get() {
                        tracing::info!(hosts, "hosts serving the store");
                    }
                    app.hosts.set(hosts);
                    app.metrics.hosts.set(hosts as i64);
                }
                Ok(Err(e)) => tracing::warn!("the heartbeat failed: {e}"),
                Err(e) => tracing::warn!("the heartbeat panicked: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(HEARTBEAT) => {}
                () = async { drop(closing.wait_for(|closing| *closing).await) } => break,
            }
        }
        let store = app.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.heartbeat_stop(&id)).await;
    });
}
