//! Segment/RudderStack-compatible ingestion (`spec/ingestion.md`): the
//! `/v1/*` endpoints accept what the real SDKs send, unchanged.

use crate::AppState;
use crate::auth::{self, Permission};
use crate::error::ApiError;
use crate::writer::{Prepared, QueueError, WriteJob};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use qualify_engine::Model;
use qualify_engine::live::LiveLog;
use qualify_engine::log::prepare_message;
use qualify_engine::message::{MessageKind, parse_message};
use qualify_engine::time::EventTime;
use qualify_store::ops;
use qualify_store::{NewEvent, NewReject};
use serde_json::{Map, Value, json};
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

/// Segment's limits.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_request_bytes: usize,
    pub max_batch_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_message_bytes: 32 * 1024, max_request_bytes: 500 * 1024, max_batch_messages: 2_500 }
    }
}

/// Which endpoint a request came to.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint {
    /// `/v1/batch` and `/v1/import`.
    Batch,
    /// `/v1/identify`, `/v1/track`, ...: one message whose type the path implies.
    Single(MessageKind),
}

impl Endpoint {
    fn path(self) -> String {
        match self {
            Endpoint::Batch => "/v1/batch".to_owned(),
            Endpoint::Single(kind) => format!("/v1/{}", kind.as_str()),
        }
    }
}

/// The request body, decompressed when it says it is gzip, within the limit.
/// A gzip bomb is cut off after the limit without inflating the rest.
fn decode_body(headers: &HeaderMap, body: &Bytes, limit: usize) -> Result<Vec<u8>, ApiError> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("gzip"));
    let too_large =
        || ApiError::TooLarge(format!("the request body is larger than {} KB (after decompression)", limit / 1024));
    if !gzip {
        if body.len() > limit {
            return Err(too_large());
        }
        return Ok(body.to_vec());
    }
    let mut decoded = Vec::with_capacity(body.len() * 4);
    flate2::read::GzDecoder::new(&body[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|error| ApiError::InvalidRequest(format!("the body says gzip but does not inflate: {error}")))?;
    if decoded.len() > limit {
        return Err(too_large());
    }
    Ok(decoded)
}

/// A message made to stand on its own: the type its path implies, the
/// envelope's context under its own, its time corrected for the sender's
/// clock skew, and when it was received.
fn normalise(
    mut message: Map<String, Value>,
    endpoint: Endpoint,
    envelope_context: Option<&Map<String, Value>>,
    envelope_sent_at: Option<EventTime>,
    received: EventTime,
) -> Map<String, Value> {
    // A write key is not part of the message, and is not kept with it.
    message.remove("writeKey");
    // Without a messageId, the message as the client sent it is its identity,
    // so that a retry is recognised even though receivedAt differs.
    if message.get("messageId").is_none_or(Value::is_null) {
        let original = Value::Object(message.clone()).to_string();
        let hash = xxhash_rust::xxh3::xxh3_128(original.as_bytes());
        message.insert("messageId".into(), Value::String(format!("qualify-{hash:032x}")));
    }
    if let Endpoint::Single(kind) = endpoint {
        if message.get("type").is_none_or(Value::is_null) {
            message.insert("type".into(), Value::String(kind.as_str().into()));
        }
    }
    if let Some(envelope_context) = envelope_context {
        let mut context = envelope_context.clone();
        if let Some(Value::Object(own)) = message.remove("context") {
            context.extend(own);
        }
        message.insert("context".into(), Value::Object(context));
    }
    let has_timestamp = message.get("timestamp").is_some_and(|value| !value.is_null());
    if !has_timestamp {
        let sent_at = message.get("sentAt").and_then(Value::as_str).and_then(EventTime::parse).or(envelope_sent_at);
        let original = message.get("originalTimestamp").and_then(Value::as_str).and_then(EventTime::parse);
        if let (Some(sent_at), Some(original)) = (sent_at, original) {
            // receivedAt - (sentAt - originalTimestamp): the sender's clock is
            // off by (sentAt - receivedAt); take it out.
            let corrected = received.as_micros() - (sent_at.as_micros() - original.as_micros());
            message.insert("timestamp".into(), Value::String(EventTime::from_micros(corrected).to_rfc3339()));
        }
    }
    message.insert("receivedAt".into(), Value::String(received.to_rfc3339()));
    message
}

fn excerpt(text: &str) -> String {
    let mut end = text.len().min(1024);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// What a request holds once parsed: events to store and rejects to record.
struct Parsed {
    events: Vec<NewEvent>,
    /// The events prepared for the writer's in-memory log, when it has one.
    prepared: Option<Prepared>,
    rejects: Vec<NewReject>,
    write_key: Option<String>,
}

/// Parses a request's messages into events to store and, given the model of
/// the writer's in-memory log, prepares them for it too: here, on the
/// threads that serve requests, so that the one writer does not parse every
/// message a second time.
fn parse_request(
    body: &[u8],
    endpoint: Endpoint,
    limits: &Limits,
    received: EventTime,
    model: Option<Arc<Model>>,
) -> Result<Parsed, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::InvalidJson(format!("the body is not valid JSON: {error}")))?;
    let Value::Object(mut top) = value else {
        return Err(ApiError::InvalidJson("the body must be a JSON object".into()));
    };
    let write_key = top.get("writeKey").and_then(Value::as_str).map(str::to_owned);
    let sent_at = top.get("sentAt").and_then(Value::as_str).and_then(EventTime::parse);
    let items: Vec<Value> = match endpoint {
        Endpoint::Batch => match top.remove("batch") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err(ApiError::InvalidRequest("`batch` must be an array of messages".into())),
            None => return Err(ApiError::InvalidRequest("a batch request needs a `batch` array".into())),
        },
        Endpoint::Single(_) => vec![Value::Object(top.clone())],
    };
    if items.len() > limits.max_batch_messages {
        return Err(ApiError::TooLarge(format!(
            "a batch may hold at most {} messages; this one has {}",
            limits.max_batch_messages,
            items.len()
        )));
    }
    let envelope_context = match (endpoint, top.get("context")) {
        (Endpoint::Batch, Some(Value::Object(context))) => Some(context.clone()),
        _ => None,
    };
    let path = endpoint.path();
    let batch_index = |index: usize| matches!(endpoint, Endpoint::Batch).then_some(index as i64);
    let mut events = Vec::with_capacity(items.len());
    let mut prepared = model.map(|model| Prepared { messages: Vec::with_capacity(items.len()), model });
    let mut rejects = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let reject = |field: Option<String>, reason: String, text: &str| NewReject {
            received_at: received,
            endpoint: path.clone(),
            batch_index: batch_index(index),
            field,
            reason,
            excerpt: excerpt(text),
        };
        let Value::Object(message) = item else {
            rejects.push(reject(None, "a message must be a JSON object".into(), &item.to_string()));
            continue;
        };
        let message = normalise(message, endpoint, envelope_context.as_ref(), sent_at, received);
        let text = Value::Object(message).to_string();
        if text.len() > limits.max_message_bytes {
            rejects.push(reject(
                None,
                format!("the message is larger than {} KB", limits.max_message_bytes / 1024),
                &text,
            ));
            continue;
        }
        match parse_message(&text) {
            Ok(message) => {
                events.push(ops::new_event(&message, received));
                if let Some(prepared) = &mut prepared {
                    let message = prepare_message(message, &prepared.model, LiveLog::KEEP, received);
                    prepared.messages.push(message.into_owned());
                }
            }
            Err(error) => rejects.push(reject(error.field.map(str::to_owned), error.reason, &text)),
        }
    }
    Ok(Parsed { events, prepared, rejects, write_key })
}

/// Handles one ingestion request.
pub async fn ingest(
    state: AppState,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let received = EventTime::now();
    let limits = state.config.limits.clone();
    // A body far over the limit is cut off while it is read; say why in JSON
    // like every other refusal.
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge(format!("the request body is larger than {} KB", limits.max_request_bytes / 1024))
        }
        _ => ApiError::InvalidRequest(format!("the request body could not be read: {}", rejection.body_text())),
    })?;
    let body = decode_body(&headers, &body, limits.max_request_bytes)?;
    let header_key = auth::key_from_headers(&headers);
    let parsed = parse_request(&body, endpoint, &limits, received, state.writer.live_model())?;
    let key = header_key.or(parsed.write_key.clone()).ok_or(ApiError::Unauthenticated)?;
    let role = state.role_of(&key).await?.ok_or(ApiError::Unauthenticated)?;
    auth::require(role, Permission::Ingest)?;

    let rejected = parsed.rejects.len() as u64;
    if parsed.events.is_empty() {
        let reasons: Vec<String> = parsed
            .rejects
            .iter()
            .take(5)
            .map(|reject| match &reject.field {
                Some(field) => format!("{field}: {}", reject.reason),
                None => reject.reason.clone(),
            })
            .collect();
        // Record why, for the admin, then refuse the request.
        let (reply, answer) = tokio::sync::oneshot::channel();
        match state.writer.submit(WriteJob { events: Vec::new(), prepared: None, rejects: parsed.rejects, reply }) {
            Ok(()) => {
                let _ = answer.await;
            }
            // Rejects are never dropped silently: under overload the client
            // is asked to retry, and the retry records them.
            Err(QueueError::Full) => {
                state.metrics.overloaded.inc();
                return Err(ApiError::Overloaded(1));
            }
            Err(QueueError::Stopped) => return Err(ApiError::internal("the writer has stopped")),
        }
        state.metrics.events_rejected.inc_by(rejected);
        return Err(ApiError::NothingAccepted(format!("no message could be accepted: {}", reasons.join("; "))));
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    match state.writer.submit(WriteJob {
        events: parsed.events,
        prepared: parsed.prepared,
        rejects: parsed.rejects,
        reply,
    }) {
        Ok(()) => {}
        Err(QueueError::Full) => {
            state.metrics.overloaded.inc();
            return Err(ApiError::Overloaded(1));
        }
        Err(QueueError::Stopped) => return Err(ApiError::internal("the writer has stopped")),
    }
    let appended =
        answer.await.map_err(|_| ApiError::internal("the writer dropped a request"))?.map_err(ApiError::internal)?;
    state.metrics.events_accepted.inc_by(appended.accepted);
    state.metrics.events_duplicate.inc_by(appended.duplicates);
    state.metrics.events_rejected.inc_by(rejected);
    state.metrics.ingest_seconds.observe(started.elapsed().as_secs_f64());
    Ok(Json(json!({
        "success": true,
        "accepted": appended.accepted,
        "duplicates": appended.duplicates,
        "rejected": rejected,
    })))
}

/// The documented ingestion endpoints. Each is [`ingest`] for its
/// [`Endpoint`]; [`crate::router`] routes them.
macro_rules! single_message_endpoint {
    ($name:ident, $kind:ident, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            post,
            path = $path,
            tag = "ingestion",
            summary = $doc,
            description = "One message; the path gives its `type` when it has none. The key comes from \
                HTTP Basic, a Bearer token or the body's `writeKey`.",
            request_body(content = crate::openapi::SegmentMessage, content_type = "application/json",
                description = "One message; any Content-Type is read as JSON, `Content-Encoding: gzip` is inflated"),
            security(("basic" = []), ("bearer" = [])),
            responses(crate::openapi::IngestResponses),
        )]
        pub async fn $name(
            State(state): State<AppState>,
            headers: HeaderMap,
            body: Result<Bytes, BytesRejection>,
        ) -> Result<Json<Value>, ApiError> {
            ingest(state, Endpoint::Single(MessageKind::$kind), headers, body).await
        }
    };
}

single_message_endpoint!(identify, Identify, "/v1/identify", "Who a user is: their id and traits.");
single_message_endpoint!(track, Track, "/v1/track", "Something a user did.");
single_message_endpoint!(page, Page, "/v1/page", "A page a user saw.");
single_message_endpoint!(screen, Screen, "/v1/screen", "A screen a user saw in an app.");
single_message_endpoint!(group, Group, "/v1/group", "The company or group a user belongs to.");
single_message_endpoint!(alias, Alias, "/v1/alias", "Links a former user id to a new one.");

/// A batch of messages of any type.
///
/// Valid messages are stored even when others are not: those are counted in
/// `rejected` and recorded for an admin. The key comes from HTTP Basic, a
/// Bearer token or the body's `writeKey`.
#[utoipa::path(
    post,
    path = "/v1/batch",
    tag = "ingestion",
    request_body(content = crate::openapi::SegmentBatch, content_type = "application/json",
        description = "A batch; any Content-Type is read as JSON, `Content-Encoding: gzip` is inflated"),
    security(("basic" = []), ("bearer" = [])),
    responses(crate::openapi::IngestResponses),
)]
pub async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    ingest(state, Endpoint::Batch, headers, body).await
}

/// A batch of messages: the older name of `/v1/batch`, which it is in every way.
#[utoipa::path(
    post,
    path = "/v1/import",
    tag = "ingestion",
    request_body(content = crate::openapi::SegmentBatch, content_type = "application/json",
        description = "A batch; any Content-Type is read as JSON, `Content-Encoding: gzip` is inflated"),
    security(("basic" = []), ("bearer" = [])),
    responses(crate::openapi::IngestResponses),
)]
pub async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    ingest(state, Endpoint::Batch, headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> EventTime {
        EventTime::parse(text).unwrap()
    }

    #[test]
    fn clock_skew_is_taken_out_of_original_timestamps() {
        let message =
            json!({"type": "track", "originalTimestamp": "2026-11-01T10:00:00Z", "sentAt": "2026-11-01T10:00:05Z"});
        let Value::Object(message) = message else { unreachable!() };
        let received = time("2026-11-01T09:00:10Z");
        let normalised = normalise(message, Endpoint::Batch, None, None, received);
        // The sender's clock is an hour and 5 s fast: the event happened 5 s before receipt.
        assert_eq!(normalised["timestamp"], json!(time("2026-11-01T09:00:05Z").to_rfc3339()));
    }

    #[test]
    fn a_timestamp_is_kept_and_the_path_gives_the_type() {
        let Value::Object(message) = json!({"timestamp": "2026-11-01T10:00:00Z", "sentAt": "2026-11-01T12:00:00Z"})
        else {
            unreachable!()
        };
        let normalised =
            normalise(message, Endpoint::Single(MessageKind::Page), None, None, time("2026-11-01T11:00:00Z"));
        assert_eq!(normalised["timestamp"], json!("2026-11-01T10:00:00Z"));
        assert_eq!(normalised["type"], json!("page"));
    }

    #[test]
    fn the_envelope_context_goes_under_each_message_context() {
        let Value::Object(message) = json!({"context": {"ip": "1.1.1.1"}}) else { unreachable!() };
        let Value::Object(envelope) = json!({"ip": "2.2.2.2", "library": {"name": "x"}}) else { unreachable!() };
        let normalised = normalise(message, Endpoint::Batch, Some(&envelope), None, time("2026-11-01T11:00:00Z"));
        assert_eq!(normalised["context"], json!({"ip": "1.1.1.1", "library": {"name": "x"}}));
    }

    #[test]
    fn a_message_without_a_message_id_keeps_the_same_identity_when_retried() {
        let message = || {
            let Value::Object(message) =
                json!({"type": "track", "event": "x", "userId": "u1", "writeKey": "qk_secret"})
            else {
                unreachable!()
            };
            message
        };
        let first = normalise(message(), Endpoint::Batch, None, None, time("2026-11-01T11:00:00Z"));
        let retry = normalise(message(), Endpoint::Batch, None, None, time("2026-11-01T11:05:00Z"));
        assert_eq!(first["messageId"], retry["messageId"]);
        assert_ne!(first["receivedAt"], retry["receivedAt"]);
        assert!(first.get("writeKey").is_none(), "the write key is not stored with the message");
    }

    #[test]
    fn a_gzip_bomb_is_refused_without_inflating_it_all() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..64 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = Bytes::from(encoder.finish().unwrap());
        assert!(bomb.len() < 200_000, "64 MB of spaces compress to {} bytes", bomb.len());
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        assert!(matches!(decode_body(&headers, &bomb, 500 * 1024), Err(ApiError::TooLarge(_))));
    }
}
