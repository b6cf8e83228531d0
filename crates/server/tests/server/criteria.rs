//! The criteria report over the API: `GET /api/reports/criteria` on leads
//! ingested over HTTP and outcomes sales posted, against figures computed by
//! hand (the test model: see `support::TEST_MODEL`).

use crate::support::{TestServer, expect_error, expect_status, message_id};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_criteria_report_gives_each_rule_its_leads_conversion_and_share_bands_and_reasons() {
    let server = TestServer::start().await;
    // u-1: rich adult (fit 80, A), a product page then the catalog: an MQL
    // at the download with catalog 20 + product-page 3; won. u-2: a poor
    // adult (fit 20, D), the catalog (20 points, not an MQL); rejected.
    server
        .send_batch(vec![
            json!({ "type": "identify", "messageId": message_id(), "userId": "u-1",
                    "traits": { "income": 200000, "age": 40 }, "timestamp": "2026-11-02T00:00:00Z" }),
            json!({ "type": "page", "messageId": message_id(), "userId": "u-1",
                    "properties": { "path": "/products/ring" }, "timestamp": "2026-11-02T01:00:00Z" }),
            json!({ "type": "track", "messageId": message_id(), "userId": "u-1",
                    "event": "Catalog Downloaded", "timestamp": "2026-11-03T00:00:00Z" }),
            json!({ "type": "identify", "messageId": message_id(), "userId": "u-2",
                    "traits": { "income": 10, "age": 30 }, "timestamp": "2026-11-04T00:00:00Z" }),
            json!({ "type": "track", "messageId": message_id(), "userId": "u-2",
                    "event": "Catalog Downloaded", "timestamp": "2026-11-04T01:00:00Z" }),
        ])
        .await;
    let sales = Some(server.keys().sales.clone());
    for (lead, outcome) in [
        ("u-1", json!({ "stage": "won", "at": "2026-11-05T00:00:00Z", "revenue": 900 })),
        ("u-2", json!({ "stage": "rejected", "at": "2026-11-06T00:00:00Z", "reason": "bad fit" })),
    ] {
        let response =
            server.request(Method::POST, &format!("/api/leads/{lead}/outcomes"), sales.as_deref()).json(&outcome);
        expect_status(response.send().await.unwrap(), StatusCode::OK).await;
    }

    let report = server.read("/api/reports/criteria?as_of=2026-11-10").await;
    let rule = |kind: &str, persona: Option<&str>, rule: &str, counts: [u64; 4], rates: [Option<f64>; 4]| {
        json!({
            "kind": kind, "persona": persona, "rule": rule,
            "leads_fired": counts[0], "won_fired": counts[1], "leads_not_fired": counts[2], "won_not_fired": counts[3],
            "conversion_fired": rates[0], "conversion_not_fired": rates[1], "lift": rates[2],
            "share_of_mql_points": rates[3],
        })
    };
    // The MQL u-1 had 23 engagement points at mql_at (catalog 20/23,
    // product-page 3/23) and 80 fit points (rich 60/80, adult 20/80). No
    // lift has a non-zero conversion without the rule to divide by.
    assert_eq!(
        report,
        json!({
            "as_of": "2026-11-10T00:00:00Z",
            "leads": 2, "mqls": 1, "won": 1, "conversion_rate": 0.5,
            "rules": [
                rule("engagement", None, "catalog", [2, 1, 0, 0], [Some(0.5), None, None, Some(0.8696)]),
                rule("engagement", None, "product-page", [1, 1, 1, 0], [Some(1.0), Some(0.0), None, Some(0.1304)]),
                rule("engagement", None, "wishlist", [0, 0, 2, 1], [None, Some(0.5), None, Some(0.0)]),
                rule("fit", Some("buyer"), "rich", [1, 1, 1, 0], [Some(1.0), Some(0.0), None, Some(0.75)]),
                rule("fit", Some("buyer"), "adult", [2, 1, 0, 0], [Some(0.5), None, None, Some(0.25)]),
            ],
            // u-2 at 20 (as-of) in the lower half, u-1 at 23 (mql_at) in the upper.
            "bands": [
                { "band": 1, "leads": 1, "won": 0, "conversion_rate": 0.0, "min_engagement": 20.0, "max_engagement": 20.0 },
                { "band": 6, "leads": 1, "won": 1, "conversion_rate": 1.0, "min_engagement": 23.0, "max_engagement": 23.0 },
            ],
            "rejection_reasons": [{ "reason": "bad fit", "rejections": 1 }],
        })
    );

    let write_key = Some(server.keys().write.as_str());
    let response = server.request(Method::GET, "/api/reports/criteria", write_key).send().await;
    expect_error(response.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    let read_key = Some(server.keys().read.as_str());
    let response = server.request(Method::GET, "/api/reports/criteria?as_of=someday", read_key).send().await;
    expect_error(response.unwrap(), StatusCode::BAD_REQUEST, "invalid_request").await;
}
