//! A guest that misbehaves on request, to show that a guest's failure costs only its own
//! request: `/trap` panics, `/loop` never returns, `/eat` allocates without end,
//! `/write-then-trap` and `/write-then-500` create a user and then fail, `/count` answers
//! how many users the realm has, and anything else answers 200.
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
        dir::create_user(&draft).expect("the store accepts the ghost");
    }

    impl Guest for Misbehaving {
        fn handle(_scope: Scope, _config: Config, request: Request) -> Response {
            match request.path.as_str() {
                "/trap" => panic!("asked to trap"),
                "/loop" => {
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
