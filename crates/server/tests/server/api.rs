//! The JSON API: lead lists and their filters, sorts and cursors, one lead,
//! its explanation and timeline, the sales queue, and models.

use crate::support::{TEST_MODEL, TestServer, expect_error, expect_status, identify, page, track};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Thirteen leads whose scores are worked out by hand (see `TEST_MODEL`):
///
/// | lead    | fit      | engagement             | stage |
/// |---------|----------|------------------------|-------|
/// | u-dave  | 20 (D)   | 29 (catalog, 3 pages)  | lead (grade too low) |
/// | u-bob   | 60 (B)   | 26 (catalog, 2 pages)  | mql   |
/// | u-carol | 80 (A)   | 23 (catalog, 1 page)   | mql   |
/// | u-alice | 80 (A)   | 20 (catalog)           | mql   |
/// | u-erin  | 80 (A)   | 6 (2 pages)            | lead  |
/// | u-f01..u-f08 | 0 (D) | 3 (1 page)          | lead  |
async fn seed(server: &TestServer) {
    let rich_adult = json!({ "income": 200000, "age": 40 });
    let mut messages = Vec::new();
    let mut add = |user: &str, mut traits: Value, catalog: bool, pages: usize| {
        traits["email"] = json!(format!("{}@example.com", user.trim_start_matches("u-")));
        messages.push(identify(user, traits));
        if catalog {
            messages.push(track(user, "Catalog Downloaded"));
        }
        for index in 0..pages {
            messages.push(page(user, &format!("/products/item-{index}")));
        }
    };
    add("u-alice", rich_adult.clone(), true, 0);
    add("u-bob", json!({ "income": 150000, "age": 16 }), true, 2);
    add("u-carol", rich_adult.clone(), true, 1);
    add("u-dave", json!({ "age": 30 }), true, 3);
    add("u-erin", rich_adult, false, 2);
    for filler in 1..=8 {
        add(&format!("u-f{filler:02}"), json!({}), false, 1);
    }
    server.send_batch(messages).await;
}

const FILLERS: [&str; 8] = ["u-f01", "u-f02", "u-f03", "u-f04", "u-f05", "u-f06", "u-f07", "u-f08"];

fn ids(page: &Value) -> Vec<String> {
    page["leads"]
        .as_array()
        .expect("a list of leads")
        .iter()
        .map(|lead| lead["lead_id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[tokio::test]
async fn leads_are_filtered_by_status_grade_and_search_by_email_or_id() {
    let server = TestServer::start().await;
    seed(&server).await;
    let everyone_else: Vec<&str> = ["u-dave", "u-erin"].into_iter().chain(FILLERS).collect();
    let cases: [(&str, Vec<&str>); 9] = [
        ("status=mql", vec!["u-alice", "u-bob", "u-carol"]),
        ("status=lead", everyone_else),
        ("grade=A", vec!["u-alice", "u-carol", "u-erin"]),
        ("grade=a,b", vec!["u-alice", "u-bob", "u-carol", "u-erin"]),
        ("status=mql&grade=B", vec!["u-bob"]),
        ("q=ALICE@example", vec!["u-alice"]),
        ("q=u-bob", vec!["u-bob"]),
        ("q=f0", FILLERS.to_vec()),
        ("q=nobody", vec![]),
    ];
    for (query, expected) in cases {
        let page = server.read(&format!("/api/leads?{query}&limit=100")).await;
        let found: BTreeSet<String> = ids(&page).into_iter().collect();
        assert_eq!(found, set(&expected), "{query}");
    }
}

#[tokio::test]
async fn leads_are_sorted_as_asked() {
    let server = TestServer::start().await;
    seed(&server).await;
    let by_engagement = ids(&server.read("/api/leads?limit=5").await);
    assert_eq!(by_engagement, ["u-dave", "u-bob", "u-carol", "u-alice", "u-erin"]);
    let by_id = ids(&server.read("/api/leads?sort=lead_id&limit=3").await);
    assert_eq!(by_id, ["u-alice", "u-bob", "u-carol"]);
    let by_fit = ids(&server.read("/api/leads?sort=fit&limit=4").await);
    assert_eq!(by_fit, ["u-carol", "u-alice", "u-erin", "u-bob"]);
    let response = server.request(Method::GET, "/api/leads?sort=size", Some(&server.keys().read)).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn cursor_pagination_walks_every_lead_once_in_every_order() {
    let server = TestServer::start().await;
    seed(&server).await;
    for sort in ["engagement", "fit", "mql_at", "last_seen", "lead_id", "priority"] {
        let everything = ids(&server.read(&format!("/api/leads?sort={sort}&limit=1000")).await);
        assert_eq!(everything.len(), 13, "{sort}");
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/leads?sort={sort}&limit=4");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = server.read(&path).await;
            pages += 1;
            walked.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(pages < 10, "{sort}: the cursor does not end");
        }
        assert_eq!(walked, everything, "{sort}");
        assert_eq!(pages, 4, "{sort}");
    }
}

#[tokio::test]
async fn a_cursor_the_server_did_not_make_is_refused_with_400() {
    let server = TestServer::start().await;
    seed(&server).await;
    let read = Some(server.keys().read.as_str());
    let response = server.request(Method::GET, "/api/leads?cursor=nonsense", read).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    // A cursor of one order given to another.
    let first = server.read("/api/leads?sort=lead_id&limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let path = format!("/api/leads?sort=engagement&cursor={cursor}");
    let response = server.request(Method::GET, &path, read).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn an_unknown_lead_is_a_404_with_code_not_found() {
    let server = TestServer::start().await;
    seed(&server).await;
    for path in ["/api/leads/u-nobody", "/api/leads/u-nobody/explain", "/api/leads/u-nobody/timeline"] {
        let response = server.request(Method::GET, path, Some(&server.keys().read)).send().await.unwrap();
        let body = expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
        assert!(body["error"]["message"].as_str().unwrap().contains("u-nobody"), "{path}: {body}");
    }
}

#[tokio::test]
async fn a_lead_shows_its_scores_traits_and_times() {
    let server = TestServer::start().await;
    seed(&server).await;
    let bob = server.lead("u-bob").await;
    assert_eq!(bob["lead_id"], json!("u-bob"));
    assert_eq!(bob["engagement"], json!(26.0));
    assert_eq!(bob["fit"], json!(60));
    assert_eq!(bob["grade"], json!("B"));
    assert_eq!(bob["stage"], json!("mql"));
    assert_eq!(bob["traits"]["email"], json!("bob@example.com"));
    assert_eq!(bob["model_version"], json!(1));
    for field in ["first_seen", "last_seen", "mql_at", "scored_at"] {
        assert!(bob[field].is_string(), "{field}: {bob}");
    }
    assert_eq!(bob["anonymous_ids"], json!([]));
}

#[tokio::test]
async fn an_explanation_lists_the_engagement_rules_and_personas() {
    let server = TestServer::start().await;
    seed(&server).await;
    let explanation = server.read("/api/leads/u-bob/explain").await;
    assert_eq!(explanation["lead_id"], json!("u-bob"));
    let rules = explanation["engagement_rules"].as_array().expect("engagement rules");
    let total = |id: &str| rules.iter().find(|rule| rule["id"] == json!(id)).map(|rule| rule["total"].clone());
    assert_eq!(total("catalog"), Some(json!(20.0)), "{explanation}");
    assert_eq!(total("product-page"), Some(json!(6.0)), "{explanation}");
    let buyer = explanation["personas"].as_array().unwrap().iter().find(|persona| persona["id"] == json!("buyer"));
    let buyer = buyer.expect("the buyer persona");
    assert_eq!(buyer["fit"], json!(60), "{buyer}");
    let held: Vec<(Value, Value)> =
        buyer["rules"].as_array().unwrap().iter().map(|rule| (rule["id"].clone(), rule["held"].clone())).collect();
    assert_eq!(held, [(json!("rich"), json!(true)), (json!("adult"), json!(false))]);
    assert!(explanation["mql_crossing"]["rule_totals"].is_array(), "{explanation}");
}

#[tokio::test]
async fn a_timeline_lists_the_events_with_the_points_each_earned() {
    let server = TestServer::start().await;
    seed(&server).await;
    let timeline = server.read("/api/leads/u-bob/timeline").await;
    let events = timeline["events"].as_array().expect("events");
    let kinds: Vec<&str> = events.iter().map(|event| event["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["identify", "track", "page", "page"], "{timeline}");
    assert_eq!(events[1]["points"], json!([["catalog", 20.0]]), "{timeline}");
    assert_eq!(events[2]["points"], json!([["product-page", 3.0]]), "{timeline}");
    let sum: f64 = events
        .iter()
        .flat_map(|event| event["points"].as_array().unwrap())
        .map(|points| points[1].as_f64().unwrap())
        .sum();
    assert_eq!(sum, 26.0);
}

#[tokio::test]
async fn the_queue_lists_only_mqls_best_grade_then_most_engaged_first() {
    let server = TestServer::start().await;
    seed(&server).await;
    let queue = server.read("/api/queue").await;
    assert_eq!(ids(&queue), ["u-carol", "u-alice", "u-bob"]);
    assert!(queue["leads"].as_array().unwrap().iter().all(|lead| lead["stage"] == json!("mql")), "{queue}");
}

/// Problems a model can have, each on a line the test knows.
const BROKEN_MODEL: &str = r#"name = "broken"

[mql]
engagement_threshold = 10
min_grade = "E"

[[engagement]]
id = "visits"
type = "visit"
points = 5
colour = "blue"

[[engagement]]
id = "visits"
type = "visit"
points = 1
"#;

async fn put_model(server: &TestServer, text: &str) -> reqwest::Response {
    server.request(Method::PUT, "/api/models", Some(&server.keys().admin)).body(text.to_owned()).send().await.unwrap()
}

#[tokio::test]
async fn a_bad_model_is_refused_with_every_error_and_the_active_one_stays() {
    let server = TestServer::start().await;
    seed(&server).await;
    let body =
        expect_error(put_model(&server, BROKEN_MODEL).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_model").await;
    let errors = body["error"]["errors"].as_array().expect("the errors");
    assert!(errors.len() >= 3, "{body}");
    assert!(errors.iter().all(|error| error["line"].is_u64() && error["message"].is_string()), "{body}");
    let line_of = |needle: &str| BROKEN_MODEL.lines().position(|line| line.contains(needle)).unwrap() as u64 + 1;
    let on_line = |line: u64| errors.iter().find(|error| error["line"] == json!(line));
    assert!(on_line(line_of("\"E\"")).is_some(), "the bad grade: {body}");
    let colour = on_line(line_of("colour")).expect("the unknown key");
    assert_eq!(colour["rule_id"], json!("visits"), "{colour}");
    assert!(
        errors
            .iter()
            .any(|error| error["rule_id"] == json!("visits") && error["message"].as_str().unwrap().contains("visits")),
        "the duplicate id: {body}"
    );

    let active = server.read("/api/models/active").await;
    assert_eq!((active["version"].clone(), active["name"].clone()), (json!(1), json!("test")), "{active}");
    assert_eq!(server.read("/api/models").await["models"].as_array().unwrap().len(), 1);
    assert_eq!(server.lead("u-bob").await["engagement"], json!(26.0));
}

#[tokio::test]
async fn validating_a_model_reports_whether_it_is_valid_and_stores_nothing() {
    let server = TestServer::start().await;
    let validate = |text: &str| {
        server.request(Method::POST, "/api/models/validate", Some(&server.keys().read)).body(text.to_owned()).send()
    };
    let valid = expect_status(validate(TEST_MODEL).await.unwrap(), StatusCode::OK).await;
    assert_eq!((valid["valid"].clone(), valid["name"].clone()), (json!(true), json!("test")), "{valid}");
    let invalid = expect_status(validate(BROKEN_MODEL).await.unwrap(), StatusCode::OK).await;
    assert_eq!(invalid["valid"], json!(false), "{invalid}");
    let errors = invalid["errors"].as_array().unwrap();
    assert!(errors.len() >= 3 && errors.iter().all(|error| error["line"].is_u64()), "{invalid}");
    assert!(errors.iter().any(|error| error["rule_id"] == json!("visits")), "{invalid}");
    let not_toml = expect_status(validate("name = ").await.unwrap(), StatusCode::OK).await;
    assert_eq!(not_toml["valid"], json!(false), "{not_toml}");
    assert_eq!(server.read("/api/models").await["models"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_new_model_becomes_the_only_active_version_and_rescores_the_leads() {
    let server = TestServer::start().await;
    seed(&server).await;
    // The same rules, but a catalog download is worth 25.
    let second = TEST_MODEL.replace("name = \"test\"", "name = \"test-2\"").replace("points = 20", "points = 25");
    let body = expect_status(put_model(&server, &second).await, StatusCode::OK).await;
    assert_eq!(body["model"]["version"], json!(2), "{body}");
    assert_eq!(body["leads_scored"], json!(13), "{body}");

    let models = server.read("/api/models").await;
    let listed: Vec<(Value, Value)> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| (model["version"].clone(), model["active"].clone()))
        .collect();
    assert_eq!(listed, [(json!(2), json!(true)), (json!(1), json!(false))], "{models}");
    assert_eq!(server.read("/api/models/active").await["name"], json!("test-2"));
    let first = server.read("/api/models/1").await;
    assert_eq!((first["active"].clone(), first["toml"].clone()), (json!(false), json!(TEST_MODEL)));
    let response = server.request(Method::GET, "/api/models/7", Some(&server.keys().read)).send().await.unwrap();
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;

    let bob = server.lead("u-bob").await;
    assert_eq!((bob["engagement"].clone(), bob["model_version"].clone()), (json!(31.0), json!(2)), "{bob}");
}
