//! The directory contract on the PostgreSQL store: rows, lookups, searches and writes.

use super::*;
use crate::store::sql_filter::{self as filter, Dialect, Kind, Sql};

const USER_COLUMNS: &str =
    "u.id, u.username, u.email, u.first_name, u.last_name, u.enabled, u.created_at, u.updated_at, u.version, u.seq";
const GROUP_COLUMNS: &str = "g.id, g.name, g.organization, g.created_at, g.updated_at, g.version, g.seq";

fn user_row(r: &pg::Row) -> User {
    User {
        id: r.get(0),
        username: r.get(1),
        email: r.get(2),
        first_name: r.get(3),
        last_name: r.get(4),
        enabled: r.get(5),
        created_at: r.get(6),
        updated_at: r.get(7),
        version: r.get::<_, i64>(8) as u64,
        attributes: Vec::new(),
    }
}

fn group_row(r: &pg::Row) -> Group {
    Group {
        id: r.get(0),
        name: r.get(1),
        organization: r.get(2),
        created_at: r.get(3),
        updated_at: r.get(4),
        version: r.get::<_, i64>(5) as u64,
        attributes: Vec::new(),
    }
}

/// The table, its alias, the columns read (the list place last), its attribute table and
/// that table's owner column, of each kind of resource.
fn source(kind: Kind) -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
    match kind {
        Kind::Users => ("users", "u", USER_COLUMNS, "user_attributes", "user_id"),
        Kind::Groups => ("groups", "g", GROUP_COLUMNS, "group_attributes", "group_id"),
    }
}

impl PostgresTransaction {
    /// The attributes of many owners in one query, by owner id; only those named, when
    /// names are given.
    fn attributes_of(
        &mut self,
        kind: Kind,
        ids: &[String],
        names: Option<&[String]>,
    ) -> DirResult<HashMap<String, Vec<Attribute>>> {
        let (.., table, owner) = source(kind);
        let realm = self.realm.clone();
        let sql = format!(
            "SELECT {owner}, name, value FROM {table}
             WHERE realm = $1 AND {owner} = ANY($2) AND ($3::text[] IS NULL OR name = ANY($3))
             ORDER BY {owner}, name, position"
        );
        let rows = self.conn()?.query(&sql, &[&realm, &ids, &names])?;
        let mut by_owner: HashMap<String, Vec<Attribute>> = HashMap::new();
        let mut bytes = 0;
        for row in rows {
            let (id, name, value): (String, String, String) = (row.get(0), row.get(1), row.get(2));
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

    /// Adds the attributes of an owner that has none, in one statement.
    fn insert_attributes(&mut self, kind: Kind, id: &str, attributes: &[Attribute]) -> DirResult<()> {
        let (.., table, owner) = source(kind);
        let mut names = std::collections::HashSet::new();
        if let Some(twice) = attributes.iter().find(|a| !names.insert(a.name.as_str())) {
            return Err(DirectoryError::Conflict {
                constraint: "unique".into(),
                detail: format!("the attribute \"{}\" is given twice", twice.name),
            });
        }
        let values = attributes.iter().flat_map(|a| a.values.iter().enumerate().map(move |(i, v)| (a, i, v)));
        let (mut name, mut position, mut value, mut value_lower) = (vec![], vec![], vec![], vec![]);
        for (attribute, i, v) in values {
            name.push(attribute.name.as_str());
            position.push(i as i32);
            value.push(v.as_str());
            value_lower.push(v.to_lowercase());
        }
        if name.is_empty() {
            return Ok(());
        }
        let realm = self.realm.clone();
        let sql = format!(
            "INSERT INTO {table} (realm, {owner}, name, position, value, value_lower)
             SELECT $1, $2, * FROM unnest($3::text[], $4::int[], $5::text[], $6::text[])"
        );
        self.conn()?.execute(&sql, &[&realm, &id, &name, &position, &value, &value_lower]).map(drop)
    }

    /// Replaces the attributes of an owner.
    fn replace_attributes(&mut self, kind: Kind, id: &str, attributes: &[Attribute]) -> DirResult<()> {
        let (.., table, owner) = source(kind);
        let realm = self.realm.clone();
        self.conn()?.execute(&format!("DELETE FROM {table} WHERE realm = $1 AND {owner} = $2"), &[&realm, &id])?;
        self.insert_attributes(kind, id, attributes)
    }

    /// The few rows `condition` picks (its values from `$2`), in list order, with their
    /// attributes. A `lookup` by value matches only the bound organization's members and
    /// groups, if one is bound, so that the cap counts only those.
    fn rows_where<T>(
        &mut self,
        kind: Kind,
        condition: &str,
        args: &[&(dyn ToSql + Sync)],
        lookup: bool,
        row: fn(&pg::Row) -> T,
    ) -> DirResult<Vec<(String, T)>> {
        let (table, alias, columns, ..) = source(kind);
        let realm = self.realm.clone();
        let organization = self.organization.clone().filter(|_| lookup);
        let mut all: Vec<&(dyn ToSql + Sync)> = vec![&realm];
        all.extend_from_slice(args);
        let bound = match &organization {
            Some(organization) => {
                all.push(organization);
                let org = all.len();
                match kind {
                    Kind::Users => format!(
                        " AND EXISTS (SELECT 1 FROM organization_members m \
                         WHERE m.realm = $1 AND m.organization_id = ${org} AND m.user_id = u.id)"
                    ),
                    Kind::Groups => format!(" AND g.organization = ${org}"),
                }
            }
            None => String::new(),
        };
        let sql = format!(
            "SELECT {columns} FROM {table} {alias} WHERE {alias}.realm = $1 AND {condition}{bound} ORDER BY {alias}.seq LIMIT {}",
            MAX_LOOKUP_ROWS + 1
        );
        let rows = self.conn()?.query(&sql, &all)?;
        if rows.len() > MAX_LOOKUP_ROWS {
            return Err(DirectoryError::Invalid(format!(
                "the lookup matches more than {MAX_LOOKUP_ROWS} resources: search with a filter and pages instead"
            )));
        }
        Ok(rows.iter().map(|r| (r.get(0), row(r))).collect())
    }

    fn users_where(&mut self, condition: &str, args: &[&(dyn ToSql + Sync)], lookup: bool) -> DirResult<Vec<User>> {
        let found = self.rows_where(Kind::Users, condition, args, lookup, user_row)?;
        self.with_attributes(Kind::Users, found, |u, a| u.attributes = a)
    }

    fn groups_where(&mut self, condition: &str, args: &[&(dyn ToSql + Sync)], lookup: bool) -> DirResult<Vec<Group>> {
        let found = self.rows_where(Kind::Groups, condition, args, lookup, group_row)?;
        self.with_attributes(Kind::Groups, found, |g, a| g.attributes = a)
    }

    /// The resources with all their attributes.
    fn with_attributes<T>(
        &mut self,
        kind: Kind,
        found: Vec<(String, T)>,
        set: fn(&mut T, Vec<Attribute>),
    ) -> DirResult<Vec<T>> {
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = found.iter().map(|(id, _)| id.clone()).collect();
        let mut attributes = self.attributes_of(kind, &ids, None)?;
        Ok(found
            .into_iter()
            .map(|(id, mut item)| {
                set(&mut item, attributes.remove(&id).unwrap_or_default());
                item
            })
            .collect())
    }

    /// One page of a list query, with the number of all matches. A page in the default
    /// order read after the previous page of the same query starts where that one ended
    /// (an index seek on the list place), as on the SQLite store.
    fn search<T>(
        &mut self,
        kind: Kind,
        query: &Query,
        names: Option<&[String]>,
        row: fn(&pg::Row) -> T,
        set: fn(&mut T, Vec<Attribute>),
    ) -> DirResult<Page<T>> {
        let (table, alias, columns, ..) = source(kind);
        let mut sql = Sql::new(Dialect::Postgres, &self.realm);
        let mut conditions = vec![format!("{alias}.realm = $1")];
        if let Some(organization) = &query.organization {
            let org = sql.bind(organization.clone());
            conditions.push(match kind {
                Kind::Users => format!(
                    "u.id IN (SELECT user_id FROM organization_members WHERE realm = $1 AND organization_id = {org})"
                ),
                Kind::Groups => format!("g.organization = {org}"),
            });
        }
        if let Some(filter) = filter::filter(kind, &query.filter, &mut sql)? {
            conditions.push(filter);
        }
        let condition = conditions.join(" AND ");
        let params: Vec<&(dyn ToSql + Sync)> = sql.params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let total: i64 =
            self.conn()?.query(&format!("SELECT count(*) FROM {table} {alias} WHERE {condition}"), &params)?[0].get(0);
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        if query.limit == 0 || query.offset >= total {
            return Ok(Page { total, items: Vec::new() });
        }
        let order = filter::order(kind, query.sort.as_ref(), &mut sql);
        let cursor_key = query.sort.is_none().then(|| ListCursors::key(kind, &condition, &sql.params));
        let after =
            cursor_key.filter(|_| query.offset > 0).and_then(|k| self.store.cursors.place_before(k, query.offset));
        let (condition, skip) = match after {
            Some(after) => (format!("{condition} AND {alias}.seq > {}", sql.bind(after)), 0),
            None => (condition, query.offset),
        };
        let limit = sql.bind(i64::from(query.limit));
        let offset = sql.bind(i64::from(skip));
        let page_sql = format!(
            "SELECT {columns} FROM {table} {alias} WHERE {condition} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        );
        let params: Vec<&(dyn ToSql + Sync)> = sql.params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.conn()?.query(&page_sql, &params)?;
        if let (Some(k), Some(last)) = (cursor_key, rows.last()) {
            let place: i64 = last.get(last.len() - 1);
            self.store.cursors.remember(k, query.offset + rows.len() as u32, place);
        }
        let found: Vec<(String, T)> = rows.iter().map(|r| (r.get(0), row(r))).collect();
        let ids: Vec<String> = found.iter().map(|(id, _)| id.clone()).collect();
        let mut attributes = self.attributes_of(kind, &ids, names)?;
        let items = found
            .into_iter()
            .map(|(id, mut item)| {
                set(&mut item, attributes.remove(&id).unwrap_or_default());
                item
            })
            .collect();
        Ok(Page { total, items })
    }

    fn check_user_unique(&mut self, draft: &UserDraft, own: Option<&str>) -> DirResult<()> {
        let realm = self.realm.clone();
        let taken = self.conn()?.query_opt(
            "SELECT id FROM users WHERE realm = $1 AND username_lower = $2",
            &[&realm, &draft.username.to_lowercase()],
        )?;
        if taken.is_some_and(|r| Some(r.get::<_, &str>(0)) != own) {
            return Err(DirectoryError::Conflict {
                constraint: "username".into(),
                detail: format!("userName \"{}\" is already taken", draft.username),
            });
        }
        self.check_external_id(Kind::Users, &draft.attributes, own)
    }

    /// Refuses an externalId another resource of the same kind already has. The detail
    /// names the value, never the holder: the caller may not be allowed to see it.
    fn check_external_id(&mut self, kind: Kind, attributes: &[Attribute], own: Option<&str>) -> DirResult<()> {
        let Some(value) = first_value(attributes, "externalId") else { return Ok(()) };
        let (.., table, owner) = source(kind);
        let realm = self.realm.clone();
        let sql = format!(
            "SELECT {owner} FROM {table} WHERE realm = $1 AND name = 'externalId' AND md5(value) = md5($2) AND value = $2"
        );
        let taken = self.conn()?.query_opt(&sql, &[&realm, &value])?;
        if taken.is_some_and(|r| Some(r.get::<_, &str>(0)) != own) {
            let noun = if kind == Kind::Users { "user" } else { "group" };
            return Err(DirectoryError::Conflict {
                constraint: "external-id".into(),
                detail: format!("externalId \"{value}\" is already used by another {noun}"),
            });
        }
        Ok(())
    }

    pub(super) fn exists(&mut self, table: &str, id: &str) -> DirResult<bool> {
        let realm = self.realm.clone();
        let sql = format!("SELECT 1 FROM {table} WHERE realm = $1 AND id = $2");
        Ok(self.conn()?.query_opt(&sql, &[&realm, &id])?.is_some())
    }

    /// Marks the groups `condition` selects (its values from `$3`) as changed: new
    /// version, new lastModified.
    fn touch_groups(&mut self, condition: &str, args: &[&(dyn ToSql + Sync)]) -> DirResult<()> {
        let sql = format!(
            "UPDATE groups SET version = version + 1, updated_at = $2 WHERE realm = $1 AND id IN ({condition})"
        );
        let (realm, now) = (self.realm.clone(), now_millis());
        let mut all: Vec<&(dyn ToSql + Sync)> = vec![&realm, &now];
        all.extend_from_slice(args);
        self.conn()?.execute(&sql, &all).map(drop)
    }

    /// Writes a user's columns: a new row (`id` new) or the row of `id`; false when
    /// there is no such row to update.
    fn write_user(&mut self, id: &str, draft: &UserDraft, now: i64, new: bool) -> DirResult<bool> {
        let sql = if new {
            "INSERT INTO users (realm, id, username, username_lower, email, email_lower, first_name,
                first_name_lower, last_name, last_name_lower, enabled, created_at, updated_at, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, 1)"
        } else {
            "UPDATE users SET username = $3, username_lower = $4, email = $5, email_lower = $6,
                first_name = $7, first_name_lower = $8, last_name = $9, last_name_lower = $10,
                enabled = $11, updated_at = $12, version = version + 1
             WHERE realm = $1 AND id = $2"
        };
        let realm = self.realm.clone();
        let written = self.conn()?.execute(
            sql,
            &[
                &realm,
                &id,
                &draft.username,
                &draft.username.to_lowercase(),
                &draft.email,
                &lower(&draft.email),
                &draft.first_name,
                &lower(&draft.first_name),
                &draft.last_name,
                &lower(&draft.last_name),
                &draft.enabled,
                &now,
            ],
        )?;
        Ok(written > 0)
    }

    fn memberships(&mut self, sql: &str, id: &str) -> DirResult<Vec<(String, String)>> {
        let realm = self.realm.clone();
        Ok(self.conn()?.query(sql, &[&realm, &id])?.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

impl Directory for PostgresTransaction {
    fn get_user(&mut self, id: &str) -> DirResult<Option<User>> {
        Ok(self.users_where("u.id = $2", &[&id], false)?.pop())
    }

    fn get_user_by_username(&mut self, username: &str) -> DirResult<Option<User>> {
        Ok(self.users_where("u.username_lower = $2", &[&username.to_lowercase()], true)?.pop())
    }

    fn get_users_by_email(&mut self, email: &str) -> DirResult<Vec<User>> {
        self.users_where("u.email_lower = $2", &[&email.to_lowercase()], true)
    }

    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<User>> {
        self.users_where(
            "u.id IN (SELECT user_id FROM user_attributes WHERE realm = $1 AND name = $2 AND md5(value_lower) = md5($3) AND value_lower = $3 AND value = $4)",
            &[&name, &value.to_lowercase(), &value],
            true,
        )
    }

    fn search_users(&mut self, query: &Query) -> DirResult<Page<User>> {
        self.search(Kind::Users, query, None, user_row, |u, a| u.attributes = a)
    }

    fn search_users_selected(&mut self, query: &Query, attributes: &[String]) -> DirResult<Page<User>> {
        self.search(Kind::Users, query, Some(attributes), user_row, |u, a| u.attributes = a)
    }

    fn create_user(&mut self, draft: &UserDraft) -> DirResult<User> {
        check_user(draft)?;
        self.writing()?;
        self.check_user_unique(draft, None)?;
        let (id, now) = (new_id(), now_millis());
        self.write_user(&id, draft, now, true)?;
        self.insert_attributes(Kind::Users, &id, &draft.attributes)?;
        Ok(User::created(id, draft, now))
    }

    fn update_user(&mut self, id: &str, draft: &UserDraft) -> DirResult<User> {
        check_user(draft)?;
        self.writing()?;
        self.check_user_unique(draft, Some(id))?;
        if !self.write_user(id, draft, now_millis(), false)? {
            return Err(DirectoryError::NotFound(id.to_string()));
        }
        self.replace_attributes(Kind::Users, id, &draft.attributes)?;
        self.get_user(id)?.ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    fn delete_user(&mut self, id: &str) -> DirResult<bool> {
        self.writing()?;
        self.touch_groups("SELECT group_id FROM memberships WHERE realm = $1 AND user_id = $3", &[&id])?;
        let realm = self.realm.clone();
        Ok(self.conn()?.execute("DELETE FROM users WHERE realm = $1 AND id = $2", &[&realm, &id])? > 0)
    }

    fn get_group(&mut self, id: &str) -> DirResult<Option<Group>> {
        Ok(self.groups_where("g.id = $2", &[&id], false)?.pop())
    }

    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<Group>> {
        self.groups_where(
            "g.id IN (SELECT group_id FROM group_attributes WHERE realm = $1 AND name = $2 AND md5(value_lower) = md5($3) AND value_lower = $3 AND value = $4)",
            &[&name, &value.to_lowercase(), &value],
            true,
        )
    }

    fn search_groups(&mut self, query: &Query) -> DirResult<Page<Group>> {
        self.search(Kind::Groups, query, None, group_row, |g, a| g.attributes = a)
    }

    fn create_group(&mut self, draft: &GroupDraft) -> DirResult<Group> {
        check_group(draft)?;
        self.writing()?;
        self.check_external_id(Kind::Groups, &draft.attributes, None)?;
        if let Some(organization) = &draft.organization
            && !self.exists("organizations", organization)?
        {
            return Err(DirectoryError::NotFound(organization.clone()));
        }
        let (id, now, realm) = (new_id(), now_millis(), self.realm.clone());
        self.conn()?.execute(
            "INSERT INTO groups (realm, id, name, name_lower, organization, created_at, updated_at, version)
             VALUES ($1, $2, $3, $4, $5, $6, $6, 1)",
            &[&realm, &id, &draft.name, &draft.name.to_lowercase(), &draft.organization, &now],
        )?;
        self.insert_attributes(Kind::Groups, &id, &draft.attributes)?;
        Ok(Group::created(id, draft, now))
    }

    fn update_group(&mut self, id: &str, draft: &GroupDraft) -> DirResult<Group> {
        check_group(draft)?;
        self.writing()?;
        self.check_external_id(Kind::Groups, &draft.attributes, Some(id))?;
        let realm = self.realm.clone();
        let changed = self.conn()?.execute(
            "UPDATE groups SET name = $3, name_lower = $4, updated_at = $5, version = version + 1
             WHERE realm = $1 AND id = $2",
            &[&realm, &id, &draft.name, &draft.name.to_lowercase(), &now_millis()],
        )?;
        if changed == 0 {
            return Err(DirectoryError::NotFound(id.to_string()));
        }
        self.replace_attributes(Kind::Groups, id, &draft.attributes)?;
        self.get_group(id)?.ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    fn delete_group(&mut self, id: &str) -> DirResult<bool> {
        self.writing()?;
        let realm = self.realm.clone();
        Ok(self.conn()?.execute("DELETE FROM groups WHERE realm = $1 AND id = $2", &[&realm, &id])? > 0)
    }

    fn group_members(&mut self, group_id: &str) -> DirResult<Vec<Member>> {
        let rows = self.memberships(
            "SELECT u.id, u.username FROM memberships m JOIN users u ON u.realm = m.realm AND u.id = m.user_id
             WHERE m.realm = $1 AND m.group_id = $2 ORDER BY m.seq",
            group_id,
        )?;
        Ok(rows.into_iter().map(|(user_id, username)| Member { user_id, username }).collect())
    }

    fn user_groups(&mut self, user_id: &str) -> DirResult<Vec<Membership>> {
        let rows = self.memberships(
            "SELECT g.id, g.name FROM memberships m JOIN groups g ON g.realm = m.realm AND g.id = m.group_id
             WHERE m.realm = $1 AND m.user_id = $2 ORDER BY m.seq",
            user_id,
        )?;
        Ok(rows.into_iter().map(|(group_id, group_name)| Membership { group_id, group_name }).collect())
    }

    fn groups_of_users(&mut self, user_ids: &[String]) -> DirResult<Vec<Vec<Membership>>> {
        let realm = self.realm.clone();
        let rows = self.conn()?.query(
            "SELECT m.user_id, g.id, g.name FROM memberships m JOIN groups g ON g.realm = m.realm AND g.id = m.group_id
             WHERE m.realm = $1 AND m.user_id = ANY($2) ORDER BY m.seq",
            &[&realm, &user_ids],
        )?;
        let mut by_user: HashMap<String, Vec<Membership>> = HashMap::new();
        for row in rows {
            by_user.entry(row.get(0)).or_default().push(Membership { group_id: row.get(1), group_name: row.get(2) });
        }
        Ok(user_ids.iter().map(|id| by_user.remove(id).unwrap_or_default()).collect())
    }

    fn add_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        self.writing()?;
        for (table, id) in [("groups", group_id), ("users", user_id)] {
            if !self.exists(table, id)? {
                return Err(DirectoryError::NotFound(id.to_string()));
            }
        }
        let realm = self.realm.clone();
        let added = self.conn()?.execute(
            "INSERT INTO memberships (realm, group_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&realm, &group_id, &user_id],
        )? > 0;
        if added {
            self.touch_groups("$3", &[&group_id])?;
        }
        Ok(added)
    }

    fn remove_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        self.writing()?;
        let realm = self.realm.clone();
        let removed = self.conn()?.execute(
            "DELETE FROM memberships WHERE realm = $1 AND group_id = $2 AND user_id = $3",
            &[&realm, &group_id, &user_id],
        )? > 0;
        if removed {
            self.touch_groups("$3", &[&group_id])?;
        }
        Ok(removed)
    }

    fn get_organization(&mut self, alias: &str) -> DirResult<Option<Organization>> {
        let realm = self.realm.clone();
        let row = self.conn()?.query_opt(
            "SELECT id, alias, name FROM organizations WHERE realm = $1 AND alias = $2",
            &[&realm, &alias],
        )?;
        Ok(row.map(|r| Organization { id: r.get(0), alias: r.get(1), name: r.get(2) }))
    }

    fn is_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        let realm = self.realm.clone();
        let row = self.conn()?.query_opt(
            "SELECT 1 FROM organization_members WHERE realm = $1 AND organization_id = $2 AND user_id = $3",
            &[&realm, &organization_id, &user_id],
        )?;
        Ok(row.is_some())
    }

    fn add_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        self.join_organization(organization_id, user_id, MembershipType::Unmanaged)
    }

    fn remove_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        self.writing()?;
        self.touch_groups(
            "SELECT m.group_id FROM memberships m JOIN groups g ON g.realm = m.realm AND g.id = m.group_id
             WHERE m.realm = $1 AND m.user_id = $3 AND g.organization = $4",
            &[&user_id, &organization_id],
        )?;
        let realm = self.realm.clone();
        let conn = self.conn()?;
        conn.execute(
            "DELETE FROM memberships WHERE realm = $1 AND user_id = $2 AND group_id IN
                (SELECT id FROM groups WHERE realm = $1 AND organization = $3)",
            &[&realm, &user_id, &organization_id],
        )?;
        let left = conn.execute(
            "DELETE FROM organization_members WHERE realm = $1 AND organization_id = $2 AND user_id = $3",
            &[&realm, &organization_id, &user_id],
        )?;
        Ok(left > 0)
    }

    fn set_password(&mut self, user_id: &str, password: &str) -> DirResult<()> {
        self.writing()?;
        if !self.exists("users", user_id)? {
            return Err(DirectoryError::NotFound(user_id.to_string()));
        }
        let hash = crate::credentials::hash_password(password)?;
        let realm = self.realm.clone();
        self.conn()?
            .execute(
                "INSERT INTO credentials (realm, user_id, type, secret, created_at) VALUES ($1, $2, 'password', $3, $4)
                 ON CONFLICT (realm, user_id, type) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at",
                &[&realm, &user_id, &hash, &now_millis()],
            )
            .map(drop)
    }

    fn emit(&mut self, event: &AdminEvent) -> DirResult<()> {
        // A write like any other; recorded at the commit (see `write_events`).
        self.writing()?;
        self.pending_events.push((now_millis(), event.clone()));
        Ok(())
    }

    fn savepoint(&mut self) -> DirResult<()> {
        self.savepoint_open()
    }

    fn release_savepoint(&mut self) -> DirResult<()> {
        self.savepoint_close(false)
    }

    fn rollback_to_savepoint(&mut self) -> DirResult<()> {
        self.savepoint_close(true)
    }
}
