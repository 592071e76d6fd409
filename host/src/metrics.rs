//! Prometheus metrics (the official `prometheus-client` crate): requests by realm, method
//! and status; guest call and store commit latency; the waits of write calls (for a write
//! turn, and the store's for its write connection); instantiations; traps, deadlines and
//! memory limits hit; module swaps. Served as text at `/metrics`.

use crate::store::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The realm, or `-` when the path names no known realm (to keep the label set small).
    pub realm: String,
    /// One of [`METHODS`], or `OTHER`: a client's method never becomes a label of its own.
    pub method: &'static str,
    pub status: u16,
}

/// The methods counted by name.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The label of a request's method, from a closed set.
fn method_label(method: &str) -> &'static str {
    METHODS.into_iter().find(|m| *m == method).unwrap_or("OTHER")
}

/// The labels of a per-realm series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RealmLabels {
    pub realm: String,
}

/// Why a guest call produced no response.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub realm: String,
    /// `trap`, `deadline` or `memory`.
    pub kind: &'static str,
}

pub(crate) fn latency_histogram() -> Histogram {
    // 10 µs to ~20 s.
    Histogram::new(exponential_buckets(0.000_01, 2.0, 22))
}

/// Every metric of the server.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub guest_call_seconds: Family<RealmLabels, Histogram, fn() -> Histogram>,
    pub store_commit_seconds: Histogram,
    pub write_turn_wait_seconds: Histogram,
    pub instantiations: Counter,
    pub write_upgrades: Counter,
    pub calls_begun_as_writes: Counter,
    pub reruns: Counter,
    pub guest_failures: Family<FailureLabels, Counter>,
    pub module_swaps: Family<RealmLabels, Counter>,
    pub hosts: prometheus_client::metrics::gauge::Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("scim_host");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("requests", "HTTP requests answered", requests.clone());
        let guest_call_seconds = Family::<RealmLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "guest_call_seconds",
            "Time of one guest call, instance included",
            guest_call_seconds.clone(),
        );
        let store_commit_seconds = latency_histogram();
        registry.register("store_commit_seconds", "Time to commit a call's transaction", store_commit_seconds.clone());
        let write_turn_wait_seconds = latency_histogram();
        registry.register(
            "write_turn_wait_seconds",
            "Time a write call waited for a write turn",
            write_turn_wait_seconds.clone(),
        );
        let instantiations = Counter::default();
        registry.register("instantiations", "Guest instances created", instantiations.clone());
        let write_upgrades = Counter::default();
        registry.register(
            "write_upgrades",
            "Calls begun as reads that wrote: they became writes at their first write, or ran again as writes",
            write_upgrades.clone(),
        );
        let calls_begun_as_writes = Counter::default();
        registry.register(
            "calls_begun_as_writes",
            "Calls begun at once as writes, their realm's recent calls of the kind having written",
            calls_begun_as_writes.clone(),
        );
        let reruns = Counter::default();
        registry.register("reruns", "Calls run again after a transient store conflict", reruns.clone());
        let guest_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "guest_failures",
            "Guest calls that trapped, ran out of time or memory",
            guest_failures.clone(),
        );
        let module_swaps = Family::<RealmLabels, Counter>::default();
        registry.register("module_swaps", "Modules swapped in through the admin API", module_swaps.clone());
        let hosts = prometheus_client::metrics::gauge::Gauge::default();
        registry.register("hosts", "Hosts serving the store, this one included", hosts.clone());
        Metrics {
            registry,
            requests,
            guest_call_seconds,
            store_commit_seconds,
            write_turn_wait_seconds,
            instantiations,
            write_upgrades,
            calls_begun_as_writes,
            reruns,
            guest_failures,
            module_swaps,
            hosts,
        }
    }
}

impl Metrics {
    /// Adds the store's own metrics (under `scim_host_store_`).
    pub fn add_store(&mut self, store: &dyn Store) {
        store.register_metrics(self.registry.sub_registry_with_prefix("store"));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String never fails");
        out
    }

    /// Counts one answered request.
    pub fn request(&self, realm: &str, method: &str, status: u16) {
        let labels = RequestLabels { realm: realm.to_string(), method: method_label(method), status };
        self.requests.get_or_create(&labels).inc();
    }
}
