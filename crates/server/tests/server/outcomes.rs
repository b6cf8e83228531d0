//! Outcomes from sales: `POST /api/leads/{id}/outcomes`, who may send them,
//! and how they show in the lead's stage and history.

use crate::support::{TestServer, expect_error, expect_status, identify, track};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A server where `u-1` is an MQL (a rich adult who downloaded the catalog).
async fn server_with_an_mql() -> TestServer {
    let server = TestServer::start().await;
    server
        .send_batch(vec![
            identify("u-1", json!({ "email": "one@example.com", "income": 200000, "age": 40 })),
            track("u-1", "Catalog Downloaded"),
        ])
        .await;
    assert_eq!(server.lead("u-1").await["stage"], json!("mql"));
    server
}

async fn post_outcome(server: &TestServer, lead_id: &str, key: Option<&str>, body: Value) -> reqwest::Response {
    server
        .request(Method::POST, &format!("/api/leads/{lead_id}/outcomes"), key)
        .json(&body)
        .send()
        .await
        .expect("the server answers")
}

#[tokio::test]
async fn a_sales_key_records_an_outcome_and_the_lead_shows_it_in_its_stage_and_history() {
    let server = server_with_an_mql().await;
    let body = json!({ "stage": "rejected", "at": "2026-11-02T10:00:00Z", "reason": "no budget" });
    let answer =
        expect_status(post_outcome(&server, "u-1", Some(&server.keys().sales), body).await, StatusCode::OK).await;
    assert_eq!(answer["stage"], json!("rejected"), "{answer}");
    let lead = server.lead("u-1").await;
    assert_eq!(lead["stage"], json!("rejected"));
    assert_eq!(lead["stage_history"], answer["stage_history"]);
    // The history is by time: the outcome's, here before the MQL crossing (now).
    let history = lead["stage_history"].as_array().expect("a history");
    let rejection = history.iter().find(|change| change["to"] == json!("rejected")).expect("the rejection");
    assert_eq!(
        *rejection,
        json!({
            "from": "mql",
            "to": "rejected",
            "at": "2026-11-02T10:00:00Z",
            "cause": { "outcome": { "stage": "rejected", "at": "2026-11-02T10:00:00Z", "reason": "no budget", "revenue": null } },
        })
    );
}

#[tokio::test]
async fn the_same_outcome_sent_twice_changes_nothing() {
    let server = server_with_an_mql().await;
    let body = json!({ "stage": "won", "at": "2026-11-05T00:00:00Z", "revenue": 1200.5 });
    let first =
        expect_status(post_outcome(&server, "u-1", Some(&server.keys().admin), body.clone()).await, StatusCode::OK)
            .await;
    let second =
        expect_status(post_outcome(&server, "u-1", Some(&server.keys().admin), body).await, StatusCode::OK).await;
    assert_eq!(first["stage_history"], second["stage_history"]);
    assert_eq!(second["stage"], json!("won"));
}

#[tokio::test]
async fn an_outcome_without_a_time_is_recorded_now() {
    let server = server_with_an_mql().await;
    let answer = expect_status(
        post_outcome(&server, "u-1", Some(&server.keys().sales), json!({ "stage": "accepted" })).await,
        StatusCode::OK,
    )
    .await;
    let last = answer["stage_history"].as_array().and_then(|history| history.last()).expect("a history").clone();
    let at = qualify_engine::time::EventTime::parse(last["at"].as_str().unwrap()).unwrap();
    let age = at.days_until(qualify_engine::time::EventTime::now());
    assert!((0.0..0.01).contains(&age), "{last}");
}

#[tokio::test]
async fn read_and_write_keys_may_not_record_outcomes() {
    let server = server_with_an_mql().await;
    let body = json!({ "stage": "accepted" });
    for key in [&server.keys().read, &server.keys().write] {
        expect_error(post_outcome(&server, "u-1", Some(key), body.clone()).await, StatusCode::FORBIDDEN, "forbidden")
            .await;
    }
    expect_error(post_outcome(&server, "u-1", None, body).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(server.lead("u-1").await["stage"], json!("mql"));
}

#[tokio::test]
async fn an_unknown_lead_is_404_and_a_bad_stage_time_or_revenue_is_400() {
    let server = server_with_an_mql().await;
    let sales = Some(server.keys().sales.as_str());
    expect_error(
        post_outcome(&server, "nobody", sales, json!({ "stage": "won" })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for body in [
        json!({ "stage": "maybe" }),
        json!({ "stage": "mql" }),
        json!({ "stage": "won", "at": "yesterday" }),
        json!({ "stage": "won", "revenue": -5 }),
    ] {
        let answer = expect_error(
            post_outcome(&server, "u-1", sales, body.clone()).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert!(answer["error"]["message"].is_string(), "{body}: {answer}");
    }
    expect_error(
        post_outcome(&server, "u-1", sales, json!({ "reason": "x" })).await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    assert_eq!(server.lead("u-1").await["stage"], json!("mql"));
}

#[tokio::test]
async fn new_events_after_an_outcome_do_not_change_the_stage_sales_set() {
    let server = server_with_an_mql().await;
    let body = json!({ "stage": "accepted", "at": "2026-11-02T10:00:00Z" });
    expect_status(post_outcome(&server, "u-1", Some(&server.keys().sales), body).await, StatusCode::OK).await;
    server.send_batch(vec![track("u-1", "Catalog Downloaded")]).await;
    let lead = server.lead("u-1").await;
    assert_eq!(lead["stage"], json!("accepted"), "{lead}");
}
