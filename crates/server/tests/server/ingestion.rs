//! Ingestion as `spec/ingestion.md` describes what the Segment and
//! RudderStack SDKs send: paths, keys, bodies, limits, partial acceptance.

use crate::support::{TestServer, expect_error, expect_status, gzip, identify, message_id, page, track};
use qualify_engine::time::EventTime;
use qualify_store::Store;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Posts raw bytes to `/v1/batch` with the write key and these headers.
async fn post_raw(server: &TestServer, body: Vec<u8>, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = server.client.post(server.url("/v1/batch")).basic_auth(&server.keys().write, Some(""));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(body).send().await.expect("the server answers")
}

async fn rejects(server: &TestServer) -> Value {
    let response =
        server.request(Method::GET, "/api/rejects", Some(&server.keys().admin)).send().await.expect("an answer");
    expect_status(response, StatusCode::OK).await
}

#[tokio::test]
async fn a_single_call_without_a_type_takes_its_type_from_the_path() {
    let server = TestServer::start().await;
    let call = json!({ "messageId": message_id(), "userId": "u-1", "event": "Catalog Downloaded" });
    let body = expect_status(server.ingest("/v1/track", &call).await, StatusCode::OK).await;
    assert_eq!(body["accepted"], json!(1), "{body}");
    let call = json!({ "messageId": message_id(), "userId": "u-1", "properties": { "path": "/products/ring" } });
    expect_status(server.ingest("/v1/page", &call).await, StatusCode::OK).await;

    let timeline = server.read("/api/leads/u-1/timeline").await;
    let kinds: Vec<&str> = timeline["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["track", "page"], "{timeline}");
    // Scored as a catalog download (20) and a product page (3).
    assert_eq!(server.lead("u-1").await["engagement"], json!(23.0));
}

#[tokio::test]
async fn a_batch_with_one_bad_message_accepts_the_others_and_shows_the_reject_to_an_admin() {
    let server = TestServer::start().await;
    let batch = json!({ "batch": [
        identify("u-1", json!({ "income": 200000 })),
        { "type": "track", "messageId": message_id(), "userId": "u-1" },
        page("u-1", "/products/ring"),
    ]});
    let body = expect_status(server.ingest("/v1/batch", &batch).await, StatusCode::OK).await;
    assert_eq!((body["accepted"].clone(), body["rejected"].clone()), (json!(2), json!(1)), "{body}");
    assert_eq!(server.open_store().event_count().unwrap(), 2);

    let rejects = rejects(&server).await;
    assert_eq!(rejects["total"], json!(1), "{rejects}");
    let reject = &rejects["rejects"][0];
    assert_eq!(reject["endpoint"], json!("/v1/batch"), "{reject}");
    assert_eq!(reject["batch_index"], json!(1), "{reject}");
    assert_eq!(reject["field"], json!("event"), "{reject}");
    assert!(reject["reason"].as_str().unwrap().contains("event name"), "{reject}");
    assert!(reject["excerpt"].as_str().unwrap().contains("u-1"), "{reject}");
}

#[tokio::test]
async fn the_same_batch_sent_twice_is_all_duplicates_the_second_time_and_scores_stay() {
    let server = TestServer::start().await;
    let batch = json!({ "batch": [
        identify("u-1", json!({ "income": 200000, "age": 40 })),
        track("u-1", "Catalog Downloaded"),
        page("u-1", "/products/ring"),
    ]});
    let first = expect_status(server.ingest("/v1/batch", &batch).await, StatusCode::OK).await;
    assert_eq!((first["accepted"].clone(), first["duplicates"].clone()), (json!(3), json!(0)), "{first}");
    let before = server.lead("u-1").await;

    let second = expect_status(server.ingest("/v1/batch", &batch).await, StatusCode::OK).await;
    assert_eq!((second["accepted"].clone(), second["duplicates"].clone()), (json!(0), json!(3)), "{second}");
    let after = server.lead("u-1").await;
    for field in ["engagement", "fit", "grade", "stage", "mql_at", "first_seen", "last_seen"] {
        assert_eq!(before[field], after[field], "{field}: {before} then {after}");
    }
    assert_eq!(after["engagement"], json!(23.0));
    assert_eq!(server.open_store().event_count().unwrap(), 3);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_with_invalid_json() {
    let server = TestServer::start().await;
    for body in [&b"{\"batch\": [{\"type\": \"track\""[..], b"[1, 2]", b"", b"\xff\xfe"] {
        let response = post_raw(&server, body.to_vec(), &[("content-type", "application/json")]).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    }
    let response = post_raw(&server, b"{\"batch\": 3}".to_vec(), &[]).await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn a_batch_with_no_valid_message_is_refused_and_its_rejects_are_recorded() {
    let server = TestServer::start().await;
    let batch = json!({ "batch": [
        { "type": "track", "messageId": message_id(), "event": "Catalog Downloaded" },
        { "type": "purchase", "messageId": message_id(), "userId": "u-1" },
        "not a message",
    ]});
    let body =
        expect_error(server.ingest("/v1/batch", &batch).await, StatusCode::BAD_REQUEST, "nothing_accepted").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("userId"), "{body}");
    assert_eq!(server.open_store().event_count().unwrap(), 0);
    let rejects = rejects(&server).await;
    assert_eq!(rejects["total"], json!(3), "{rejects}");
    let mut indexes: Vec<i64> =
        rejects["rejects"].as_array().unwrap().iter().map(|reject| reject["batch_index"].as_i64().unwrap()).collect();
    indexes.sort();
    assert_eq!(indexes, [0, 1, 2]);
}

#[tokio::test]
async fn a_gzipped_body_is_accepted_whatever_its_content_type_says() {
    let server = TestServer::start().await;
    // What @rudderstack/rudder-sdk-node sends: gzip, labelled as a form.
    let cases = [("application/json", "u-json"), ("application/x-www-form-urlencoded", "u-form")];
    for (content_type, user) in cases {
        let batch = json!({ "batch": [track(user, "Catalog Downloaded"), page(user, "/products/ring")] });
        let body = gzip(&serde_json::to_vec(&batch).unwrap());
        let response = post_raw(&server, body, &[("content-encoding", "gzip"), ("content-type", content_type)]).await;
        let answer = expect_status(response, StatusCode::OK).await;
        assert_eq!(answer["accepted"], json!(2), "{content_type}: {answer}");
        assert_eq!(server.lead(user).await["engagement"], json!(23.0));
    }
    let response = post_raw(&server, b"{\"batch\": []}".to_vec(), &[("content-encoding", "gzip")]).await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn a_json_body_labelled_as_a_form_still_parses() {
    let server = TestServer::start().await;
    let batch = json!({ "batch": [track("u-1", "Catalog Downloaded")] });
    let response = post_raw(
        &server,
        serde_json::to_vec(&batch).unwrap(),
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .await;
    assert_eq!(expect_status(response, StatusCode::OK).await["accepted"], json!(1));
    let response = post_raw(&server, serde_json::to_vec(&batch).unwrap(), &[("content-type", "text/plain")]).await;
    assert_eq!(expect_status(response, StatusCode::OK).await["duplicates"], json!(1));
}

/// A batch of `count` messages of about 20 KB each (under the 32 KB limit).
fn padded_batch(count: usize) -> Vec<u8> {
    let padding = "x".repeat(20 * 1024);
    let messages: Vec<Value> = (0..count)
        .map(|_| {
            let mut message = track("u-1", "Catalog Downloaded");
            message["properties"] = json!({ "padding": padding });
            message
        })
        .collect();
    serde_json::to_vec(&json!({ "batch": messages })).unwrap()
}

#[tokio::test]
async fn a_body_over_500_kb_is_refused_with_413_and_a_json_reason() {
    let server = TestServer::start().await;
    // Just under the limit, it passes.
    let fits = padded_batch(24);
    assert!(fits.len() < 500 * 1024);
    let response = post_raw(&server, fits, &[]).await;
    assert_eq!(expect_status(response, StatusCode::OK).await["accepted"], json!(24));

    // Over it: as sent, once decompressed, and far over it.
    let over = padded_batch(30);
    assert!(over.len() > 500 * 1024);
    let response = post_raw(&server, over.clone(), &[]).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    let compressed = gzip(&over);
    assert!(compressed.len() < 100 * 1024);
    let response = post_raw(&server, compressed, &[("content-encoding", "gzip")]).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    let response = post_raw(&server, padded_batch(100), &[]).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    assert_eq!(server.open_store().event_count().unwrap(), 24);
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_with_413() {
    let server = TestServer::start().await;
    // 32 MB of spaces inflate from about 32 KB.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..32 {
        std::io::Write::write_all(&mut encoder, &spaces).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 500 * 1024, "{} bytes", bomb.len());
    let response = post_raw(&server, bomb, &[("content-encoding", "gzip")]).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
}

#[tokio::test]
async fn a_message_over_32_kb_is_rejected_while_the_rest_are_accepted() {
    let server = TestServer::start().await;
    let mut large = track("u-1", "Product Added to Wishlist");
    large["properties"] = json!({ "padding": "x".repeat(33 * 1024) });
    let batch = json!({ "batch": [track("u-1", "Catalog Downloaded"), large, page("u-1", "/products/ring")] });
    let body = expect_status(server.ingest("/v1/batch", &batch).await, StatusCode::OK).await;
    assert_eq!((body["accepted"].clone(), body["rejected"].clone()), (json!(2), json!(1)), "{body}");

    let rejects = rejects(&server).await;
    assert_eq!(rejects["total"], json!(1), "{rejects}");
    assert_eq!(rejects["rejects"][0]["batch_index"], json!(1), "{rejects}");
    assert!(rejects["rejects"][0]["reason"].as_str().unwrap().contains("32 KB"), "{rejects}");
    // The excerpt is kept short.
    assert!(rejects["rejects"][0]["excerpt"].as_str().unwrap().len() <= 1024);
    assert_eq!(server.lead("u-1").await["engagement"], json!(23.0));
}

#[tokio::test]
async fn a_batch_of_more_than_2500_messages_is_refused_and_2500_are_accepted() {
    let server = TestServer::start().await;
    let messages = |count: usize| -> Vec<Value> {
        (0..count)
            .map(|_| json!({ "type": "track", "messageId": message_id(), "userId": "u-1", "event": "e" }))
            .collect()
    };
    let response = server.ingest("/v1/batch", &json!({ "batch": messages(2_501) })).await;
    let body = expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("2500"), "{body}");
    assert_eq!(server.open_store().event_count().unwrap(), 0);

    server.send_batch(messages(2_500)).await;
    assert_eq!(server.open_store().event_count().unwrap(), 2_500);
}

#[tokio::test]
async fn the_write_key_comes_by_http_basic_or_in_the_body() {
    let server = TestServer::start().await;
    let keys = server.keys();
    let post = |body: Value| server.client.post(server.url("/v1/batch")).json(&body).send();

    // HTTP Basic with the key as user name, as every SDK sends it.
    let basic = server
        .client
        .post(server.url("/v1/batch"))
        .basic_auth(&keys.write, None::<&str>)
        .json(&json!({ "batch": [track("u-basic", "Catalog Downloaded")] }))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(basic, StatusCode::OK).await["accepted"], json!(1));

    // `writeKey` in the body, as segment-analytics-python also sends it.
    let in_body =
        post(json!({ "batch": [track("u-body", "Catalog Downloaded")], "writeKey": keys.write })).await.unwrap();
    assert_eq!(expect_status(in_body, StatusCode::OK).await["accepted"], json!(1));
    let single = server
        .client
        .post(server.url("/v1/track"))
        .json(&json!({ "userId": "u-single", "event": "e", "writeKey": keys.write }))
        .send()
        .await
        .unwrap();
    expect_status(single, StatusCode::OK).await;

    // A read key may not ingest, however it comes; no key at all is a 401.
    let read = post(json!({ "batch": [track("u-read", "Catalog Downloaded")], "writeKey": keys.read })).await.unwrap();
    expect_error(read, StatusCode::FORBIDDEN, "forbidden").await;
    let none = post(json!({ "batch": [track("u-none", "Catalog Downloaded")] })).await.unwrap();
    expect_error(none, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(server.open_store().event_count().unwrap(), 3);
}

#[tokio::test]
async fn clock_skew_is_taken_out_of_original_timestamps_using_sent_at() {
    let server = TestServer::start().await;
    let now = EventTime::now();
    let hour = 3_600 * 1_000_000;
    let second = 1_000_000;
    // The sender's clock is an hour fast; by its clock, the event happened
    // 30 s before the batch was sent (what rudder-sdk-node sends: no
    // `timestamp`, only `originalTimestamp`).
    let sent_at = EventTime::from_micros(now.as_micros() + hour);
    let original = EventTime::from_micros(sent_at.as_micros() - 30 * second);
    let message = json!({
        "type": "track", "messageId": message_id(), "userId": "u-skew", "event": "Catalog Downloaded",
        "originalTimestamp": original.to_rfc3339(),
    });
    let batch = json!({ "batch": [message], "sentAt": sent_at.to_rfc3339() });
    expect_status(server.ingest("/v1/batch", &batch).await, StatusCode::OK).await;

    let lead = server.lead("u-skew").await;
    let first_seen = EventTime::parse(lead["first_seen"].as_str().unwrap()).unwrap();
    let expected = now.as_micros() - 30 * second;
    let off_by = (first_seen.as_micros() - expected).abs();
    assert!(off_by < 5 * second, "first seen {first_seen}, expected about {}", EventTime::from_micros(expected));
    let timeline = server.read("/api/leads/u-skew/timeline").await;
    assert_eq!(timeline["events"][0]["time"], lead["first_seen"], "{timeline}");
}

#[tokio::test]
async fn a_browser_may_post_events_from_any_origin_but_not_read_the_api() {
    let server = TestServer::start().await;
    let preflight = |path: &str| {
        server
            .client
            .request(Method::OPTIONS, server.url(path))
            .header("Origin", "https://shop.example")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type, authorization")
            .send()
    };
    let response = preflight("/v1/batch").await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let allowed = |response: &reqwest::Response, name: &str| {
        response.headers().get(name).map(|value| value.to_str().unwrap().to_owned())
    };
    assert_eq!(allowed(&response, "access-control-allow-origin").as_deref(), Some("*"));
    let methods = allowed(&response, "access-control-allow-methods").unwrap_or_default();
    assert!(methods == "*" || methods.contains("POST"), "{methods}");

    // The post itself carries the header too, so the browser may read the answer.
    let response = server
        .client
        .post(server.url("/v1/batch"))
        .header("Origin", "https://shop.example")
        .header(CONTENT_TYPE, "text/plain")
        .basic_auth(&server.keys().write, Some(""))
        .body(serde_json::to_vec(&json!({ "batch": [track("u-1", "Catalog Downloaded")] })).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&response, "access-control-allow-origin").as_deref(), Some("*"));
    expect_status(response, StatusCode::OK).await;

    let response = preflight("/api/leads").await.unwrap();
    assert_eq!(allowed(&response, "access-control-allow-origin"), None);
}
