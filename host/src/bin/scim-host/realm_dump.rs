//! `scim-host realm export` and `realm import`: a realm as JSON lines, out of one store and
//! into any other (see `scim_host::store::dump`). They open the store themselves, as the
//! server would: the same configuration, or `--store` and `--data-dir`.

use clap::{Args, Subcommand};
use scim_host::App;
use scim_host::config::Config;
use scim_host::modules::{DiskModules, Modules};
use scim_host::store::{Store, dump};
use std::path::PathBuf;
use std::sync::Arc;

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
    /// A `postgres://` URL, else SQLite under the data directory.
    #[arg(long, env = "SCIM_HOST_STORE")]
    store: Option<String>,
}

impl StoreArgs {
    fn open(self) -> anyhow::Result<(Arc<dyn Store>, Arc<dyn Modules>)> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::empty(PathBuf::from("data")),
        };
        if let Some(data_dir) = self.data_dir {
            config.data_dir = data_dir;
        }
        if self.store.is_some() {
            config.store = self.store;
        }
        let store = App::open_store(&config)?;
        let modules = match store.modules() {
            Some(modules) => modules,
            None => Arc::new(DiskModules::open(&config.data_dir)?),
        };
        Ok((store, modules))
    }
}

pub fn run(command: RealmCommand) -> anyhow::Result<()> {
    match command {
        RealmCommand::Export { realm, output, store } => {
            let (store, modules) = store.open()?;
            let mut out: Box<dyn std::io::Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let moved = dump::export(store.as_ref(), modules.as_ref(), &realm, &mut out)?;
            eprintln!("exported realm {}: {} rows, {} modules", moved.realm, moved.rows, moved.modules);
        }
        RealmCommand::Import { file, to, store } => {
            let (store, modules) = store.open()?;
            let input: Box<dyn std::io::BufRead> = match &file {
                Some(path) => Box::new(std::io::BufReader::new(std::fs::File::open(path)?)),
                None => Box::new(std::io::stdin().lock()),
            };
            let moved = dump::import(store.as_ref(), modules.as_ref(), input, to.as_deref())?;
            eprintln!("imported realm {}: {} rows, {} modules", moved.realm, moved.rows, moved.modules);
        }
    }
    Ok(())
}
