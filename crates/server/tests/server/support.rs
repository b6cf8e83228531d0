//! The harness every test shares (zero2prod's `spawn_app`): a real server on
//! port 0 against a SQLite file in a temporary directory, with a key of
//! every role made directly in the store, a client, and a clean stop.

use qualify_engine::time::EventTime;
use qualify_server::{ServerConfig, ServerError, auth, serve};
use qualify_store::{Role, SqliteStore, Store, ops};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A model small enough to work scores out by hand. Nothing decays, so a
/// lead's scores do not move between two reads.
///
/// - `catalog`: 20 points per catalog download; 20 is the MQL threshold.
/// - `product-page`: 3 points per product page.
/// - `wishlist`: 5 points per wishlist addition.
/// - persona `buyer`: income of 100,000 or more (60) and age 18 or more (20),
///   so a rich adult grades A (80), a rich minor B (60), an adult alone D (20).
pub const TEST_MODEL: &str = r#"
name = "test"

[mql]
engagement_threshold = 20
min_grade = "B"

[decay]
half_life_days = 30

[grades]
A = 75
B = 50
C = 25

[[engagement]]
id = "catalog"
type = "track"
event = "Catalog Downloaded"
points = 20
half_life_days = 0

[[engagement]]
id = "product-page"
type = "page"
path_prefix = "/products/"
points = 3
half_life_days = 0

[[engagement]]
id = "wishlist"
type = "track"
event = "Product Added to Wishlist"
points = 5
half_life_days = 0

[[persona]]
id = "buyer"

[[persona.fit]]
id = "rich"
trait = "income"
gte = 100000
points = 60

[[persona.fit]]
id = "adult"
trait = "age"
gte = 18
points = 20
"#;

/// One key of each role, as their owners would hold them.
pub struct Keys {
    pub write: String,
    pub read: String,
    pub sales: String,
    pub admin: String,
}

impl Keys {
    pub fn of(&self, role: Role) -> &str {
        match role {
            Role::Write => &self.write,
            Role::Read => &self.read,
            Role::Sales => &self.sales,
            Role::Admin => &self.admin,
        }
    }
}

/// Makes a key of `role` in the store, as `qualify keys create` does, and
/// returns its id and the key itself.
pub fn add_key(store: &mut SqliteStore, role: Role) -> (i64, String) {
    let new_key = auth::generate_key();
    let stored = store
        .add_api_key(Some(role.as_str()), role, &new_key.prefix, &new_key.hash, EventTime::now())
        .expect("the key is stored");
    (stored.id, new_key.key)
}

/// A database ready for a server: the file, a key of every role and
/// (optionally) an active model. Tests that must change the store before
/// the server starts (revoking a key) do it here.
pub struct TestDatabase {
    // Deleted (with the database) when the test ends.
    _directory: TempDir,
    path: PathBuf,
    pub keys: Keys,
}

impl TestDatabase {
    pub fn new() -> TestDatabase {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let path = directory.path().join("qualify.db");
        let mut store = SqliteStore::open(&path).expect("the database opens");
        let keys = Keys {
            write: add_key(&mut store, Role::Write).1,
            read: add_key(&mut store, Role::Read).1,
            sales: add_key(&mut store, Role::Sales).1,
            admin: add_key(&mut store, Role::Admin).1,
        };
        TestDatabase { _directory: directory, path, keys }
    }

    pub fn with_model(self, text: &str) -> TestDatabase {
        ops::activate_model_text(&mut self.open_store(), text, EventTime::now()).expect("the model is activated");
        self
    }

    pub fn open_store(&self) -> SqliteStore {
        SqliteStore::open(&self.path).expect("the database opens")
    }

    pub async fn serve(self) -> TestServer {
        self.serve_with(|_| {}).await
    }

    /// Starts the server on port 0, with the configuration changed by `configure`.
    pub async fn serve_with(self, configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let mut config = ServerConfig::new(self.path.clone());
        configure(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port on loopback");
        let address = listener.local_addr().expect("the bound address");
        let (trigger, shutdown) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, config, async move {
            // A dropped trigger (a test that failed) also stops the server.
            let _ = shutdown.await;
        }));
        // Proxies from the environment must not see loopback traffic.
        let client = Client::builder().no_proxy().build().expect("a client");
        TestServer { address, client, database: self, shutdown: Some(trigger), task: Some(task) }
    }
}

/// A running server, its database and a client.
pub struct TestServer {
    pub address: SocketAddr,
    pub client: Client,
    database: TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// A server with [`TEST_MODEL`] active.
    pub async fn start() -> TestServer {
        TestDatabase::new().with_model(TEST_MODEL).serve().await
    }

    pub fn keys(&self) -> &Keys {
        &self.database.keys
    }

    pub fn database_path(&self) -> &Path {
        &self.database.path
    }

    /// Another connection to the server's database, for what a test checks
    /// or changes behind the server's back.
    pub fn open_store(&self) -> SqliteStore {
        self.database.open_store()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn request(&self, method: reqwest::Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Posts a body to an ingestion endpoint with the write key as the SDKs
    /// send it: HTTP Basic, the key as user name and an empty password.
    pub async fn ingest(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .basic_auth(&self.database.keys.write, Some(""))
            .json(body)
            .send()
            .await
            .expect("the server answers")
    }

    /// Posts messages as one `/v1/batch` and expects them all accepted.
    pub async fn send_batch(&self, messages: Vec<Value>) -> Value {
        let count = messages.len() as u64;
        let response = self.ingest("/v1/batch", &json!({ "batch": messages })).await;
        let body = expect_status(response, StatusCode::OK).await;
        assert_eq!(body["accepted"], json!(count), "{body}");
        body
    }

    /// GETs with the read key and expects a 200 with a JSON body.
    pub async fn read(&self, path: &str) -> Value {
        let response =
            self.request(reqwest::Method::GET, path, Some(&self.database.keys.read)).send().await.expect("an answer");
        expect_status(response, StatusCode::OK).await
    }

    pub async fn lead(&self, lead_id: &str) -> Value {
        self.read(&format!("/api/leads/{lead_id}")).await
    }

    /// Asks the server to stop without waiting for it.
    pub fn trigger_shutdown(&mut self) {
        if let Some(trigger) = self.shutdown.take() {
            let _ = trigger.send(());
        }
    }

    /// Stops the server and waits until it has finished its requests and
    /// its writes, and returned.
    pub async fn stop(&mut self) {
        self.trigger_shutdown();
        if let Some(task) = self.task.take() {
            task.await.expect("the server task does not panic").expect("the server stops without error");
        }
    }
}

/// Checks a response's status, showing its body when it is not the one
/// expected, and returns its body as JSON (`null` when it is not JSON).
pub async fn expect_status(response: Response, expected: StatusCode) -> Value {
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert_eq!(status, expected, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Checks an error response: its status, and a JSON body with this stable
/// code and a message. Returns the body.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let body = expect_status(response, status).await;
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|message| !message.is_empty()), "{body}");
    body
}

/// A messageId no other message of the test run has.
pub fn message_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("test-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn track(user_id: &str, event: &str) -> Value {
    json!({ "type": "track", "messageId": message_id(), "userId": user_id, "event": event })
}

pub fn page(user_id: &str, path: &str) -> Value {
    json!({ "type": "page", "messageId": message_id(), "userId": user_id, "properties": { "path": path } })
}

pub fn identify(user_id: &str, traits: Value) -> Value {
    json!({ "type": "identify", "messageId": message_id(), "userId": user_id, "traits": traits })
}

/// A gzip stream of `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// The value of a metric line (`name{labels} value`) in Prometheus text.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}
