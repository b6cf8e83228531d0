//! `qualify serve`: Segment/RudderStack-compatible ingestion, the JSON API
//! and its keys and limits, and the web dashboard (`dashboard`), as a
//! library function: [`serve`] takes a bound listener and a shutdown
//! future, so tests start it on port 0.
//!
//! Writes go through one writer thread (group commit, live re-scoring);
//! reads use a small pool of read connections (SQLite in WAL mode lets them
//! run beside the writer). Only this crate knows HTTP.

pub mod api;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod openapi;
pub mod writer;

use crate::auth::KeyCache;
use crate::error::ApiError;
use crate::ingest::Limits;
use crate::metrics::{Metrics, RequestLabels};
use crate::writer::WriterHandle;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::post;
use qualify_store::{Role, SqliteStore, StoreError};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub db: PathBuf,
    pub limits: Limits,
    /// How many ingestion requests may wait for the writer before the
    /// server answers 429.
    pub write_queue: usize,
}

impl ServerConfig {
    pub fn new(db: PathBuf) -> ServerConfig {
        ServerConfig { db, limits: Limits::default(), write_queue: 256 }
    }
}

/// Read connections, opened on demand and reused.
pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<SqliteStore>>,
}

impl ReadPool {
    fn new(path: PathBuf) -> ReadPool {
        ReadPool { path, idle: Mutex::new(Vec::new()) }
    }

    /// Runs a blocking read on a pooled connection, off the async threads.
    pub async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&SqliteStore) -> Result<R, ApiError> + Send + 'static,
    ) -> Result<R, ApiError> {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let store = pool.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
            let store = match store {
                Some(store) => store,
                None => SqliteStore::open(&pool.path)?,
            };
            let result = read(&store);
            pool.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(store);
            result
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub writer: WriterHandle,
    pub readers: Arc<ReadPool>,
    pub keys: Arc<KeyCache>,
    pub metrics: Arc<Metrics>,
    /// The dashboard's signed-in browsers.
    pub sessions: Arc<dashboard::Sessions>,
}

impl AppState {
    /// Opens the database and starts the writer thread. The thread stops
    /// once every clone of the state (and so every writer handle) is gone;
    /// join it to know the queued writes are done.
    pub fn start(config: ServerConfig) -> Result<(AppState, std::thread::JoinHandle<()>), StoreError> {
        let write_store = SqliteStore::open(&config.db)?;
        let checkpoint_store = SqliteStore::open(&config.db)?;
        let metrics = Arc::new(Metrics::new());
        let (writer, writer_thread) =
            writer::start(write_store, checkpoint_store, config.write_queue, Arc::clone(&metrics));
        let state = AppState {
            readers: Arc::new(ReadPool::new(config.db.clone())),
            config: Arc::new(config),
            writer,
            keys: Arc::new(KeyCache::new()),
            metrics,
            sessions: Arc::new(dashboard::Sessions::new()),
        };
        Ok((state, writer_thread))
    }

    /// The role of an API key (`None`: unknown or revoked).
    pub async fn role_of(&self, key: &str) -> Result<Option<Role>, ApiError> {
        let keys = Arc::clone(&self.keys);
        let key = key.to_owned();
        if let Some(role) = keys.cached_role(&key) {
            return Ok(Some(role));
        }
        self.readers.run(move |store| keys.role_of(&key, store)).await
    }
}

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.requests.get_or_create(&RequestLabels { method, route, status: response.status().as_u16() }).inc();
    response
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let ingestion = Router::new()
        .route("/v1/batch", post(ingest::batch))
        .route("/v1/import", post(ingest::import))
        .route("/v1/identify", post(ingest::identify))
        .route("/v1/track", post(ingest::track))
        .route("/v1/page", post(ingest::page))
        .route("/v1/screen", post(ingest::screen))
        .route("/v1/group", post(ingest::group))
        .route("/v1/alias", post(ingest::alias));
    // Browsers post from the visitor's page (analytics.js): any origin may
    // send events. The API itself is not opened to other origins.
    let ingestion = ingestion
        .layer(DefaultBodyLimit::max(state.config.limits.max_request_bytes * 2))
        .layer(CorsLayer::new().allow_origin(Any).allow_methods(Any).allow_headers(Any));
    Router::new()
        .merge(ingestion)
        .merge(api::routes())
        .merge(openapi::routes())
        .merge(dashboard::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_requests))
        // One line per request at info: method, path, status and latency.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// Serves until `shutdown` completes, then finishes the requests in flight
/// and the writes queued, and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (state, writer_thread) = AppState::start(config)?;
    let app = router(state);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    // Every handler (and so every writer handle) is gone: the writer drains
    // its queue and stops.
    let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
    Ok(())
}
