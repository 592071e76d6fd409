//! Searches: a page of a filtered, sorted list and the count of its matches, started
//! from a known list place where it can.

use super::*;

/// The table, its alias in queries and the columns read, of each kind of resource.
pub(super) fn source(kind: Kind) -> (&'static str, &'static str, &'static str) {
    match kind {
        Kind::Users => ("users", "u", USER_COLUMNS),
        Kind::Groups => ("groups", "g", GROUP_COLUMNS),
    }
}

/// Where the `offset`-th (from 0) row of a whole realm is to be found: the first list
/// place of the bucket that holds it, and how many of the realm's rows from there come
/// before it.
pub(super) fn place_of(buckets: &[(i64, u32)], offset: u32) -> (i64, u32) {
    let mut before = 0;
    for &(bucket, count) in buckets {
        if before + count > offset {
            return (bucket << BUCKET_BITS, offset - before);
        }
        before += count;
    }
    (0, offset)
}

/// Reads rows with their list place (the last column).
pub(super) fn placed<T>(
    row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<(i64, T)> {
    move |r| Ok((r.get(r.as_ref().column_count() - 1)?, row(r)?))
}

impl SqliteTransaction {
    /// One page of users with their attributes (only those named, when names are given).
    pub(super) fn users_page(&self, query: &Query, names: Option<&[String]>) -> DirResult<Page<User>> {
        let (total, mut users) = self.search(Kind::Users, query, user_row)?;
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        let mut attributes = self.attributes_of_many("user_attributes", "user_id", &ids, names)?;
        for user in &mut users {
            user.attributes = attributes.remove(&user.id).unwrap_or_default();
        }
        Ok(Page { total, items: users })
    }

    /// One page of a list query and the number of all matches. A page in the default
    /// order starts from a known list place where it can: the one where the previous page
    /// of the same query ended (an IdP's import, reading in order), or for an unfiltered
    /// list the bucket that holds `startIndex`. Either costs O(log n), not O(startIndex).
    /// Under concurrent writes a page may then differ from what OFFSET would give, which
    /// RFC 7644 §3.4.2.4 allows.
    pub(super) fn search<T>(
        &self,
        kind: Kind,
        query: &Query,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> DirResult<(u32, Vec<T>)> {
        let (table, alias, columns) = source(kind);
        let mut sql = Sql::new(Dialect::Sqlite, &self.realm);
        let mut conditions = vec![format!("{alias}.realm = ?1")];
        if let Some(organization) = &query.organization {
            let org = sql.bind(organization.clone());
            conditions.push(match kind {
                Kind::Users => format!(
                    "u.id IN (SELECT user_id FROM organization_members WHERE realm = ?1 AND organization_id = {org})"
                ),
                Kind::Groups => format!("g.organization = {org}"),
            });
        }
        if let Some(filter) = filter::filter(kind, &query.filter, &mut sql)? {
            conditions.push(filter);
        }
        let whole_realm = conditions.len() == 1;
        let condition = conditions.join(" AND ");
        // The whole realm is counted by its buckets, not by walking a million index entries.
        let buckets = if whole_realm { Some(self.buckets(table)?) } else { None };
        let total = match &buckets {
            Some(buckets) => buckets.iter().map(|(_, count)| count).sum(),
            None => self
                .conn()?
                .prepare_cached(&format!("SELECT count(*) FROM {table} {alias} WHERE {condition}"))
                .and_then(|mut s| s.query_row(params_from_iter(sql.params.iter()), |r| r.get(0)))
                .map_err(classify)?,
        };
        if query.limit == 0 || query.offset >= total {
            return Ok((total, Vec::new()));
        }
        let order = filter::order(kind, query.sort.as_ref(), &mut sql);
        // Only the default order (the list place) can start from a place.
        let cursor_key = query.sort.is_none().then(|| ListCursors::key(kind, &condition, &sql.params));
        let cursor =
            cursor_key.filter(|_| query.offset > 0).and_then(|k| self.store.cursors.place_before(k, query.offset));
        let in_bucket = buckets.filter(|_| query.sort.is_none()).map(|b| place_of(&b, query.offset));
        let (start, offset) = match (cursor, in_bucket) {
            (Some(after), _) => (Some(after + 1), 0),
            (None, Some((start, skip))) => (Some(start), skip),
            (None, None) => (None, query.offset),
        };
        let condition = match start {
            Some(start) => format!("{condition} AND {alias}.seq >= {}", sql.bind(start)),
            None => condition,
        };
        let limit = sql.bind(query.limit as i64);
        let offset = sql.bind(offset as i64);
        let page_sql = format!(
            "SELECT {columns} FROM {table} {alias} WHERE {condition} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        );
        let rows = self
            .conn()?
            .prepare_cached(&page_sql)
            .and_then(|mut s| {
                s.query_map(params_from_iter(sql.params.iter()), placed(row))?.collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(classify)?;
        if let (Some(k), Some((last, _))) = (cursor_key, rows.last()) {
            self.store.cursors.remember(k, query.offset + rows.len() as u32, *last);
        }
        Ok((total, rows.into_iter().map(|(_, item)| item).collect()))
    }

    /// The realm's buckets of users or groups (`table`), in list order: (bucket, count).
    pub(super) fn buckets(&self, table: &str) -> DirResult<Vec<(i64, u32)>> {
        self.conn()?
            .prepare_cached("SELECT bucket, count FROM list_buckets WHERE realm = ?1 AND kind = ?2 ORDER BY bucket")
            .and_then(|mut s| s.query_map(params![self.realm, table], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::test_support::*;

    #[test]
    fn an_unfiltered_total_follows_inserts_deletes_and_cascades() {
        let (_dir, store) = store();
        let org = store.ensure_organization("r", "acme", "Acme").unwrap();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        let ids: Vec<String> =
            (0..3).map(|n| tx.create_user(&draft(&format!("u{n}"), &format!("x{n}"))).unwrap().id).collect();
        assert!(tx.delete_user(&ids[0]).unwrap());
        assert!(!tx.delete_user(&ids[0]).unwrap(), "a second delete counts nothing");
        for (name, organization) in [("a", None), ("b", Some(org.id.clone())), ("c", Some(org.id.clone()))] {
            tx.create_group(&GroupDraft { name: name.into(), organization, attributes: vec![] }).unwrap();
        }
        tx.commit().unwrap();
        let totals = || {
            let mut read = store.begin("r", Access::Read, "test").unwrap();
            let users = read.search_users(&Query { limit: 1, ..Query::default() }).unwrap();
            let groups = read.search_groups(&Query { limit: 0, ..Query::default() }).unwrap();
            (users.total, users.items.len(), groups.total)
        };
        assert_eq!(totals(), (2, 1, 3));
        let event = operator_event("ORGANIZATION_DELETED", "acme");
        assert!(store.delete_organization("r", "acme", &event).unwrap());
        assert_eq!(totals(), (2, 1, 1), "the organization's groups left the count with it");
    }

    #[test]
    fn pages_read_in_order_continue_from_the_last_key_and_match_offsets() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        for n in 0..25 {
            tx.create_user(&draft(&format!("u{n:02}"), &format!("x{n}"))).unwrap();
        }
        tx.commit().unwrap();
        let page = |offset: u32| {
            let mut read = store.begin("r", Access::Read, "test").unwrap();
            let page = read.search_users(&Query { offset, limit: 10, ..Query::default() }).unwrap();
            page.items.into_iter().map(|u| u.username).collect::<Vec<_>>()
        };
        let by_offset: Vec<Vec<String>> = [20, 0, 10].into_iter().map(page).collect();
        store.cursors.clear();
        let in_order: Vec<Vec<String>> = [0, 10, 20].into_iter().map(page).collect();
        assert_eq!(in_order, [by_offset[1].clone(), by_offset[2].clone(), by_offset[0].clone()]);
        assert_eq!(in_order.concat().len(), 25);
        assert_eq!(store.cursors.ends(), [10, 20, 25], "each page left its end for the next");
    }

    #[test]
    fn a_page_at_any_start_index_is_the_slice_of_the_list_in_order_after_deletes() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        let ids: Vec<String> =
            (0..3000).map(|n| tx.create_user(&draft(&format!("u{n:04}"), &format!("x{n}"))).unwrap().id).collect();
        // Holes in every bucket, one bucket emptied, and the newest user gone.
        for (n, id) in ids.iter().enumerate() {
            if n % 7 == 3 || (1100..2100).contains(&n) || n == 2999 {
                assert!(tx.delete_user(id).unwrap());
            }
        }
        tx.create_user(&draft("late", "x-late")).unwrap();
        tx.commit().unwrap();
        let mut expected: Vec<String> =
            (0..2999).filter(|n| !(n % 7 == 3 || (1100..2100).contains(n))).map(|n| format!("u{n:04}")).collect();
        expected.push("late".into());
        assert_eq!(usernames_at(&store, 0, 5000), expected, "one page of everything, in insertion order");
        for offset in [1, 99, 942, 943, 944, 1023, 1024, 1700, expected.len() as u32 - 1] {
            let end = (offset as usize + 100).min(expected.len());
            assert_eq!(usernames_at(&store, offset, 100), expected[offset as usize..end], "page at offset {offset}");
        }
        assert!(usernames_at(&store, expected.len() as u32, 100).is_empty());
    }

    #[test]
    fn a_page_larger_than_the_cap_is_refused_before_it_is_read_whole() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        let big = "b".repeat(1 << 20);
        for i in 0..(MAX_PAGE_BYTES >> 20) + 2 {
            let mut user = draft(&format!("u{i}"), &format!("x{i}"));
            user.attributes.push(Attribute::single("blob", big.clone()));
            tx.create_user(&user).unwrap();
        }
        let all = Query { filter: vec![], organization: None, sort: None, offset: 0, limit: 1000 };
        assert!(matches!(tx.search_users(&all), Err(DirectoryError::Invalid(_))));
        let few = Query { limit: 4, ..all };
        assert_eq!(tx.search_users(&few).unwrap().items.len(), 4);
    }
}
