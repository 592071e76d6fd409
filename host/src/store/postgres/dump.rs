//! Realm export and import on the PostgreSQL store (see [`crate::store::dump`]): the export
//! reads one REPEATABLE READ snapshot; the import writes in one transaction, and every host
//! hears of the new realm at its commit.

use super::*;
use crate::store::dump::{Column, Out, REALMS, Rows, TABLES};
use serde_json::Value;

fn to_json(row: &pg::Row, i: usize, column: Column) -> Value {
    match column {
        Column::Text => row.get::<_, Option<String>>(i).map_or(Value::Null, Value::String),
        Column::Int => row.get::<_, Option<i64>>(i).map_or(Value::Null, Value::from),
        Column::Bool => row.get::<_, Option<bool>>(i).map_or(Value::Null, Value::Bool),
    }
}

fn sql_type(column: Column) -> &'static str {
    match column {
        Column::Text => "TEXT",
        Column::Int => "BIGINT",
        Column::Bool => "BOOLEAN",
    }
}

fn to_sql(value: Option<&Value>, column: Column) -> Box<dyn ToSql + Sync> {
    match column {
        Column::Text => Box::new(value.and_then(Value::as_str).map(str::to_string)),
        Column::Int => Box::new(value.and_then(Value::as_i64)),
        Column::Bool => Box::new(value.and_then(Value::as_bool)),
    }
}

impl PostgresStore {
    pub(super) fn export(&self, realm: &str, out: &mut Out) -> DirResult<()> {
        let mut conn = self.checkout(CHECKOUT_TIMEOUT)?;
        conn.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let tables = std::iter::once((&REALMS, "name = $1", "name"))
            .chain(TABLES.iter().map(|t| (t, "realm = $1", t.order.unwrap_or("seq"))));
        let mut found = false;
        for (table, filter, order) in tables {
            // Integers of every width read as BIGINT.
            let columns: Vec<String> = table
                .columns
                .iter()
                .map(|(c, kind)| if *kind == Column::Int { format!("CAST({c} AS BIGINT)") } else { c.to_string() })
                .collect();
            let sql = format!("SELECT {} FROM {} WHERE {filter} ORDER BY {order}", columns.join(", "), table.name);
            for row in conn.query(&sql, &[&realm])? {
                let map =
                    table.columns.iter().enumerate().map(|(i, (name, c))| (name.to_string(), to_json(&row, i, *c)));
                found = true;
                out(table, map.collect())
                    .map_err(|e| DirectoryError::Unavailable(format!("writing the export: {e}")))?;
            }
            if !found {
                conn.rollback();
                return Err(DirectoryError::NotFound(format!("realm \"{realm}\"")));
            }
        }
        conn.commit()
    }

    pub(super) fn import(&self, realm: &str, rows: &mut Rows) -> DirResult<()> {
        let mut conn = self.checkout(CHECKOUT_TIMEOUT)?;
        conn.begin("BEGIN")?;
        // Dropped before the commit, the connection rolls back (see `Connection`).
        if conn.query_opt("SELECT 1 FROM realms WHERE name = $1", &[&realm])?.is_some() {
            conn.rollback();
            return Err(DirectoryError::Conflict {
                constraint: "realm".into(),
                detail: format!("realm \"{realm}\" already exists in this store"),
            });
        }
        let loaded = (|| {
            for row in rows {
                let (table, row) = row.map_err(DirectoryError::Invalid)?;
                let (columns, typed) = table.insert(realm, &row);
                let types: Vec<&str> = typed.iter().map(|(column, _)| sql_type(*column)).collect();
                let values: Vec<Box<dyn ToSql + Sync>> =
                    typed.iter().map(|(column, value)| to_sql(Some(value), *column)).collect();
                // Typed placeholders: a BIGINT goes into an INTEGER column by assignment.
                let placeholders: Vec<String> =
                    types.iter().enumerate().map(|(i, kind)| format!("${}::{kind}", i + 1)).collect();
                let sql =
                    format!("INSERT INTO {} ({}) VALUES ({})", table.name, columns.join(", "), placeholders.join(", "));
                let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
                conn.execute(&sql, &params)?;
            }
            changes::notify(&mut conn, realm)
        })();
        match loaded {
            Ok(()) => conn.commit(),
            Err(e) => {
                conn.rollback();
                Err(e)
            }
        }
    }
}
