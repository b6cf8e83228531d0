//! Running the server: metrics, overload, graceful shutdown and durability.

use crate::support::{TEST_MODEL, TestDatabase, TestServer, expect_status, identify, metric_value, page, track};
use base64::Engine as _;
use qualify_generator::{GeneratorConfig, JEWELRY_MODEL, generate};
use qualify_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

async fn scrape(server: &TestServer) -> String {
    let response = server.request(Method::GET, "/metrics", Some(&server.keys().read)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.contains("text"), "{content_type}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_requests_events_latency_and_leads_by_stage() {
    let server = TestServer::start().await;
    let batch = json!({ "batch": [
        identify("u-1", json!({ "income": 200000, "age": 40 })),
        page("u-1", "/products/ring"),
        { "type": "track", "userId": "u-1" },
    ]});
    expect_status(server.ingest("/v1/batch", &batch).await, StatusCode::OK).await;
    expect_status(server.ingest("/v1/batch", &batch).await, StatusCode::OK).await;

    let text = scrape(&server).await;
    assert_eq!(metric_value(&text, "qualify_events_accepted_total"), Some(2.0), "{text}");
    assert_eq!(metric_value(&text, "qualify_events_duplicate_total"), Some(2.0), "{text}");
    assert_eq!(metric_value(&text, "qualify_events_rejected_total"), Some(2.0), "{text}");
    assert_eq!(metric_value(&text, "qualify_ingest_seconds_count"), Some(2.0), "{text}");
    assert!(text.contains("# TYPE qualify_ingest_seconds histogram"), "{text}");
    let batch_requests = text.lines().find(|line| {
        line.starts_with("qualify_http_requests_total{")
            && line.contains("route=\"/v1/batch\"")
            && line.contains("status=\"200\"")
    });
    assert_eq!(batch_requests.and_then(|line| line.rsplit(' ').next()), Some("2"), "{text}");
    assert_eq!(metric_value(&text, "qualify_leads{stage=\"lead\"}"), Some(1.0), "{text}");
    // Two requests sent one after the other: two groups of one request each.
    assert_eq!(metric_value(&text, "qualify_write_group_requests_count"), Some(2.0), "{text}");
    assert_eq!(metric_value(&text, "qualify_write_group_requests_sum"), Some(2.0), "{text}");
    assert!(metric_value(&text, "qualify_writer_busy_seconds_total").is_some_and(|busy| busy > 0.0), "{text}");

    // The lead becomes an MQL: the next scrape counts it there, and no longer as a lead.
    server.send_batch(vec![track("u-1", "Catalog Downloaded")]).await;
    let text = scrape(&server).await;
    assert_eq!(metric_value(&text, "qualify_leads{stage=\"mql\"}"), Some(1.0), "{text}");
    let leads_at_stage_lead = metric_value(&text, "qualify_leads{stage=\"lead\"}").unwrap_or(0.0);
    assert_eq!(leads_at_stage_lead, 0.0, "{text}");
}

/// What one of many concurrent batches got.
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_server_answers_429_with_retry_after_never_a_5xx_and_keeps_every_acknowledged_batch() {
    let server = TestDatabase::new().with_model(TEST_MODEL).serve_with(|config| config.write_queue = 1).await;
    // Keys cached and a read connection open before the rush.
    server.send_batch(vec![track("u-warm", "Catalog Downloaded")]).await;

    // Another connection holds the write lock, as a slow disk would hold
    // the writer: its queue of one request fills, and the rest must be
    // refused rather than left to time out.
    let lock = rusqlite::Connection::open(server.database_path()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();

    let (sender, mut answers) = tokio::sync::mpsc::unbounded_channel::<Answer>();
    for index in 0..64 {
        let sender = sender.clone();
        let client = server.client.clone();
        let url = server.url("/v1/batch");
        let key = server.keys().write.clone();
        tokio::spawn(async move {
            let user = format!("u-{index}");
            let messages: Vec<Value> = (0..20).map(|_| page(&user, "/products/ring")).collect();
            let response =
                client.post(url).basic_auth(key, Some("")).json(&json!({ "batch": messages })).send().await.unwrap();
            let status = response.status();
            let retry_after = response.headers().get("retry-after").map(|value| value.to_str().unwrap().to_owned());
            let body = response.json().await.unwrap_or(Value::Null);
            let _ = sender.send(Answer { status, retry_after, body });
        });
    }
    drop(sender);

    let mut collected = Vec::new();
    while let Some(answer) = answers.recv().await {
        let refused = answer.status == StatusCode::TOO_MANY_REQUESTS;
        collected.push(answer);
        if refused {
            break;
        }
    }
    lock.execute_batch("ROLLBACK").unwrap();
    while let Some(answer) = answers.recv().await {
        collected.push(answer);
    }

    assert_eq!(collected.len(), 64);
    let failed: Vec<_> = collected.iter().filter(|answer| answer.status.is_server_error()).map(|a| &a.body).collect();
    assert!(failed.is_empty(), "5xx answers: {failed:?}");
    let refused: Vec<&Answer> =
        collected.iter().filter(|answer| answer.status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert!(!refused.is_empty());
    for answer in &refused {
        let seconds: u64 = answer.retry_after.as_deref().expect("Retry-After").parse().expect("Retry-After in seconds");
        assert!(seconds >= 1);
        assert_eq!(answer.body["error"]["code"], json!("overloaded"), "{}", answer.body);
    }
    let acknowledged: Vec<&Answer> = collected.iter().filter(|answer| answer.status == StatusCode::OK).collect();
    assert!(!acknowledged.is_empty(), "the batches the writer held are answered once it goes on");
    assert_eq!(acknowledged.len() + refused.len(), 64);
    let accepted: u64 = acknowledged.iter().map(|answer| answer.body["accepted"].as_u64().unwrap()).sum();
    assert_eq!(accepted, 20 * acknowledged.len() as u64);
    assert_eq!(server.open_store().event_count().unwrap(), 1 + accepted);
}

/// A generated batch of about 400 KB (the demo data set's messages, as the
/// SDKs send them) and the distinct messageIds in it.
fn large_generated_batch() -> (Value, BTreeSet<String>) {
    let mut ndjson = Vec::new();
    generate(&GeneratorConfig { leads: 40, ..GeneratorConfig::default() }, &mut ndjson).unwrap();
    let mut messages = Vec::new();
    let mut size = 0;
    for line in ndjson.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
        let value: Value = serde_json::from_slice(line).unwrap();
        let items = match value.get("batch") {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![value],
        };
        for item in items {
            size += item.to_string().len() + 1;
            if size > 400 * 1024 {
                break;
            }
            messages.push(item);
        }
    }
    let ids = messages.iter().map(|message| message["messageId"].as_str().unwrap().to_owned()).collect();
    (json!({ "batch": messages }), ids)
}

/// The messageIds of every stored event.
fn stored_message_ids(store: &dyn Store) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    store
        .for_each_event_page(1_000, &mut |events| {
            for event in events {
                let message: Value = serde_json::from_str(&event.json).unwrap();
                ids.insert(message["messageId"].as_str().unwrap().to_owned());
            }
            Ok(())
        })
        .unwrap();
    ids
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_every_acknowledged_event_is_on_disk() {
    let mut server = TestDatabase::new().with_model(JEWELRY_MODEL).serve().await;
    let early = vec![track("u-early", "Catalog Downloaded"), page("u-early", "/products/ring")];
    let mut acknowledged: BTreeSet<String> =
        early.iter().map(|message| message["messageId"].as_str().unwrap().to_owned()).collect();
    server.send_batch(early).await;

    let (batch, ids) = large_generated_batch();
    let body = serde_json::to_vec(&batch).unwrap();
    assert!(body.len() > 300 * 1024 && body.len() < 500 * 1024, "{} bytes", body.len());

    // The request is sent by hand with `Expect: 100-continue`: the server's
    // `100 Continue` says it has the request and is reading its body, so the
    // shutdown surely comes while the request is in flight.
    let mut stream = tokio::net::TcpStream::connect(server.address).await.unwrap();
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{}:", server.keys().write));
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {credentials}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        server.address,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).await.unwrap();
    assert!(status_line.starts_with("HTTP/1.1 100"), "{status_line:?}");
    let mut blank = String::new();
    reader.read_line(&mut blank).await.unwrap();
    assert_eq!(blank, "\r\n");

    server.trigger_shutdown();
    reader.get_mut().write_all(&body).await.unwrap();

    let mut status_line = String::new();
    reader.read_line(&mut status_line).await.unwrap();
    assert!(status_line.starts_with("HTTP/1.1 200"), "{status_line:?}");
    let mut content_length = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).await.unwrap();
        if header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = Some(value.trim().parse::<usize>().unwrap());
        }
    }
    let mut answer = vec![0; content_length.expect("a Content-Length")];
    reader.read_exact(&mut answer).await.unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["accepted"], json!(ids.len()), "{answer}");
    acknowledged.extend(ids);
    drop(reader);

    server.stop().await;
    let store = qualify_store::SqliteStore::open(server.database_path()).unwrap();
    assert_eq!(store.event_count().unwrap(), acknowledged.len() as u64);
    assert_eq!(stored_message_ids(&store), acknowledged);
}
