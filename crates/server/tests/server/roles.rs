//! Keys and roles: every route with no key and with a key of each role.

use crate::support::{TEST_MODEL, TestDatabase, TestServer, add_key, expect_error, expect_status, identify, track};
use qualify_engine::time::EventTime;
use qualify_store::{Role, Store};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Who may do what, as the issue says it: write keys only ingest, read and
/// sales keys read, admin keys do everything.
#[derive(Clone, Copy, Debug)]
enum Needs {
    Ingest,
    Read,
    Admin,
}

fn allowed(needs: Needs, role: Role) -> bool {
    let [write, read, sales, admin] = match needs {
        Needs::Ingest => [true, false, false, true],
        Needs::Read => [false, true, true, true],
        Needs::Admin => [false, false, false, true],
    };
    match role {
        Role::Write => write,
        Role::Read => read,
        Role::Sales => sales,
        Role::Admin => admin,
    }
}

#[tokio::test]
async fn every_route_answers_401_without_a_key_403_to_the_wrong_role_and_200_to_the_right_one() {
    let server = TestServer::start().await;
    server
        .send_batch(vec![
            identify("u-1", json!({ "email": "one@example.com", "income": 200000, "age": 40 })),
            track("u-1", "Catalog Downloaded"),
        ])
        .await;
    let batch = json!({ "batch": [track("u-1", "Product Added to Wishlist")] });
    let single = track("u-1", "Product Added to Wishlist");
    let model = serde_json::Value::String(TEST_MODEL.to_owned());
    // (method, path, body, what the route needs)
    let routes = [
        (Method::POST, "/v1/batch", Some(batch.clone()), Needs::Ingest),
        (Method::POST, "/v1/import", Some(batch.clone()), Needs::Ingest),
        (Method::POST, "/v1/track", Some(single), Needs::Ingest),
        (Method::GET, "/api/leads", None, Needs::Read),
        (Method::GET, "/api/leads/u-1", None, Needs::Read),
        (Method::GET, "/api/leads/u-1/explain", None, Needs::Read),
        (Method::GET, "/api/leads/u-1/timeline", None, Needs::Read),
        (Method::GET, "/api/queue", None, Needs::Read),
        (Method::GET, "/api/models", None, Needs::Read),
        (Method::GET, "/api/models/1", None, Needs::Read),
        (Method::POST, "/api/models/validate", Some(model.clone()), Needs::Read),
        (Method::PUT, "/api/models", Some(model), Needs::Admin),
        (Method::GET, "/api/rejects", None, Needs::Admin),
        (Method::GET, "/metrics", None, Needs::Read),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, needs) in &routes {
        let callers = [None, Some(Role::Write), Some(Role::Read), Some(Role::Sales), Some(Role::Admin)];
        for caller in callers {
            let key = caller.map(|role| server.keys().of(role));
            let mut request = server.request(method.clone(), path, key);
            request = match body {
                // A model is TOML text; everything else is JSON.
                Some(serde_json::Value::String(text)) => request.body(text.clone()),
                Some(body) => request.json(body),
                None => request,
            };
            let response = request.send().await.expect("the server answers");
            let expected = match caller {
                None => StatusCode::UNAUTHORIZED,
                Some(role) if allowed(*needs, role) => StatusCode::OK,
                Some(_) => StatusCode::FORBIDDEN,
            };
            let status = response.status();
            let text = response.text().await.expect("a body");
            if status != expected {
                wrong.push(format!("{method} {path} as {caller:?}: expected {expected}, got {status}: {text}"));
                continue;
            }
            if !status.is_success() {
                let body: serde_json::Value = serde_json::from_str(&text).expect("errors are JSON");
                let code = if caller.is_none() { "unauthenticated" } else { "forbidden" };
                if body["error"]["code"] != json!(code) {
                    wrong.push(format!("{method} {path} as {caller:?}: error body {body}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} calls went wrong:\n{}", wrong.len(), routes.len() * 5, wrong.join("\n"));

    let health = server.client.get(server.url("/healthz")).send().await.expect("an answer");
    expect_status(health, StatusCode::OK).await;
}

#[tokio::test]
async fn an_unknown_key_is_refused_with_401_everywhere() {
    let server = TestServer::start().await;
    let unknown = qualify_server::auth::generate_key().key;
    let response = server.request(Method::GET, "/api/leads", Some(&unknown)).send().await.expect("an answer");
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let response = server
        .client
        .post(server.url("/v1/batch"))
        .basic_auth(&unknown, Some(""))
        .json(&json!({ "batch": [track("u-1", "Catalog Downloaded")] }))
        .send()
        .await
        .expect("an answer");
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(server.open_store().event_count().unwrap(), 0);
}

#[tokio::test]
async fn a_revoked_key_opens_nothing() {
    let database = TestDatabase::new().with_model(TEST_MODEL);
    let mut store = database.open_store();
    let (admin_id, admin) = add_key(&mut store, Role::Admin);
    store.revoke_api_key(admin_id, EventTime::now()).expect("the key is revoked");
    drop(store);
    let server = database.serve().await;

    let response = server.request(Method::GET, "/api/leads", Some(&admin)).send().await.expect("an answer");
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let response = server
        .client
        .post(server.url("/v1/batch"))
        .basic_auth(&admin, Some(""))
        .json(&json!({ "batch": [track("u-1", "Catalog Downloaded")] }))
        .send()
        .await
        .expect("an answer");
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // The other keys still work.
    server.read("/api/leads").await;
}

#[tokio::test]
async fn a_key_created_while_the_server_runs_works_at_once() {
    let server = TestServer::start().await;
    // The server has loaded its keys just now.
    server.read("/api/leads").await;

    let (_, read) = add_key(&mut server.open_store(), Role::Read);
    let response = server.request(Method::GET, "/api/leads", Some(&read)).send().await.expect("an answer");
    expect_status(response, StatusCode::OK).await;

    let (_, write) = add_key(&mut server.open_store(), Role::Write);
    let response = server
        .client
        .post(server.url("/v1/track"))
        .basic_auth(&write, Some(""))
        .json(&track("u-1", "Catalog Downloaded"))
        .send()
        .await
        .expect("an answer");
    expect_status(response, StatusCode::OK).await;
}
