//! The web console at /console, in a real browser (headless Chromium over WebDriver): an
//! operator onboards a tenant, follows its events live, refuses a bad module and rolls back,
//! reads the failed requests and a webhook's deliveries; and the page holds against the
//! attacks a console invites (a token in a URL, markup in directory data, framing).
//!
//! `SCIM_CONSOLE_SCREENSHOTS=docs cargo test -p scim-host-e2e --test console` refreshes
//! the screenshots under docs/.

use scim_host_e2e::browser::Browser;
use scim_host_e2e::receiver::Receiver;
use scim_host_e2e::*;
use serde_json::json;

/// Opens the console and signs in with `token`, as an operator would: typed, then Enter.
async fn signed_in(server: &TestServer) -> Browser {
    let browser = Browser::start().await;
    browser.open(&format!("{}/console", server.origin)).await;
    browser.type_into("#admin-token", &format!("{ADMIN_TOKEN}\u{E007}")).await;
    browser.wait_for_text("main h1", "Realms").await;
    browser
}

/// Goes to a page of the console and waits for its heading.
async fn open(browser: &Browser, server: &TestServer, route: &str, heading: &str) {
    browser.open(&format!("{}/console#/{route}", server.origin)).await;
    browser.wait_for_text("main h1", heading).await;
}

#[tokio::test]
async fn console_onboards_a_tenant_and_shows_its_first_user_live() {
    let server = TestServer::start().await;
    let browser = signed_in(&server).await;
    browser.wait_for_text("main table", "demo").await;
    // The rates come from two samples of /metrics, a moment apart.
    browser.wait_for_text("main table", "/s").await;
    browser.screenshot("realms").await;

    browser.type_into("#new-realm", "northwind").await;
    browser.click("#create-realm button[type=submit]").await;
    browser.wait_for_text("main h1", "northwind").await;
    let realm_base = browser.value("#scim-base").await;
    assert_eq!(realm_base, format!("{}/realms/northwind/scim/v2", server.origin));
    server.admin(reqwest::Method::GET, "/admin/realms/northwind", None).await.expect(200);

    browser.click("nav.tabs a[href$='/organizations']").await;
    browser.type_into("#new-organization", "sales").await;
    browser.click("#create-organization button[type=submit]").await;
    browser.wait_for_text("main table", "sales").await;

    browser.click("nav.tabs a[href$='/tokens']").await;
    browser.select("#token-scope", "sales").await;
    browser.type_into("#token-label", "okta").await;
    browser.click("#issue-token button[type=submit]").await;
    let token = browser.value("#new-token").await;
    let base = browser.value("#new-token-base").await;
    assert_eq!(base, format!("{}/realms/northwind/scim/v2/organizations/sales", server.origin));
    assert!(token.len() >= 32, "a whole token: {token}");
    browser.screenshot("token-issued").await;

    browser.click("nav.tabs a[href$='/events']").await;
    browser.wait_for_text("#stream-state", "Live").await;
    assert!(!browser.text("#events").await.contains("USER_CREATED"));
    // What the identity provider does with what the operator pasted into it.
    let created = server
        .call_with(reqwest::Method::POST, &format!("{base}/Users"), Some(user("ann@northwind", "okta-1")), Some(&token))
        .await;
    created.expect(201);
    let shown = browser.wait_for_text("#events", "USER_CREATED").await;
    assert!(shown.contains("ann@northwind"), "the event names the user: {shown}");
    browser.screenshot("events").await;
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn console_refuses_a_bad_module_and_rolls_back() {
    let server = TestServer::start().await;
    let browser = signed_in(&server).await;
    open(&browser, &server, "realms/demo/module", "demo · Module").await;
    let bundled = browser.text("#module-digest").await;
    assert_eq!(bundled.len(), 64, "a digest: {bundled}");

    let scratch = tempfile::tempdir().unwrap();
    let bad = scratch.path().join("core-module.wasm");
    // A core WebAssembly module, not a component: the upload's checks refuse it.
    std::fs::write(&bad, b"\0asm\x01\0\0\0").unwrap();
    browser.choose_file("#module-file", &bad).await;
    browser.click("#upload-module button[type=submit]").await;
    let refusal = browser.wait_for_text("#module-outcome [role=alert]", "Refused").await;
    assert!(refusal.contains("component"), "the refusal says why: {refusal}");
    assert!(!refusal.contains(&scratch.path().display().to_string()), "nothing of the host's files: {refusal}");
    browser.screenshot("module-refused").await;
    let running = server.admin(reqwest::Method::GET, "/admin/realms/demo/module", None).await.expect(200);
    assert_eq!(running.body["digest"], bundled.as_str(), "the realm keeps its module");

    browser.choose_file("#module-file", std::path::Path::new(EMAIL_USERNAME_GUEST)).await;
    browser.click("#upload-module button[type=submit]").await;
    eventually("the plugin runs", || async {
        let digest = browser.text("#module-digest").await;
        digest != bundled && digest.len() == 64
    })
    .await;
    browser.wait_for_text("main table", "running").await;
    browser.screenshot("module-history").await;

    browser.click_twice("#rollback").await;
    eventually("the bundled module runs again", || async { browser.text("#module-digest").await == bundled }).await;
    let running = server.admin(reqwest::Method::GET, "/admin/realms/demo/module", None).await.expect(200);
    assert_eq!(running.body["digest"], bundled.as_str());
    assert_eq!(running.body["history"].as_array().unwrap().len(), 3, "bundled, plugin, bundled: {}", running.text);
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn console_shows_failed_requests_and_webhook_deliveries() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let refused = server
        .client
        .post(format!("{}/Users", server.base(Scope::Realm)))
        .bearer_auth(TOKEN)
        .header("user-agent", "Okta SCIM Client 1.0.0")
        .header("content-type", "application/scim+json")
        .body(json!({ "userName": "bob", "password": "hunter2-secret" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    let browser = signed_in(&server).await;
    open(&browser, &server, "realms/demo/requests", "Failed requests").await;
    let failures = browser.wait_for_text("main", "invalidSyntax").await;
    assert!(failures.contains("okta"), "counted under its identity provider: {failures}");
    browser.click("main details summary").await;
    let body = browser.wait_for_text("main details pre", "bob").await;
    assert!(!body.contains("hunter2"), "the password is redacted in the console too: {body}");
    browser.screenshot("failed-requests").await;

    open(&browser, &server, "realms/demo/webhooks", "Webhooks").await;
    browser.type_into("#webhook-url", &receiver.url).await;
    browser.click("#create-webhook button[type=submit]").await;
    let secret = browser.value("#webhook-secret").await;
    assert!(secret.starts_with("whsec_"), "the signing secret, once: {secret}");
    browser.click("#webhook-done").await;
    browser.wait_for_text("main table", &receiver.url).await;
    browser.click("main table button").await; // Send test
    browser.wait_for_text("#status", "Test delivered: 200").await;

    server.create_user(Scope::Realm, "carol", "x-carol").await;
    receiver.wait_for(2).await;
    browser.click("main table th a").await;
    browser.wait_for_text("main h1", "Webhooks").await;
    let log = browser.wait_for_text("main table", "200").await;
    assert!(log.contains("ms"), "latency shown: {log}");
    browser.screenshot("webhook-deliveries").await;
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn console_changes_a_realms_limits_and_settings() {
    let server = TestServer::start().await;
    let browser = signed_in(&server).await;
    open(&browser, &server, "realms/demo", "demo").await;
    browser.type_into("#limit-requests_per_second", "25").await;
    browser.type_into("#limit-burst", "").await;
    browser.click("#limits button[type=submit]").await;
    browser.wait_for_text("#status", "Saved").await;
    let realm = server.admin(reqwest::Method::GET, "/admin/realms/demo", None).await.expect(200);
    assert_eq!(realm.body["limits"]["requests_per_second"], 25.0, "{}", realm.text);
    assert!(realm.body["limits"]["burst"].is_null(), "an emptied burst is lifted: {}", realm.text);
    assert_eq!(realm.body["limitsFrom"], "admin");

    browser.type_into("#settings", "a line without its value").await;
    browser.click("#settings-form button[type=submit]").await;
    browser.wait_for_text("#settings-form [role=alert]", "has no \"=\"").await;
    browser.type_into("#settings", "group_patch_response = 200").await;
    browser.click("#settings-form button[type=submit]").await;
    eventually("the setting is saved", || async {
        let realm = server.admin(reqwest::Method::GET, "/admin/realms/demo", None).await.expect(200);
        realm.body["settings"] == json!({ "group_patch_response": "200" })
    })
    .await;
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn console_fits_a_phone_and_follows_the_keyboard() {
    let server = TestServer::start().await;
    let browser = signed_in(&server).await;
    // After signing in with the keyboard alone, focus sits on the new page's heading.
    let focused = browser.run("return document.activeElement.tagName + ':' + document.activeElement.textContent").await;
    assert_eq!(focused, "H1:Realms");
    browser.resize(390, 844).await;
    let pages = [
        ("realms", "Realms"),
        ("realms/demo", "demo"),
        ("realms/demo/tokens", "Tokens"),
        ("realms/demo/webhooks", "Webhooks"),
        ("realms/demo/requests", "Failed requests"),
    ];
    for (route, heading) in pages {
        open(&browser, &server, route, heading).await;
        let overflow =
            browser.run("return document.documentElement.scrollWidth - document.documentElement.clientWidth").await;
        assert_eq!(overflow, 0, "{route} scrolls sideways on a phone");
    }
    open(&browser, &server, "realms/demo", "demo").await;
    browser.find("#scim-base").await;
    browser.screenshot("phone").await;
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn admin_token_never_travels_in_a_url() {
    let server = TestServer::start().await;
    let browser = signed_in(&server).await;
    open(&browser, &server, "realms/demo/events", "Events").await;
    browser.wait_for_text("#stream-state", "Live").await;
    for (route, heading) in
        [("realms/demo", "demo"), ("realms/demo/tokens", "Tokens"), ("realms/demo/requests", "requests")]
    {
        open(&browser, &server, route, heading).await;
    }
    let urls = browser
        .run("return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)].join('\\n')")
        .await;
    let urls = urls.as_str().unwrap();
    assert!(urls.contains("/admin/realms/demo"), "the admin API was called: {urls}");
    assert!(!urls.contains(ADMIN_TOKEN), "a URL carried the token: {urls}");
    assert!(!browser.run("return document.cookie").await.as_str().unwrap().contains(ADMIN_TOKEN));

    browser.click("#sign-out").await;
    browser.find("#admin-token").await;
    let kept = browser.run("return sessionStorage.length + localStorage.length").await;
    assert_eq!(kept, 0, "signing out forgets the token");
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_token_does_not_sign_in() {
    let server = TestServer::start().await;
    let browser = Browser::start().await;
    browser.open(&format!("{}/console#/realms/demo/tokens", server.origin)).await;
    browser.type_into("#admin-token", &format!("{TOKEN}\u{E007}")).await;
    let refusal = browser.wait_for_text("#sign-in [role=alert]", "not an admin token").await;
    assert!(!refusal.contains("demo"), "nothing of the realms: {refusal}");
    assert_eq!(browser.run("return sessionStorage.length").await, 0);
    assert!(!browser.page_text().await.contains("Issue a token"));
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn markup_in_a_user_name_is_shown_as_text_in_the_console() {
    let server = TestServer::start().await;
    let hostile = r#"<img src=x onerror="document.title='owned'">"#;
    server.create_user(Scope::Realm, hostile, "x-hostile").await;
    let browser = signed_in(&server).await;
    open(&browser, &server, "realms/demo/events", "Events").await;
    browser.wait_for_text("#events", hostile).await;
    assert!(!browser.exists("#events img").await, "the name became an element");
    assert_ne!(browser.run("return document.title").await, "owned");
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn console_cannot_be_framed_or_run_inline_script() {
    let server = TestServer::start().await;
    let page = server.client.get(format!("{}/console", server.origin)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let header = |name: &str| page.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let policy = header("content-security-policy");
    for wanted in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"] {
        assert!(policy.contains(wanted), "{wanted} missing from {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("cache-control"), "no-store");
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("<script").count(), html.matches("<script src=").count(), "no inline script");
    let absolute = |text: &str| {
        ["http://", "https://", "//"].iter().any(|scheme| {
            text.match_indices(scheme)
                .any(|(at, _)| text[at + scheme.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()))
        })
    };
    assert!(!absolute(&html), "no external assets");
    for asset in ["app.js", "app.css"] {
        let answer = server.client.get(format!("{}/console/{asset}", server.origin)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{asset}");
        let body = answer.text().await.unwrap();
        assert!(!absolute(&body), "{asset} fetches nothing from elsewhere");
    }
    server.stop().await;
}

#[tokio::test]
async fn module_cannot_plant_browser_state_on_the_consoles_origin() {
    let server = TestServer::start().await;
    let page = server
        .client
        .get(format!("{}/realms/misbehaving/scim/v2/page", server.origin))
        .bearer_auth(MISBEHAVING_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers();
    for planted in ["set-cookie", "service-worker-allowed", "clear-site-data", "strict-transport-security"] {
        assert!(!headers.contains_key(planted), "the module sent {planted}: {headers:?}");
    }
    assert_eq!(headers["x-plugin"], "kept", "a module's own headers pass");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let policy: Vec<_> = headers.get_all("content-security-policy").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(
        policy,
        ["sandbox; default-src 'none'; frame-ancestors 'none'"],
        "its page runs no script on this origin"
    );
    server.stop().await;
}

#[tokio::test]
async fn crafted_console_link_cannot_point_the_page_at_another_resource() {
    let server = TestServer::start().await;
    let browser = signed_in(&server).await;
    // "#/realms/../tokens" would have the page call /admin/tokens, under a realm named "..".
    for crafted in [
        "realms/%2E%2E/tokens",
        "realms/demo/constructor",
        "realms/%E0",
        "realms/demo/tokens/x",
        "realms/demo/webhooks/x/y",
    ] {
        open(&browser, &server, crafted, "Not").await;
    }
    open(&browser, &server, "realms/demo/tokens", "Tokens").await;
    browser.close().await;
    server.stop().await;
}
