//! `scim-host realm export` and `realm import`: a realm as JSON lines, out of one store and
//! into any other (see `scim_host::store::dump`). They open the store themselves, as the
//! server would: the same configuration (all its stores), or one store (`--store`).

use clap::{Args, Subcommand};
use scim_host::App;
use scim_host::config::{Config, DEFAULT_STORE, is_postgres_url};
use scim_host::store::{PlacedStore, dump};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum RealmCommand {
    /// Writes a realm (users, groups, memberships, organizations, password hashes, token
    /// hashes, module history, events) as JSON lines: to move it, or to back it up.
    Export {
        realm: String,
        /// The file to write (standard output when absent).
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Loads a dump written by `realm export` into a store, in one transaction: whole, or
    /// not at all. Hosts on a PostgreSQL store serve the realm at once; a host on SQLite,
    /// at its next start.
    Import {
        /// The dump (standard input when absent).
        file: Option<PathBuf>,
        /// The realm's name in this store (the exported realm's name when absent).
        #[arg(long = "as")]
        to: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Which store: the configuration's, with what the options override.
#[derive(Args)]
pub struct StoreArgs {
    /// The configuration file (TOML) naming the store.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Where the SQLite database and modules live (default `data`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// This store alone: a `postgres://` URL, or the name of one of the configuration's
    /// stores (`default`, or one under `[stores]`). Without it, export finds the realm in
    /// whichever store holds it, and import loads it where the configuration places it.
    #[arg(long, env = "SCIM_HOST_STORE")]
    store: Option<String>,
}

impl StoreArgs {
    fn open(self) -> anyhow::Result<PlacedStore> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::empty(PathBuf::from("data")),
        };
        if let Some(data_dir) = self.data_dir {
            config.data_dir = data_dir;
        }
        if let Some(store) = self.store {
            // One store alone: the realms' placements name stores no longer opened.
            config.store = match store.as_str() {
                DEFAULT_STORE => config.store.take(),
                name if config.stores.contains_key(name) => config.stores.remove(name),
                url if is_postgres_url(url) => Some(store),
                other => anyhow::bail!(
                    "--store {other}: expected a postgres:// URL or a store of the configuration ({})",
                    [DEFAULT_STORE]
                        .into_iter()
                        .chain(config.stores.keys().map(String::as_str))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            config.stores.clear();
            config.realms.values_mut().for_each(|realm| realm.store = None);
        }
        App::place_realms(&config, App::open_store(&config)?)
    }
}

pub fn run(command: RealmCommand) -> anyhow::Result<()> {
    match command {
        RealmCommand::Export { realm, output, store } => {
            let store = store.open()?;
            let mut out: Box<dyn std::io::Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let moved = dump::export(&store, &store, &realm, &mut out)?;
            eprintln!("exported realm {}: {} rows, {} modules", moved.realm, moved.rows, moved.modules);
        }
        RealmCommand::Import { file, to, store } => {
            let store = store.open()?;
            let input: Box<dyn std::io::BufRead> = match &file {
                Some(path) => Box::new(std::io::BufReader::new(std::fs::File::open(path)?)),
                None => Box::new(std::io::stdin().lock()),
            };
            let moved = dump::import(&store, &store, input, to.as_deref())?;
            eprintln!("imported realm {}: {} rows, {} modules", moved.realm, moved.rows, moved.modules);
        }
    }
    Ok(())
}
