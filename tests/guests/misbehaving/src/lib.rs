//! A guest that misbehaves on request, to show that a guest's failure costs only its own
//! request: `/trap` panics, `/loop` never returns, `/sleep` sleeps for an hour in WASI,
//! `/write-then-loop` creates a user and never returns, `/eat` allocates without end,
//! `/write-then-trap` and `/write-then-500` create a user and then fail, `/count` answers
//! how many users the realm has, `/page` answers an HTML page with a script and headers that
//! would change the browser's state for the whole origin, `/probe` tries every directory call on the resources the
//! query names and reports what it reached, and anything else answers 200.
//!
//! Compiled only for wasm32; on other targets the crate is empty.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "../../../wit", world: "scim-handler" });

    use exports::scim::host::handler::Guest;
    use scim::host::directory as dir;
    use scim::host::types::{Config, Request, Response, Scope};

    struct Misbehaving;

    fn text(status: u16, body: &str) -> Response {
        Response { status, headers: vec![("content-type".into(), "text/plain".into())], body: body.as_bytes().to_vec() }
    }

    fn create_ghost() {
        let draft = dir::UserDraft {
            username: "ghost".into(),
            email: None,
            first_name: None,
            last_name: None,
            enabled: true,
            attributes: Vec::new(),
        };
        let ghost = dir::create_user(&draft).expect("the store accepts the ghost");
        let created = dir::AdminEvent {
            kind: dir::EventKind::UserCreated,
            resource_id: ghost.id,
            related_id: None,
            details: r#"{"userName": "ghost"}"#.into(),
        };
        dir::emit(&created).expect("the store records it");
    }

    /// What each directory call reached, one `name=what` line each, for the resources of
    /// the query (`user`, `username`, `external_id`, `email`, `group`, `organization`):
    /// what a hostile module would try to reach outside its scope.
    fn probe(scope: &Scope, request: &Request) -> String {
        let arg =
            |name: &str| request.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        let (user, group) = (arg("user"), arg("group"));
        let everything = dir::Query { filter: Vec::new(), organization: None, sort: None, offset: 0, limit: 100 };
        let own = match scope {
            Scope::Organization(org) => org.id.clone(),
            Scope::Realm => String::new(),
        };
        let draft = dir::UserDraft {
            username: "hijacked".into(),
            email: None,
            first_name: None,
            last_name: None,
            enabled: false,
            attributes: Vec::new(),
        };
        let group_draft = dir::GroupDraft { name: "hijacked".into(), organization: None, attributes: Vec::new() };
        let forged = dir::AdminEvent {
            kind: dir::EventKind::UserDeleted,
            resource_id: user.clone(),
            related_id: None,
            details: "{}".into(),
        };
        // Events about resources outside the scope, as a module would forge them for the
        // realm's event stream (and whoever reads it).
        let forged_update = dir::AdminEvent { kind: dir::EventKind::UserUpdated, ..forged.clone() };
        let join = |group: &str, user: &str| dir::AdminEvent {
            kind: dir::EventKind::MemberJoined,
            resource_id: group.to_string(),
            related_id: Some(user.to_string()),
            details: "{}".into(),
        };
        // With the scope's own user and group (`own_user`, `own_group`) beside an outside
        // one, and an own user's update pointing outside.
        let (own_user, own_group) = (arg("own_user"), arg("own_group"));
        let update_pointing_out = dir::AdminEvent {
            kind: dir::EventKind::UserUpdated,
            resource_id: own_user.clone(),
            related_id: Some(group.clone()),
            details: "{}".into(),
        };
        let own_update = dir::AdminEvent { related_id: None, ..update_pointing_out.clone() };
        let ids = |users: Vec<dir::User>| users.into_iter().map(|u| u.id).collect::<Vec<_>>().join(",");
        let found = [
            ("get_user", format!("{:?}", dir::get_user(&user).map(|u| u.map(|u| u.id)))),
            ("get_user_selected", format!("{:?}", dir::get_user_selected(&user, &[]).map(|u| u.map(|u| u.id)))),
            (
                "get_user_by_username",
                format!("{:?}", dir::get_user_by_username(&arg("username")).map(|u| u.map(|u| u.id))),
            ),
            (
                "get_users_by_attribute",
                format!("{:?}", dir::get_users_by_attribute("externalId", &arg("external_id")).map(ids)),
            ),
            ("get_users_by_email", format!("{:?}", dir::get_users_by_email(&arg("email")).map(ids))),
            ("search_users", format!("{:?}", dir::search_users(&everything).map(|p| ids(p.users)))),
            ("get_group", format!("{:?}", dir::get_group(&group).map(|g| g.map(|g| g.id)))),
            (
                "search_groups",
                format!(
                    "{:?}",
                    dir::search_groups(&everything).map(|p| p.groups.into_iter().map(|g| g.id).collect::<Vec<_>>())
                ),
            ),
            ("group_member_ids", format!("{:?}", dir::group_member_ids(&group))),
            ("user_groups", format!("{:?}", dir::user_groups(&user).map(|g| g.len()))),
            ("groups_of_users", format!("{:?}", dir::groups_of_users(&[user.clone()]).map(|g| g.concat().len()))),
            ("get_organization", format!("{:?}", dir::get_organization(&arg("organization")).map(|o| o.map(|o| o.id)))),
            ("update_user", format!("{:?}", dir::update_user(&user, &draft).map(|u| u.id))),
            ("set_password", format!("{:?}", dir::set_password(&user, "hijacked"))),
            ("add_organization_member", format!("{:?}", dir::add_organization_member(&own, &user))),
            ("add_member", format!("{:?}", dir::add_member(&group, &user))),
            ("remove_member", format!("{:?}", dir::remove_member(&group, &user))),
            ("update_group", format!("{:?}", dir::update_group(&group, &group_draft).map(|g| g.id))),
            ("delete_group", format!("{:?}", dir::delete_group(&group))),
            ("remove_organization_member", format!("{:?}", dir::remove_organization_member(&own, &user))),
            ("emit_forged", format!("{:?}", dir::emit(&forged))),
            ("emit_forged_update", format!("{:?}", dir::emit(&forged_update))),
            ("emit_forged_join", format!("{:?}", dir::emit(&join(&group, &user)))),
            ("emit_join_of_outside_user", format!("{:?}", dir::emit(&join(&own_group, &user)))),
            ("emit_join_to_outside_group", format!("{:?}", dir::emit(&join(&group, &own_user)))),
            ("emit_update_pointing_out", format!("{:?}", dir::emit(&update_pointing_out))),
            ("emit_own_update", format!("{:?}", dir::emit(&own_update))),
            ("delete_user", format!("{:?}", dir::delete_user(&user))),
        ];
        found.iter().map(|(name, what)| format!("{name}={what}\n")).collect()
    }

    impl Guest for Misbehaving {
        fn handle(scope: Scope, _config: Config, request: Request) -> Response {
            match request.path.as_str() {
                "/probe" => text(200, &probe(&scope, &request)),
                // A page for the browser, on the origin the console is served from: its
                // script would read the console's storage and register a service worker.
                "/page" => Response {
                    status: 200,
                    headers: [
                        ("content-type", "text/html"),
                        ("set-cookie", "planted=1; Path=/"),
                        ("service-worker-allowed", "/"),
                        ("clear-site-data", "\"storage\""),
                        ("content-security-policy", "script-src 'unsafe-inline'"),
                        ("x-content-type-options", "sniff"),
                        ("strict-transport-security", "max-age=31536000"),
                        ("x-plugin", "kept"),
                    ]
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .to_vec(),
                    body: b"<script>document.title = sessionStorage.length + ' stolen'</script>".to_vec(),
                },
                "/trap" => panic!("asked to trap"),
                // Teaches the host that this kind of request writes, so that the next
                // ones begin as writes, in a write turn.
                "/loop" if request.query.iter().any(|(k, _)| k == "teach") => {
                    let event = dir::AdminEvent {
                        kind: dir::EventKind::UserUpdated,
                        resource_id: "nobody".into(),
                        related_id: None,
                        details: "{}".into(),
                    };
                    dir::emit(&event).expect("the store records it");
                    text(200, "wrote")
                }
                "/loop" => {
                    let mut n: u64 = 0;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                }
                "/sleep" => {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                    text(200, "slept")
                }
                "/write-then-loop" => {
                    create_ghost();
                    let mut n: u64 = 0;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                }
                "/eat" => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                "/write-then-trap" => {
                    create_ghost();
                    panic!("trapping after a write");
                }
                "/write-then-500" => {
                    create_ghost();
                    text(500, "failing after a write")
                }
                "/count" => {
                    let query = dir::Query { filter: Vec::new(), organization: None, sort: None, offset: 0, limit: 0 };
                    let page = dir::search_users(&query).expect("the store answers");
                    text(200, &page.total.to_string())
                }
                _ => text(200, "ok"),
            }
        }
    }

    export!(Misbehaving);
}
