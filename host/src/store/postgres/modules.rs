//! Installed modules in the PostgreSQL store: components by digest, and each realm's
//! history of them. A host that starts on the database, or learns of a swap made through
//! another host, reads a realm's module here (and compiles it once: see the runtime's cache).

use super::*;
use crate::modules::{Installed, Modules};

fn io(e: DirectoryError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Modules for PostgresStore {
    fn keep(&self, _realm: &str, digest: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO modules (digest, bytes, kept_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
                &[&digest, &bytes, &now_millis()],
            )
            .map(drop)
        })
        .map_err(io)
    }

    fn bytes(&self, _realm: &str, digest: &str) -> std::io::Result<Vec<u8>> {
        let row = self
            .checkout(CHECKOUT_TIMEOUT)
            .and_then(|mut c| c.query_opt("SELECT bytes FROM modules WHERE digest = $1", &[&digest]))
            .map_err(io)?;
        let row =
            row.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such module in the store"))?;
        Ok(row.get(0))
    }

    fn history(&self, realm: &str) -> std::io::Result<Vec<Installed>> {
        let rows = self
            .checkout(CHECKOUT_TIMEOUT)
            .and_then(|mut c| {
                c.query("SELECT digest, installed_at FROM realm_modules WHERE realm = $1 ORDER BY n", &[&realm])
            })
            .map_err(io)?;
        Ok(rows.iter().map(|r| Installed { digest: r.get(0), installed_at: r.get(1) }).collect())
    }

    fn record(&self, realm: &str, digest: &str, previous: &str) -> std::io::Result<()> {
        self.write(|c| {
            let now = now_millis();
            c.execute(
                "INSERT INTO realm_modules (realm, digest, installed_at)
                 SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM realm_modules WHERE realm = $1)",
                &[&realm, &previous, &now],
            )?;
            c.execute(
                "INSERT INTO realm_modules (realm, digest, installed_at) VALUES ($1, $2, $3)",
                &[&realm, &digest, &now],
            )
            .map(drop)
        })
        .map_err(io)
    }

    fn forget(&self, realm: &str) -> std::io::Result<()> {
        self.write(|c| c.execute("DELETE FROM realm_modules WHERE realm = $1", &[&realm]).map(drop)).map_err(io)
    }

    fn restore(&self, realm: &str, history: &[Installed]) -> std::io::Result<()> {
        self.write(|c| {
            c.execute("DELETE FROM realm_modules WHERE realm = $1", &[&realm])?;
            for installed in history {
                c.execute(
                    "INSERT INTO realm_modules (realm, digest, installed_at) VALUES ($1, $2, $3)",
                    &[&realm, &installed.digest, &installed.installed_at],
                )?;
            }
            // Hosts that read the realm before its history came read it again.
            super::changes::notify(c, realm)
        })
        .map_err(io)
    }
}
