//! Tenant changes across hosts: a change to a realm's tenant (its record, organizations,
//! tokens, module) notifies the `scim_host_changes` channel in its transaction, which
//! PostgreSQL delivers to every listening host once, and only if, it commits, in commit
//! order. Each host listens on a session of its own; when that session is lost, changes
//! may have been missed, so the host reads every realm again once it listens anew.

use super::*;
use pg::fallible_iterator::FallibleIterator;
use std::sync::Arc;

/// Tells every host, at the commit, that `realm` changed.
pub(super) fn notify(c: &mut Connection, realm: &str) -> DirResult<()> {
    c.execute("SELECT pg_notify('scim_host_changes', $1::TEXT)", &[&realm]).map(drop)
}

/// How long the listener waits for a notification before it checks whether to stop.
const LISTEN_TICK: Duration = Duration::from_secs(1);

impl PostgresStore {
    /// Listens for changes on a thread of its own until the follower is done.
    pub(super) fn follow(&self, follower: Arc<dyn ChangeFollower>) {
        let store = self.clone();
        let started =
            std::thread::Builder::new().name("scim-host-changes".into()).spawn(move || store.listen(follower.as_ref()));
        if let Err(e) = started {
            tracing::error!("cannot start following changes of other hosts: {e}");
        }
    }

    fn listen(&self, follower: &dyn ChangeFollower) {
        while !follower.done() {
            let mut client = match self.client().and_then(|mut c| {
                c.batch_execute("LISTEN scim_host_changes")
                    .map(|()| c)
                    .map_err(|e| DirectoryError::Unavailable(e.to_string()))
            }) {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!("cannot listen for other hosts' changes, trying again: {e}");
                    std::thread::sleep(LISTEN_TICK);
                    continue;
                }
            };
            // Whatever changed while nobody listened.
            follower.changed(None);
            'session: while !follower.done() {
                let mut notifications = client.notifications();
                let mut heard = notifications.timeout_iter(LISTEN_TICK);
                loop {
                    match heard.next() {
                        Ok(Some(n)) => follower.changed(Some(n.payload())),
                        // A tick without news.
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!("lost the session that listens for other hosts' changes: {e}");
                            break 'session;
                        }
                    }
                }
                drop(heard);
                drop(notifications);
                if client.is_closed() {
                    break;
                }
            }
        }
    }
}
