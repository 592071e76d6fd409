//! The server as a value: configuration, store, runtime and tenants, and [`Server`],
//! which binds a listener and serves until told to stop. `main` and the end-to-end tests
//! start it the same way.

use crate::config::Config;
use crate::modules::{DiskModules, Modules};
use crate::runtime::{PoolSize, Runtime};
use crate::store::{NamedStore, PlacedStore, PostgresStore, SqliteStore, Store};
use crate::tenants::Tenants;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Everything a request handler needs.
pub struct App {
    pub config: Config,
    /// The stores realms are placed in, routed to by realm.
    pub store: Arc<PlacedStore>,
    pub runtime: Arc<Runtime>,
    pub tenants: Tenants,
    /// Modules installed through the admin API, and each realm's history of them (in the
    /// realm's store: the same [`PlacedStore`]).
    pub modules: Arc<dyn Modules>,
    pub metrics: crate::metrics::Metrics,
    /// Set when the server stops: long-lived responses (event streams) end on it, so a
    /// graceful shutdown does not wait for clients that never hang up.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// Held by admin requests that change realms, organizations or modules, so that the
    /// store and the tenant table see their changes in the same order.
    pub admin_changes: tokio::sync::Mutex<()>,
    /// The hosts serving the store now, this one included: realms' rates are shared among them.
    pub hosts: Arc<crate::limits::HostCount>,
    /// Write calls wait for a turn before they run.
    pub write_turns: crate::write_turns::WriteTurns,
    /// The failed SCIM requests of each realm, and its identity providers' counts.
    pub diagnostics: crate::diagnostics::Diagnostics,
    /// The admin event streams open now.
    pub event_streams: Arc<crate::http::stream_slots::StreamSlots>,
    /// Held by every guest call while it runs: a stopping server waits for the calls
    /// whose clients hung up (they run on to their deadline, on the runtime's timers).
    pub calls_running: Arc<()>,
    /// The public URL of the server, without a trailing slash: `public_url`, else the
    /// address it listens on (known once it is bound).
    public_base: std::sync::OnceLock<String>,
}

impl App {
    /// Opens the store under the data directory, creates a runtime and loads the realms.
    pub fn new(config: Config) -> anyhow::Result<App> {
        let cache = config.data_dir.join("compiled");
        let runtime = Runtime::new(PoolSize { concurrent_calls: config.concurrent_calls }, Some(cache))
            .map_err(|e| anyhow::anyhow!("starting the wasm runtime: {e:?}"))?;
        Self::with_runtime(config, Arc::new(runtime))
    }

    /// Like [`App::new`] with a runtime shared with other servers of the process (tests).
    pub fn with_runtime(config: Config, runtime: Arc<Runtime>) -> anyhow::Result<App> {
        let store = Self::open_store(&config)?;
        Self::with_store(config, runtime, store)
    }

    /// The configuration's `default` store: PostgreSQL at its `store` URL, else the
    /// embedded one under its data directory.
    pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
        if let Some(url) = &config.store {
            anyhow::ensure!(
                crate::config::is_postgres_url(url),
                "the store must be a postgres:// URL (or absent, for SQLite under the data directory)"
            );
            let store = PostgresStore::open(url).context("cannot open the PostgreSQL store")?;
            return Ok(Arc::new(store));
        }
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
        let database = config.data_dir.join("scim-host.db");
        let store = SqliteStore::open_with(&database, config.durability)
            .with_context(|| format!("cannot open the database {}", database.display()))?;
        Ok(Arc::new(store))
    }

    /// The configuration's stores, `default` first: `default` is given, the others are
    /// opened from their URLs.
    pub fn place_realms(config: &Config, default: Arc<dyn Store>) -> anyhow::Result<PlacedStore> {
        let modules = match default.modules() {
            Some(modules) => modules,
            None => Arc::new(DiskModules::open(&config.data_dir)?),
        };
        let mut stores = vec![NamedStore { name: crate::config::DEFAULT_STORE.into(), store: default, modules }];
        for (name, url) in &config.stores {
            let store = Arc::new(
                PostgresStore::open(url).with_context(|| format!("cannot open store \"{name}\" (PostgreSQL)"))?,
            );
            stores.push(NamedStore { name: name.clone(), store: store.clone(), modules: store });
        }
        let configured = config
            .realms
            .iter()
            .filter_map(|(realm, c)| c.store.as_ref().map(|store| (realm.clone(), store.clone())))
            .collect();
        PlacedStore::new(stores, &configured)
    }

    /// An app whose `default` store is of the caller's choosing.
    pub fn with_store(config: Config, runtime: Arc<Runtime>, default: Arc<dyn Store>) -> anyhow::Result<App> {
        let store = Arc::new(Self::place_realms(&config, default)?);
        let modules: Arc<dyn Modules> = store.clone();
        let hosts = Arc::new(crate::limits::HostCount::default());
        let tenants = Tenants::load(&config, store.as_ref(), &runtime, modules.as_ref(), &hosts)?;
        for (realm, why) in store.ambiguous() {
            tenants.set_broken(&realm, why);
        }
        let closing = tokio::sync::watch::Sender::new(false);
        let mut metrics = crate::metrics::Metrics::default();
        metrics.add_store(store.as_ref());
        Ok(App {
            config,
            store,
            runtime,
            tenants,
            modules,
            metrics,
            closing,
            admin_changes: Default::default(),
            hosts,
            write_turns: crate::write_turns::WriteTurns::per_core(),
            public_base: std::sync::OnceLock::new(),
            event_streams: Arc::default(),
            diagnostics: Default::default(),
            calls_running: Arc::default(),
        })
    }

    /// The server's public URL, without a trailing slash.
    pub fn public_base(&self) -> &str {
        self.public_base.get().map(String::as_str).unwrap_or("http://localhost")
    }
}

/// Waits `period` before a background task's next round: true, or false as soon as the
/// server stops (the task then ends).
pub(crate) async fn next_round(closing: &mut tokio::sync::watch::Receiver<bool>, period: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(period) => true,
        () = async { drop(closing.wait_for(|closing| *closing).await) } => false,
    }
}

/// Accepts connections until `closing`, then lets the requests in flight finish. Served by
/// hyper directly, not `axum::serve`, for the header read timeout (it needs a timer): a
/// client that trickles its headers, or sends none, is disconnected after `header_timeout`.
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    header_timeout: Duration,
    mut closing: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    // A connection's requests at once: beyond any identity provider's, and few enough that
    // one HTTP/2 connection is not a few hundred clients (each paused refusal, each call
    // in flight, is one).
    builder.http2().max_concurrent_streams(HTTP2_STREAMS);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors, a reset before accept: keep serving the others.
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = async { drop(closing.wait_for(|closing| *closing).await) } => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("a connection ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Requests in flight on one HTTP/2 connection at most.
const HTTP2_STREAMS: u32 = 32;

/// How long a stopping server waits for guest calls still running (each ends at its
/// deadline, a few seconds).
const CALLS_AT_STOP: Duration = Duration::from_secs(60);

/// A running server.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    app: Arc<App>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `addr` (port 0 for any free port) and starts serving.
    pub async fn start(app: App, addr: SocketAddr) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let public = match &app.config.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{addr}"),
        };
        let _ = app.public_base.set(public);
        let app = Arc::new(app);
        let router = crate::http::router(app.clone());
        crate::retention::start(app.clone());
        crate::changes::follow(&app);
        crate::hosts::start(app.clone());
        crate::webhooks::start(app.clone());
        let header_timeout = app.config.header_read_timeout();
        let task = tokio::spawn(serve(listener, router, header_timeout, app.closing.subscribe()));
        Ok(Server { addr, app, task })
    }

    /// Stops accepting, lets requests in flight finish, and returns when done.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.trigger_stop();
        self.wait().await
    }

    /// Serves until the task ends (for `main`, which stops it with a signal), then waits
    /// for the guest calls whose clients hung up: they run on, to their deadline at most,
    /// and need the runtime's timers until they end.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let served = (&mut self.task).await.context("the server task failed")?.context("serving failed");
        let stopped = std::time::Instant::now();
        while Arc::strong_count(&self.app.calls_running) > 1 {
            if stopped.elapsed() > CALLS_AT_STOP {
                tracing::warn!("guest calls still ran {CALLS_AT_STOP:?} after the server stopped");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        served
    }

    /// Asks the server to stop without waiting.
    pub fn trigger_stop(&mut self) {
        self.app.closing.send_replace(true);
    }
}
