//! Uploaded tenant modules: every component ever installed, kept by content hash, and for
//! each realm the module it runs and the ones it ran before, so that an upload survives a
//! restart and a realm can be rolled back to any earlier module. One host on SQLite keeps
//! them in its data directory ([`DiskModules`]); hosts sharing a PostgreSQL store keep
//! them in it, so that every host serves every realm's module.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One module a realm has run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Installed {
    /// Hex SHA-256 of the component.
    pub digest: String,
    /// Milliseconds since the epoch.
    pub installed_at: i64,
}

/// Whether `text` is a digest as modules are named by: 64 lower-case hex digits (and so
/// nothing a path could be made of).
pub fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A realm's modules, newest last; the last is the one it runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RealmModules {
    pub history: Vec<Installed>,
}

/// Where installed modules are kept.
pub trait Modules: Send + Sync {
    /// Keeps a component's bytes under its digest (once), where `realm` keeps its modules.
    fn keep(&self, realm: &str, digest: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// The bytes of a kept component, where `realm` keeps its modules.
    fn bytes(&self, realm: &str, digest: &str) -> std::io::Result<Vec<u8>>;
    /// A realm's modules, oldest first.
    fn history(&self, realm: &str) -> std::io::Result<Vec<Installed>>;
    /// Records that a realm now runs `digest` (after `previous`, when the history is empty).
    fn record(&self, realm: &str, digest: &str, previous: &str) -> std::io::Result<()>;
    /// Forgets a deleted realm's modules (the components stay, for other realms).
    fn forget(&self, realm: &str) -> std::io::Result<()>;
    /// Gives a realm this history (an imported realm's), in place of any it had.
    fn restore(&self, realm: &str, history: &[Installed]) -> std::io::Result<()>;

    /// The module a realm runs, when one was installed through the admin API.
    fn current(&self, realm: &str) -> std::io::Result<Option<Installed>> {
        Ok(self.history(realm)?.pop())
    }
}

/// The modules of a data directory: `modules/<sha256>.wasm`, and the realms' histories in
/// `modules/realms.json`.
pub struct DiskModules {
    dir: PathBuf,
    /// A std Mutex: held only around small file writes, never across an await.
    realms: Mutex<BTreeMap<String, RealmModules>>,
}

impl DiskModules {
    /// Opens (creating) `data_dir/modules`.
    pub fn open(data_dir: &Path) -> anyhow::Result<DiskModules> {
        let dir = data_dir.join("modules");
        std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let index = dir.join("realms.json");
        let realms = match std::fs::read(&index) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!("{} is damaged: {e}; remove it to forget uploaded modules", index.display())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => anyhow::bail!("cannot read {}: {e}", index.display()),
        };
        Ok(DiskModules { dir, realms: Mutex::new(realms) })
    }

    fn path_of(&self, digest: &str) -> std::io::Result<PathBuf> {
        match is_digest(digest) {
            true => Ok(self.dir.join(format!("{digest}.wasm"))),
            false => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{digest:?} is not a digest"))),
        }
    }

    /// Writes a file whole and durably before the caller acknowledges anything: to a
    /// partial file, synced, renamed over `path`, then the directory synced so that the
    /// rename itself survives a power loss. A crash never leaves a truncated file at `path`.
    fn write_durably(&self, name: &str, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
        let partial = self.dir.join(format!("{name}.partial"));
        let mut file = std::fs::File::create(&partial)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&partial, path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    fn write_index(&self, realms: &BTreeMap<String, RealmModules>) -> std::io::Result<()> {
        let index = serde_json::to_vec_pretty(realms).expect("the index serializes");
        self.write_durably("realms.json", &self.dir.join("realms.json"), &index)
    }
}

impl Modules for DiskModules {
    fn keep(&self, _realm: &str, digest: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path_of(digest)?;
        if path.exists() {
            return Ok(());
        }
        self.write_durably(&format!("{digest}.wasm"), &path, bytes)
    }

    fn bytes(&self, _realm: &str, digest: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path_of(digest)?)
    }

    fn history(&self, realm: &str) -> std::io::Result<Vec<Installed>> {
        Ok(self.realms.lock().expect("module index").get(realm).map(|r| r.history.clone()).unwrap_or_default())
    }

    fn record(&self, realm: &str, digest: &str, previous: &str) -> std::io::Result<()> {
        let now = crate::store::now_millis();
        let mut realms = self.realms.lock().expect("module index");
        let entry = realms.entry(realm.to_string()).or_default();
        if entry.history.is_empty() {
            entry.history.push(Installed { digest: previous.to_string(), installed_at: now });
        }
        entry.history.push(Installed { digest: digest.to_string(), installed_at: now });
        self.write_index(&realms)
    }

    fn forget(&self, realm: &str) -> std::io::Result<()> {
        let mut realms = self.realms.lock().expect("module index");
        if realms.remove(realm).is_some() {
            self.write_index(&realms)?;
        }
        Ok(())
    }

    fn restore(&self, realm: &str, history: &[Installed]) -> std::io::Result<()> {
        let mut realms = self.realms.lock().expect("module index");
        realms.insert(realm.to_string(), RealmModules { history: history.to_vec() });
        self.write_index(&realms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_and_histories_survive_a_reopen() {
        let (component, bundled) = (crate::runtime::digest_of(b"component"), crate::runtime::digest_of(b"bundled"));
        let dir = tempfile::tempdir().unwrap();
        let store = DiskModules::open(dir.path()).unwrap();
        store.keep("demo", &component, b"component").unwrap();
        store.record("demo", &component, &bundled).unwrap();
        let reopened = DiskModules::open(dir.path()).unwrap();
        assert_eq!(reopened.bytes("demo", &component).unwrap(), b"component");
        assert_eq!(reopened.current("demo").unwrap().unwrap().digest, component);
        let digests: Vec<_> = reopened.history("demo").unwrap().into_iter().map(|i| i.digest).collect();
        assert_eq!(digests, [bundled, component]);
        assert!(reopened.current("other").unwrap().is_none());
    }

    #[test]
    fn a_digest_that_is_not_one_names_no_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.wasm"), b"not a module of this store").unwrap();
        let store = DiskModules::open(&dir.path().join("data")).unwrap();
        for digest in ["../../secret", "../secret", "/etc/passwd", &"A".repeat(64)] {
            assert_eq!(store.bytes("demo", digest).unwrap_err().kind(), std::io::ErrorKind::InvalidInput, "{digest}");
            assert!(store.keep("demo", digest, b"x").is_err(), "{digest}");
        }
    }
}
