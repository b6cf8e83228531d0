//! KPIs over the API: `GET /api/kpis` on leads ingested over HTTP, an
//! outcome sales posted and spend in the store, against figures computed by
//! hand.

use crate::support::{TestServer, expect_error, expect_status, message_id};
use qualify_engine::outcome::{Spend, parse_time};
use qualify_store::Store as _;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn kpis_by_channel_count_leads_mqls_customers_and_costs_of_the_period() {
    let server = TestServer::start().await;
    // u-1 (google): created 11-02, an MQL at the download on 11-03, won on
    // 11-05. u-2 (meta): created 11-04, never an MQL.
    server
        .send_batch(vec![
            json!({ "type": "identify", "messageId": message_id(), "userId": "u-1",
                    "traits": { "income": 200000, "age": 40 },
                    "context": { "campaign": { "source": "google" } }, "timestamp": "2026-11-02T00:00:00Z" }),
            json!({ "type": "track", "messageId": message_id(), "userId": "u-1",
                    "event": "Catalog Downloaded", "timestamp": "2026-11-03T00:00:00Z" }),
            json!({ "type": "identify", "messageId": message_id(), "userId": "u-2", "traits": { "income": 10 },
                    "context": { "campaign": { "source": "meta" } }, "timestamp": "2026-11-04T00:00:00Z" }),
        ])
        .await;
    let won = json!({ "stage": "won", "at": "2026-11-05T00:00:00Z", "revenue": 900 });
    let response = server.request(Method::POST, "/api/leads/u-1/outcomes", Some(&server.keys().sales)).json(&won);
    expect_status(response.send().await.unwrap(), StatusCode::OK).await;
    // Google spent 700 over 7 days: 100 a day, all of it in the period.
    let time = |text: &str| parse_time(text).unwrap();
    let spend = Spend { channel: "google".into(), from: time("2026-11-02"), to: time("2026-11-08"), amount: 700.0 };
    server.open_store().add_spend(&[spend]).unwrap();

    let report = server.read("/api/kpis?from=2026-11-02&to=2026-11-09&by=channel").await;
    let row = |group: &str, figures: serde_json::Value| {
        let mut row = json!({ "group": group, "from": "2026-11-02T00:00:00Z", "to": "2026-11-09T00:00:00Z" });
        row.as_object_mut().unwrap().extend(figures.as_object().unwrap().clone());
        row
    };
    assert_eq!(
        report,
        json!({
            "from": "2026-11-02T00:00:00Z",
            "to": "2026-11-09T00:00:00Z",
            "by": "channel",
            "rows": [
                // One lead, an MQL a day after it was created, won two days
                // later: one customer in one week; every cost 700/1.
                row("google", json!({
                    "leads_generated": 1, "mqls": 1, "mql_rate": 1.0, "sales_acceptance_rate": null,
                    "conversion_rate": 1.0, "mql_to_customer_rate": 1.0, "customers_acquired": 1,
                    "customer_acquisition_rate": 1.0, "previous_customer_acquisition_rate": 0.0,
                    "customer_acquisition_rate_change": null, "spend": 700.0, "cost_per_lead": 700.0,
                    "cost_per_mql": 700.0, "cost_per_acquisition": 700.0, "median_days_to_mql": 1.0,
                    "median_days_mql_to_won": 2.0,
                })),
                // One lead and nothing else, no spend.
                row("meta", json!({
                    "leads_generated": 1, "mqls": 0, "mql_rate": 0.0, "sales_acceptance_rate": null,
                    "conversion_rate": 0.0, "mql_to_customer_rate": null, "customers_acquired": 0,
                    "customer_acquisition_rate": 0.0, "previous_customer_acquisition_rate": 0.0,
                    "customer_acquisition_rate_change": null, "spend": 0.0, "cost_per_lead": 0.0,
                    "cost_per_mql": null, "cost_per_acquisition": null, "median_days_to_mql": null,
                    "median_days_mql_to_won": null,
                })),
            ],
        })
    );

    let write_key = Some(server.keys().write.as_str());
    let response = server.request(Method::GET, "/api/kpis?from=2026-11-02&to=2026-11-09", write_key).send().await;
    expect_error(response.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    let read_key = Some(server.keys().read.as_str());
    let response =
        server.request(Method::GET, "/api/kpis?from=2026-11-02&to=2026-11-09&by=month", read_key).send().await;
    expect_error(response.unwrap(), StatusCode::BAD_REQUEST, "invalid_request").await;
}
