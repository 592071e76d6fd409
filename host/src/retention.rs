//! The admin event log's retention: events older than `event_retention_days` are deleted
//! in the background, a batch per short write transaction, so that the log (and the disk
//! under it) stops growing with the age of the server and no write waits long behind it.

use crate::app::App;
use crate::store::Store as _;
use std::sync::Arc;
use std::time::Duration;

/// How often the log is pruned.
const EVERY: Duration = Duration::from_secs(3600);
/// Events deleted per write transaction.
const BATCH: u32 = 10_000;

/// Prunes once now and then every [`EVERY`], until the server stops.
pub fn start(app: Arc<App>) {
    let mut closing = app.closing.subscribe();
    tokio::spawn(async move {
        loop {
            match prune(&app).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "pruned admin events past their retention"),
                Err(e) => tracing::warn!("pruning admin events failed: {e}"),
            }
            if !crate::app::next_round(&mut closing, EVERY).await {
                return;
            }
        }
    });
}

/// Deletes every event older than the retention, a batch at a time; returns how many.
pub async fn prune(app: &Arc<App>) -> Result<u64, String> {
    let retention = Duration::from_secs(u64::from(app.config.event_retention_days) * 86_400);
    let before = crate::store::now_millis() - retention.as_millis() as i64;
    let mut pruned = 0;
    loop {
        let store = app.store.clone();
        let deleted = tokio::task::spawn_blocking(move || store.prune_events(before, BATCH))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        pruned += deleted;
        if deleted < u64::from(BATCH) {
            return Ok(pruned);
        }
    }
}
