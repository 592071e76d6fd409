//! The operator's configuration, read from TOML: where to listen, where data lives, the
//! admin tokens, and each realm with its module, tokens, organizations, limits and guest
//! settings. Tokens are only ever stored as hashes (`sha256:<hex>`).
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "data"
//! store = "postgres://scim@db.internal/scim"   # absent: SQLite under data_dir
//! stores = { pg-eu = "postgres://scim@db-eu.internal/scim" }   # more stores, by name
//! admin_tokens = ["sha256:…"]
//! max_module_bytes = 67108864   # the largest component the admin API accepts
//!
//! [realms.demo]
//! module = "bundled"            # or a path to a component
//! store = "pg-eu"               # absent: the `default` store (`store` above)
//! tokens = ["sha256:…"]
//! organizations = [{ alias = "acme", name = "Acme Inc." }]
//! limits = { memory_mib = 64, deadline_ms = 5000, max_body_bytes = 1048576 }
//! settings = { any = "string the guest receives" }
//! ```

use crate::auth::TokenHash;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the database and compiled modules live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The public base URL clients reach the server at (for `meta.location` and
    /// `Location`); when absent, `http://` and the address the server listens on.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Take the base URL from each request's `Host` header instead (behind a proxy that
    /// sets it): a client's header then names the server in the answers it gets.
    #[serde(default)]
    pub trust_host_header: bool,
    /// When a write is durable: `full` (the default) when it is answered, through power
    /// loss; `normal` after the next checkpoint of the write-ahead log (a power loss may
    /// lose the last answered writes, never corrupt the database).
    #[serde(default)]
    pub durability: crate::store::Durability,
    /// The store every realm lives in: a `postgres://user:password@host/database` URL
    /// (several hosts may share it), or, when absent, the embedded SQLite file
    /// `scim-host.db` under `data_dir`.
    #[serde(default)]
    pub store: Option<String>,
    /// More stores realms may be placed in, by name: `postgres://` URLs. `store` above is
    /// the one named `default`. Each realm lives in one store, whole.
    #[serde(default)]
    pub stores: BTreeMap<String, String>,
    /// Hashes of the tokens that may call `/admin`.
    #[serde(default)]
    pub admin_tokens: Vec<TokenHash>,
    /// Limits of realms that set none of their own.
    #[serde(default)]
    pub limits: Limits,
    /// Guest calls that may run at once across all realms.
    #[serde(default = "default_concurrent_calls")]
    pub concurrent_calls: u32,
    /// The largest component the admin API accepts for a realm, in bytes.
    #[serde(default = "default_max_module_bytes")]
    pub max_module_bytes: usize,
    /// How long a client may take to send a request's headers, in milliseconds.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body, in milliseconds.
    #[serde(default = "default_body_read_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// Admin events older than this many days are deleted, in the background.
    #[serde(default = "default_event_retention_days")]
    pub event_retention_days: u32,
    /// How webhooks are delivered.
    #[serde(default)]
    pub webhooks: WebhookSettings,
    /// The tenants, by realm name.
    #[serde(default)]
    pub realms: BTreeMap<String, RealmConfig>,
}

/// How webhooks are delivered (`[webhooks]`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// How long one attempt may take, in milliseconds (connecting, sending, the answer).
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
    /// The wait after the first failed attempt at an event, in milliseconds; it doubles
    /// with each failure (with jitter) up to `max_backoff_ms`.
    #[serde(default = "default_webhook_first_backoff_ms")]
    pub first_backoff_ms: u64,
    #[serde(default = "default_webhook_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// An endpoint that has failed for this long, in seconds, is disabled (until an
    /// operator enables it again).
    #[serde(default = "default_webhook_disable_after_s")]
    pub disable_after_s: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            timeout_ms: default_webhook_timeout_ms(),
            first_backoff_ms: default_webhook_first_backoff_ms(),
            max_backoff_ms: default_webhook_max_backoff_ms(),
            disable_after_s: default_webhook_disable_after_s(),
        }
    }
}

fn default_webhook_timeout_ms() -> u64 {
    10_000
}
fn default_webhook_first_backoff_ms() -> u64 {
    1_000
}
fn default_webhook_max_backoff_ms() -> u64 {
    3_600_000
}
// Three days: a receiver down over a long weekend gets its deliveries when it is back.
fn default_webhook_disable_after_s() -> u64 {
    3 * 24 * 3600
}

/// One realm (tenant).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmConfig {
    /// `bundled` (the stock guest) or a path to a component file.
    #[serde(default)]
    pub module: ModuleSource,
    /// The store the realm lives in, by name (see [`Config::stores`]); `default` when absent.
    #[serde(default)]
    pub store: Option<String>,
    /// Hashes of the bearer tokens that may call this realm's SCIM endpoints.
    #[serde(default)]
    pub tokens: Vec<TokenHash>,
    /// The realm's organizations.
    #[serde(default)]
    pub organizations: Vec<OrganizationConfig>,
    /// Overrides of the server's limits.
    #[serde(default)]
    pub limits: Option<Limits>,
    /// Settings handed to the guest on every call.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// An organization of a realm.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationConfig {
    /// The name in URLs: `/realms/{realm}/scim/v2/organizations/{alias}`.
    pub alias: String,
    /// The display name; the alias when absent.
    #[serde(default)]
    pub name: Option<String>,
}

/// Where a realm's module comes from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ModuleSource {
    /// The stock guest built into the binary.
    #[default]
    Bundled,
    /// A component file.
    Path(PathBuf),
}

impl<'de> Deserialize<'de> for ModuleSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(if text == "bundled" { ModuleSource::Bundled } else { ModuleSource::Path(text.into()) })
    }
}

/// Resource limits of a realm's calls.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Guest linear memory, in MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u32,
    /// Wall-clock time of one guest call, in milliseconds.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// The largest request body accepted, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long one call may hold the store's writer, in milliseconds, from its first
    /// write on (its deadline still applies): every realm's writes wait while one holds it.
    #[serde(default = "default_write_hold_ms")]
    pub write_hold_ms: u64,
    /// Guest calls of the realm that may run at once (beyond: 503 with Retry-After). Each
    /// holds one store connection, so this also bounds the realm's share of them.
    #[serde(default = "default_realm_concurrent_calls")]
    pub concurrent_calls: Option<u32>,
    /// Sustained requests per second (beyond: 429 with Retry-After).
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: Option<f64>,
    /// Requests allowed in a burst above the sustained rate; the rate, rounded up, when absent.
    #[serde(default = "default_burst")]
    pub burst: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            concurrent_calls: default_realm_concurrent_calls(),
            requests_per_second: default_requests_per_second(),
            burst: default_burst(),
            memory_mib: default_memory_mib(),
            deadline_ms: default_deadline_ms(),
            max_body_bytes: default_max_body_bytes(),
            write_hold_ms: default_write_hold_ms(),
        }
    }
}

impl Limits {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// The write hold as a duration.
    pub fn write_hold(&self) -> Duration {
        Duration::from_millis(self.write_hold_ms)
    }
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:8080".parse().expect("a valid address")
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_concurrent_calls() -> u32 {
    64
}
fn default_max_module_bytes() -> usize {
    64 << 20
}
fn default_memory_mib() -> u32 {
    64
}
// Every realm has a fair share unless the operator raises it: a quarter of the server's
// default 64 concurrent calls (and of its 32 read connections, half), and a rate no
// identity provider's sync reaches.

fn default_realm_concurrent_calls() -> Option<u32> {
    Some(16)
}

fn default_requests_per_second() -> Option<f64> {
    Some(1_000.0)
}

fn default_burst() -> Option<u32> {
    Some(2_000)
}

fn default_header_read_timeout_ms() -> u64 {
    10_000
}

fn default_body_read_timeout_ms() -> u64 {
    30_000
}

fn default_event_retention_days() -> u32 {
    90
}

fn default_write_hold_ms() -> u64 {
    1_000
}

fn default_deadline_ms() -> u64 {
    5_000
}
fn default_max_body_bytes() -> usize {
    1 << 20
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the configuration {}: {e}", path.display()))?;
        let mut config: Config = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("the configuration {} is not valid: {e}", path.display()))?;
        // Relative paths are relative to the configuration file.
        let base = path.parent().unwrap_or(Path::new("."));
        if config.data_dir.is_relative() {
            config.data_dir = base.join(&config.data_dir);
        }
        for realm in config.realms.values_mut() {
            if let ModuleSource::Path(p) = &mut realm.module
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        }
        config.check()?;
        Ok(config)
    }

    /// How long a client may take to send a request's headers.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// How long a client may take to send a request's body.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    /// A configuration with no realms.
    pub fn empty(data_dir: PathBuf) -> Config {
        Config {
            listen: default_listen(),
            data_dir,
            public_url: None,
            trust_host_header: false,
            durability: Default::default(),
            store: None,
            stores: BTreeMap::new(),
            webhooks: WebhookSettings::default(),
            admin_tokens: Vec::new(),
            limits: Limits::default(),
            concurrent_calls: default_concurrent_calls(),
            max_module_bytes: default_max_module_bytes(),
            event_retention_days: default_event_retention_days(),
            header_read_timeout_ms: default_header_read_timeout_ms(),
            body_read_timeout_ms: default_body_read_timeout_ms(),
            realms: BTreeMap::new(),
        }
    }

    /// Checks what TOML alone cannot: names usable in URLs, limits in range.
    pub fn check(&self) -> anyhow::Result<()> {
        self.limits.check("limits")?;
        for (name, ms) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
        ] {
            if !(100..=3_600_000).contains(&ms) {
                anyhow::bail!("{name} = {ms}: expected 100 to 3600000");
            }
        }
        if self.event_retention_days == 0 || self.event_retention_days > 36_500 {
            anyhow::bail!("event_retention_days = {}: expected 1 to 36500", self.event_retention_days);
        }
        if self.concurrent_calls == 0 || self.concurrent_calls > 10_000 {
            anyhow::bail!("concurrent_calls = {}: expected 1 to 10000", self.concurrent_calls);
        }
        let w = &self.webhooks;
        if !(100..=600_000).contains(&w.timeout_ms) {
            anyhow::bail!("webhooks.timeout_ms = {}: expected 100 to 600000", w.timeout_ms);
        }
        if w.first_backoff_ms == 0 || w.first_backoff_ms > w.max_backoff_ms {
            anyhow::bail!("webhooks.first_backoff_ms = {}: expected 1 to max_backoff_ms", w.first_backoff_ms);
        }
        if w.disable_after_s == 0 {
            anyhow::bail!("webhooks.disable_after_s = 0: expected at least 1");
        }
        if !(1024..=1 << 30).contains(&self.max_module_bytes) {
            anyhow::bail!("max_module_bytes = {}: expected 1024 to 1073741824 (1 GiB)", self.max_module_bytes);
        }
        for (name, url) in &self.stores {
            check_name("store", name)?;
            if name == DEFAULT_STORE {
                anyhow::bail!("stores.{DEFAULT_STORE}: the name is the top-level `store`'s; choose another");
            }
            if !is_postgres_url(url) {
                anyhow::bail!("stores.{name}: expected a postgres:// URL");
            }
        }
        for (name, realm) in &self.realms {
            check_name("realm", name)?;
            if let Some(store) = realm.store.as_deref().filter(|s| *s != DEFAULT_STORE && !self.stores.contains_key(*s))
            {
                anyhow::bail!("realms.{name}.store = \"{store}\": no such store (name it under [stores])");
            }
            if let Some(limits) = &realm.limits {
                limits.check(&format!("realms.{name}.limits"))?;
            }
            let mut aliases = std::collections::BTreeSet::new();
            for org in &realm.organizations {
                check_name(&format!("realm \"{name}\", organization"), &org.alias)?;
                if !aliases.insert(org.alias.as_str()) {
                    anyhow::bail!("realm \"{name}\": organization \"{}\" is listed twice", org.alias);
                }
            }
        }
        Ok(())
    }

    /// The limits a realm runs with.
    pub fn limits_of(&self, realm: &RealmConfig) -> Limits {
        realm.limits.unwrap_or(self.limits)
    }
}

/// The name of the configuration's top-level `store` among its stores.
pub const DEFAULT_STORE: &str = "default";

/// Whether a store URL names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Checks that a realm name or organization alias can stand in a URL path as it is.
pub fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    let url_safe = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name != "."
        && name != "..";
    if !url_safe {
        anyhow::bail!("{what} \"{name}\": a name may hold 1 to 64 letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

impl Limits {
    /// Checks that every limit is in range; `at` names where they were set.
    pub fn check(&self, at: &str) -> anyhow::Result<()> {
        let limits = self;
        let max_mib = (crate::runtime::MAX_GUEST_MEMORY >> 20) as u32;
        if limits.memory_mib < 2 || limits.memory_mib > max_mib {
            anyhow::bail!("{at}.memory_mib = {}: expected 2 to {max_mib}", limits.memory_mib);
        }
        if limits.write_hold_ms < 10 || limits.write_hold_ms > 600_000 {
            anyhow::bail!("{at}.write_hold_ms = {}: expected 10 to 600000", limits.write_hold_ms);
        }
        if limits.deadline_ms < 10 || limits.deadline_ms > 600_000 {
            anyhow::bail!("{at}.deadline_ms = {}: expected 10 to 600000", limits.deadline_ms);
        }
        if limits.max_body_bytes < 1024 {
            anyhow::bail!("{at}.max_body_bytes = {}: expected at least 1024", limits.max_body_bytes);
        }
        if limits.concurrent_calls == Some(0) {
            anyhow::bail!("{at}.concurrent_calls = 0: expected at least 1 (leave it out for no limit)");
        }
        if let Some(rate) = limits.requests_per_second.filter(|r| !(r.is_finite() && *r > 0.0)) {
            anyhow::bail!("{at}.requests_per_second = {rate}: expected a positive number (leave it out for no limit)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_configuration_parses_and_relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scim-host.toml");
        let hash = TokenHash::of("secret").to_string();
        std::fs::write(
            &path,
            format!(
                r#"
listen = "0.0.0.0:9000"
admin_tokens = ["{hash}"]
[realms.demo]
tokens = ["{hash}"]
organizations = [{{ alias = "acme", name = "Acme" }}]
limits = {{ memory_mib = 32 }}
[realms.custom]
module = "guests/custom.wasm"
"#
            ),
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.data_dir, dir.path().join("data"));
        assert_eq!(config.realms["demo"].module, ModuleSource::Bundled);
        assert_eq!(config.realms["custom"].module, ModuleSource::Path(dir.path().join("guests/custom.wasm")));
        assert_eq!(config.limits_of(&config.realms["demo"]).memory_mib, 32);
        assert_eq!(config.limits_of(&config.realms["demo"]).deadline_ms, 5_000);
        assert!(config.realms["demo"].tokens[0].matches("secret"));
    }

    #[test]
    fn mistakes_are_named_with_their_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[realms.\"a b\"]\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("realm \"a b\""), "{e}");
        std::fs::write(&path, "[realms.x]\nlimits = { memory_mib = 100000 }\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("realms.x.limits.memory_mib = 100000"), "{e}");
        std::fs::write(&path, "[realms.x]\ntokens = [\"plain-text-token\"]\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("sha256:"), "{e}");
    }
}
