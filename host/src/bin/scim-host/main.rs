//! The `scim-host` command: serve (from a configuration file, or a ready-made demo), hash
//! a token, check a configuration or a module, drive a running server's admin API, and
//! move a realm between stores.

mod admin;
mod realm_dump;

use clap::{Parser, Subcommand};
use scim_host::auth::{TokenHash, new_token};
use scim_host::config::{Config, ModuleSource, OrganizationConfig, RealmConfig};
use scim_host::{App, Server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "scim-host",
    version,
    about = "A multi-tenant SCIM 2.0 server running SCIM handlers as WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves SCIM for the realms of a configuration file, or for a demo realm.
    Serve {
        /// The configuration file (TOML).
        #[arg(long, short, conflicts_with = "demo")]
        config: Option<PathBuf>,
        /// Serves realm `demo` with organization `acme` on the bundled guest; tokens come
        /// from SCIM_HOST_DEMO_TOKEN and SCIM_HOST_DEMO_ADMIN_TOKEN, or are made up and printed.
        #[arg(long)]
        demo: bool,
        /// The address to listen on (overrides the configuration).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Where the database lives (overrides the configuration).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The store (overrides the configuration): a `postgres://` URL, else SQLite
        /// under the data directory.
        #[arg(long, env = "SCIM_HOST_STORE")]
        store: Option<String>,
    },
    /// Prints the hash to put in a configuration for a token (a new random one if none is given).
    HashToken {
        /// The token to hash.
        token: Option<String>,
    },
    /// Reads a configuration file and reports what is wrong with it.
    CheckConfig {
        /// The configuration file (TOML).
        config: PathBuf,
    },
    /// Checks that a file is a component implementing the scim:host world (and compiles).
    CheckModule {
        /// The component (`.wasm`).
        module: PathBuf,
    },
    /// Manages a running server: realms, organizations, tokens, modules, events.
    Admin(admin::AdminArgs),
    /// Moves a realm between stores, or backs it up: export as JSON lines, import.
    #[command(subcommand)]
    Realm(realm_dump::RealmCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config, demo, listen, data_dir, store } => serve(config, demo, listen, data_dir, store),
        Command::HashToken { token } => {
            let token = token.unwrap_or_else(new_token);
            println!("token: {token}\nhash:  {}", TokenHash::of(&token));
            Ok(())
        }
        Command::CheckConfig { config } => Config::load(&config).map(|c| {
            println!("{}: {} realm(s), all valid", config.display(), c.realms.len());
        }),
        Command::CheckModule { module } => check_module(&module),
        Command::Admin(args) => admin::run(args),
        Command::Realm(command) => realm_dump::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scim-host: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(
    config: Option<PathBuf>,
    demo: bool,
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut config = match (config, demo) {
        (Some(path), _) => Config::load(&path)?,
        (None, true) => demo_config(),
        (None, false) => {
            anyhow::bail!("say what to serve: `scim-host serve --config FILE`, or `scim-host serve --demo`")
        }
    };
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if let Some(data_dir) = data_dir {
        config.data_dir = data_dir;
    }
    if store.is_some() {
        config.store = store;
    }
    config.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listen = config.listen;
        let app = tokio::task::spawn_blocking(move || App::new(config)).await??;
        // Listening for SIGTERM before saying where it listens: a supervisor that stops the
        // server as soon as it is up gets a clean stop, not the signal's default death.
        let stopped = shutdown_signal()?;
        let mut server = Server::start(app, listen).await?;
        eprintln!("scim-host listening on http://{}", server.addr);
        eprintln!("the console: http://{}/console (sign in with an admin token)", server.addr);
        stopped.await?;
        eprintln!("scim-host: stopping");
        server.trigger_stop();
        server.wait().await
    })
}

/// Ctrl-C or SIGTERM, listened for from the call on.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = anyhow::Result<()>>> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        Ok(())
    })
}

/// Compiles a component and checks its world, as an upload would.
fn check_module(path: &std::path::Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let runtime = scim_host::runtime::Runtime::new(scim_host::runtime::PoolSize { concurrent_calls: 1 }, None)
        .map_err(|e| anyhow::anyhow!("starting the wasm runtime: {e:?}"))?;
    let module = runtime.load(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a scim:host component: {e:?}\nbuild one with `cargo build --target wasm32-wasip2` against wit/scim-host.wit (world scim-handler)",
            path.display()
        )
    })?;
    println!("{}: a scim:host@0.1.0 component, sha256 {}", path.display(), module.digest);
    Ok(())
}

/// Realm `demo` with organization `acme` on the bundled guest, data under `./data`.
fn demo_config() -> Config {
    let token = |var: &str| std::env::var(var).ok().filter(|t| !t.is_empty());
    let (realm_token, realm_printed) = match token("SCIM_HOST_DEMO_TOKEN") {
        Some(t) => (t, false),
        None => (new_token(), true),
    };
    let (admin_token, admin_printed) = match token("SCIM_HOST_DEMO_ADMIN_TOKEN") {
        Some(t) => (t, false),
        None => (new_token(), true),
    };
    let mut config = Config::empty(PathBuf::from("data"));
    config.admin_tokens = vec![TokenHash::of(&admin_token)];
    config.realms.insert(
        "demo".into(),
        RealmConfig {
            store: None,
            module: ModuleSource::Bundled,
            tokens: vec![TokenHash::of(&realm_token)],
            organizations: vec![OrganizationConfig { alias: "acme".into(), name: Some("Acme".into()) }],
            limits: None,
            settings: Default::default(),
        },
    );
    let shown =
        |token: &str, printed: bool| if printed { token.to_string() } else { "(from the environment)".to_string() };
    eprintln!("demo realm:       /realms/demo/scim/v2  (organization: /realms/demo/scim/v2/organizations/acme)");
    eprintln!("demo realm token: {}", shown(&realm_token, realm_printed));
    eprintln!("demo admin token: {}", shown(&admin_token, admin_printed));
    config
}
