//! The store conformance suite: what every [`Directory`] must answer, whatever keeps it.
//! The in-memory directory and every host store run it, and a new backend passes it
//! before it serves a request. Each check names the rule it holds an implementation to.
//!
//! ```text
//! scim_directory::conformance::run(&mut MySubject::new());
//! ```

use crate::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// An implementation under test.
pub trait Subject {
    /// Its directory (`dyn Transaction` for a host store).
    type Dir: Directory + ?Sized;
    /// The directory of a fresh, empty realm with two organizations, aliases `acme` and
    /// `globex`, in a transaction that may write.
    fn fresh(&mut self) -> Box<Self::Dir>;
    /// Ends `dir`'s transaction keeping its changes, and reads the admin events of its
    /// realm in the order they were recorded.
    fn committed_events(&mut self, dir: Box<Self::Dir>) -> Vec<AdminEvent>;
}

/// A rule of the contract, checked on fresh realms of the subject.
type Check<S> = fn(&mut S);

/// Runs every check; panics naming each that failed.
pub fn run<S: Subject>(subject: &mut S) {
    let checks: &[(&str, Check<S>)] = &[
        ("a_created_user_reads_back_as_answered", a_created_user_reads_back_as_answered),
        ("a_created_group_reads_back_as_answered", a_created_group_reads_back_as_answered),
        ("an_update_replaces_and_counts_a_version", an_update_replaces_and_counts_a_version),
        ("usernames_are_unique_without_regard_to_case", usernames_are_unique_without_regard_to_case),
        ("external_ids_are_unique_per_resource_type", external_ids_are_unique_per_resource_type),
        ("unknown_ids_are_absent_or_not_found", unknown_ids_are_absent_or_not_found),
        ("lookups_follow_their_case_rules", lookups_follow_their_case_rules),
        ("string_operators_ignore_case_unless_case_exact", string_operators_ignore_case_unless_case_exact),
        ("not_equal_holds_when_no_value_equals", not_equal_holds_when_no_value_equals),
        ("present_means_a_value", present_means_a_value),
        ("times_compare_as_numbers", times_compare_as_numbers),
        ("booleans_compare_as_true_or_false", booleans_compare_as_true_or_false),
        ("a_multi_valued_attribute_matches_by_any_value", a_multi_valued_attribute_matches_by_any_value),
        ("all_any_and_negate_combine", all_any_and_negate_combine),
        ("a_value_filter_matches_one_item_not_a_mix", a_value_filter_matches_one_item_not_a_mix),
        ("group_filters_test_group_fields", group_filters_test_group_fields),
        ("sorting_ignores_case_and_ties_keep_creation_order", sorting_ignores_case_and_ties_keep_creation_order),
        ("absent_values_sort_first_ascending", absent_values_sort_first_ascending),
        ("pages_are_slices_of_the_list_and_count_all_matches", pages_are_slices_of_the_list_and_count_all_matches),
        ("pages_read_in_order_never_repeat_an_item", pages_read_in_order_never_repeat_an_item),
        ("selected_reads_carry_only_the_attributes_named", selected_reads_carry_only_the_attributes_named),
        ("members_are_listed_in_the_order_they_joined", members_are_listed_in_the_order_they_joined),
        ("the_groups_of_many_users_are_in_the_order_asked", the_groups_of_many_users_are_in_the_order_asked),
        ("memberships_go_with_their_user_or_group", memberships_go_with_their_user_or_group),
        ("organization_membership_bounds_queries", organization_membership_bounds_queries),
        ("leaving_an_organization_leaves_its_groups", leaving_an_organization_leaves_its_groups),
        ("a_password_is_set_only_for_a_user", a_password_is_set_only_for_a_user),
        ("savepoints_nest_and_undo_only_their_part", savepoints_nest_and_undo_only_their_part),
        ("events_are_kept_in_order_unless_rolled_back", events_are_kept_in_order_unless_rolled_back),
    ];
    let mut failed = Vec::new();
    for (name, check) in checks {
        if catch_unwind(AssertUnwindSafe(|| check(subject))).is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "{} of {} conformance checks failed: {failed:?}", failed.len(), checks.len());
}

fn user(username: &str) -> UserDraft {
    UserDraft { username: username.into(), enabled: true, ..UserDraft::default() }
}

fn user_with(username: &str, attributes: &[(&str, &[&str])]) -> UserDraft {
    UserDraft { attributes: attributes.iter().map(|(n, v)| attribute(n, v)).collect(), ..user(username) }
}

fn attribute(name: &str, values: &[&str]) -> Attribute {
    Attribute { name: name.into(), values: values.iter().map(|v| v.to_string()).collect() }
}

fn group(name: &str) -> GroupDraft {
    GroupDraft { name: name.into(), ..GroupDraft::default() }
}

fn condition(field: Field, op: Comparator, value: &str) -> FilterNode {
    FilterNode::Condition(Condition { field, op, value: value.into(), case_exact: false })
}

fn exact(field: Field, op: Comparator, value: &str) -> FilterNode {
    FilterNode::Condition(Condition { field, op, value: value.into(), case_exact: true })
}

fn attr(name: &str) -> Field {
    Field::Attribute(name.into())
}

fn all(filter: Vec<FilterNode>) -> Query {
    Query { filter, limit: 1000, ..Query::default() }
}

/// The usernames of the users the filter matches, in list order.
fn matching<D: Directory + ?Sized>(d: &mut D, filter: Vec<FilterNode>) -> Vec<String> {
    let page = d.search_users(&all(filter)).expect("search");
    assert_eq!(page.total as usize, page.items.len(), "the total counts every match");
    page.items.into_iter().map(|u| u.username).collect()
}

fn organization<D: Directory + ?Sized>(d: &mut D, alias: &str) -> String {
    d.get_organization(alias).expect("get_organization").expect("the subject's realm has this organization").id
}

fn a_created_user_reads_back_as_answered<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let draft = UserDraft {
        username: "Ann".into(),
        email: Some("Mixed@Case.example".into()),
        first_name: Some("Ann".into()),
        last_name: None,
        enabled: true,
        attributes: vec![
            attribute("scim", &["{}"]),
            attribute("emails.value", &["b@x", "a@x"]),
            attribute("none", &[]),
            attribute("externalId", &["x1"]),
        ],
    };
    let created = d.create_user(&draft).unwrap();
    assert_eq!(d.get_user(&created.id).unwrap().as_ref(), Some(&created));
    assert_eq!((created.username.as_str(), created.email.as_deref()), ("Ann", Some("Mixed@Case.example")));
    assert_eq!((created.version, created.created_at), (1, created.updated_at));
    let names: Vec<_> = created.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["emails.value", "externalId", "scim"], "sorted by name, the one of no value left out");
    assert_eq!(created.attributes[0].values, ["b@x", "a@x"], "values keep their order");
    let other = d.create_user(&user("bob")).unwrap();
    assert_ne!(other.id, created.id);
}

fn a_created_group_reads_back_as_answered<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let acme = organization(&mut *d, "acme");
    let draft = GroupDraft {
        name: "Admins".into(),
        organization: Some(acme.clone()),
        attributes: vec![attribute("scim", &["{}"]), attribute("none", &[]), attribute("externalId", &["g1"])],
    };
    let created = d.create_group(&draft).unwrap();
    assert_eq!(d.get_group(&created.id).unwrap().as_ref(), Some(&created));
    assert_eq!((created.name.as_str(), created.organization.as_deref(), created.version), ("Admins", Some(&*acme), 1));
    let names: Vec<_> = created.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["externalId", "scim"]);
}

fn an_update_replaces_and_counts_a_version<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let ann = d.create_user(&user_with("ann", &[("nick", &["a"]), ("title", &["t"])])).unwrap();
    let draft = UserDraft { email: Some("ann@x".into()), ..user_with("Ann", &[("nick", &["b"])]) };
    let updated = d.update_user(&ann.id, &draft).unwrap();
    assert_eq!((updated.id.as_str(), updated.version, updated.created_at), (ann.id.as_str(), 2, ann.created_at));
    assert!(updated.updated_at >= ann.updated_at);
    assert_eq!(updated.attributes, [attribute("nick", &["b"])], "the attribute set is replaced whole");
    assert_eq!(d.get_user(&ann.id).unwrap(), Some(updated));

    let acme = organization(&mut *d, "acme");
    let g = d.create_group(&GroupDraft { organization: Some(acme.clone()), ..group("g") }).unwrap();
    let renamed =
        d.update_group(&g.id, &GroupDraft { attributes: vec![attribute("x", &["1"])], ..group("h") }).unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version, renamed.organization.as_deref()), ("h", 2, Some(&*acme)));
    assert_eq!(d.get_group(&g.id).unwrap(), Some(renamed));
}

fn usernames_are_unique_without_regard_to_case<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let ann = d.create_user(&user("Ann")).unwrap();
    let e = d.create_user(&user("aNN")).unwrap_err();
    assert!(
        matches!(&e, DirectoryError::Conflict { constraint, detail } if constraint == "username" && !detail.contains(&ann.id)),
        "{e:?}"
    );
    let bob = d.create_user(&user("bob")).unwrap();
    let e = d.update_user(&bob.id, &user("ANN")).unwrap_err();
    assert!(matches!(&e, DirectoryError::Conflict { constraint, .. } if constraint == "username"), "{e:?}");
    d.update_user(&ann.id, &user("ANN")).expect("a user may change the case of its own name");
}

fn external_ids_are_unique_per_resource_type<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let ann = d.create_user(&user_with("ann", &[("externalId", &["x1"])])).unwrap();
    let e = d.create_user(&user_with("bob", &[("externalId", &["x1"])])).unwrap_err();
    assert!(
        matches!(&e, DirectoryError::Conflict { constraint, detail } if constraint == "external-id" && !detail.contains(&ann.id)),
        "{e:?}"
    );
    d.create_user(&user_with("bob", &[("externalId", &["X1"])])).expect("externalId is compared with regard to case");
    let e = d.update_user(&ann.id, &user_with("ann", &[("externalId", &["X1"])])).unwrap_err();
    assert!(matches!(&e, DirectoryError::Conflict { constraint, .. } if constraint == "external-id"), "{e:?}");

    let g = GroupDraft { attributes: vec![attribute("externalId", &["x1"])], ..group("g") };
    d.create_group(&g).expect("a group may share a user's externalId");
    let e = d.create_group(&GroupDraft { name: "h".into(), ..g }).unwrap_err();
    assert!(matches!(&e, DirectoryError::Conflict { constraint, .. } if constraint == "external-id"), "{e:?}");
}

fn unknown_ids_are_absent_or_not_found<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let ann = d.create_user(&user("ann")).unwrap();
    let g = d.create_group(&group("g")).unwrap();
    assert_eq!(d.get_user("nobody").unwrap(), None);
    assert_eq!(d.get_group("nothing").unwrap(), None);
    assert_eq!(d.get_organization("nowhere").unwrap(), None);
    assert!(matches!(d.update_user("nobody", &user("x")), Err(DirectoryError::NotFound(_))));
    assert!(matches!(d.update_group("nothing", &group("x")), Err(DirectoryError::NotFound(_))));
    assert!(!d.delete_user("nobody").unwrap());
    assert!(!d.delete_group("nothing").unwrap());
    assert!(matches!(d.add_member(&g.id, "nobody"), Err(DirectoryError::NotFound(id)) if id == "nobody"));
    assert!(matches!(d.add_member("nothing", &ann.id), Err(DirectoryError::NotFound(id)) if id == "nothing"));
    assert!(!d.remove_member(&g.id, &ann.id).unwrap());
    assert!(d.group_members("nothing").unwrap().is_empty());
    assert!(d.group_member_ids("nothing").unwrap().is_empty());
    assert!(d.user_groups("nobody").unwrap().is_empty());
    assert!(d.delete_user(&ann.id).unwrap());
    assert!(!d.delete_user(&ann.id).unwrap(), "a second delete finds nothing");
}

fn lookups_follow_their_case_rules<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let attributes = vec![attribute("externalId", &["Ext-1"]), attribute("nick", &["Al", "Bo"])];
    let al = d
        .create_user(&UserDraft { email: Some("Al@Example.org".into()), attributes: attributes.clone(), ..user("Al") })
        .unwrap();
    d.create_user(&user("bob")).unwrap();
    let g = d.create_group(&GroupDraft { attributes, ..group("g") }).unwrap();
    assert_eq!(d.get_user_by_username("aL").unwrap().map(|u| u.id), Some(al.id.clone()));
    assert_eq!(d.get_user_by_username("al ").unwrap(), None);
    let ids = |users: Vec<User>| users.into_iter().map(|u| u.id).collect::<Vec<_>>();
    assert_eq!(ids(d.get_users_by_email("al@EXAMPLE.org").unwrap()), std::slice::from_ref(&al.id));
    for (name, value, found) in
        [("externalId", "Ext-1", true), ("externalId", "ext-1", false), ("nick", "Bo", true), ("nick", "bo", false)]
    {
        let users = ids(d.get_users_by_attribute(name, value).unwrap());
        let groups: Vec<_> = d.get_groups_by_attribute(name, value).unwrap().into_iter().map(|g| g.id).collect();
        let expected = if found { (vec![al.id.clone()], vec![g.id.clone()]) } else { (vec![], vec![]) };
        assert_eq!((users, groups), expected, "{name} = {value}");
    }
}

/// Users `Alpha`, `beta`, `GAMMA`, `delta` with e-mail `<name>@Example.org`.
fn greek<D: Directory + ?Sized>(d: &mut D) {
    for name in ["Alpha", "beta", "GAMMA", "delta"] {
        d.create_user(&UserDraft { email: Some(format!("{name}@Example.org")), ..user(name) }).unwrap();
    }
}

fn string_operators_ignore_case_unless_case_exact<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    greek(&mut *d);
    use Comparator::*;
    let u = || Field::Username;
    assert_eq!(matching(&mut *d, vec![condition(u(), Eq, "alpha")]), ["Alpha"]);
    assert_eq!(matching(&mut *d, vec![exact(u(), Eq, "alpha")]), Vec::<String>::new());
    assert_eq!(matching(&mut *d, vec![condition(u(), Ne, "ALPHA")]), ["beta", "GAMMA", "delta"]);
    assert_eq!(matching(&mut *d, vec![condition(u(), Co, "ET")]), ["beta"]);
    assert_eq!(matching(&mut *d, vec![exact(u(), Co, "ET")]), Vec::<String>::new());
    assert_eq!(matching(&mut *d, vec![condition(u(), Sw, "g")]), ["GAMMA"]);
    assert_eq!(matching(&mut *d, vec![condition(u(), Ew, "A")]), ["Alpha", "beta", "GAMMA", "delta"]);
    assert_eq!(matching(&mut *d, vec![exact(u(), Ew, "A")]), ["GAMMA"]);
    assert_eq!(matching(&mut *d, vec![condition(u(), Gt, "BETA")]), ["GAMMA", "delta"]);
    assert_eq!(matching(&mut *d, vec![condition(u(), Ge, "BETA")]), ["beta", "GAMMA", "delta"]);
    assert_eq!(matching(&mut *d, vec![condition(u(), Lt, "beta")]), ["Alpha"]);
    assert_eq!(matching(&mut *d, vec![condition(u(), Le, "beta")]), ["Alpha", "beta"]);
    assert_eq!(matching(&mut *d, vec![condition(Field::Email, Sw, "GAMMA@example")]), ["GAMMA"]);
    // Wildcards of SQL are plain characters to a filter.
    assert_eq!(matching(&mut *d, vec![condition(u(), Co, "%")]), Vec::<String>::new());
    assert_eq!(matching(&mut *d, vec![condition(u(), Sw, "_eta")]), Vec::<String>::new());
}

fn not_equal_holds_when_no_value_equals<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    d.create_user(&user_with("one", &[("nick", &["a", "b"])])).unwrap();
    d.create_user(&user_with("two", &[("nick", &["c"])])).unwrap();
    d.create_user(&user("none")).unwrap();
    assert_eq!(matching(&mut *d, vec![condition(attr("nick"), Comparator::Ne, "B")]), ["two", "none"]);
    assert_eq!(matching(&mut *d, vec![condition(Field::Email, Comparator::Ne, "x@y")]), ["one", "two", "none"]);
}

fn present_means_a_value<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    d.create_user(&UserDraft { email: Some("a@x".into()), ..user_with("with", &[("nick", &["a"])]) }).unwrap();
    d.create_user(&user("without")).unwrap();
    assert_eq!(matching(&mut *d, vec![condition(attr("nick"), Comparator::Pr, "")]), ["with"]);
    assert_eq!(matching(&mut *d, vec![condition(Field::Email, Comparator::Pr, "")]), ["with"]);
    assert_eq!(matching(&mut *d, vec![condition(Field::Username, Comparator::Pr, "")]), ["with", "without"]);
}

fn times_compare_as_numbers<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let first = d.create_user(&user("first")).unwrap();
    let second = d.create_user(&user("second")).unwrap();
    assert!(first.created_at <= second.created_at);
    use Comparator::*;
    let at = |t: i64| t.to_string();
    assert_eq!(matching(&mut *d, vec![condition(Field::CreatedAt, Ge, &at(first.created_at))]), ["first", "second"]);
    assert_eq!(matching(&mut *d, vec![condition(Field::CreatedAt, Lt, &at(first.created_at))]), Vec::<String>::new());
    assert_eq!(matching(&mut *d, vec![condition(Field::UpdatedAt, Le, &at(second.updated_at))]), ["first", "second"]);
    // As numbers, not as text: "9" sorts after "1700000000000" as text.
    assert_eq!(matching(&mut *d, vec![condition(Field::CreatedAt, Gt, "9")]), ["first", "second"]);
    assert_eq!(
        matching(&mut *d, vec![condition(Field::CreatedAt, Eq, &at(second.created_at))]).last().unwrap(),
        "second"
    );
}

fn booleans_compare_as_true_or_false<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    d.create_user(&user("on")).unwrap();
    d.create_user(&UserDraft { enabled: false, ..user("off") }).unwrap();
    assert_eq!(matching(&mut *d, vec![condition(Field::Enabled, Comparator::Eq, "true")]), ["on"]);
    assert_eq!(matching(&mut *d, vec![condition(Field::Enabled, Comparator::Eq, "False")]), ["off"]);
    assert_eq!(matching(&mut *d, vec![condition(Field::Enabled, Comparator::Ne, "true")]), ["off"]);
}

fn a_multi_valued_attribute_matches_by_any_value<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    d.create_user(&user_with("one", &[("emails.value", &["a@x.com", "b@y.org"])])).unwrap();
    d.create_user(&user_with("two", &[("emails.value", &["c@y.org"])])).unwrap();
    let f = |op, v: &str| vec![condition(attr("emails.value"), op, v)];
    assert_eq!(matching(&mut *d, f(Comparator::Eq, "B@Y.ORG")), ["one"]);
    assert_eq!(matching(&mut *d, f(Comparator::Ew, "y.org")), ["one", "two"]);
    assert_eq!(matching(&mut *d, f(Comparator::Sw, "a@")), ["one"]);
}

fn all_any_and_negate_combine<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    greek(&mut *d);
    use Comparator::*;
    let filter = vec![
        condition(Field::Username, Sw, "a"),
        condition(Field::Username, Co, "t"),
        FilterNode::AnyOf(vec![0, 1]),
        condition(Field::Username, Eq, "delta"),
        FilterNode::Negate(3),
        FilterNode::AllOf(vec![2, 4]),
    ];
    assert_eq!(matching(&mut *d, filter), ["Alpha", "beta"]);
    assert_eq!(matching(&mut *d, vec![condition(Field::Username, Eq, "beta"), FilterNode::Negate(0)]).len(), 3);
}

fn a_value_filter_matches_one_item_not_a_mix<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    d.create_user(&user_with(
        "mixed",
        &[("emails.type", &["home", "work"]), ("emails.value", &["a@x.com", "b@y.org"])],
    ))
    .unwrap();
    d.create_user(&user_with("other", &[("emails.type", &["work"]), ("emails.value", &["c@x.com"])])).unwrap();
    let work_at = |domain: &str| {
        vec![
            condition(attr("emails.type"), Comparator::Eq, "WORK"),
            condition(attr("emails.value"), Comparator::Co, domain),
            FilterNode::AllOf(vec![0, 1]),
            FilterNode::SomeValue { attribute: "emails".into(), node: 2 },
        ]
    };
    assert_eq!(matching(&mut *d, work_at("y.org")), ["mixed"], "its work e-mail is at y.org");
    assert_eq!(matching(&mut *d, work_at("x.com")), ["other"], "mixed's x.com e-mail is its home one");
}

fn group_filters_test_group_fields<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    for name in ["Admins", "Staff", "admins-eu"] {
        d.create_group(&GroupDraft {
            attributes: vec![attribute("externalId", &[&name.to_lowercase()])],
            ..group(name)
        })
        .unwrap();
    }
    let names = |d: &mut S::Dir, filter| {
        let page = d.search_groups(&all(filter)).unwrap();
        page.items.into_iter().map(|g| g.name).collect::<Vec<_>>()
    };
    assert_eq!(names(&mut d, vec![condition(Field::GroupName, Comparator::Sw, "ADMINS")]), ["Admins", "admins-eu"]);
    assert_eq!(names(&mut d, vec![exact(Field::GroupName, Comparator::Eq, "admins")]), Vec::<String>::new());
    assert_eq!(names(&mut d, vec![condition(attr("externalId"), Comparator::Eq, "staff")]), ["Staff"]);
    assert_eq!(names(&mut d, vec![condition(Field::Username, Comparator::Pr, "")]), Vec::<String>::new());
}

fn sorted<D: Directory + ?Sized>(d: &mut D, field: Field, descending: bool) -> Vec<String> {
    let query = Query { sort: Some(SortKey { field, descending }), ..all(Vec::new()) };
    d.search_users(&query).unwrap().items.into_iter().map(|u| u.username).collect()
}

fn sorting_ignores_case_and_ties_keep_creation_order<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    greek(&mut *d);
    assert_eq!(sorted(&mut *d, Field::Username, false), ["Alpha", "beta", "delta", "GAMMA"]);
    assert_eq!(sorted(&mut *d, Field::Username, true), ["GAMMA", "delta", "beta", "Alpha"]);
    for (name, title) in [("t1", "B"), ("t2", "a"), ("t3", "b"), ("t4", "A")] {
        d.create_user(&user_with(name, &[("title", &[title])])).unwrap();
    }
    let titled: Vec<String> =
        sorted(&mut *d, attr("title"), false).into_iter().filter(|n| n.starts_with('t')).collect();
    assert_eq!(titled, ["t2", "t4", "t1", "t3"], "a before b, ties in creation order");
}

fn absent_values_sort_first_ascending<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    d.create_user(&UserDraft { last_name: Some("Zed".into()), ..user("z") }).unwrap();
    d.create_user(&user("none")).unwrap();
    d.create_user(&UserDraft { last_name: Some("abe".into()), ..user("a") }).unwrap();
    assert_eq!(sorted(&mut *d, Field::LastName, false), ["none", "a", "z"]);
    assert_eq!(sorted(&mut *d, Field::LastName, true), ["z", "a", "none"]);
}

fn pages_are_slices_of_the_list_and_count_all_matches<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    for i in 0..25 {
        d.create_user(&user_with(&format!("user{i:02}"), &[("emails.value", &[&format!("U{i}@Example.org")])]))
            .unwrap();
    }
    let query = Query {
        filter: vec![
            condition(Field::Username, Comparator::Sw, "USER1"),
            condition(attr("emails.value"), Comparator::Ew, "@example.org"),
            FilterNode::AllOf(vec![0, 1]),
        ],
        sort: Some(SortKey { field: Field::Username, descending: true }),
        offset: 2,
        limit: 3,
        organization: None,
    };
    let page = d.search_users(&query).unwrap();
    assert_eq!(page.total, 10);
    let names: Vec<_> = page.items.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["user17", "user16", "user15"]);
    let count = d.search_users(&Query { limit: 0, ..Query::default() }).unwrap();
    assert_eq!((count.total, count.items.len()), (25, 0), "a page of none still counts");
    let past = d.search_users(&Query { offset: 25, limit: 10, ..Query::default() }).unwrap();
    assert_eq!((past.total, past.items.len()), (25, 0));
}

fn pages_read_in_order_never_repeat_an_item<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let ids: Vec<String> = (0..30).map(|i| d.create_user(&user(&format!("u{i:02}"))).unwrap().id).collect();
    let page = |d: &mut S::Dir, offset| {
        let page = d.search_users(&Query { offset, limit: 10, ..Query::default() }).unwrap();
        page.items.into_iter().map(|u| u.username).collect::<Vec<_>>()
    };
    let mut seen = page(&mut d, 0);
    assert_eq!(seen, (0..10).map(|i| format!("u{i:02}")).collect::<Vec<_>>());
    // Two of the first page leave. The next pages may start at their offsets, or (a
    // store that remembers where a page ended) after the last item read: either way
    // in list order, and no item comes twice.
    assert!(d.delete_user(&ids[3]).unwrap() && d.delete_user(&ids[4]).unwrap());
    seen.extend(page(&mut d, 10));
    seen.extend(page(&mut d, 20));
    let mut in_order = seen.clone();
    in_order.sort();
    in_order.dedup();
    assert_eq!(seen, in_order, "in list order, each once");
    assert_eq!(seen.last().map(String::as_str), Some("u29"));
}

fn selected_reads_carry_only_the_attributes_named<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    for i in 0..3 {
        let scim = format!("{{\"n\":{i}}}");
        let draft = user_with(
            &format!("u{i}"),
            &[("scim", &[&scim]), ("externalId", &[&format!("x{i}")]), ("emails.value", &["a@x", "b@x"])],
        );
        d.create_user(&draft).unwrap();
    }
    let names = ["scim".to_string(), "externalId".to_string(), "unknown".to_string()];
    let query = Query { limit: 2, offset: 1, ..Query::default() };
    let mut expected = d.search_users(&query).unwrap();
    for user in &mut expected.items {
        user.attributes.retain(|a| a.name != "emails.value");
    }
    assert_eq!(d.search_users_selected(&query, &names).unwrap(), expected);
    let bare = d.search_users_selected(&query, &[]).unwrap();
    assert!(bare.items.len() == 2 && bare.items.iter().all(|u| u.attributes.is_empty()));
    let one = expected.items[0].clone();
    assert_eq!(d.get_user_selected(&one.id, &names).unwrap(), Some(one.clone()));
    assert_eq!(d.get_user_selected("nobody", &names).unwrap(), None);
}

fn members_are_listed_in_the_order_they_joined<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let users: Vec<User> = (0..6).map(|i| d.create_user(&user(&format!("u{i}"))).unwrap()).collect();
    let g = d.create_group(&group("g")).unwrap();
    let joined: Vec<&User> = [4, 1, 5, 0, 3, 2].iter().map(|&i| &users[i]).collect();
    for u in &joined {
        assert!(d.add_member(&g.id, &u.id).unwrap());
    }
    assert!(!d.add_member(&g.id, &users[0].id).unwrap(), "already a member");
    let ids: Vec<String> = joined.iter().map(|u| u.id.clone()).collect();
    assert_eq!(d.group_member_ids(&g.id).unwrap(), ids);
    let members: Vec<Member> =
        joined.iter().map(|u| Member { user_id: u.id.clone(), username: u.username.clone() }).collect();
    assert_eq!(d.group_members(&g.id).unwrap(), members);
    assert_eq!(d.get_group(&g.id).unwrap().unwrap().version, 7, "each join counts a version of the group");
    assert!(d.remove_member(&g.id, &users[5].id).unwrap());
    assert!(!d.remove_member(&g.id, &users[5].id).unwrap());
    assert_eq!(d.group_member_ids(&g.id).unwrap().len(), 5);
    assert_eq!(d.get_group(&g.id).unwrap().unwrap().version, 8);
}

fn the_groups_of_many_users_are_in_the_order_asked<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let users: Vec<User> = (0..4).map(|i| d.create_user(&user(&format!("u{i}"))).unwrap()).collect();
    let (a, b) = (d.create_group(&group("a")).unwrap(), d.create_group(&group("b")).unwrap());
    for (g, u) in [(&b, 1), (&a, 1), (&a, 0), (&b, 3)] {
        assert!(d.add_member(&g.id, &users[u].id).unwrap());
    }
    let mut ids: Vec<String> = users.iter().rev().map(|u| u.id.clone()).collect();
    ids.push("nobody".into());
    let many = d.groups_of_users(&ids).unwrap();
    let one_by_one: Vec<Vec<Membership>> = ids.iter().map(|id| d.user_groups(id).unwrap()).collect();
    assert_eq!(many, one_by_one);
    let names = |of_user: &[Membership]| of_user.iter().map(|m| m.group_name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&many[0]), ["b"], "u3");
    assert!(many[1].is_empty(), "u2 has no groups");
    assert_eq!(names(&many[2]), ["b", "a"], "u1, in the order it joined");
    assert!(many[4].is_empty(), "an unknown id has none");
    assert!(d.groups_of_users(&[]).unwrap().is_empty());
}

fn memberships_go_with_their_user_or_group<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let (ann, bob) = (d.create_user(&user("ann")).unwrap(), d.create_user(&user("bob")).unwrap());
    let (a, b) = (d.create_group(&group("a")).unwrap(), d.create_group(&group("b")).unwrap());
    for (g, u) in [(&a, &ann), (&a, &bob), (&b, &ann)] {
        d.add_member(&g.id, &u.id).unwrap();
    }
    assert!(d.delete_user(&ann.id).unwrap());
    assert_eq!(d.group_member_ids(&a.id).unwrap(), std::slice::from_ref(&bob.id));
    assert!(d.group_member_ids(&b.id).unwrap().is_empty());
    assert!(d.delete_group(&a.id).unwrap());
    assert!(d.user_groups(&bob.id).unwrap().is_empty());
    let ann = d.create_user(&user("ann")).expect("a deleted user's name is free again");
    assert!(d.user_groups(&ann.id).unwrap().is_empty());
}

fn organization_membership_bounds_queries<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let (acme, globex) = (organization(&mut *d, "acme"), organization(&mut *d, "globex"));
    let users: Vec<User> = ["in-acme", "in-both", "in-none"].iter().map(|n| d.create_user(&user(n)).unwrap()).collect();
    assert!(d.add_organization_member(&acme, &users[0].id).unwrap());
    assert!(d.add_organization_member(&acme, &users[1].id).unwrap());
    assert!(!d.add_organization_member(&acme, &users[1].id).unwrap(), "already a member");
    assert!(d.add_organization_member(&globex, &users[1].id).unwrap());
    assert!(d.is_organization_member(&acme, &users[0].id).unwrap());
    assert!(!d.is_organization_member(&globex, &users[0].id).unwrap());
    assert!(!d.is_organization_member(&acme, "nobody").unwrap());
    let in_org = |d: &mut S::Dir, org: &str| {
        let query = Query { organization: Some(org.to_string()), ..all(Vec::new()) };
        d.search_users(&query).unwrap().items.into_iter().map(|u| u.username).collect::<Vec<_>>()
    };
    assert_eq!(in_org(&mut d, &acme), ["in-acme", "in-both"]);
    assert_eq!(in_org(&mut d, &globex), ["in-both"]);
    for (name, owner) in [("acme-g", Some(&acme)), ("globex-g", Some(&globex)), ("realm-g", None)] {
        d.create_group(&GroupDraft { organization: owner.cloned(), ..group(name) }).unwrap();
    }
    let query = Query { organization: Some(acme.clone()), ..all(Vec::new()) };
    let groups: Vec<String> = d.search_groups(&query).unwrap().items.into_iter().map(|g| g.name).collect();
    assert_eq!(groups, ["acme-g"]);
    let filtered = Query { filter: vec![condition(Field::Username, Comparator::Ew, "both")], ..query };
    assert_eq!(d.search_users(&filtered).unwrap().total, 1, "the organization and the filter both hold");
}

fn leaving_an_organization_leaves_its_groups<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let acme = organization(&mut *d, "acme");
    let ann = d.create_user(&user("ann")).unwrap();
    let own = d.create_group(&GroupDraft { organization: Some(acme.clone()), ..group("acme-g") }).unwrap();
    let realm = d.create_group(&group("realm-g")).unwrap();
    assert!(d.add_organization_member(&acme, &ann.id).unwrap());
    d.add_member(&own.id, &ann.id).unwrap();
    d.add_member(&realm.id, &ann.id).unwrap();
    assert!(d.remove_organization_member(&acme, &ann.id).unwrap());
    assert!(!d.remove_organization_member(&acme, &ann.id).unwrap(), "no longer a member");
    assert!(!d.is_organization_member(&acme, &ann.id).unwrap());
    let groups: Vec<String> = d.user_groups(&ann.id).unwrap().into_iter().map(|m| m.group_name).collect();
    assert_eq!(groups, ["realm-g"], "the organization's groups went with it, the realm's stay");
    assert!(d.get_user(&ann.id).unwrap().is_some(), "the user stays in the realm");
}

fn a_password_is_set_only_for_a_user<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let ann = d.create_user(&user("ann")).unwrap();
    d.set_password(&ann.id, "correct horse battery staple").unwrap();
    d.set_password(&ann.id, "another one").expect("a password may be replaced");
    assert!(matches!(d.set_password("nobody", "x"), Err(DirectoryError::NotFound(_))));
    let read = d.get_user(&ann.id).unwrap().unwrap();
    let text = format!("{read:?}");
    assert!(!text.contains("horse") && !text.contains("another"), "no read returns a password: {text}");
}

fn savepoints_nest_and_undo_only_their_part<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    d.create_user(&user("kept")).unwrap();
    d.savepoint().unwrap();
    d.create_user(&user("inner-kept")).unwrap();
    d.savepoint().unwrap();
    d.create_user(&user("undone")).unwrap();
    d.rollback_to_savepoint().unwrap();
    d.release_savepoint().unwrap();
    d.savepoint().unwrap();
    d.create_user(&user("also-undone")).unwrap();
    d.rollback_to_savepoint().unwrap();
    assert_eq!(matching(&mut *d, Vec::new()), ["kept", "inner-kept"]);
    assert!(d.create_user(&user("undone")).is_ok(), "an undone user's name is free");
    assert!(matches!(d.release_savepoint(), Err(DirectoryError::Invalid(_))));
    assert!(matches!(d.rollback_to_savepoint(), Err(DirectoryError::Invalid(_))));
}

fn events_are_kept_in_order_unless_rolled_back<S: Subject>(s: &mut S) {
    let mut d = s.fresh();
    let event = |kind, id: &str| AdminEvent {
        kind,
        resource_id: id.into(),
        related_id: Some(format!("rel-{id}")),
        details: format!("{{\"n\":\"{id}\"}}"),
    };
    d.emit(&event(EventKind::UserCreated, "1")).unwrap();
    d.savepoint().unwrap();
    d.emit(&event(EventKind::MemberJoined, "2")).unwrap();
    d.rollback_to_savepoint().unwrap();
    d.savepoint().unwrap();
    d.emit(&event(EventKind::OrganizationMemberLeft, "3")).unwrap();
    d.release_savepoint().unwrap();
    d.emit(&event(EventKind::GroupDeleted, "4")).unwrap();
    let events = s.committed_events(d);
    assert_eq!(
        events,
        [
            event(EventKind::UserCreated, "1"),
            event(EventKind::OrganizationMemberLeft, "3"),
            event(EventKind::GroupDeleted, "4")
        ]
    );
}
