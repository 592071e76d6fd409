//! Reading and writing rows: users, groups and their attributes, lookups, uniqueness.

use super::*;

// The list place comes last: read by `placed`, not by the row functions.
pub(super) const USER_COLUMNS: &str =
    "u.id, u.username, u.email, u.first_name, u.last_name, u.enabled, u.created_at, u.updated_at, u.version, u.seq";

pub(super) const GROUP_COLUMNS: &str = "g.id, g.name, g.organization, g.created_at, g.updated_at, g.version, g.seq";

pub(super) fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        email: r.get(2)?,
        first_name: r.get(3)?,
        last_name: r.get(4)?,
        enabled: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        version: r.get::<_, i64>(8)? as u64,
        attributes: Vec::new(),
    })
}

pub(super) fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        name: r.get(1)?,
        organization: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        version: r.get::<_, i64>(5)? as u64,
        attributes: Vec::new(),
    })
}

/// The externalId among a draft's attributes.
pub(super) fn external_id(attributes: &[Attribute]) -> Option<&str> {
    attributes.iter().find(|a| a.name == "externalId").and_then(|a| a.values.first()).map(String::as_str)
}

impl SqliteTransaction {
    pub(super) fn attributes(&self, table: &str, owner: &str, id: &str) -> DirResult<Vec<Attribute>> {
        let sql = format!("SELECT name, value FROM {table} WHERE realm = ?1 AND {owner} = ?2 ORDER BY name, position");
        let mut statement = self.conn()?.prepare_cached(&sql).map_err(classify)?;
        let mut rows = statement.query(params![self.realm, id]).map_err(classify)?;
        let mut attributes: Vec<Attribute> = Vec::new();
        while let Some(row) = rows.next().map_err(classify)? {
            push_value(&mut attributes, row.get(0).map_err(classify)?, row.get(1).map_err(classify)?);
        }
        Ok(attributes)
    }

    /// Replaces the attributes of an owner.
    pub(super) fn write_attributes(
        &self,
        table: &str,
        owner: &str,
        id: &str,
        attributes: &[Attribute],
    ) -> DirResult<()> {
        let delete = format!("DELETE FROM {table} WHERE realm = ?1 AND {owner} = ?2");
        self.conn()?.prepare_cached(&delete).and_then(|mut s| s.execute(params![self.realm, id])).map_err(classify)?;
        self.insert_attributes(table, owner, id, attributes)
    }

    /// Adds the attributes of an owner that has none (one just created).
    pub(super) fn insert_attributes(
        &self,
        table: &str,
        owner: &str,
        id: &str,
        attributes: &[Attribute],
    ) -> DirResult<()> {
        let insert = format!(
            "INSERT INTO {table} (realm, {owner}, name, position, value, value_lower) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        );
        let mut statement = self.conn()?.prepare_cached(&insert).map_err(classify)?;
        for attribute in attributes {
            for (position, value) in attribute.values.iter().enumerate() {
                statement
                    .execute(params![self.realm, id, attribute.name, position as i64, value, value.to_lowercase()])
                    .map_err(classify)?;
            }
        }
        Ok(())
    }

    /// The attributes of many owners in one query (a page of a list), by owner id; only
    /// those named, when names are given.
    pub(super) fn attributes_of_many(
        &self,
        table: &str,
        owner: &str,
        ids: &[&str],
        names: Option<&[String]>,
    ) -> DirResult<HashMap<String, Vec<Attribute>>> {
        // The ids (and names) travel as one JSON array, so the statement stays the same
        // for any page.
        let named = if names.is_some() { "AND name IN (SELECT value FROM json_each(?3))" } else { "" };
        let sql = format!(
            "SELECT {owner}, name, value FROM {table}
             WHERE realm = ?1 AND {owner} IN (SELECT value FROM json_each(?2)) {named}
             ORDER BY {owner}, name, position"
        );
        let ids = serde_json::to_string(ids).expect("strings serialize");
        let names = names.map(|n| serde_json::to_string(n).expect("strings serialize"));
        let mut statement = self.conn()?.prepare_cached(&sql).map_err(classify)?;
        let mut rows = match &names {
            Some(names) => statement.query(params![self.realm, ids, names]),
            None => statement.query(params![self.realm, ids]),
        }
        .map_err(classify)?;
        let mut by_owner: HashMap<String, Vec<Attribute>> = HashMap::new();
        let mut bytes = 0;
        while let Some(row) = rows.next().map_err(classify)? {
            let id: String = row.get(0).map_err(classify)?;
            let (name, value): (String, String) = (row.get(1).map_err(classify)?, row.get(2).map_err(classify)?);
            bytes += name.len() + value.len();
            if bytes > MAX_PAGE_BYTES {
                return Err(DirectoryError::Invalid(format!(
                    "the page holds more than {MAX_PAGE_BYTES} bytes of attributes: ask for fewer resources"
                )));
            }
            push_value(by_owner.entry(id).or_default(), name, value);
        }
        Ok(by_owner)
    }

    pub(super) fn with_user_attributes(&self, mut user: User) -> DirResult<User> {
        user.attributes = self.attributes("user_attributes", "user_id", &user.id)?;
        Ok(user)
    }

    pub(super) fn with_group_attributes(&self, mut group: Group) -> DirResult<Group> {
        group.attributes = self.attributes("group_attributes", "group_id", &group.id)?;
        Ok(group)
    }

    /// The few rows `condition` picks, in list order. No ORDER BY: with one, SQLite walked
    /// the realm's list-order index and tested the condition on every row. A `lookup` by
    /// value matches only the bound organization's members and groups, if one is bound.
    pub(super) fn rows_where<T>(
        &self,
        kind: Kind,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
        lookup: bool,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> DirResult<Vec<T>> {
        let (table, alias, columns) = source(kind);
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&self.realm];
        all.extend_from_slice(args);
        let bound = match &self.organization {
            Some(organization) if lookup => {
                all.push(organization);
                let org = all.len();
                match kind {
                    // Correlated: one primary-key probe per candidate row, not a list of
                    // every member built for each lookup.
                    Kind::Users => format!(
                        " AND EXISTS (SELECT 1 FROM organization_members m \
                         WHERE m.realm = ?1 AND m.organization_id = ?{org} AND m.user_id = u.id)"
                    ),
                    Kind::Groups => format!(" AND g.organization = ?{org}"),
                }
            }
            _ => String::new(),
        };
        let sql = format!(
            "SELECT {columns} FROM {table} {alias} WHERE {alias}.realm = ?1 AND {condition}{bound} LIMIT {}",
            MAX_LOOKUP_ROWS + 1
        );
        let mut statement = self.conn()?.prepare_cached(&sql).map_err(classify)?;
        let mut rows = statement
            .query_map(all.as_slice(), placed(row))
            .map_err(classify)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(classify)?;
        if rows.len() > MAX_LOOKUP_ROWS {
            return Err(DirectoryError::Invalid(format!(
                "the lookup matches more than {MAX_LOOKUP_ROWS} resources: search with a filter and pages instead"
            )));
        }
        rows.sort_unstable_by_key(|(seq, _)| *seq);
        Ok(rows.into_iter().map(|(_, item)| item).collect())
    }

    pub(super) fn users_where(
        &self,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
        lookup: bool,
    ) -> DirResult<Vec<User>> {
        let users = self.rows_where(Kind::Users, condition, args, lookup, user_row)?;
        users.into_iter().map(|u| self.with_user_attributes(u)).collect()
    }

    pub(super) fn groups_where(
        &self,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
        lookup: bool,
    ) -> DirResult<Vec<Group>> {
        let groups = self.rows_where(Kind::Groups, condition, args, lookup, group_row)?;
        groups.into_iter().map(|g| self.with_group_attributes(g)).collect()
    }

    pub(super) fn check_user_unique(&self, draft: &UserDraft, own: Option<&str>) -> DirResult<()> {
        let taken: Option<String> = self
            .conn()?
            .prepare_cached("SELECT id FROM users WHERE realm = ?1 AND username_lower = ?2")
            .and_then(|mut s| s.query_row(params![self.realm, draft.username.to_lowercase()], |r| r.get(0)).optional())
            .map_err(classify)?;
        if taken.filter(|id| Some(id.as_str()) != own).is_some() {
            return Err(DirectoryError::Conflict {
                constraint: "username".into(),
                detail: format!("userName \"{}\" is already taken", draft.username),
            });
        }
        self.check_external_id("user_attributes", "user_id", "user", &draft.attributes, own)
    }

    pub(super) fn check_group_unique(&self, draft: &GroupDraft, own: Option<&str>) -> DirResult<()> {
        self.check_external_id("group_attributes", "group_id", "group", &draft.attributes, own)
    }

    /// Refuses an externalId another resource of the same kind already has.
    pub(super) fn check_external_id(
        &self,
        table: &str,
        owner: &str,
        noun: &str,
        attributes: &[Attribute],
        own: Option<&str>,
    ) -> DirResult<()> {
        let Some(value) = external_id(attributes) else { return Ok(()) };
        let sql = format!("SELECT {owner} FROM {table} WHERE realm = ?1 AND name = 'externalId' AND value = ?2");
        let taken: Option<String> = self
            .conn()?
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params![self.realm, value], |r| r.get(0)).optional())
            .map_err(classify)?;
        // The detail names the value, never the holder: the caller may not be allowed to see it.
        match taken.filter(|id| Some(id.as_str()) != own) {
            Some(_) => Err(DirectoryError::Conflict {
                constraint: "external-id".into(),
                detail: format!("externalId \"{value}\" is already used by another {noun}"),
            }),
            None => Ok(()),
        }
    }

    /// The ids a query selects among `ids` (`?3`, as a JSON array) for the organization (`?2`).
    pub(super) fn ids_among(
        &self,
        sql: &str,
        organization_id: &str,
        ids: &[String],
    ) -> DirResult<std::collections::HashSet<String>> {
        let ids = serde_json::to_string(ids).expect("strings serialize");
        self.conn()?
            .prepare_cached(sql)
            .and_then(|mut s| s.query_map(params![self.realm, organization_id, ids], |r| r.get(0))?.collect())
            .map_err(classify)
    }

    pub(super) fn exists(&self, table: &str, id: &str) -> DirResult<bool> {
        let sql = format!("SELECT 1 FROM {table} WHERE realm = ?1 AND id = ?2");
        self.conn()?.prepare_cached(&sql).and_then(|mut s| s.exists(params![self.realm, id])).map_err(classify)
    }

    /// Marks groups as changed (their member lists moved): new version, new lastModified.
    pub(super) fn touch_groups(&self, condition: &str, args: &[&dyn rusqlite::ToSql]) -> DirResult<()> {
        let sql = format!(
            "UPDATE groups SET version = version + 1, updated_at = ?2 WHERE realm = ?1 AND id IN ({condition})"
        );
        let now = now_millis();
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&self.realm, &now];
        all.extend_from_slice(args);
        self.conn()?.prepare_cached(&sql).and_then(|mut s| s.execute(all.as_slice())).map_err(classify).map(drop)
    }
}
