//! Realm export and import on the SQLite store (see [`crate::store::dump`]): the export
//! reads one snapshot; the import writes in one transaction of the store's writer, which
//! it holds until the last row.

use super::*;
use crate::store::dump::{Column, Out, REALMS, Rows, TABLES};
use rusqlite::types::Value as Sql;
use serde_json::{Map, Value};

fn to_json(row: &rusqlite::Row, i: usize, column: Column) -> rusqlite::Result<Value> {
    Ok(match column {
        Column::Text => row.get::<_, Option<String>>(i)?.map_or(Value::Null, Value::String),
        Column::Int => row.get::<_, Option<i64>>(i)?.map_or(Value::Null, Value::from),
        Column::Bool => row.get::<_, Option<i64>>(i)?.map_or(Value::Null, |b| Value::Bool(b != 0)),
    })
}

fn to_sql(value: Option<&Value>) -> Sql {
    match value {
        Some(Value::String(s)) => Sql::Text(s.clone()),
        Some(Value::Bool(b)) => Sql::Integer(i64::from(*b)),
        Some(Value::Number(n)) => n.as_i64().map_or(Sql::Null, Sql::Integer),
        _ => Sql::Null,
    }
}

impl SqliteStore {
    pub(super) fn export(&self, realm: &str, out: &mut Out) -> DirResult<()> {
        let conn = self.checkout(CHECKOUT_TIMEOUT)?;
        conn.execute_batch("BEGIN").map_err(classify)?;
        let exported = (|| {
            let tables = std::iter::once((&REALMS, "name = ?1", "name"))
                .chain(TABLES.iter().map(|t| (t, "realm = ?1", t.order.unwrap_or("rowid"))));
            let mut found = false;
            for (table, filter, order) in tables {
                let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
                let sql = format!("SELECT {} FROM {} WHERE {filter} ORDER BY {order}", columns.join(", "), table.name);
                let mut statement = conn.prepare(&sql).map_err(classify)?;
                let mut rows = statement.query(params![realm]).map_err(classify)?;
                while let Some(row) = rows.next().map_err(classify)? {
                    let mut map = Map::new();
                    for (i, (name, column)) in table.columns.iter().enumerate() {
                        map.insert(name.to_string(), to_json(row, i, *column).map_err(classify)?);
                    }
                    found = true;
                    out(table, map).map_err(|e| DirectoryError::Unavailable(format!("writing the export: {e}")))?;
                }
                if !found {
                    return Err(DirectoryError::NotFound(format!("realm \"{realm}\"")));
                }
            }
            Ok(())
        })();
        let _ = conn.execute_batch("COMMIT");
        exported
    }

    pub(super) fn import(&self, realm: &str, rows: &mut Rows) -> DirResult<()> {
        let lease = self.join_writer()?;
        let exists = lease
            .query_row("SELECT count(*) FROM realms WHERE name = ?1", params![realm], |r| r.get::<_, i64>(0))
            .map_err(classify)?;
        if exists > 0 {
            return Err(DirectoryError::Conflict {
                constraint: "realm".into(),
                detail: format!("realm \"{realm}\" already exists in this store"),
            });
        }
        for row in rows {
            let (table, row) = row.map_err(DirectoryError::Invalid)?;
            let (mut columns, typed) = table.insert(realm, &row);
            let values: Vec<Sql> = typed.iter().map(|(_, value)| to_sql(Some(value))).collect();
            let mut placeholders: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
            if table.placed {
                columns.push("seq");
                placeholders.push(format!("(SELECT coalesce(max(seq), 0) + 1 FROM {} WHERE realm = ?1)", table.name));
            }
            let sql =
                format!("INSERT INTO {} ({}) VALUES ({})", table.name, columns.join(", "), placeholders.join(", "));
            lease
                .prepare_cached(&sql)
                .and_then(|mut s| s.execute(rusqlite::params_from_iter(values)))
                .map_err(classify)?;
        }
        lease.commit()
    }
}
