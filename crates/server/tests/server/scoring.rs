//! Live scoring: an event changes its lead within the request that brought it.

use crate::support::{TestServer, expect_error, identify, message_id, page, track};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_track_event_changes_its_leads_engagement_within_the_request() {
    let server = TestServer::start().await;
    server
        .send_batch(vec![identify("u-1", json!({ "income": 200000, "age": 40 })), page("u-1", "/products/ring")])
        .await;
    assert_eq!(server.lead("u-1").await["engagement"], json!(3.0));

    let body = server.ingest("/v1/track", &track("u-1", "Product Added to Wishlist")).await;
    assert_eq!(body.status(), StatusCode::OK);
    // No waiting: the 200 means scored.
    assert_eq!(server.lead("u-1").await["engagement"], json!(8.0));
}

#[tokio::test]
async fn a_lead_that_crosses_the_threshold_becomes_an_mql_with_the_rule_totals_that_carried_it() {
    let server = TestServer::start().await;
    server
        .send_batch(vec![
            identify("u-1", json!({ "email": "one@example.com", "income": 200000, "age": 40 })),
            page("u-1", "/products/ring"),
        ])
        .await;
    let before = server.lead("u-1").await;
    assert_eq!((before["stage"].clone(), before["grade"].clone()), (json!("lead"), json!("A")), "{before}");
    assert_eq!(before["mql_at"], json!(null));

    server.send_batch(vec![track("u-1", "Catalog Downloaded")]).await;
    let after = server.lead("u-1").await;
    assert_eq!(after["stage"], json!("mql"), "{after}");
    assert_eq!(after["mql"], json!(true), "{after}");
    assert!(after["mql_at"].is_string(), "{after}");
    let history = after["stage_history"].as_array().expect("a stage history");
    let to_mql: Vec<_> = history.iter().filter(|transition| transition["to"] == json!("mql")).collect();
    assert_eq!(to_mql.len(), 1, "{after}");
    let transition = to_mql[0];
    assert_eq!(transition["from"], json!("lead"), "{transition}");
    assert_eq!(transition["at"], after["mql_at"], "{transition}");
    let totals = &transition["cause"]["rule_totals"];
    assert_eq!(totals["catalog"], json!(20.0), "{transition}");
    assert_eq!(totals["product-page"], json!(3.0), "{transition}");

    // It is in the sales queue at once.
    let queue = server.read("/api/queue").await;
    assert_eq!(queue["leads"][0]["lead_id"], json!("u-1"), "{queue}");
}

#[tokio::test]
async fn an_anonymous_visitor_who_identifies_becomes_part_of_the_lead() {
    let server = TestServer::start().await;
    let visit = json!({ "type": "page", "messageId": message_id(), "anonymousId": "visitor-1", "properties": { "path": "/products/ring" } });
    server.send_batch(vec![visit]).await;
    let visitor = server.lead("anon:visitor-1").await;
    assert_eq!(visitor["engagement"], json!(3.0), "{visitor}");
    let listed = server.read("/api/leads?anonymous=true").await;
    assert_eq!(listed["leads"][0]["lead_id"], json!("anon:visitor-1"), "{listed}");
    assert_eq!(server.read("/api/leads").await["leads"], json!([]), "anonymous visitors are not listed by default");

    let mut identify = identify("u-2", json!({ "email": "two@example.com", "income": 200000, "age": 30 }));
    identify["anonymousId"] = json!("visitor-1");
    server.send_batch(vec![identify]).await;

    let response =
        server.request(Method::GET, "/api/leads/anon:visitor-1", Some(&server.keys().read)).send().await.unwrap();
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let lead = server.lead("u-2").await;
    assert_eq!(lead["anonymous_ids"], json!(["visitor-1"]), "{lead}");
    // The page the visitor saw counts for the lead.
    assert_eq!(lead["engagement"], json!(3.0), "{lead}");
    assert_eq!(lead["first_seen"], visitor["first_seen"], "{lead}");
}

/// The command line may ingest into the server's database file while the
/// server runs. The server's next group reads what it stored: its scores
/// count those events, the lead's timeline lists them, and they stay
/// duplicates when an SDK sends them again.
#[tokio::test]
async fn events_another_process_stores_while_the_server_runs_count_in_the_servers_next_scores() {
    let server = TestServer::start().await;
    server.send_batch(vec![page("u-cli", "/products/ring")]).await;
    let wishlist =
        json!({ "type": "track", "messageId": "cli-1", "userId": "u-cli", "event": "Product Added to Wishlist" });
    {
        let mut store = qualify_store::SqliteStore::open(server.database_path()).unwrap();
        let line = wishlist.to_string();
        let summary =
            qualify_store::ops::ingest_lines(&mut store, &[line.as_bytes()], 1, qualify_engine::time::EventTime::now())
                .unwrap();
        assert_eq!(summary.accepted, 1);
    }
    // 3 (product page) + 5 (wishlist, stored by the other process) + 3.
    server.send_batch(vec![page("u-cli", "/products/necklace")]).await;
    let lead = server.lead("u-cli").await;
    assert_eq!(lead["engagement"].as_f64(), Some(11.0), "{lead}");
    let timeline = server.read("/api/leads/u-cli/timeline").await;
    assert_eq!(timeline["events"].as_array().map(Vec::len), Some(3), "{timeline}");
    let again = server.ingest("/v1/batch", &json!({ "batch": [wishlist] })).await;
    let again = crate::support::expect_status(again, StatusCode::OK).await;
    assert_eq!((again["accepted"].clone(), again["duplicates"].clone()), (json!(0), json!(1)), "{again}");
    assert_eq!(server.lead("u-cli").await["engagement"].as_f64(), Some(11.0));
}
