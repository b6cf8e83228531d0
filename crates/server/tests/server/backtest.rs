//! The backtest over the API: `POST /api/backtest` with a candidate model,
//! on leads ingested over HTTP and outcomes sales posted, against figures
//! computed by hand (the active model: see `support::TEST_MODEL`).

use crate::support::{TEST_MODEL, TestServer, expect_error, expect_status, message_id};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The test model, except that a wishlist addition alone makes an MQL.
fn candidate() -> String {
    let candidate = TEST_MODEL.replace("name = \"test\"", "name = \"candidate\"").replace(
        "event = \"Product Added to Wishlist\"\npoints = 5",
        "event = \"Product Added to Wishlist\"\npoints = 20",
    );
    assert_ne!(candidate, TEST_MODEL);
    candidate
}

fn week(week: &str, from: &str, to: &str, mqls: u64) -> Value {
    json!({ "week": week, "from": format!("{from}T00:00:00Z"), "to": format!("{to}T00:00:00Z"), "mqls": mqls })
}

#[tokio::test]
async fn a_candidate_model_is_backtested_alone_and_against_the_active_one() {
    let server = TestServer::start().await;
    // Three rich adults (fit 80, A) identified on 11-01. u-1 downloads the
    // catalog on 11-03 (an MQL under both models), u-2 adds to its wishlist
    // on 11-04 (an MQL under the candidate only), u-3 does nothing.
    let mut messages = Vec::new();
    for lead in ["u-1", "u-2", "u-3"] {
        messages.push(json!({ "type": "identify", "messageId": message_id(), "userId": lead,
                              "traits": { "income": 200000, "age": 40 }, "timestamp": "2026-11-01T00:00:00Z" }));
    }
    messages.push(json!({ "type": "track", "messageId": message_id(), "userId": "u-1",
                          "event": "Catalog Downloaded", "timestamp": "2026-11-03T00:00:00Z" }));
    messages.push(json!({ "type": "track", "messageId": message_id(), "userId": "u-2",
                          "event": "Product Added to Wishlist", "timestamp": "2026-11-04T00:00:00Z" }));
    server.send_batch(messages).await;
    let sales = Some(server.keys().sales.clone());
    for (lead, at) in [("u-1", "2026-11-06"), ("u-2", "2026-11-08"), ("u-3", "2026-11-10")] {
        let outcome = json!({ "stage": "won", "at": format!("{at}T00:00:00Z") });
        let response =
            server.request(Method::POST, &format!("/api/leads/{lead}/outcomes"), sales.as_deref()).json(&outcome);
        expect_status(response.send().await.unwrap(), StatusCode::OK).await;
    }

    let read = Some(server.keys().read.clone());
    let post = |query: &str, body: String, key: Option<String>| {
        server.request(Method::POST, &format!("/api/backtest?{query}"), key.as_deref()).body(body).send()
    };
    let window = "from=2026-11-02&to=2026-11-16";
    // The candidate: MQLs u-1 (11-03), u-2 (11-04), both won after (3 and
    // 4 days): precision 1, median 3.5. Won in the window: u-1, u-2, u-3;
    // an MQL first: u-1, u-2 (2/3).
    let candidate_result = json!({
        "model_name": "candidate",
        "from": "2026-11-02T00:00:00Z", "to": "2026-11-16T00:00:00Z",
        "mqls": 2, "won_after_mql": 2, "precision": 1.0,
        "won": 3, "won_mql_first": 2, "recall": 0.6667,
        "median_lead_time_days": 3.5,
        "mqls_per_week": [week("2026-W45", "2026-11-02", "2026-11-09", 2), week("2026-W46", "2026-11-09", "2026-11-16", 0)],
    });
    let alone = expect_status(post(window, candidate(), read.clone()).await.unwrap(), StatusCode::OK).await;
    assert_eq!(alone, candidate_result);

    // The active model: only u-1 is an MQL (3 days to its win); recall 1/3.
    let both = post(&format!("{window}&against=active"), candidate(), read.clone()).await.unwrap();
    assert_eq!(
        expect_status(both, StatusCode::OK).await,
        json!({
            "model": candidate_result,
            "against": {
                "model_name": "test",
                "from": "2026-11-02T00:00:00Z", "to": "2026-11-16T00:00:00Z",
                "mqls": 1, "won_after_mql": 1, "precision": 1.0,
                "won": 3, "won_mql_first": 1, "recall": 0.3333,
                "median_lead_time_days": 3.0,
                "mqls_per_week": [week("2026-W45", "2026-11-02", "2026-11-09", 1), week("2026-W46", "2026-11-09", "2026-11-16", 0)],
            },
            "only_model": ["u-2"],
            "only_against": [],
        })
    );

    // Errors: a bad model, a bad window, a bad `against`, a write key.
    let response = post(window, "name = [".into(), read.clone()).await.unwrap();
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_model").await;
    let response = post("from=2026-11-16&to=2026-11-02", candidate(), read.clone()).await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = post(&format!("{window}&against=yesterday"), candidate(), read.clone()).await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = post(window, candidate(), Some(server.keys().write.clone())).await.unwrap();
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
}
