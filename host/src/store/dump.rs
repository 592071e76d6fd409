//! A realm as JSON lines: what `scim-host realm export` writes and `realm import` loads
//! into any store, to move a realm between databases (SQLite and PostgreSQL alike) and to
//! back it up. A dump is a header, then every row the realm owns, table by table in the
//! order their foreign keys need (each table in its list order), then the modules it ran,
//! then an end line with the count of rows: a file cut short is refused whole.
//!
//! Rows are their table's columns by name, without the realm (the importer names it), the
//! lower-case copies the store derives for comparisons, or the store's own list places:
//! the importer derives those again, in the order of the dump.

use super::DirectoryError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The format of this build's dumps.
pub const FORMAT: u32 = 1;

/// One line of a dump.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DumpLine {
    Header {
        format: u32,
        realm: String,
        /// Milliseconds since the epoch.
        exported_at: i64,
    },
    Row {
        table: String,
        row: Map<String, Value>,
    },
    /// A module the realm ran (the last one is the one it runs), with its bytes in hex
    /// the first time its digest appears.
    Module {
        digest: String,
        installed_at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<String>,
    },
    End {
        rows: u64,
    },
}

/// How a column's values are typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Text,
    Int,
    Bool,
}

/// A table a realm owns, as a dump carries it.
pub struct Table {
    pub name: &'static str,
    /// The columns a row carries.
    pub columns: &'static [(&'static str, Column)],
    /// The lower-case copies: (column, the column it copies).
    pub lowered: &'static [(&'static str, &'static str)],
    /// The list order, by columns; `None`: the order rows were inserted in.
    pub order: Option<&'static str>,
    /// Whether the store keeps a list place (`seq`) for each row.
    pub placed: bool,
}

use Column::{Bool, Int, Text};

/// Every table of a realm but `realms` itself, in an order their foreign keys allow.
pub const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("id", Text),
            ("username", Text),
            ("email", Text),
            ("first_name", Text),
            ("last_name", Text),
            ("enabled", Bool),
            ("created_at", Int),
            ("updated_at", Int),
            ("version", Int),
        ],
        lowered: &[
            ("username_lower", "username"),
            ("email_lower", "email"),
            ("first_name_lower", "first_name"),
            ("last_name_lower", "last_name"),
        ],
        order: Some("seq"),
        placed: true,
    },
    Table {
        name: "user_attributes",
        columns: &[("user_id", Text), ("name", Text), ("position", Int), ("value", Text)],
        lowered: &[("value_lower", "value")],
        order: Some("user_id, name, position"),
        placed: false,
    },
    Table {
        name: "groups",
        columns: &[
            ("id", Text),
            ("name", Text),
            ("organization", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("version", Int),
        ],
        lowered: &[("name_lower", "name")],
        order: Some("seq"),
        placed: true,
    },
    Table {
        name: "group_attributes",
        columns: &[("group_id", Text), ("name", Text), ("position", Int), ("value", Text)],
        lowered: &[("value_lower", "value")],
        order: Some("group_id, name, position"),
        placed: false,
    },
    Table {
        name: "memberships",
        columns: &[("group_id", Text), ("user_id", Text)],
        lowered: &[],
        order: None,
        placed: false,
    },
    Table {
        name: "organizations",
        columns: &[("id", Text), ("alias", Text), ("name", Text)],
        lowered: &[],
        order: Some("alias"),
        placed: false,
    },
    Table {
        name: "organization_members",
        columns: &[("organization_id", Text), ("user_id", Text), ("managed", Bool)],
        lowered: &[],
        order: Some("organization_id, user_id"),
        placed: false,
    },
    Table {
        name: "credentials",
        columns: &[("user_id", Text), ("type", Text), ("secret", Text), ("created_at", Int)],
        lowered: &[],
        order: Some("user_id, type"),
        placed: false,
    },
    Table {
        name: "tokens",
        columns: &[("id", Text), ("organization", Text), ("hash", Text), ("label", Text), ("created_at", Int)],
        lowered: &[],
        order: Some("created_at, id"),
        placed: false,
    },
    Table {
        name: "events",
        columns: &[
            ("time", Int),
            ("kind", Text),
            ("resource_id", Text),
            ("related_id", Text),
            ("details", Text),
            ("request_id", Text),
        ],
        lowered: &[],
        order: Some("seq"),
        placed: false,
    },
];

/// The realm's own record.
pub const REALMS: Table = Table {
    name: "realms",
    columns: &[("created_at", Int), ("managed", Bool), ("limits", Text), ("settings", Text)],
    lowered: &[],
    order: None,
    placed: false,
};

/// A table of a dump, by name.
pub fn table(name: &str) -> Option<&'static Table> {
    std::iter::once(&REALMS).chain(TABLES).find(|t| t.name == name)
}

impl Table {
    /// Checks a row against the table's columns: each known, each of its type.
    pub fn check(&self, row: &Map<String, Value>) -> Result<(), String> {
        for (name, value) in row {
            let Some((_, column)) = self.columns.iter().find(|(c, _)| c == name) else {
                return Err(format!("table {} has no column {name}", self.name));
            };
            let fits = match (column, value) {
                (_, Value::Null) => true,
                (Text, Value::String(_)) => true,
                (Int, Value::Number(n)) => n.is_i64(),
                (Bool, Value::Bool(_)) => true,
                _ => false,
            };
            if !fits {
                return Err(format!("{}.{name}: {value} is not a {column:?}", self.name));
            }
        }
        Ok(())
    }

    /// What an importer inserts for a row of realm `realm`: the columns, and each one's
    /// type and value (the realm's name, the row's columns, the lower-case copies).
    pub fn insert(&self, realm: &str, row: &Map<String, Value>) -> (Vec<&'static str>, Vec<(Column, Value)>) {
        let mut columns = vec![if self.name == REALMS.name { "name" } else { "realm" }];
        let mut values = vec![(Text, Value::String(realm.to_string()))];
        for (name, column) in self.columns {
            columns.push(name);
            values.push((*column, row.get(*name).cloned().unwrap_or(Value::Null)));
        }
        for (name, source) in self.lowered {
            columns.push(name);
            let lowered = row.get(*source).and_then(Value::as_str).map(str::to_lowercase);
            values.push((Text, lowered.map_or(Value::Null, Value::String)));
        }
        (columns, values)
    }
}

/// One row an importer reads: a table and its row, or why the dump cannot be loaded (the
/// importer then rolls back whatever it wrote). The first row is the realm's, and only it.
pub type Row = Result<(&'static Table, Map<String, Value>), String>;

/// The rows an importer reads.
pub type Rows<'a> = dyn Iterator<Item = Row> + 'a;

/// Where an exporter writes each row, with its table.
pub type Out<'a> = dyn FnMut(&'static Table, Map<String, Value>) -> std::io::Result<()> + 'a;

/// What an export or an import moved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moved {
    pub realm: String,
    pub rows: u64,
    pub modules: usize,
}

fn write_line(out: &mut dyn std::io::Write, line: &DumpLine) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

/// Writes realm `realm` of `store`, and the modules it ran, to `out` as JSON lines.
pub fn export(
    store: &dyn super::Store,
    modules: &dyn crate::modules::Modules,
    realm: &str,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<Moved> {
    let header = DumpLine::Header { format: FORMAT, realm: realm.to_string(), exported_at: super::now_millis() };
    write_line(out, &header)?;
    let mut rows = 0;
    store.export_realm(realm, &mut |table, row| {
        rows += 1;
        write_line(out, &DumpLine::Row { table: table.name.to_string(), row })
    })?;
    let history = modules.history(realm)?;
    let mut written = std::collections::HashSet::new();
    for installed in &history {
        let bytes = match written.insert(installed.digest.clone()) {
            true => Some(hex::encode(modules.bytes(realm, &installed.digest)?)),
            false => None,
        };
        write_line(
            out,
            &DumpLine::Module { digest: installed.digest.clone(), installed_at: installed.installed_at, bytes },
        )?;
    }
    write_line(out, &DumpLine::End { rows })?;
    out.flush()?;
    Ok(Moved { realm: realm.to_string(), rows, modules: history.len() })
}

fn duplicate_row() -> anyhow::Error {
    anyhow::anyhow!(
        "a row of the dump is already in this store (a token keeps its id): import a realm's copy into another \
         store, or this one once the original is deleted"
    )
}

/// Loads a dump from `input` into `store` (and its modules into `modules`), as realm `to`
/// or else the realm it was exported from. The rows load in one transaction: a dump that
/// is damaged or cut short loads nothing.
pub fn import(
    store: &dyn super::Store,
    modules: &dyn crate::modules::Modules,
    input: impl std::io::BufRead,
    to: Option<&str>,
) -> anyhow::Result<Moved> {
    let mut lines = input.lines().enumerate().map(|(n, line)| {
        let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
        serde_json::from_str::<DumpLine>(&line).map_err(|e| format!("line {}: not a dump line: {e}", n + 1))
    });
    let realm = match lines.next() {
        Some(Ok(DumpLine::Header { format, realm, .. })) if format <= FORMAT => realm,
        Some(Ok(DumpLine::Header { format, .. })) => {
            anyhow::bail!(
                "the dump is of format {format}, newer than this build's {FORMAT}: import it with a later scim-host"
            )
        }
        Some(Err(e)) => anyhow::bail!(e),
        _ => anyhow::bail!("not a realm dump: it does not begin with its header"),
    };
    let realm = to.unwrap_or(&realm).to_string();
    crate::config::check_name("realm", &realm)?;
    let (mut rows, mut history, mut ended) = (0u64, Vec::new(), false);
    let mut next_row = || -> Option<Row> {
        loop {
            let line = match lines.next() {
                None if ended => return None,
                None => return Some(Err("the dump is cut short: it has no end line".into())),
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(line)) => line,
            };
            match line {
                _ if ended => return Some(Err("the dump goes on after its end line".into())),
                DumpLine::Row { table: name, mut row } => {
                    let Some(table) = table(&name) else { return Some(Err(format!("no table {name} in a realm"))) };
                    if (rows == 0) != (table.name == REALMS.name) {
                        return Some(Err("a dump begins with its realm, once".into()));
                    }
                    if table.name == REALMS.name {
                        // Served wherever it lands: a configuration that declares it makes
                        // it the configuration's again at the next start.
                        row.insert("managed".into(), Value::Bool(true));
                        // Limits and settings every host will read at its start.
                        let text = |column: &str| row.get(column).and_then(Value::as_str).map(str::to_string);
                        let stored = super::StoredRealm {
                            name: realm.clone(),
                            managed: true,
                            created_at: row.get("created_at").and_then(Value::as_i64).unwrap_or_default(),
                            limits: text("limits"),
                            settings: text("settings"),
                        };
                        if let Err(e) = crate::tenants::Overrides::of(&stored) {
                            return Some(Err(format!("{e:#}")));
                        }
                    }
                    if let Err(e) = table.check(&row) {
                        return Some(Err(e));
                    }
                    rows += 1;
                    return Some(Ok((table, row)));
                }
                DumpLine::Module { digest, installed_at, bytes } => {
                    if !crate::modules::is_digest(&digest) {
                        return Some(Err(format!("{digest:?} is not a module digest")));
                    }
                    if bytes.is_none() && !history.iter().any(|i: &crate::modules::Installed| i.digest == digest) {
                        return Some(Err(format!("module {digest} comes without its bytes")));
                    }
                    if let Some(bytes) = bytes {
                        let kept = hex::decode(&bytes).map_err(|e| format!("module {digest}: {e}")).and_then(|bytes| {
                            match crate::runtime::digest_of(&bytes) == digest {
                                true => modules
                                    .keep(&realm, &digest, &bytes)
                                    .map_err(|e| format!("keeping module {digest}: {e}")),
                                false => Err(format!("module {digest}: its bytes have another digest")),
                            }
                        });
                        if let Err(e) = kept {
                            return Some(Err(e));
                        }
                    }
                    history.push(crate::modules::Installed { digest, installed_at });
                }
                DumpLine::End { .. } if rows == 0 => return Some(Err("the dump holds no realm".into())),
                DumpLine::End { rows: expected } if expected == rows => ended = true,
                DumpLine::End { rows: expected } => {
                    return Some(Err(format!("the dump says {expected} rows but holds {rows}")));
                }
                DumpLine::Header { .. } => return Some(Err("a second header".into())),
            }
        }
    };
    let mut iter = std::iter::from_fn(&mut next_row);
    store.import_realm(&realm, &mut iter).map_err(|e| match e {
        // A unique key other than the realm's: rows keep their ids (tokens' are unique in
        // the store), so a copy of a realm cannot go where the original is.
        DirectoryError::Conflict { constraint, .. } if constraint != "realm" => duplicate_row(),
        DirectoryError::Transient(why) if why.contains("23505") => duplicate_row(),
        e => anyhow::Error::from(e),
    })?;
    if !history.is_empty() {
        modules.restore(&realm, &history)?;
    }
    Ok(Moved { realm, rows, modules: history.len() })
}
