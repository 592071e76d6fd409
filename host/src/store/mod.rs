//! The identity store: realms, users, groups, memberships, organizations, attributes and
//! admin events, shaped like Keycloak's. A [`Store`] hands out one [`Transaction`] per guest
//! call; everything the guest reads or writes goes through it, and it either commits whole
//! or rolls back whole. No WIT type enters here: the bindings convert at the boundary, so a
//! second backend (PostgreSQL) implements these traits and nothing else.

mod list_cursors;
mod organization_scope;
mod placement;
mod pool;
mod postgres;
mod sql_filter;
mod sqlite;

pub use organization_scope::OrganizationScoped;
pub mod dump;
mod webhooks;
pub use scim_directory::*;
pub use webhooks::*;

pub use placement::{NamedStore, PlacedStore};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// An admin event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Increases with every event of the store.
    pub seq: i64,
    /// Milliseconds since the epoch.
    pub time: i64,
    /// The [`EventKind::name`].
    pub kind: String,
    pub resource_id: String,
    pub related_id: Option<String>,
    pub details: String,
    /// The request that caused it.
    pub request_id: String,
    /// The organization (its id) whose scope the request was made in, if it was.
    pub organization: Option<String>,
}

/// Milliseconds since the Unix epoch: the store's clock.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// When a call's store work must stop.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    /// The call's deadline.
    pub at: std::time::Instant,
    /// How long the call may hold the store's writer, from when it took it.
    pub write_hold: std::time::Duration,
}

impl Deadline {
    /// When the call must stop, given when it took the writer (if it did).
    pub fn cutoff(&self, writer_since: Option<std::time::Instant>) -> std::time::Instant {
        writer_since.map_or(self.at, |since| self.at.min(since + self.write_hold))
    }
}

/// When an answered write survives power loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Synced to disk before the write is answered (PostgreSQL's default).
    #[default]
    Full,
    /// Synced at the next checkpoint: a power loss may lose the last answered writes.
    Normal,
}

/// Whether a transaction may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// GET, list and `.search`: never blocks writers, never writes.
    Read,
    /// Everything else: takes the write lock up front, so writers queue instead of failing.
    Write,
}

/// A storage backend shared by every realm.
pub trait Store: Send + Sync + 'static {
    /// Creates a realm of the configuration if it does not exist (and takes it over from
    /// the admin API if it was created there).
    fn ensure_realm(&self, realm: &str) -> DirResult<()>;
    /// Every realm the store holds, by name.
    fn realms(&self) -> DirResult<Vec<StoredRealm>>;
    /// Creates a realm through the admin API; a realm whose data the store still holds (a
    /// realm dropped from the configuration) is taken over with its data.
    fn create_realm(&self, realm: &StoredRealm, event: &OperatorEvent) -> DirResult<()>;
    /// Replaces the limits and settings the admin API set for a realm; false when unknown.
    fn update_realm(
        &self,
        realm: &str,
        limits: Option<&str>,
        settings: Option<&str>,
        event: &OperatorEvent,
    ) -> DirResult<bool>;
    /// Deletes a realm and everything in it (users, groups, organizations, tokens, events);
    /// false when unknown.
    fn delete_realm(&self, realm: &str) -> DirResult<bool>;
    /// Creates the organization (by alias) in the realm if it does not exist; returns it.
    fn ensure_organization(&self, realm: &str, alias: &str, name: &str) -> DirResult<Organization>;
    /// The organizations of a realm, by alias.
    fn organizations(&self, realm: &str) -> DirResult<Vec<Organization>>;
    /// Creates an organization; a conflict on `alias` when the realm has one of that alias.
    fn create_organization(
        &self,
        realm: &str,
        alias: &str,
        name: &str,
        event: &OperatorEvent,
    ) -> DirResult<Organization>;
    /// Deletes an organization with its groups, its memberships and the tokens limited to
    /// it (its users stay in the realm); false when unknown.
    fn delete_organization(&self, realm: &str, alias: &str, event: &OperatorEvent) -> DirResult<bool>;
    /// Records a change made outside the store (a module swap) among the realm's events.
    fn record(&self, realm: &str, event: &OperatorEvent) -> DirResult<()>;
    /// Begins the transaction of one guest call in one realm; the admin events it records
    /// carry `request_id`.
    fn begin(&self, realm: &str, access: Access, request_id: &str) -> DirResult<Box<dyn Transaction>>;
    /// Admin events of a realm that the query selects, oldest first.
    fn events(&self, realm: &str, query: &EventQuery) -> DirResult<Vec<StoredEvent>>;
    /// Deletes at most `batch` of the oldest events of every realm recorded before `before`
    /// (milliseconds since the epoch); returns how many it deleted.
    fn prune_events(&self, before: i64, batch: u32) -> DirResult<u64>;
    /// Keeps a bearer token's hash (issued through the admin API).
    fn insert_token(&self, token: &StoredToken, event: &OperatorEvent) -> DirResult<()>;
    /// The tokens issued for a realm and not revoked.
    fn tokens(&self, realm: &str) -> DirResult<Vec<StoredToken>>;
    /// Revokes a token; false when the realm has no such token.
    fn revoke_token(&self, realm: &str, id: &str, event: &OperatorEvent) -> DirResult<bool>;
    /// Adds the store's own metrics to the server's (a store may have none).
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
    /// Whether a realm's calls write in parallel (PostgreSQL), rather than through one writer
    /// (SQLite) that write turns keep from being crowded.
    fn writes_in_parallel(&self, _realm: &str) -> bool {
        false
    }
    /// Where the store keeps installed modules, if it keeps them (else the data directory does).
    fn modules(&self) -> Option<std::sync::Arc<dyn crate::modules::Modules>> {
        None
    }
    /// Tells `follower` of every change to a realm's tenant (the realm, its organizations,
    /// tokens, limits, settings or module) committed by any host, from now on. A store
    /// only one host opens has no other host's changes to follow.
    fn follow_changes(&self, _follower: std::sync::Arc<dyn ChangeFollower>) {}
    /// Writes every row of a realm from one snapshot, table by table (see [`dump`]).
    fn export_realm(&self, realm: &str, out: &mut dump::Out) -> DirResult<()> {
        let _ = (realm, out);
        Err(DirectoryError::Unavailable("this store cannot export a realm".into()))
    }
    /// Loads a realm's rows, its `realms` row first, in one transaction: whole, or not at
    /// all. A realm of that name must not exist in the store.
    fn import_realm(&self, realm: &str, rows: &mut dump::Rows) -> DirResult<()> {
        let _ = (realm, rows);
        Err(DirectoryError::Unavailable("this store cannot import a realm".into()))
    }
    /// Says host `host` is alive; returns how many hosts said so within `alive`, itself
    /// included. A store only one host opens has one.
    fn heartbeat(&self, _host: &str, _alive: std::time::Duration) -> DirResult<usize> {
        Ok(1)
    }
    /// Says host `host` stopped.
    fn heartbeat_stop(&self, _host: &str) -> DirResult<()> {
        Ok(())
    }
    /// One realm's record.
    fn realm(&self, name: &str) -> DirResult<Option<StoredRealm>> {
        Ok(self.realms()?.into_iter().find(|r| r.name == name))
    }

    /// Keeps a new webhook subscription, its cursor at the realm's last event: it delivers
    /// what happens from now on.
    fn create_webhook(&self, webhook: &StoredWebhook, event: &OperatorEvent) -> DirResult<()> {
        let _ = (webhook, event);
        Err(DirectoryError::Unavailable("this store keeps no webhooks".into()))
    }
    /// A realm's webhook subscriptions, oldest first.
    fn webhooks(&self, realm: &str) -> DirResult<Vec<StoredWebhook>> {
        let _ = realm;
        Ok(Vec::new())
    }
    /// Changes a subscription's `url`, `types`, `organization` and `enabled` (enabling it
    /// again forgets its failures); false when the realm has no such subscription.
    fn update_webhook(&self, webhook: &StoredWebhook, event: &OperatorEvent) -> DirResult<bool> {
        let _ = (webhook, event);
        Err(DirectoryError::Unavailable("this store keeps no webhooks".into()))
    }
    /// Deletes a subscription and its delivery log; false when the realm has no such one.
    fn delete_webhook(&self, realm: &str, id: &str, event: &OperatorEvent) -> DirResult<bool> {
        let _ = (realm, id, event);
        Err(DirectoryError::Unavailable("this store keeps no webhooks".into()))
    }
    /// The enabled subscriptions of any realm with events to deliver whose next attempt is
    /// due at `now`, at most `limit`, each leased for `lease` under the name `holder` (unique
    /// to the caller's round): nothing else delivers it meanwhile.
    fn due_webhooks(
        &self,
        now: i64,
        holder: &str,
        lease: std::time::Duration,
        limit: u32,
    ) -> DirResult<Vec<StoredWebhook>> {
        let _ = (now, holder, lease, limit);
        Ok(Vec::new())
    }
    /// Saves what a round of delivery came to and gives its lease back, if the round still
    /// holds it (false, and nothing saved, when its lease ran out or an operator changed or
    /// deleted the subscription meanwhile: its events are then delivered again).
    fn webhook_progress(&self, progress: &WebhookProgress) -> DirResult<bool> {
        let _ = progress;
        Err(DirectoryError::Unavailable("this store keeps no webhooks".into()))
    }
    /// The newest attempts of a subscription's delivery log, newest first.
    fn webhook_attempts(&self, realm: &str, id: &str, limit: u32) -> DirResult<Vec<WebhookAttempt>> {
        let _ = (realm, id, limit);
        Ok(Vec::new())
    }
}

/// A new resource id.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Adds one value to attributes read in (name, position) order: to the last attribute
/// when it has this name, else as a new attribute.
fn push_value(attributes: &mut Vec<Attribute>, name: String, value: String) {
    match attributes.last_mut() {
        Some(last) if last.name == name => last.values.push(value),
        _ => attributes.push(Attribute { name, values: vec![value] }),
    }
}

/// The lower-case copy a store keeps of a value, for comparisons without regard to case.
fn lower(value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| v.to_lowercase())
}

/// The longest userName, e-mail address, given or family name, group displayName and
/// attribute name a store keeps, in bytes: they are indexed whole, and an entry of
/// PostgreSQL's B-tree holds at most 2,704 bytes. Both stores refuse longer ones alike.
pub const MAX_INDEXED_BYTES: usize = 2048;

/// Refuses a user the stores could not keep alike: an indexed field too long (see
/// [`MAX_INDEXED_BYTES`]), or text with a NUL character (PostgreSQL keeps none).
pub fn check_user(draft: &UserDraft) -> DirResult<()> {
    let fields = [
        ("userName", Some(draft.username.as_str())),
        ("the e-mail address", draft.email.as_deref()),
        ("the given name", draft.first_name.as_deref()),
        ("the family name", draft.last_name.as_deref()),
    ];
    check_fields(&fields, &draft.attributes)
}

/// Refuses a group the stores could not keep alike (see [`check_user`]).
pub fn check_group(draft: &GroupDraft) -> DirResult<()> {
    check_fields(&[("displayName", Some(draft.name.as_str()))], &draft.attributes)
}

fn check_fields(fields: &[(&str, Option<&str>)], attributes: &[Attribute]) -> DirResult<()> {
    let too_long = |what: &str| DirectoryError::Invalid(format!("{what} is longer than {MAX_INDEXED_BYTES} bytes"));
    let nul = |what: &str| DirectoryError::Invalid(format!("{what} holds a NUL character"));
    for (what, value) in fields {
        match value {
            Some(v) if v.len() > MAX_INDEXED_BYTES => return Err(too_long(what)),
            Some(v) if v.contains('\0') => return Err(nul(what)),
            _ => {}
        }
    }
    for attribute in attributes {
        if attribute.name.len() > MAX_INDEXED_BYTES {
            return Err(too_long("an attribute name"));
        }
        if attribute.name.contains('\0') || attribute.values.iter().any(|v| v.contains('\0')) {
            return Err(nul(&format!("attribute \"{}\"", attribute.name)));
        }
    }
    Ok(())
}

/// What hears of the tenant changes a store follows.
pub trait ChangeFollower: Send + Sync {
    /// A realm changed; `None` when changes may have been missed (a lost connection): every
    /// realm is then read again.
    fn changed(&self, realm: Option<&str>);
    /// Whether to stop following (the server stopped).
    fn done(&self) -> bool;
}

/// How a user belongs to an organization (Keycloak's membership types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipType {
    /// Created through the organization: its life is the organization's to end.
    Managed,
    /// A realm user added to the organization otherwise.
    Unmanaged,
}

/// What [`Transaction::offboard_organization_member`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offboarding {
    /// The user was no member of the organization; nothing changed.
    NotMember,
    /// The user left the organization and its groups, and stays in the realm.
    Left,
    /// The user, a managed member of no other organization, was deleted.
    Deleted,
}

/// A realm as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRealm {
    pub name: String,
    /// Created through the admin API (else by the configuration).
    pub managed: bool,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Limits set through the admin API, as JSON; they win over the configuration's.
    pub limits: Option<String>,
    /// Guest settings set through the admin API, as a JSON object; they win over the
    /// configuration's.
    pub settings: Option<String>,
}

/// A change made through the admin API, recorded among the realm's admin events in the
/// same transaction as the change.
#[derive(Clone, Debug)]
pub struct OperatorEvent {
    /// `ORGANIZATION_CREATED`, `TOKEN_ISSUED`, `MODULE_INSTALLED`…
    pub kind: &'static str,
    pub resource_id: String,
    /// A JSON object.
    pub details: String,
    pub request_id: String,
}

/// Which admin events to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only events with a sequence number above this.
    pub after: i64,
    /// Only events of these kinds ([`EventKind::name`]); any kind when empty.
    pub kinds: Vec<String>,
    /// Only events at or after this time (milliseconds since the epoch).
    pub since: Option<i64>,
    /// Only events before this time.
    pub until: Option<i64>,
    /// The most events returned.
    pub limit: u32,
    /// The newest `limit` events, newest first (a console's view of what just happened),
    /// rather than the oldest after `after`.
    pub newest_first: bool,
}

/// A bearer token issued through the admin API. Only its hash is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredToken {
    pub id: String,
    pub realm: String,
    /// The organization alias the token is limited to; the whole realm when `None`.
    pub organization: Option<String>,
    /// `sha256:<hex>`.
    pub hash: String,
    /// What the operator called it.
    pub label: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// One guest call's view of one realm: the [`Directory`] contract, in one transaction
/// that [`Transaction::commit`] makes durable and a drop without it rolls back, with what
/// the host adds around a guest (a deadline, organization binding, offboarding).
pub trait Transaction: Directory + Send {
    /// Bounds the transaction's work by the call's deadline: an operation still running at
    /// the cut-off is interrupted ([`DirectoryError::PastDeadline`]). Unbounded until set.
    fn set_deadline(&mut self, _deadline: Deadline) {}
    /// Makes lookups (`get_user_by_username`, `get_users_by_email`, `get_*_by_attribute`)
    /// match only the organization's members and groups in the store itself, so that a
    /// row cap counts only those. [`OrganizationScoped`] calls it and still filters.
    /// Required: a backend that ignored it would count the realm's matches against the
    /// cap, which an organization could then probe.
    fn bind_lookups_to_organization(&mut self, organization_id: &str);
    /// Since when the transaction holds the store's one writer, if it does.
    fn writer_since(&self) -> Option<std::time::Instant> {
        None
    }

    /// Whether each user is a member of the organization, in the order of `user_ids`.
    fn organization_members_among(&mut self, organization_id: &str, user_ids: &[String]) -> DirResult<Vec<bool>> {
        user_ids.iter().map(|id| self.is_organization_member(organization_id, id)).collect()
    }
    /// Whether each group is owned by the organization, in the order of `group_ids`.
    fn organization_groups_among(&mut self, organization_id: &str, group_ids: &[String]) -> DirResult<Vec<bool>> {
        group_ids
            .iter()
            .map(|id| Ok(self.get_group(id)?.is_some_and(|g| g.organization.as_deref() == Some(organization_id))))
            .collect()
    }
    /// Makes the user a member of the organization of this type; false (and no change of
    /// its type) when it already was one. The contract's `add_organization_member` is
    /// this with [`MembershipType::Unmanaged`].
    fn join_organization(
        &mut self,
        organization_id: &str,
        user_id: &str,
        membership: MembershipType,
    ) -> DirResult<bool>;
    /// Ends a membership Keycloak's way: a managed member that belongs to no other
    /// organization is deleted; any other member only leaves the organization and its groups.
    fn offboard_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<Offboarding>;

    /// Makes every change of the call durable.
    fn commit(self: Box<Self>) -> DirResult<()>;
}
