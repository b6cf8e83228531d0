//! The web dashboard over HTTP: signing in and out, the session cookie,
//! CSRF, role limits, escaping of untrusted lead data, the CSP and the
//! assets, queue outcomes and the model editor. (The browser test is
//! `crates/cli/tests/dashboard.rs`.)

use crate::support::{TEST_MODEL, TestServer, identify, track};
use qualify_store::{Role, Store};
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use serde_json::json;

/// A browser without cookie jar or redirects, so that each test sees what
/// the server answers: one session cookie held by hand.
struct Browser<'a> {
    server: &'a TestServer,
    client: Client,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(server: &'a TestServer) -> Browser<'a> {
        let client =
            Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
        Browser { server, client, cookie: None }
    }

    /// Signs in with the key of `role` and keeps the session cookie.
    async fn signed_in(server: &'a TestServer, role: Role) -> Browser<'a> {
        let mut browser = Browser::new(server);
        let response = browser.sign_in(server.keys().of(role)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "signing in with a {role:?} key");
        let cookie = response.headers()[SET_COOKIE].to_str().expect("a text cookie").to_owned();
        browser.cookie = Some(cookie.split(';').next().expect("name=value").to_owned());
        browser
    }

    async fn sign_in(&self, key: &str) -> Response {
        self.client.post(self.server.url("/login")).form(&[("key", key)]).send().await.expect("an answer")
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(cookie) => request.header("Cookie", cookie),
            None => request,
        }
    }

    async fn get(&self, path: &str) -> Response {
        self.with_cookie(self.client.get(self.server.url(path))).send().await.expect("an answer")
    }

    /// GETs a page that must answer 200; returns its HTML.
    async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        let status = response.status();
        let body = response.text().await.expect("a body");
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.with_cookie(self.client.post(self.server.url(path))).form(form).send().await.expect("an answer")
    }

    /// The CSRF token the pages put in their forms.
    async fn csrf(&self) -> String {
        let html = self.page("/").await;
        let start = html.find(r#"name="csrf" value=""#).expect("a CSRF field") + r#"name="csrf" value=""#.len();
        html[start..].split('"').next().expect("the token").to_owned()
    }
}

/// A server where `u-1` is an MQL (a rich adult who downloaded the catalog).
async fn server_with_an_mql() -> TestServer {
    let server = TestServer::start().await;
    server
        .send_batch(vec![
            identify("u-1", json!({ "email": "one@example.com", "income": 200000, "age": 40 })),
            track("u-1", "Catalog Downloaded"),
        ])
        .await;
    server
}

fn location(response: &Response) -> &str {
    response.headers().get(LOCATION).and_then(|value| value.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn signing_in_with_a_read_sales_or_admin_key_sets_an_http_only_same_site_cookie() {
    let server = TestServer::start().await;
    for role in [Role::Read, Role::Sales, Role::Admin] {
        let response = Browser::new(&server).sign_in(server.keys().of(role)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{role:?}");
        assert_eq!(location(&response), "/");
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
        assert!(cookie.starts_with("qualify_session="), "{cookie}");
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.split("; ").any(|part| part == flag), "{flag} missing from {cookie}");
        }
        // The cookie holds a session token, never the key.
        assert!(!cookie.contains(server.keys().of(role)), "{cookie}");
    }
}

#[tokio::test]
async fn an_unknown_key_or_a_write_key_cannot_sign_in() {
    let server = TestServer::start().await;
    for key in ["qk_unknown", "", server.keys().write.as_str()] {
        let response = Browser::new(&server).sign_in(key).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{key:?}");
        assert!(response.headers().get(SET_COOKIE).is_none(), "{key:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains("class=\"error-message\""), "{body}");
    }
}

#[tokio::test]
async fn signed_out_pages_redirect_to_the_sign_in_page() {
    let server = TestServer::start().await;
    let browser = Browser::new(&server);
    for path in ["/", "/kpis", "/criteria", "/model", "/leads/u-1", "/?stage=all"] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), "/login", "{path}");
    }
    // A forged or expired cookie is the same as none.
    let forged = Browser { cookie: Some("qualify_session=forged".into()), ..Browser::new(&server) };
    assert_eq!(location(&forged.get("/").await), "/login");
    let response = forged.post("/leads/u-1/outcomes", &[("stage", "accepted"), ("csrf", "x")]).await;
    assert_eq!(location(&response), "/login");
    assert!(browser.page("/login").await.contains(r#"name="key""#));
}

#[tokio::test]
async fn state_changing_posts_without_the_session_csrf_token_are_forbidden() {
    let server = server_with_an_mql().await;
    let browser = Browser::signed_in(&server, Role::Sales).await;
    let csrf = browser.csrf().await;
    let missing = browser.post("/leads/u-1/outcomes", &[("stage", "accepted")]).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let wrong = browser.post("/leads/u-1/outcomes", &[("stage", "accepted"), ("csrf", "not-the-token")]).await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let sign_out = browser.post("/logout", &[]).await;
    assert_eq!(sign_out.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.lead("u-1").await["stage"], json!("mql"), "nothing was recorded");
    // The same request with the token (field or header) goes through.
    let with_field = browser.post("/leads/u-1/outcomes", &[("stage", "accepted"), ("csrf", &csrf)]).await;
    assert_eq!(with_field.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.lead("u-1").await["stage"], json!("accepted"));
    let with_header = browser
        .with_cookie(browser.client.post(server.url("/leads/u-1/outcomes")))
        .header("X-CSRF-Token", &csrf)
        .form(&[("stage", "won")])
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.lead("u-1").await["stage"], json!("won"));
}

#[tokio::test]
async fn a_read_key_views_but_cannot_record_outcomes_or_open_the_model_editor() {
    let server = server_with_an_mql().await;
    let read = Browser::signed_in(&server, Role::Read).await;
    let queue = read.page("/").await;
    assert!(queue.contains("u-1"), "the read key sees the queue");
    assert!(!queue.contains("/outcomes"), "no outcome buttons for a read key");
    assert!(!queue.contains(r#"href="/model""#), "no model link for a read key");
    let csrf = read.csrf().await;
    let outcome = read.post("/leads/u-1/outcomes", &[("stage", "accepted"), ("csrf", &csrf)]).await;
    assert_eq!(outcome.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.lead("u-1").await["stage"], json!("mql"));
    for path in ["/kpis", "/criteria", "/leads/u-1"] {
        read.page(path).await;
    }
    assert_eq!(read.get("/model").await.status(), StatusCode::FORBIDDEN);
    let activate = read.post("/model", &[("action", "check"), ("toml", TEST_MODEL), ("csrf", &csrf)]).await;
    assert_eq!(activate.status(), StatusCode::FORBIDDEN);
    let rollback = read.post("/model/rollback", &[("version", "1"), ("csrf", &csrf)]).await;
    assert_eq!(rollback.status(), StatusCode::FORBIDDEN);

    let sales = Browser::signed_in(&server, Role::Sales).await;
    assert!(sales.page("/").await.contains("/outcomes"), "a sales key gets the buttons");
    assert_eq!(sales.get("/model").await.status(), StatusCode::FORBIDDEN, "the editor is for admin keys");
    let admin = Browser::signed_in(&server, Role::Admin).await;
    assert!(admin.page("/").await.contains(r#"href="/model""#));
    admin.page("/model").await;
}

#[tokio::test]
async fn lead_data_is_rendered_as_text_never_as_markup() {
    let server = TestServer::start().await;
    let script = "<script>alert(1)</script>";
    server
        .send_batch(vec![
            identify(
                "u-x",
                json!({
                    "email": format!("{script}@example.com"),
                    "name": "<img src=x onerror=alert(2)>",
                    "<b>trait</b>": "\"quoted\" & 'single'",
                    "income": 200000,
                    "age": 40,
                }),
            ),
            track("u-x", "Catalog Downloaded"),
            // A lead id that is itself markup.
            identify("<i>u-evil</i>", json!({ "income": 200000, "age": 40, "email": script })),
            track("<i>u-evil</i>", "Catalog Downloaded"),
        ])
        .await;
    let browser = Browser::signed_in(&server, Role::Admin).await;
    let pages = [
        browser.page("/").await,
        browser.page("/?stage=all&q=example").await,
        browser.page("/leads/u-x").await,
        browser.page("/leads/%3Ci%3Eu-evil%3C%2Fi%3E").await,
    ];
    for page in &pages {
        assert!(!page.contains("<script>alert"), "a raw script tag in:\n{page}");
        assert!(!page.contains("<img src=x"), "a raw img tag in:\n{page}");
        assert!(!page.contains("<i>u-evil"), "a raw lead id in:\n{page}");
        assert!(!page.contains("<b>trait"), "a raw trait name in:\n{page}");
    }
    assert!(pages[0].contains("&lt;script&gt;alert(1)&lt;/script&gt;@example.com"), "{}", pages[0]);
    assert!(pages[0].contains("&lt;i&gt;u-evil&lt;/i&gt;"));
    assert!(pages[0].contains(r#"href="/leads/%3Ci%3Eu-evil%3C%2Fi%3E""#), "the id is encoded in links");
    let lead = &pages[2];
    assert!(lead.contains("&lt;script&gt;alert(1)&lt;/script&gt;@example.com"));
    assert!(lead.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(lead.contains("&lt;b&gt;trait&lt;/b&gt;"));
    assert!(lead.contains("&quot;quoted&quot; &amp; 'single'"));
}

#[tokio::test]
async fn every_page_forbids_scripts_and_styles_from_elsewhere() {
    let server = server_with_an_mql().await;
    let browser = Browser::signed_in(&server, Role::Admin).await;
    let signed_out = Browser::new(&server);
    for response in [
        signed_out.get("/login").await,
        browser.get("/").await,
        browser.get("/leads/u-1").await,
        browser.get("/kpis").await,
        browser.get("/criteria").await,
        browser.get("/model").await,
        browser.get("/leads/nobody").await,
    ] {
        let url = response.url().to_string();
        let policy = response.headers().get(CONTENT_SECURITY_POLICY).map(|value| value.to_str().unwrap().to_owned());
        let policy = policy.unwrap_or_else(|| panic!("no CSP on {url}"));
        for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
            assert!(policy.contains(directive), "{url}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{url}: {policy}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("<script>"), "an inline script on {url}");
        assert!(!body.contains(" style="), "an inline style on {url}");
    }
}

#[tokio::test]
async fn the_assets_are_served_from_the_binary_with_a_long_cache_lifetime() {
    let server = TestServer::start().await;
    let browser = Browser::new(&server);
    for (path, content_type, needle) in [
        ("/assets/app.js", "text/javascript; charset=utf-8", "X-CSRF-Token"),
        ("/assets/app.css", "text/css; charset=utf-8", ".queue"),
        ("/assets/icon.svg", "image/svg+xml", "<svg"),
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[CONTENT_TYPE], content_type, "{path}");
        assert!(response.headers()[CACHE_CONTROL].to_str().unwrap().contains("immutable"), "{path}");
        assert!(response.text().await.unwrap().contains(needle), "{path}");
    }
    assert_eq!(browser.get("/assets/nothing.js").await.status(), StatusCode::NOT_FOUND);
    // The pages point at the same assets, versioned.
    let login = browser.page("/login").await;
    assert!(login.contains(r#"src="/assets/app.js?v="#) && login.contains(r#"href="/assets/app.css?v="#), "{login}");
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let server = TestServer::start().await;
    let browser = Browser::signed_in(&server, Role::Sales).await;
    let csrf = browser.csrf().await;
    let response = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
    let cleared = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("qualify_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie no longer opens anything.
    assert_eq!(location(&browser.get("/").await), "/login");
}

#[tokio::test]
async fn the_queue_records_outcomes_in_place_and_a_rejection_needs_a_listed_reason() {
    let server = server_with_an_mql().await;
    server
        .send_batch(vec![identify("u-2", json!({ "income": 150000, "age": 30 })), track("u-2", "Catalog Downloaded")])
        .await;
    let browser = Browser::signed_in(&server, Role::Sales).await;
    let queue = browser.page("/").await;
    assert!(queue.contains(r#"data-lead="u-1""#) && queue.contains(r#"data-lead="u-2""#), "{queue}");
    assert!(queue.contains("catalog"), "the rule that carried the leads is shown");
    let csrf = browser.csrf().await;
    let in_place = |form: Vec<(&'static str, String)>| {
        browser
            .with_cookie(browser.client.post(server.url("/leads/u-1/outcomes")))
            .header("X-CSRF-Token", &csrf)
            .header("X-Requested-With", "qualify")
            .form(&form)
            .send()
    };
    let row = in_place(vec![("stage", "accepted".into()), ("back", "/".into())]).await.unwrap();
    assert_eq!(row.status(), StatusCode::OK);
    let row = row.text().await.unwrap();
    assert!(row.starts_with("<tr") && row.contains("stage-accepted") && row.contains(">Won<"), "{row}");
    assert_eq!(server.lead("u-1").await["stage"], json!("accepted"));

    let no_reason = browser.post("/leads/u-2/outcomes", &[("stage", "rejected"), ("csrf", &csrf)]).await;
    assert_eq!(no_reason.status(), StatusCode::BAD_REQUEST);
    let made_up = browser
        .post("/leads/u-2/outcomes", &[("stage", "rejected"), ("reason", "<b>made up</b>"), ("csrf", &csrf)])
        .await;
    assert_eq!(made_up.status(), StatusCode::BAD_REQUEST);
    let rejected = browser
        .post(
            "/leads/u-2/outcomes",
            &[("stage", "rejected"), ("reason", "no budget"), ("back", "/?stage=all"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(rejected.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&rejected), "/?stage=all", "a form post goes back where it came from");
    let outcomes = server.open_store().outcomes("u-2").unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].reason.as_deref(), Some("no budget"));
    // Elsewhere than this server is not a way back.
    let away =
        browser.post("/leads/u-2/outcomes", &[("stage", "won"), ("back", "//evil.example/"), ("csrf", &csrf)]).await;
    assert_eq!(location(&away), "/");
    assert_eq!(
        browser.post("/leads/nobody/outcomes", &[("stage", "won"), ("csrf", &csrf)]).await.status(),
        StatusCode::NOT_FOUND
    );
    // The lead page shows the history, the criteria the reason.
    assert!(browser.page("/leads/u-2").await.contains("no budget"));
    assert!(browser.page("/criteria").await.contains("no budget"));
}

#[tokio::test]
async fn the_queue_filters_by_grade_channel_stage_and_search_and_pages() {
    let server = TestServer::start().await;
    let mut messages = Vec::new();
    for index in 0..30 {
        let user = format!("u-{index:02}");
        // Even leads are grade A (rich adults), odd ones grade B (rich minors).
        let age = if index % 2 == 0 { 40 } else { 16 };
        let mut first_touch =
            identify(&user, json!({ "email": format!("{user}@example.com"), "income": 200000, "age": age }));
        if index % 3 == 0 {
            first_touch["context"] = json!({ "campaign": { "source": "google", "medium": "cpc" } });
        }
        messages.push(first_touch);
        messages.push(track(&user, "Catalog Downloaded"));
    }
    server.send_batch(messages).await;
    let browser = Browser::signed_in(&server, Role::Read).await;
    let count = |html: &str| html.matches("data-lead=").count();
    let first_page = browser.page("/").await;
    assert_eq!(count(&first_page), 25, "a page of 25");
    let start = first_page.find("cursor=").expect("a next page") + "cursor=".len();
    let cursor = first_page[start..].split('"').next().unwrap();
    let second = browser.page(&format!("/?stage=mql&cursor={cursor}")).await;
    assert_eq!(count(&second), 5);
    assert_eq!(count(&browser.page("/?grade=A").await), 15);
    assert_eq!(count(&browser.page("/?grade=B&q=u-0").await), 5, "u-01 .. u-09, odd");
    assert_eq!(count(&browser.page("/?stage=won").await), 0);
    let channels = server.open_store().lead_channels().unwrap();
    let channel = channels.iter().find(|channel| channel.as_str() != "direct").expect("a second channel").clone();
    assert_eq!(count(&browser.page(&format!("/?channel={channel}")).await), 10, "{channels:?}");
}

/// The `value` of the hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('"').next()?.to_owned())
}

#[tokio::test]
async fn the_model_editor_shows_errors_at_their_lines_and_activates_only_a_backtested_model() {
    let server = server_with_an_mql().await;
    let admin = Browser::signed_in(&server, Role::Admin).await;
    let editor = admin.page("/model").await;
    assert!(editor.contains("engagement_threshold = 20"), "the active model's text");
    let csrf = hidden(&editor, "csrf").unwrap();

    let broken = TEST_MODEL.replace("engagement_threshold = 20", "engagement_threshold = \"lots\"");
    let line = broken.lines().position(|line| line.contains("\"lots\"")).unwrap() + 1;
    let checked = admin.post("/model", &[("action", "check"), ("toml", &broken), ("csrf", &csrf)]).await;
    assert_eq!(checked.status(), StatusCode::OK);
    let checked = checked.text().await.unwrap();
    assert!(checked.contains(&format!(r#"class="line-number error" data-line="{line}""#)), "{checked}");
    assert!(checked.contains(&format!("line {line}, column")), "{checked}");
    assert!(!checked.contains(r#"id="activate""#), "no activation of an invalid model");
    // Live validation answers the same, as JSON.
    let validated = admin
        .with_cookie(admin.client.post(server.url("/model/validate")))
        .header("X-CSRF-Token", &csrf)
        .body(broken.clone())
        .send()
        .await
        .unwrap();
    let validated: serde_json::Value = validated.json().await.unwrap();
    assert_eq!(validated["valid"], json!(false));
    assert_eq!(validated["errors"][0]["line"], json!(line));

    let lower = TEST_MODEL.replace("engagement_threshold = 20", "engagement_threshold = 3");
    let unseen =
        admin.post("/model", &[("action", "activate"), ("toml", &lower), ("tested", "0"), ("csrf", &csrf)]).await;
    assert_eq!(unseen.status(), StatusCode::OK);
    assert!(unseen.text().await.unwrap().contains("backtest it again"));
    assert_eq!(server.open_store().active_model().unwrap().unwrap().version, 1, "nothing activated");

    let backtested = admin.post("/model", &[("action", "backtest"), ("toml", &lower), ("csrf", &csrf)]).await;
    let backtested = backtested.text().await.unwrap();
    assert!(backtested.contains("Leads gained") && backtested.contains("MQLs per week"), "{backtested}");
    let tested = hidden(&backtested, "tested").expect("an activate button after a backtest");
    let activated =
        admin.post("/model", &[("action", "activate"), ("toml", &lower), ("tested", &tested), ("csrf", &csrf)]).await;
    assert_eq!(activated.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&activated), "/model?activated=2");
    let active = server.open_store().active_model().unwrap().unwrap();
    assert_eq!((active.version, active.toml.as_str()), (2, lower.as_str()));
    let after = admin.page("/model?activated=2").await;
    assert!(after.contains("Version 2 is active") && after.contains("Roll back to version 1"), "{after}");

    let rolled_back = admin.post("/model/rollback", &[("version", "1"), ("csrf", &csrf)]).await;
    assert_eq!(location(&rolled_back), "/model?activated=1");
    assert_eq!(server.open_store().active_model().unwrap().unwrap().version, 1);
    let unknown = admin.post("/model/rollback", &[("version", "9"), ("csrf", &csrf)]).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_kpi_and_criteria_pages_draw_their_charts() {
    let server = server_with_an_mql().await;
    let browser = Browser::signed_in(&server, Role::Read).await;
    let kpis = browser.page("/kpis").await;
    assert!(kpis.contains(r#"data-kpi="mqls">1<"#), "{kpis}");
    assert!(kpis.matches("<svg").count() >= 3, "funnel, weeks and channels are charts");
    let bad = browser.get("/kpis?from=2026-12-01&to=2026-11-01").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let criteria = browser.page("/criteria").await;
    assert!(criteria.contains("catalog") && criteria.contains("Lift per rule"), "{criteria}");
    let lead = browser.page("/leads/u-1").await;
    assert!(lead.contains("<polyline") && lead.contains("MQL threshold 20"), "{lead}");
    assert_eq!(browser.get("/leads/nobody").await.status(), StatusCode::NOT_FOUND);
}
