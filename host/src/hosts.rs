//! The hosts serving one store: each says every second that it is alive, and counts the
//! others that did within [`ALIVE`]; realms' request rates are shared among them (see
//! `limits::HostCount`). A host that stops says so; one that is killed ages out.

use crate::app::App;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How often a host says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a host counts as alive after it last said so.
pub const ALIVE: Duration = Duration::from_secs(3);

/// Keeps this host's heartbeat in every store and the count of hosts, until the server
/// stops. Each store beats apart: one slow to answer does not make this host miss its
/// beats in the others (and age out of their counts).
pub fn start(app: Arc<App>) {
    let id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
    let counts: Arc<[AtomicUsize]> = app.store.stores().iter().map(|_| AtomicUsize::new(0)).collect();
    for index in 0..counts.len() {
        let (app, id, counts) = (app.clone(), id.clone(), counts.clone());
        let mut closing = app.closing.subscribe();
        tokio::spawn(async move {
            let store = || app.store.stores()[index].store.clone();
            loop {
                let (beating, me) = (store(), id.clone());
                match tokio::task::spawn_blocking(move || beating.heartbeat(&me, ALIVE)).await {
                    Ok(Ok(hosts)) => {
                        counts[index].store(hosts, Ordering::Relaxed);
                        // The most hosts any store counts: hosts of one deployment share
                        // every store, so a realm's rate is divided by no fewer than serve it.
                        let hosts = counts.iter().map(|c| c.load(Ordering::Relaxed)).max().unwrap_or(1).max(1);
                        if hosts != app.hosts.get() {
                            tracing::info!(hosts, "hosts serving the store");
                        }
                        app.hosts.set(hosts);
                        app.metrics.hosts.set(hosts as i64);
                    }
                    Ok(Err(e)) => tracing::warn!(store = %app.store.stores()[index].name, "the heartbeat failed: {e}"),
                    Err(e) => tracing::warn!("the heartbeat panicked: {e}"),
                }
                if !crate::app::next_round(&mut closing, HEARTBEAT).await {
                    break;
                }
            }
            let stopping = store();
            let _ = tokio::task::spawn_blocking(move || stopping.heartbeat_stop(&id)).await;
        });
    }
}
