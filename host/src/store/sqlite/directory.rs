//! The directory contract on the SQLite store.

use super::*;

impl Directory for SqliteTransaction {
    fn get_user(&mut self, id: &str) -> DirResult<Option<User>> {
        Ok(self.users_where("u.id = ?2", &[&id], false)?.pop())
    }

    fn get_user_by_username(&mut self, username: &str) -> DirResult<Option<User>> {
        Ok(self.users_where("u.username_lower = ?2", &[&username.to_lowercase()], true)?.pop())
    }

    fn get_users_by_email(&mut self, email: &str) -> DirResult<Vec<User>> {
        self.users_where("u.email_lower = ?2", &[&email.to_lowercase()], true)
    }

    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<User>> {
        if name == "externalId" {
            // Unique in a realm: one row at most, found without the IN list's temporary table.
            return self.users_where(
                "u.id = (SELECT user_id FROM user_attributes WHERE realm = ?1 AND name = 'externalId' AND value = ?2)",
                &[&value],
                true,
            );
        }
        self.users_where(
            "u.id IN (SELECT user_id FROM user_attributes WHERE realm = ?1 AND name = ?2 AND value_lower = ?3 AND value = ?4)",
            &[&name, &value.to_lowercase(), &value],
            true,
        )
    }

    fn search_users(&mut self, query: &Query) -> DirResult<Page<User>> {
        self.users_page(query, None)
    }

    fn search_users_selected(&mut self, query: &Query, attributes: &[String]) -> DirResult<Page<User>> {
        self.users_page(query, Some(attributes))
    }

    fn create_user(&mut self, draft: &UserDraft) -> DirResult<User> {
        check_user(draft)?;
        let _writing = self.writing()?;
        self.check_user_unique(draft, None)?;
        let (id, now) = (new_id(), now_millis());
        self.conn()?
            .prepare_cached(
                "INSERT INTO users (realm, id, username, username_lower, email, email_lower, first_name,
                    first_name_lower, last_name, last_name_lower, enabled, created_at, updated_at, version, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, 1,
                    (SELECT coalesce(max(seq), 0) + 1 FROM users WHERE realm = ?1))",
            )
            .and_then(|mut s| {
                s.execute(params![
                    self.realm,
                    id,
                    draft.username,
                    draft.username.to_lowercase(),
                    draft.email,
                    lower(&draft.email),
                    draft.first_name,
                    lower(&draft.first_name),
                    draft.last_name,
                    lower(&draft.last_name),
                    draft.enabled,
                    now
                ])
            })
            .map_err(classify)?;
        self.insert_attributes("user_attributes", "user_id", &id, &draft.attributes)?;
        // The user as stored, without reading it back.
        Ok(User::created(id, draft, now))
    }

    fn update_user(&mut self, id: &str, draft: &UserDraft) -> DirResult<User> {
        check_user(draft)?;
        let _writing = self.writing()?;
        self.check_user_unique(draft, Some(id))?;
        let changed = self
            .conn()?
            .prepare_cached(
                "UPDATE users SET username = ?3, username_lower = ?4, email = ?5, email_lower = ?6,
                    first_name = ?7, first_name_lower = ?8, last_name = ?9, last_name_lower = ?10,
                    enabled = ?11, updated_at = ?12, version = version + 1
                 WHERE realm = ?1 AND id = ?2",
            )
            .and_then(|mut s| {
                s.execute(params![
                    self.realm,
                    id,
                    draft.username,
                    draft.username.to_lowercase(),
                    draft.email,
                    lower(&draft.email),
                    draft.first_name,
                    lower(&draft.first_name),
                    draft.last_name,
                    lower(&draft.last_name),
                    draft.enabled,
                    now_millis()
                ])
            })
            .map_err(classify)?;
        if changed == 0 {
            return Err(DirectoryError::NotFound(id.to_string()));
        }
        self.write_attributes("user_attributes", "user_id", id, &draft.attributes)?;
        self.get_user(id)?.ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    fn delete_user(&mut self, id: &str) -> DirResult<bool> {
        let _writing = self.writing()?;
        self.touch_groups("SELECT group_id FROM memberships WHERE realm = ?1 AND user_id = ?3", &[&id])?;
        let deleted = self
            .conn()?
            .prepare_cached("DELETE FROM users WHERE realm = ?1 AND id = ?2")
            .and_then(|mut s| s.execute(params![self.realm, id]))
            .map_err(classify)?;
        Ok(deleted > 0)
    }

    fn get_group(&mut self, id: &str) -> DirResult<Option<Group>> {
        Ok(self.groups_where("g.id = ?2", &[&id], false)?.pop())
    }

    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<Group>> {
        if name == "externalId" {
            // As for users.
            return self.groups_where(
                "g.id = (SELECT group_id FROM group_attributes WHERE realm = ?1 AND name = 'externalId' AND value = ?2)",
                &[&value],
                true,
            );
        }
        self.groups_where(
            "g.id IN (SELECT group_id FROM group_attributes WHERE realm = ?1 AND name = ?2 AND value_lower = ?3 AND value = ?4)",
            &[&name, &value.to_lowercase(), &value],
            true,
        )
    }

    fn search_groups(&mut self, query: &Query) -> DirResult<Page<Group>> {
        let (total, mut groups) = self.search(Kind::Groups, query, group_row)?;
        let ids: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
        let mut attributes = self.attributes_of_many("group_attributes", "group_id", &ids, None)?;
        for group in &mut groups {
            group.attributes = attributes.remove(&group.id).unwrap_or_default();
        }
        Ok(Page { total, items: groups })
    }

    fn create_group(&mut self, draft: &GroupDraft) -> DirResult<Group> {
        check_group(draft)?;
        let _writing = self.writing()?;
        self.check_group_unique(draft, None)?;
        if let Some(organization) = &draft.organization
            && !self.exists("organizations", organization)?
        {
            return Err(DirectoryError::NotFound(organization.clone()));
        }
        let (id, now) = (new_id(), now_millis());
        self.conn()?
            .prepare_cached(
                "INSERT INTO groups (realm, id, name, name_lower, organization, created_at, updated_at, version, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 1, (SELECT coalesce(max(seq), 0) + 1 FROM groups WHERE realm = ?1))",
            )
            .and_then(|mut s| {
                s.execute(params![self.realm, id, draft.name, draft.name.to_lowercase(), draft.organization, now])
            })
            .map_err(classify)?;
        self.insert_attributes("group_attributes", "group_id", &id, &draft.attributes)?;
        // The group as stored, without reading it back.
        Ok(Group::created(id, draft, now))
    }

    fn update_group(&mut self, id: &str, draft: &GroupDraft) -> DirResult<Group> {
        check_group(draft)?;
        let _writing = self.writing()?;
        self.check_group_unique(draft, Some(id))?;
        let changed = self
            .conn()?
            .prepare_cached(
                "UPDATE groups SET name = ?3, name_lower = ?4, updated_at = ?5, version = version + 1
                 WHERE realm = ?1 AND id = ?2",
            )
            .and_then(|mut s| s.execute(params![self.realm, id, draft.name, draft.name.to_lowercase(), now_millis()]))
            .map_err(classify)?;
        if changed == 0 {
            return Err(DirectoryError::NotFound(id.to_string()));
        }
        self.write_attributes("group_attributes", "group_id", id, &draft.attributes)?;
        self.get_group(id)?.ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    fn delete_group(&mut self, id: &str) -> DirResult<bool> {
        let _writing = self.writing()?;
        let deleted = self
            .conn()?
            .prepare_cached("DELETE FROM groups WHERE realm = ?1 AND id = ?2")
            .and_then(|mut s| s.execute(params![self.realm, id]))
            .map_err(classify)?;
        Ok(deleted > 0)
    }

    fn group_members(&mut self, group_id: &str) -> DirResult<Vec<Member>> {
        self.conn()?
            .prepare_cached(
                "SELECT u.id, u.username FROM memberships m JOIN users u ON u.realm = m.realm AND u.id = m.user_id
                 WHERE m.realm = ?1 AND m.group_id = ?2 ORDER BY m.rowid",
            )
            .and_then(|mut s| {
                s.query_map(params![self.realm, group_id], |r| Ok(Member { user_id: r.get(0)?, username: r.get(1)? }))?
                    .collect()
            })
            .map_err(classify)
    }

    fn group_member_ids(&mut self, group_id: &str) -> DirResult<Vec<String>> {
        // The memberships' covering index alone: no lookup of each member's user.
        self.conn()?
            .prepare_cached("SELECT user_id FROM memberships WHERE realm = ?1 AND group_id = ?2 ORDER BY rowid")
            .and_then(|mut s| s.query_map(params![self.realm, group_id], |r| r.get(0))?.collect())
            .map_err(classify)
    }

    fn user_groups(&mut self, user_id: &str) -> DirResult<Vec<Membership>> {
        self.conn()?
            .prepare_cached(
                "SELECT g.id, g.name FROM memberships m JOIN groups g ON g.realm = m.realm AND g.id = m.group_id
                 WHERE m.realm = ?1 AND m.user_id = ?2 ORDER BY m.rowid",
            )
            .and_then(|mut s| {
                s.query_map(params![self.realm, user_id], |r| {
                    Ok(Membership { group_id: r.get(0)?, group_name: r.get(1)? })
                })?
                .collect()
            })
            .map_err(classify)
    }

    fn groups_of_users(&mut self, user_ids: &[String]) -> DirResult<Vec<Vec<Membership>>> {
        // The ids travel as one JSON array, so the statement stays the same for any page.
        let ids = serde_json::to_string(user_ids).expect("strings serialize");
        let mut statement = self
            .conn()?
            .prepare_cached(
                "SELECT m.user_id, g.id, g.name FROM memberships m JOIN groups g ON g.realm = m.realm AND g.id = m.group_id
                 WHERE m.realm = ?1 AND m.user_id IN (SELECT value FROM json_each(?2)) ORDER BY m.rowid",
            )
            .map_err(classify)?;
        let mut rows = statement.query(params![self.realm, ids]).map_err(classify)?;
        let mut by_user: HashMap<String, Vec<Membership>> = HashMap::new();
        while let Some(row) = rows.next().map_err(classify)? {
            let membership =
                Membership { group_id: row.get(1).map_err(classify)?, group_name: row.get(2).map_err(classify)? };
            by_user.entry(row.get(0).map_err(classify)?).or_default().push(membership);
        }
        Ok(user_ids.iter().map(|id| by_user.get(id).cloned().unwrap_or_default()).collect())
    }

    fn add_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        let _writing = self.writing()?;
        for (table, id) in [("groups", group_id), ("users", user_id)] {
            if !self.exists(table, id)? {
                return Err(DirectoryError::NotFound(id.to_string()));
            }
        }
        let added = self
            .conn()?
            .prepare_cached("INSERT OR IGNORE INTO memberships (realm, group_id, user_id) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![self.realm, group_id, user_id]))
            .map_err(classify)?
            > 0;
        if added {
            self.touch_groups("?3", &[&group_id])?;
        }
        Ok(added)
    }

    fn remove_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        let _writing = self.writing()?;
        let removed = self
            .conn()?
            .prepare_cached("DELETE FROM memberships WHERE realm = ?1 AND group_id = ?2 AND user_id = ?3")
            .and_then(|mut s| s.execute(params![self.realm, group_id, user_id]))
            .map_err(classify)?
            > 0;
        if removed {
            self.touch_groups("?3", &[&group_id])?;
        }
        Ok(removed)
    }

    fn get_organization(&mut self, alias: &str) -> DirResult<Option<Organization>> {
        self.conn()?
            .prepare_cached("SELECT id, alias, name FROM organizations WHERE realm = ?1 AND alias = ?2")
            .and_then(|mut s| {
                s.query_row(params![self.realm, alias], |r| {
                    Ok(Organization { id: r.get(0)?, alias: r.get(1)?, name: r.get(2)? })
                })
                .optional()
            })
            .map_err(classify)
    }

    fn is_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        self.conn()?
            .prepare_cached(
                "SELECT 1 FROM organization_members WHERE realm = ?1 AND organization_id = ?2 AND user_id = ?3",
            )
            .and_then(|mut s| s.exists(params![self.realm, organization_id, user_id]))
            .map_err(classify)
    }

    fn add_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        self.join_organization(organization_id, user_id, MembershipType::Unmanaged)
    }

    fn remove_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        let _writing = self.writing()?;
        let organization_groups =
            "SELECT m.group_id FROM memberships m JOIN groups g ON g.realm = m.realm AND g.id = m.group_id
             WHERE m.realm = ?1 AND m.user_id = ?3 AND g.organization = ?4";
        self.touch_groups(organization_groups, &[&user_id, &organization_id])?;
        self.conn()?
            .prepare_cached(
                "DELETE FROM memberships WHERE realm = ?1 AND user_id = ?2 AND group_id IN
                    (SELECT id FROM groups WHERE realm = ?1 AND organization = ?3)",
            )
            .and_then(|mut s| s.execute(params![self.realm, user_id, organization_id]))
            .map_err(classify)?;
        self.conn()?
            .prepare_cached(
                "DELETE FROM organization_members WHERE realm = ?1 AND organization_id = ?2 AND user_id = ?3",
            )
            .and_then(|mut s| s.execute(params![self.realm, organization_id, user_id]))
            .map(|n| n > 0)
            .map_err(classify)
    }

    fn set_password(&mut self, user_id: &str, password: &str) -> DirResult<()> {
        let _writing = self.writing()?;
        if !self.exists("users", user_id)? {
            return Err(DirectoryError::NotFound(user_id.to_string()));
        }
        let hash = crate::credentials::hash_password(password)?;
        self.conn()?
            .prepare_cached(
                "INSERT INTO credentials (realm, user_id, type, secret, created_at) VALUES (?1, ?2, 'password', ?3, ?4)
                 ON CONFLICT (realm, user_id, type) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at",
            )
            .and_then(|mut s| s.execute(params![self.realm, user_id, hash, now_millis()]))
            .map(drop)
            .map_err(classify)
    }

    fn emit(&mut self, event: &AdminEvent) -> DirResult<()> {
        let _writing = self.writing()?;
        self.conn()?
            .prepare_cached(
                "INSERT INTO events (realm, time, kind, resource_id, related_id, details, request_id, organization)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    self.realm,
                    now_millis(),
                    event.kind.name(),
                    event.resource_id,
                    event.related_id,
                    event.details,
                    self.request_id,
                    self.organization
                ])
            })
            .map(drop)
            .map_err(classify)
    }

    // Named apart from the group commit's own `scim_call`, which encloses them: its RELEASE
    // or ROLLBACK TO ends any a guest left open.
    fn savepoint(&mut self) -> DirResult<()> {
        let _writing = self.writing()?;
        if self.savepoints >= MAX_SAVEPOINTS {
            return Err(DirectoryError::Invalid(format!("at most {MAX_SAVEPOINTS} savepoints may be open at once")));
        }
        run_cached(self.conn()?, "SAVEPOINT scim_guest").map_err(classify)?;
        self.savepoints += 1;
        Ok(())
    }

    fn release_savepoint(&mut self) -> DirResult<()> {
        if self.savepoints == 0 {
            return Err(DirectoryError::Invalid("no savepoint is open".into()));
        }
        let _writing = self.writing()?;
        run_cached(self.conn()?, "RELEASE scim_guest").map_err(classify)?;
        self.savepoints -= 1;
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> DirResult<()> {
        if self.savepoints == 0 {
            return Err(DirectoryError::Invalid("no savepoint is open".into()));
        }
        let _writing = self.writing()?;
        let conn = self.conn()?;
        run_cached(conn, "ROLLBACK TO scim_guest")
            .and_then(|()| run_cached(conn, "RELEASE scim_guest"))
            .map_err(classify)?;
        self.savepoints -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::test_support::*;

    #[test]
    fn an_attribute_named_twice_is_refused_since_it_would_not_read_back_apart() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        let nick = Attribute { name: "nick".into(), values: vec!["a".into()] };
        let twice = UserDraft { username: "bob".into(), attributes: vec![nick; 2], ..UserDraft::default() };
        assert!(matches!(tx.create_user(&twice), Err(DirectoryError::Conflict { .. })));
    }

    #[test]
    fn another_realm_may_reuse_a_username_and_an_external_id() {
        let (_dir, store) = store();
        store.ensure_realm("other").unwrap();
        for realm in ["r", "other"] {
            let mut tx = store.begin(realm, Access::Write, "test").unwrap();
            tx.create_user(&draft("ann", "x1")).unwrap();
            tx.commit().unwrap();
        }
    }

    #[test]
    fn a_lookup_by_a_common_value_is_refused_rather_than_loading_the_realm() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        for i in 0..=MAX_LOOKUP_ROWS {
            let mut user = draft(&format!("u{i}"), &format!("x{i}"));
            user.attributes.push(Attribute::single("title", "Engineer"));
            tx.create_user(&user).unwrap();
        }
        let refused = tx.get_users_by_attribute("title", "Engineer").unwrap_err();
        assert!(matches!(refused, DirectoryError::Invalid(_)), "{refused:?}");
        assert_eq!(tx.get_users_by_attribute("externalId", "x7").unwrap().len(), 1);
    }

    /// The lookup cap must count the organization's matches only: counted across the
    /// realm, a common value outside the organization would break the organization's own
    /// lookups and tell it how many such users the realm holds.
    #[test]
    fn organization_lookup_is_not_refused_for_matches_outside_the_organization() {
        let (_dir, store) = store();
        let org = store.ensure_organization("r", "acme", "Acme").unwrap();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        for i in 0..=MAX_LOOKUP_ROWS {
            let mut user = draft(&format!("u{i}"), &format!("x{i}"));
            user.attributes.push(Attribute::single("title", "Engineer"));
            tx.create_user(&user).unwrap();
        }
        tx.commit().unwrap();
        let inner = store.begin("r", Access::Write, "test").unwrap();
        let mut scoped = OrganizationScoped::new(inner, org.id.clone());
        assert!(scoped.get_users_by_attribute("title", "Engineer").unwrap().is_empty());
        let mut member = draft("inside", "x-inside");
        member.attributes.push(Attribute::single("title", "Engineer"));
        let member = scoped.create_user(&member).unwrap();
        let found = scoped.get_users_by_attribute("title", "Engineer").unwrap();
        assert_eq!(found.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), [member.id.as_str()]);
        assert!(scoped.get_user_by_username("u7").unwrap().is_none(), "a user outside is not found");
    }

    /// A module hands the store a filter as nodes, as deep as it likes: the store walks
    /// them recursively on the guest call's stack, after the guest's own (up to 512 KiB
    /// of a 2 MiB thread). The deepest filter it admits must fit in 1 MiB (unoptimized).
    #[test]
    fn module_filter_as_deep_as_allowed_does_not_overflow_the_stack() {
        let (_dir, store) = store();
        let searched = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                let mut tx = store.begin("r", Access::Write, "test").unwrap();
                tx.create_user(&draft("ann", "x-ann")).unwrap();
                for chain in [|i: u32| FilterNode::Negate(i), |i: u32| FilterNode::AllOf(vec![i])] {
                    let mut filter = vec![FilterNode::Condition(Condition {
                        field: Field::Username,
                        op: Comparator::Eq,
                        value: "ann".into(),
                        case_exact: false,
                    })];
                    for i in 0..10_000 {
                        filter.push(chain(i));
                    }
                    let query = Query { filter, limit: 10, ..Query::default() };
                    let refused = tx.search_users(&query).unwrap_err();
                    assert!(matches!(refused, DirectoryError::Invalid(_)), "{refused:?}");
                    query_within_budget(&mut tx, chain);
                }
            })
            .unwrap()
            .join();
        assert!(searched.is_ok(), "the search panicked");
    }

    /// The deepest chain admitted answers as its root condition does.
    fn query_within_budget(tx: &mut Box<dyn Transaction>, chain: fn(u32) -> FilterNode) {
        for depth in (1..filter::MAX_DEPTH as u32 + 10).rev() {
            let mut filter = vec![FilterNode::Condition(Condition {
                field: Field::Username,
                op: Comparator::Eq,
                value: "ann".into(),
                case_exact: false,
            })];
            filter.extend((0..depth).map(chain));
            let query = Query { filter, limit: 10, ..Query::default() };
            match tx.search_users(&query) {
                Ok(page) => {
                    assert_eq!(depth as usize, filter::MAX_DEPTH - 1, "the root condition is one level more");
                    // An even number of NOTs, or any AllOf chain, keeps the condition.
                    let kept = depth % 2 == 0 || matches!(chain(0), FilterNode::AllOf(_));
                    assert_eq!(page.total, u32::from(kept));
                    return;
                }
                Err(DirectoryError::Invalid(_)) => continue,
                Err(e) => panic!("{e:?}"),
            }
        }
    }
}
