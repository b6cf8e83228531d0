//! The OpenAPI 3.1 document of the HTTP API, generated from the handlers'
//! `#[utoipa::path]` annotations (in `api.rs` and `ingest.rs`) and the
//! schemas below, served at `GET /openapi.json`; and a Swagger UI at
//! `/docs` whose assets are compiled into the binary (it needs no network).
//!
//! The handlers build their JSON with `json!`; the schema types here
//! describe those bodies and are never built. The tests check that they say
//! the same thing: they call every documented operation through the router
//! and validate each JSON answer against its documented schema.

use crate::{AppState, api, ingest};
use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::LazyLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToResponse, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/openapi.json";
/// Where the Swagger UI is served (`/docs` redirects to `/docs/`).
pub const UI_PATH: &str = "/docs";

const DESCRIPTION: &str = "\
Qualify scores leads from the events a website sends with Segment or RudderStack SDKs.

**Ingestion** (`/v1/*`) accepts what those SDKs send, unchanged. The write key comes from \
HTTP Basic (the key as user name, empty password, as the SDKs send it), a Bearer token, or \
the body's `writeKey`. A 200 means the accepted messages are durably stored and their leads \
re-scored.

**The JSON API** (`/api/*`, `/metrics`) needs `Authorization: Bearer KEY`. Read keys read; \
admin keys also change models and read rejects; write keys only ingest. No key (or an \
unknown or revoked one): 401. A key whose role may not do it: 403.

**Errors** are JSON: `{\"error\": {\"code\": \"...\", \"message\": \"...\"}}`, where `code` is \
stable (see the `ErrorCode` schema) and `message` says what to fix.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Qualify", description = DESCRIPTION),
    paths(
        ingest::batch,
        ingest::import,
        ingest::identify,
        ingest::track,
        ingest::page,
        ingest::screen,
        ingest::group,
        ingest::alias,
        api::list_leads,
        api::lead,
        api::record_outcome,
        api::lead_explanation,
        api::lead_timeline,
        api::queue,
        api::models,
        api::put_model,
        api::validate_model,
        api::model,
        api::rejects,
        api::kpis,
        api::criteria_report,
        api::backtest,
        api::healthz,
        api::metrics,
        openapi_json,
    ),
    components(
        // The schemas the paths' own `responses(...)` do not bring in.
        schemas(ErrorBody, ErrorDetail, ErrorCode, ModelProblem, IngestResult),
        responses(BadRequest, Unauthenticated, Forbidden, NotFound, TooLarge, InvalidModel, Overloaded, Internal),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "ingestion", description = "Segment/RudderStack-compatible event ingestion (write key)"),
        (name = "leads", description = "Leads, their scores and why (read key)"),
        (name = "models", description = "Scoring models: list, validate, activate (read key; admin to activate)"),
        (name = "operations", description = "Health, metrics, rejected messages, this document"),
        (name = "reports", description = "KPIs over leads, outcomes and spend (read key)"),
    )
)]
pub struct ApiDoc;

/// Adds the two ways a request carries its key.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some("An API key: `Authorization: Bearer KEY`.".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description = Some(
            "A write key as the user name, with an empty password (what the Segment and RudderStack SDKs send).".into(),
        );
        components.add_security_scheme("basic", SecurityScheme::Http(basic));
    }
}

/// The document, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

static DOCUMENT_JSON: LazyLock<Bytes> =
    LazyLock::new(|| Bytes::from(serde_json::to_vec(&document()).expect("the OpenAPI document serialises")));

/// The OpenAPI document of this API (this document).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT_JSON.clone())
}

/// `GET /openapi.json` and the Swagger UI under `/docs`. Neither needs a key:
/// they document the API and hold no data.
pub fn routes() -> Router<AppState> {
    let config = Config::new([DOCUMENT_PATH])
        .try_it_out_enabled(true)
        .persist_authorization(true)
        // Swagger UI would otherwise send the document to an online validator
        // for a badge.
        .validator_url("none");
    Router::new().route(DOCUMENT_PATH, get(openapi_json)).merge(SwaggerUi::new(UI_PATH).config(config))
}

// ---------------------------------------------------------------------------
// Errors

/// The body of every error answer.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "not_found", "message": "no lead \"u_123\""}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// What went wrong and what to do about it, for a person to read.
    pub message: String,
    /// Only with `invalid_model`: every problem found in the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub errors: Option<Vec<ModelProblem>>,
}

/// The stable, machine-readable error codes, with their HTTP statuses:
/// `invalid_json`, `invalid_request`, `nothing_accepted` (400),
/// `unauthenticated` (401), `forbidden` (403), `not_found` (404),
/// `too_large` (413), `invalid_model` (422), `overloaded` (429, with
/// `Retry-After`), `internal` (500; details are logged, not sent).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    InvalidRequest,
    NothingAccepted,
    Unauthenticated,
    Forbidden,
    NotFound,
    TooLarge,
    InvalidModel,
    Overloaded,
    Internal,
}

/// One problem of a model file.
#[derive(Serialize, ToSchema)]
pub struct ModelProblem {
    /// 1-based line of the offending key or value.
    pub line: u64,
    /// 1-based column, in characters.
    pub column: u64,
    /// The engagement or fit rule the problem is in, when it has a usable id.
    #[schema(required = true)]
    pub rule_id: Option<String>,
    pub message: String,
}

/// The request is malformed: the body is not JSON (`invalid_json`), a
/// parameter or field is wrong (`invalid_request`), or no message of an
/// ingestion request could be accepted (`nothing_accepted`; the rejects are
/// recorded for an admin).
#[derive(ToResponse)]
#[response(examples(
    ("invalid_json" = (value = json!({"error": {"code": "invalid_json", "message": "the body is not valid JSON: expected value at line 1 column 1"}}))),
    ("nothing_accepted" = (value = json!({"error": {"code": "nothing_accepted", "message": "no message could be accepted: userId: a message needs a userId or an anonymousId"}}))),
))]
pub struct BadRequest(pub ErrorBody);

/// No key, or an unknown or revoked one.
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "unauthenticated", "message": "an API key is required: send `Authorization: Bearer KEY` (or HTTP Basic with the write key as user name for ingestion)"}}))]
pub struct Unauthenticated(pub ErrorBody);

/// The key's role may not do this.
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "forbidden", "message": "this key's role (write) may not read leads and models"}}))]
pub struct Forbidden(pub ErrorBody);

/// No such lead or model (or no model is active yet).
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "not_found", "message": "no lead \"u_123\""}}))]
pub struct NotFound(pub ErrorBody);

/// The body is over the limit (500 KB after decompression; a batch holds at
/// most 2,500 messages).
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "too_large", "message": "the request body is larger than 500 KB (after decompression)"}}))]
pub struct TooLarge(pub ErrorBody);

/// The model has errors: every one of them, with its line and rule id. The
/// active model stays.
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "invalid_model", "message": "the model is not valid", "errors": [{"line": 12, "column": 9, "rule_id": "pricing_page", "message": "`points` must be a number"}]}}))]
pub struct InvalidModel(pub ErrorBody);

/// The server is busy: retry after the number of seconds in `Retry-After`.
#[derive(ToResponse)]
#[response(
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying")),
    example = json!({"error": {"code": "overloaded", "message": "the server is busy; retry after 1 second(s)"}}),
)]
pub struct Overloaded(pub ErrorBody);

/// Something failed inside the server; the details are in its log.
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "internal", "message": "internal error"}}))]
pub struct Internal(pub ErrorBody);

// ---------------------------------------------------------------------------
// Ingestion

/// One Segment-spec message. The fields Qualify reads and those the SDKs
/// commonly send are listed; any other field is accepted. `null` counts as
/// missing.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "type": "track", "userId": "u_123", "event": "Catalog Requested",
    "properties": {"collection": "bridal"}, "messageId": "7f1c9e4a-0d1b-4e4c-9a51-2f1f6a1f0c11",
    "timestamp": "2026-11-01T10:00:00Z"
}))]
pub struct SegmentMessage {
    /// `identify`, `track`, `page`, `screen`, `group` or `alias`. On the
    /// single-message endpoints the path gives it when it is missing.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A message needs a `userId` or an `anonymousId`.
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// Messages are deduplicated on this: SDKs resend the same ids when they retry.
    pub message_id: Option<String>,
    /// The event name (`track`).
    pub event: Option<String>,
    /// The page or screen name (`page`, `screen`).
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
    /// The user's traits (`identify`, `group`; also read from `context.traits`).
    #[schema(value_type = Option<Object>)]
    pub traits: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub context: Option<Map<String, Value>>,
    /// The group (`group`).
    pub group_id: Option<String>,
    /// The former id (`alias`).
    pub previous_id: Option<String>,
    /// When it happened (RFC 3339).
    pub timestamp: Option<String>,
    /// The sender's clock when it happened; used with `sentAt` when
    /// `timestamp` is missing, to correct the sender's clock skew.
    pub original_timestamp: Option<String>,
    pub sent_at: Option<String>,
    /// The write key, when the request carries no `Authorization` header.
    pub write_key: Option<String>,
}

/// A batch of messages (`/v1/batch`, `/v1/import`). At most 2,500 messages,
/// 32 KB each and 500 KB in all (after decompression).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "batch": [
        {"type": "identify", "userId": "u_123", "anonymousId": "a_9", "traits": {"email": "ada@example.com"}, "messageId": "m-1", "timestamp": "2026-11-01T10:00:00Z"},
        {"type": "track", "userId": "u_123", "event": "Catalog Requested", "messageId": "m-2", "timestamp": "2026-11-01T10:01:00Z"}
    ],
    "sentAt": "2026-11-01T10:01:02Z"
}))]
pub struct SegmentBatch {
    pub batch: Vec<SegmentMessage>,
    /// Merged into every message's own `context`.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub integrations: Option<Map<String, Value>>,
    /// The sender's clock when it sent the batch (for clock-skew correction).
    pub sent_at: Option<String>,
    /// The write key, when the request carries no `Authorization` header.
    pub write_key: Option<String>,
}

/// What an ingestion request stored. Invalid messages of a batch are
/// counted in `rejected` and recorded for an admin (`GET /api/rejects`).
#[derive(Serialize, ToSchema)]
pub struct IngestResult {
    pub success: bool,
    /// Messages stored now.
    pub accepted: u64,
    /// Messages already stored (same `messageId`), skipped.
    pub duplicates: u64,
    /// Invalid messages, not stored.
    pub rejected: u64,
}

/// The answers of every ingestion endpoint.
#[derive(IntoResponses)]
pub enum IngestResponses {
    /// The accepted messages are durably stored and their leads re-scored.
    #[response(status = 200)]
    Stored(IngestResult),
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    Unauthenticated(#[ref_response] Unauthenticated),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 413)]
    TooLarge(#[ref_response] TooLarge),
    #[response(status = 429)]
    Overloaded(#[ref_response] Overloaded),
    #[response(status = 500)]
    Internal(#[ref_response] Internal),
}

// ---------------------------------------------------------------------------
// Leads

/// A lead's grade.
#[derive(Serialize, ToSchema)]
pub enum Grade {
    A,
    B,
    C,
    D,
}

/// A lead (or an anonymous visitor, `anon:<id>`) and its scores.
#[derive(Serialize, ToSchema)]
pub struct Lead {
    #[schema(example = "u_123")]
    pub lead_id: String,
    /// Engagement points, rounded to 2 decimals.
    pub engagement: f64,
    /// Fit points (of the best persona).
    pub fit: i64,
    pub grade: Grade,
    /// The persona the lead fits best.
    #[schema(required = true)]
    pub persona: Option<String>,
    /// The lifecycle stage: `lead`, `mql`, then `accepted`/`rejected`, `sql`,
    /// `opportunity`, `won`/`lost`.
    #[schema(example = "mql")]
    pub stage: String,
    /// Whether the lead qualifies now.
    pub mql: bool,
    /// When the lead first qualified.
    #[schema(required = true, format = DateTime)]
    pub mql_at: Option<String>,
    #[schema(required = true)]
    pub channel: Option<String>,
    #[schema(format = DateTime)]
    pub first_seen: String,
    #[schema(format = DateTime)]
    pub last_seen: String,
    /// The lead's merged traits.
    #[schema(value_type = Object)]
    pub traits: Map<String, Value>,
    /// The anonymous ids linked to the lead.
    pub anonymous_ids: Vec<String>,
    /// When these scores were computed (their as-of time).
    #[schema(format = DateTime)]
    pub scored_at: String,
    /// The model version that scored it.
    pub model_version: i64,
}

/// A change of a lead's lifecycle stage.
#[derive(Serialize, ToSchema)]
pub struct StageChange {
    /// The stage before (`null` for the lead's first stage).
    #[schema(required = true)]
    pub from: Option<String>,
    pub to: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// Why, e.g. `{"rule_totals": {...}}` when the model qualified the lead.
    pub cause: Value,
}

/// A lead with the history of its stages.
#[derive(Serialize, ToSchema)]
pub struct LeadDetail {
    #[serde(flatten)]
    pub lead: Lead,
    /// Oldest first.
    pub stage_history: Vec<StageChange>,
}

/// One page of leads.
#[derive(Serialize, ToSchema)]
pub struct LeadPage {
    pub leads: Vec<Lead>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Why a lead has its scores, rule by rule.
#[derive(Serialize, ToSchema)]
pub struct Explanation {
    pub lead_id: String,
    #[schema(format = DateTime)]
    pub as_of: String,
    pub engagement: f64,
    pub fit: i64,
    pub grade: Grade,
    #[schema(required = true)]
    pub persona: Option<String>,
    pub mql: bool,
    #[schema(required = true, format = DateTime)]
    pub mql_at: Option<String>,
    /// The engagement a lead needs to qualify.
    pub engagement_threshold: f64,
    /// The grade a lead needs (at least) to qualify.
    pub min_grade: Grade,
    pub anonymous_ids: Vec<String>,
    /// User ids merged into this lead by `alias`.
    pub merged_user_ids: Vec<String>,
    pub engagement_rules: Vec<RuleExplanation>,
    pub personas: Vec<PersonaExplanation>,
    /// The rules that carried the lead over the threshold, at `mql_at`.
    #[schema(required = true)]
    pub mql_crossing: Option<MqlCrossing>,
}

/// One engagement rule and the events it counted.
#[derive(Serialize, ToSchema)]
pub struct RuleExplanation {
    pub id: String,
    pub points: f64,
    #[schema(required = true)]
    pub max_points: Option<f64>,
    #[schema(required = true)]
    pub within_days: Option<f64>,
    #[schema(required = true)]
    pub half_life_days: Option<f64>,
    pub events: Vec<Contribution>,
    /// The sum of the counted values before the cap.
    pub uncapped_total: f64,
    pub total: f64,
    pub capped: bool,
}

/// One event a rule looked at, and what it is worth now.
#[derive(Serialize, ToSchema)]
pub struct Contribution {
    #[schema(format = DateTime)]
    pub time: String,
    pub description: String,
    /// `null` when the event is outside the rule's window.
    #[schema(required = true)]
    pub value: Option<f64>,
}

/// One persona and its fit rules.
#[derive(Serialize, ToSchema)]
pub struct PersonaExplanation {
    pub id: String,
    pub fit: i64,
    pub rules: Vec<FitRuleExplanation>,
}

/// One fit rule: the trait it reads, its value, and whether it held.
#[derive(Serialize, ToSchema)]
pub struct FitRuleExplanation {
    pub id: String,
    #[serde(rename = "trait")]
    pub trait_name: String,
    /// The trait's value, any JSON (`null` when the lead lacks it).
    pub value: Value,
    pub held: bool,
    pub points: i64,
}

/// The moment a lead qualified.
#[derive(Serialize, ToSchema)]
pub struct MqlCrossing {
    #[schema(format = DateTime)]
    pub at: String,
    pub engagement: f64,
    pub fit: i64,
    pub grade: Grade,
    /// `[rule id, points]` pairs, largest first.
    pub rule_totals: Vec<RulePoints>,
    pub fit_rules_held: Vec<String>,
}

/// A `[rule id, points]` pair: a JSON array of a string and a number.
#[derive(Serialize)]
pub struct RulePoints(pub String, pub f64);

impl utoipa::PartialSchema for RulePoints {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ArrayItems, ObjectBuilder, Type};
        ArrayBuilder::new()
            .description(Some("A `[rule id, points]` pair"))
            .prefix_items([
                ObjectBuilder::new().schema_type(Type::String).description(Some("The rule id")).build(),
                ObjectBuilder::new().schema_type(Type::Number).description(Some("Its points")).build(),
            ])
            .items(ArrayItems::False)
            .min_items(Some(2))
            .examples([serde_json::json!(["pricing_page", 12.5])])
            .into()
    }
}

impl ToSchema for RulePoints {}

/// A lead's events, oldest first, with the points each earns now.
#[derive(Serialize, ToSchema)]
pub struct Timeline {
    pub lead_id: String,
    #[schema(format = DateTime)]
    pub as_of: String,
    pub events: Vec<TimelineEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct TimelineEntry {
    #[schema(format = DateTime)]
    pub time: String,
    /// What the event is: `identify`, `track`, `page`, `screen`, ...
    pub kind: String,
    pub description: String,
    /// Whether this event started a visit.
    pub starts_visit: bool,
    /// `[rule id, points]` pairs; rules whose window left the event out are left out.
    pub points: Vec<RulePoints>,
}

// ---------------------------------------------------------------------------
// Models

/// A stored model version.
#[derive(Serialize, ToSchema)]
pub struct ModelVersion {
    pub version: i64,
    pub name: String,
    /// Whether this is the version that scores leads.
    pub active: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The model file.
    pub toml: String,
}

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    /// Every stored version.
    pub models: Vec<ModelVersion>,
}

/// The result of checking a model.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ModelValidation {
    Valid(ValidModel),
    Invalid(ModelWithErrors),
}

#[derive(Serialize, ToSchema)]
pub struct ValidModel {
    /// `true`.
    pub valid: bool,
    pub name: String,
    /// What the model scores, in a few lines.
    pub summary: String,
}

#[derive(Serialize, ToSchema)]
pub struct ModelWithErrors {
    /// `false`.
    pub valid: bool,
    /// Every problem, in file order.
    pub errors: Vec<ModelProblem>,
}

/// A model stored and activated.
#[derive(Serialize, ToSchema)]
pub struct ModelActivated {
    pub model: ModelVersion,
    /// How many leads were re-scored with it.
    pub leads_scored: u64,
}

// ---------------------------------------------------------------------------
// Reports

/// The KPIs of one group. Rates are fractions (0.25 is 25%), numbers are
/// rounded to 4 decimals, and a rate, cost or median without a denominator
/// is `null`.
#[derive(Serialize, ToSchema)]
pub struct KpiRow {
    /// `all`, the channel, or the ISO week (`2026-W45`).
    pub group: String,
    /// The group's own period (a week is clipped to the report's).
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    /// Leads created (userId first seen) in the period.
    pub leads_generated: u64,
    /// Leads whose `mql_at` is in the period.
    pub mqls: u64,
    /// Of the leads created in the period: those that became MQLs (up to now).
    #[schema(required = true)]
    pub mql_rate: Option<f64>,
    /// Of the cohort's MQLs that sales accepted or rejected: the accepted.
    #[schema(required = true)]
    pub sales_acceptance_rate: Option<f64>,
    /// Of the cohort: those won (up to now).
    #[schema(required = true)]
    pub conversion_rate: Option<f64>,
    /// Of the cohort's MQLs: those won.
    #[schema(required = true)]
    pub mql_to_customer_rate: Option<f64>,
    /// Leads whose first `won` outcome is in the period.
    pub customers_acquired: u64,
    /// Customers acquired per week of the period.
    pub customer_acquisition_rate: f64,
    /// The same over the previous period of the same length.
    pub previous_customer_acquisition_rate: f64,
    /// (rate - previous) / previous; `null` when the previous rate is 0.
    #[schema(required = true)]
    pub customer_acquisition_rate_change: Option<f64>,
    /// Spend in the period (each row spread evenly over its days).
    pub spend: f64,
    #[schema(required = true)]
    pub cost_per_lead: Option<f64>,
    #[schema(required = true)]
    pub cost_per_mql: Option<f64>,
    #[schema(required = true)]
    pub cost_per_acquisition: Option<f64>,
    /// Median days from creation to `mql_at`, over the period's MQLs.
    #[schema(required = true)]
    pub median_days_to_mql: Option<f64>,
    /// Median days from `mql_at` to the win, over the period's customers.
    #[schema(required = true)]
    pub median_days_mql_to_won: Option<f64>,
}

/// KPIs for a period, one row per group.
#[derive(Serialize, ToSchema)]
pub struct KpiReport {
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    /// `overall`, `channel` or `week`.
    pub by: String,
    /// Overall: one row; by channel: in name order; by week: in time order.
    pub rows: Vec<KpiRow>,
}

/// What one rule did. Rates are fractions, rounded to 4 decimals; `null`
/// without a denominator.
#[derive(Serialize, ToSchema)]
pub struct CriteriaRule {
    /// `engagement` or `fit`.
    pub kind: String,
    /// The persona of a fit rule; `null` for an engagement rule.
    #[schema(required = true)]
    pub persona: Option<String>,
    pub rule: String,
    /// Leads it fired for: an engagement rule, those with a matching event
    /// (a visit, for a visit rule) at or before as-of; a fit rule, those
    /// whose traits met it at as-of.
    pub leads_fired: u64,
    pub leads_not_fired: u64,
    pub won_fired: u64,
    pub won_not_fired: u64,
    #[schema(required = true)]
    pub conversion_fired: Option<f64>,
    #[schema(required = true)]
    pub conversion_not_fired: Option<f64>,
    /// conversion_fired / conversion_not_fired; `null` when the second is 0 or missing.
    #[schema(required = true)]
    pub lift: Option<f64>,
    /// Its share of the positive points the MQLs had at `mql_at`
    /// (engagement among engagement points, fit among the fit points of the
    /// persona that gave the fit).
    #[schema(required = true)]
    pub share_of_mql_points: Option<f64>,
}

/// Conversion of one score band (deciles of engagement at `mql_at` for
/// MQLs, at as-of for the others; tied leads share a band).
#[derive(Serialize, ToSchema)]
pub struct CriteriaBand {
    /// 1 (lowest tenth) to 10 (highest); bands without leads are left out.
    pub band: u32,
    pub leads: u64,
    pub won: u64,
    pub conversion_rate: f64,
    pub min_engagement: f64,
    pub max_engagement: f64,
}

/// How often sales gave a reason for a rejection.
#[derive(Serialize, ToSchema)]
pub struct RejectionReason {
    /// As written; `unspecified` when empty.
    pub reason: String,
    pub rejections: u64,
}

/// The criteria report as of a time.
#[derive(Serialize, ToSchema)]
pub struct CriteriaReport {
    #[schema(format = DateTime)]
    pub as_of: String,
    /// Leads with an event at or before as-of (anonymous visitors left out).
    pub leads: u64,
    pub mqls: u64,
    /// Leads with a `won` outcome at or before as-of.
    pub won: u64,
    #[schema(required = true)]
    pub conversion_rate: Option<f64>,
    /// Engagement rules in model order, then fit rules persona by persona.
    pub rules: Vec<CriteriaRule>,
    /// Lowest band first.
    pub bands: Vec<CriteriaBand>,
    /// Most frequent first.
    pub rejection_reasons: Vec<RejectionReason>,
}

/// MQLs of one ISO week (Monday 00:00 UTC), clipped to the window.
#[derive(Serialize, ToSchema)]
pub struct BacktestWeek {
    /// The ISO week.
    #[schema(example = "2026-W45")]
    pub week: String,
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    pub mqls: u64,
}

/// What one model did over a window `[from, to)`, scored as of `to`. Rates
/// and the median are rounded to 4 decimals; `null` without a denominator.
#[derive(Serialize, ToSchema)]
pub struct BacktestResult {
    /// The model's name.
    pub model_name: String,
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    /// Leads (not anonymous visitors) with `mql_at` in the window.
    pub mqls: u64,
    /// Of those, the leads with a `won` outcome at or after their `mql_at`.
    pub won_after_mql: u64,
    /// `won_after_mql / mqls`.
    #[schema(required = true)]
    pub precision: Option<f64>,
    /// Leads whose first `won` outcome is in the window.
    pub won: u64,
    /// Of those, the leads whose `mql_at` is at or before that win.
    pub won_mql_first: u64,
    /// `won_mql_first / won`.
    #[schema(required = true)]
    pub recall: Option<f64>,
    /// Median days from `mql_at` to the first win at or after it.
    #[schema(required = true)]
    pub median_lead_time_days: Option<f64>,
    /// Every ISO week that overlaps the window, in time order.
    pub mqls_per_week: Vec<BacktestWeek>,
}

/// Two models' backtests side by side.
#[derive(Serialize, ToSchema)]
pub struct BacktestComparison {
    /// The candidate.
    pub model: BacktestResult,
    /// The active model.
    pub against: BacktestResult,
    /// Leads the candidate makes MQLs of the window and the active model does not, sorted.
    pub only_model: Vec<String>,
    /// Leads the active model makes MQLs of the window and the candidate does not, sorted.
    pub only_against: Vec<String>,
}

/// One backtest, or (with `against=active`) two side by side.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum BacktestAnswer {
    Single(BacktestResult),
    Compared(Box<BacktestComparison>),
}

// ---------------------------------------------------------------------------
// Operations

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// A rejected message and why.
#[derive(Serialize, ToSchema)]
pub struct Reject {
    /// Increases with every reject.
    pub id: i64,
    #[schema(format = DateTime)]
    pub received_at: String,
    /// The route it came in by, e.g. `/v1/batch`.
    pub endpoint: String,
    /// Its index in its batch, for a message of a batch.
    #[schema(required = true)]
    pub batch_index: Option<i64>,
    /// The field at fault, when one is.
    #[schema(required = true)]
    pub field: Option<String>,
    pub reason: String,
    /// The start of the message (at most 1 KB).
    pub excerpt: String,
}

/// A page of rejected messages, newest first.
#[derive(Serialize, ToSchema)]
pub struct RejectPage {
    /// How many messages were ever rejected.
    pub total: u64,
    pub rejects: Vec<Reject>,
    /// Pass as `before` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_before: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::{ServerConfig, router};
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use serde_json::json;
    use std::collections::BTreeSet;
    use tower::ServiceExt;

    /// Every route `router()` serves, as (method, path) in OpenAPI's
    /// spelling. Add a route there, add it here, and document it.
    const ROUTES: &[(&str, &str)] = &[
        ("post", "/v1/batch"),
        ("post", "/v1/import"),
        ("post", "/v1/identify"),
        ("post", "/v1/track"),
        ("post", "/v1/page"),
        ("post", "/v1/screen"),
        ("post", "/v1/group"),
        ("post", "/v1/alias"),
        ("get", "/api/leads"),
        ("get", "/api/leads/{lead_id}"),
        ("post", "/api/leads/{lead_id}/outcomes"),
        ("get", "/api/leads/{lead_id}/explain"),
        ("get", "/api/leads/{lead_id}/timeline"),
        ("get", "/api/queue"),
        ("get", "/api/models"),
        ("put", "/api/models"),
        ("post", "/api/models/validate"),
        ("get", "/api/models/{version}"),
        ("get", "/api/rejects"),
        ("get", "/api/kpis"),
        ("get", "/api/reports/criteria"),
        ("post", "/api/backtest"),
        ("get", "/healthz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
    ];

    /// The Swagger UI's own pages, served by `router()` but not part of the
    /// API the document describes.
    const UI_ROUTES: &[&str] = &["/docs", "/docs/", "/docs/{*rest}"];

    fn document_json() -> Value {
        serde_json::from_slice(&DOCUMENT_JSON).expect("the document is JSON")
    }

    fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
        let mut operations = BTreeSet::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for method in ["get", "put", "post", "delete", "patch", "head", "options", "trace"] {
                if item.get(method).is_some() {
                    operations.insert((method.to_owned(), path.clone()));
                }
            }
        }
        operations
    }

    struct TestServer {
        app: Router,
        _directory: tempfile::TempDir,
    }

    fn test_server() -> TestServer {
        let directory = tempfile::tempdir().unwrap();
        let (state, _writer_thread) = AppState::start(ServerConfig::new(directory.path().join("qualify.db"))).unwrap();
        TestServer { app: router(state), _directory: directory }
    }

    struct Answer {
        status: StatusCode,
        headers: axum::http::HeaderMap,
        body: Bytes,
    }

    impl Answer {
        fn json(&self) -> Value {
            serde_json::from_slice(&self.body)
                .unwrap_or_else(|error| panic!("not JSON ({error}): {}", String::from_utf8_lossy(&self.body)))
        }

        fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    async fn call(app: &Router, method: Method, uri: &str, key: Option<&str>, body: impl Into<Body>) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let response = app.clone().oneshot(request.body(body.into()).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Answer { status, headers, body }
    }

    #[test]
    fn the_document_is_openapi_3_1_json_and_lists_every_route() {
        let document = document_json();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["info"]["title"], "Qualify");
        let expected: BTreeSet<(String, String)> =
            ROUTES.iter().map(|(method, path)| ((*method).to_owned(), (*path).to_owned())).collect();
        assert_eq!(documented_operations(&document), expected);
        // Every reference resolves.
        fn references<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
            match value {
                Value::Object(object) => {
                    if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                        found.push(reference);
                    }
                    object.values().for_each(|value| references(value, found));
                }
                Value::Array(items) => items.iter().for_each(|value| references(value, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        references(&document, &mut found);
        for reference in found {
            let target = reference.strip_prefix('#').and_then(|pointer| document.pointer(pointer));
            assert!(target.is_some(), "dangling reference {reference}");
        }
        for (method, path) in ROUTES {
            let operation = &document["paths"][path][method];
            assert!(operation["responses"]["200"].is_object(), "{method} {path} documents no 200");
            assert!(operation["tags"].as_array().is_some_and(|tags| !tags.is_empty()), "{method} {path} has no tag");
            assert!(operation["summary"].is_string(), "{method} {path} has no summary");
        }
    }

    #[test]
    fn keys_are_documented_where_they_are_needed() {
        let document = document_json();
        let schemes = &document["components"]["securitySchemes"];
        assert_eq!(
            schemes["bearer"],
            json!({"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]})
        );
        assert_eq!(schemes["basic"]["scheme"], "basic");
        for (method, path) in ROUTES {
            let operation = &document["paths"][path][method];
            let schemes: BTreeSet<String> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|requirement| requirement.as_object().unwrap().keys().cloned())
                .collect();
            let expected: &[&str] = match *path {
                "/healthz" | "/openapi.json" => &[],
                path if path.starts_with("/v1/") => &["basic", "bearer"],
                _ => &["bearer"],
            };
            assert_eq!(schemes, expected.iter().map(|scheme| (*scheme).to_owned()).collect(), "{method} {path}");
            let needs_key = !expected.is_empty();
            assert_eq!(operation["responses"]["401"].is_object(), needs_key, "{method} {path}: 401");
            assert_eq!(operation["responses"]["403"].is_object(), needs_key, "{method} {path}: 403");
        }
    }

    #[test]
    fn the_leads_query_parameters_are_documented() {
        let document = document_json();
        for path in ["/api/leads", "/api/queue"] {
            let names: BTreeSet<&str> = document["paths"][path]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|parameter| parameter["in"] == "query")
                .map(|parameter| parameter["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                names,
                BTreeSet::from(["status", "grade", "q", "sort", "limit", "cursor", "anonymous"]),
                "{path}"
            );
        }
        let model_body = &document["paths"]["/api/models"]["put"]["requestBody"]["content"];
        assert!(model_body["text/plain"].is_object(), "{model_body}");
        let batch_body = &document["paths"]["/v1/batch"]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(batch_body["schema"]["$ref"], "#/components/schemas/SegmentBatch");
    }

    /// Every error the server can answer with has its code in the document,
    /// under the status the server sends it with, and 429 documents
    /// `Retry-After`.
    #[test]
    fn every_error_code_is_documented_with_its_status() {
        let document = document_json();
        let documented: BTreeSet<&str> = document["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|code| code.as_str().unwrap())
            .collect();
        let errors = [
            ApiError::InvalidJson(String::new()),
            ApiError::InvalidRequest(String::new()),
            ApiError::NothingAccepted(String::new()),
            ApiError::TooLarge(String::new()),
            ApiError::Unauthenticated,
            ApiError::Forbidden { role: "write", action: "read" },
            ApiError::NotFound(String::new()),
            ApiError::InvalidModel(Vec::new()),
            ApiError::Overloaded(1),
            ApiError::Internal(String::new()),
        ];
        let codes: BTreeSet<&str> = errors.iter().map(ApiError::code).collect();
        assert_eq!(codes, documented);
        let responses = &document["components"]["responses"];
        let response_of = |error: &ApiError| match error {
            ApiError::InvalidJson(_) | ApiError::InvalidRequest(_) | ApiError::NothingAccepted(_) => "BadRequest",
            ApiError::TooLarge(_) => "TooLarge",
            ApiError::Unauthenticated => "Unauthenticated",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::NotFound(_) => "NotFound",
            ApiError::InvalidModel(_) => "InvalidModel",
            ApiError::Overloaded(_) => "Overloaded",
            ApiError::Internal(_) => "Internal",
        };
        // Wherever an operation documents a status, it refers to the one
        // response of that status.
        let mut status_of_response = std::collections::BTreeMap::new();
        for error in &errors {
            let name = response_of(error);
            assert!(responses[name].is_object(), "no response {name}");
            status_of_response.insert(format!("#/components/responses/{name}"), error.status().as_u16().to_string());
        }
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    if let Some(reference) = response["$ref"].as_str() {
                        assert_eq!(status_of_response.get(reference), Some(status), "{method} {path} {status}");
                    }
                }
            }
        }
        assert!(responses["Overloaded"]["headers"]["Retry-After"].is_object());
    }

    #[tokio::test]
    async fn the_document_and_the_ui_are_served_without_a_key_and_without_network() {
        let server = test_server();
        let answer = call(&server.app, Method::GET, "/openapi.json", None, Body::empty()).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(answer.json(), document_json());

        let answer = call(&server.app, Method::GET, "/docs", None, Body::empty()).await;
        assert!(answer.status.is_redirection(), "{}", answer.status);
        assert_eq!(answer.headers[header::LOCATION], "/docs/");
        let answer = call(&server.app, Method::GET, "/docs/", None, Body::empty()).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        let page = answer.text();
        assert!(page.contains("swagger-ui"), "{page}");
        // Every script and style sheet comes from this server.
        for attribute in ["src=\"", "href=\""] {
            for (start, _) in page.match_indices(attribute) {
                let target = &page[start + attribute.len()..];
                let target = &target[..target.find('"').unwrap()];
                assert!(!target.contains("//"), "the UI loads {target} from elsewhere");
                let asset = target.trim_start_matches("./");
                let answer = call(&server.app, Method::GET, &format!("/docs/{asset}"), None, Body::empty()).await;
                assert_eq!(answer.status, StatusCode::OK, "/docs/{asset}");
                assert!(!answer.body.is_empty(), "/docs/{asset}");
            }
        }
        let answer = call(&server.app, Method::GET, "/docs/swagger-initializer.js", None, Body::empty()).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.text().contains("\"/openapi.json\""), "{}", answer.text());
    }

    /// Each documented operation is routed: called without a key, none
    /// answers 404 or 405 (what the router says of a route it lacks).
    #[tokio::test]
    async fn every_documented_operation_is_routed() {
        let server = test_server();
        for (method, path) in ROUTES {
            let uri = path.replace("{lead_id}", "u_1").replace("{version}", "1");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = call(&server.app, method.clone(), &uri, None, Body::empty()).await;
            assert!(
                answer.status != StatusCode::NOT_FOUND && answer.status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri}: {}",
                answer.status
            );
        }
        for path in UI_ROUTES {
            let uri = path.replace("{*rest}", "index.html");
            let answer = call(&server.app, Method::GET, &uri, None, Body::empty()).await;
            assert!(answer.status.is_success() || answer.status.is_redirection(), "{uri}: {}", answer.status);
        }
    }

    fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let target = reference.strip_prefix('#').and_then(|pointer| document.pointer(pointer));
                resolve(document, target.unwrap_or_else(|| panic!("dangling reference {reference}")))
            }
            None => schema,
        }
    }

    /// The properties a schema documents, with those of its `allOf` parts;
    /// `None` for a free-form schema.
    fn properties_of(document: &Value, schema: &Value) -> Option<BTreeSet<String>> {
        let schema = resolve(document, schema);
        let mut names: Option<BTreeSet<String>> =
            schema.get("properties").and_then(Value::as_object).map(|properties| properties.keys().cloned().collect());
        for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            if let Some(more) = properties_of(document, part) {
                names.get_or_insert_with(BTreeSet::new).extend(more);
            }
        }
        names
    }

    /// Checks `value` against `schema`: types, required and undocumented
    /// properties, items and tuples, enums, `oneOf`/`anyOf`/`allOf`,
    /// date-times. Enough of JSON Schema for the schemas of this document.
    fn check(document: &Value, schema: &Value, value: &Value, at: &str, closed: bool, found: &mut Vec<String>) {
        let schema = resolve(document, schema);
        for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            check(document, part, value, at, false, found);
        }
        for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
            if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
                let matching = options
                    .iter()
                    .filter(|option| {
                        let mut problems = Vec::new();
                        check(document, option, value, at, closed, &mut problems);
                        problems.is_empty()
                    })
                    .count();
                if matching == 0 || (exactly_one && matching > 1) {
                    found.push(format!("{at}: {value} matches {matching} of the {keyword} schemas"));
                }
            }
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(name) => vec![name.as_str()],
                Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let matches = types.iter().any(|name| match *name {
                "null" => value.is_null(),
                "boolean" => value.is_boolean(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => false,
            });
            if !matches {
                found.push(format!("{at}: {value} is not of type {types:?}"));
                return;
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            found.push(format!("{at}: {value} is not one of {options:?}"));
        }
        if schema.get("format").and_then(Value::as_str) == Some("date-time")
            && let Some(text) = value.as_str()
            && text.parse::<jiff::Timestamp>().is_err()
        {
            found.push(format!("{at}: {text:?} is not a date-time"));
        }
        if let Some(object) = value.as_object() {
            for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                let name = name.as_str().unwrap();
                if !object.contains_key(name) {
                    found.push(format!("{at}: `{name}` is missing"));
                }
            }
            for (name, property) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
                if let Some(item) = object.get(name) {
                    check(document, property, item, &format!("{at}.{name}"), true, found);
                }
            }
            if closed && let Some(known) = properties_of(document, schema) {
                for name in object.keys().filter(|name| !known.contains(*name)) {
                    found.push(format!("{at}: `{name}` is not documented"));
                }
            }
        }
        if let Some(items) = value.as_array() {
            let prefix = schema.get("prefixItems").and_then(Value::as_array);
            for (index, item) in items.iter().enumerate() {
                let at = format!("{at}[{index}]");
                match (prefix.and_then(|prefix| prefix.get(index)), schema.get("items")) {
                    (Some(item_schema), _) => check(document, item_schema, item, &at, true, found),
                    (None, Some(Value::Bool(false))) => found.push(format!("{at}: more items than documented")),
                    (None, Some(item_schema)) if item_schema.is_object() => {
                        check(document, item_schema, item, &at, true, found)
                    }
                    _ => {}
                }
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                found.push(format!("{at}: fewer than {min} items"));
            }
        }
    }

    #[test]
    fn the_checker_finds_what_differs_from_a_schema() {
        let document = document_json();
        let problems = |schema: Value, value: Value| {
            let mut found = Vec::new();
            check(&document, &schema, &value, "$", true, &mut found);
            found
        };
        let error = json!({"$ref": "#/components/schemas/ErrorBody"});
        assert!(problems(error.clone(), json!({"error": {"code": "forbidden", "message": "no"}})).is_empty());
        assert_eq!(problems(error.clone(), json!({"error": {"code": "nope", "message": "no"}})).len(), 1);
        assert_eq!(problems(error.clone(), json!({"error": {"code": "forbidden"}})).len(), 1);
        assert_eq!(problems(error, json!({"error": {"code": "forbidden", "message": "no", "extra": 1}})).len(), 1);
        let pair = json!({"$ref": "#/components/schemas/RulePoints"});
        assert!(problems(pair.clone(), json!(["visit", 2.5])).is_empty());
        assert!(!problems(pair.clone(), json!(["visit", "2.5"])).is_empty());
        assert!(!problems(pair, json!(["visit", 2.5, 1])).is_empty());
        let detail = json!({"$ref": "#/components/schemas/LeadDetail"});
        assert!(problems(detail, json!({"stage_history": [], "unknown": 1})).iter().any(|p| p.contains("`unknown`")));
    }

    struct Checked {
        app: Router,
        document: Value,
        /// (method, path template, status) of every answer checked.
        seen: BTreeSet<(String, String, u16)>,
    }

    impl Checked {
        /// Calls the API, expects `status`, and checks the answer against
        /// what the document says of that operation and status.
        async fn expect(
            &mut self,
            method: Method,
            template: &str,
            uri: &str,
            key: Option<&str>,
            body: impl Into<Body>,
            status: u16,
        ) -> Value {
            let answer = call(&self.app, method.clone(), uri, key, body).await;
            assert_eq!(answer.status.as_u16(), status, "{method} {uri}: {}", answer.text());
            let operation_method = method.as_str().to_lowercase();
            let operation = &self.document["paths"][template][&operation_method];
            assert!(operation.is_object(), "{method} {template} is not documented");
            let response = resolve(&self.document, &operation["responses"][status.to_string()]);
            assert!(response.is_object(), "{method} {template} does not document {status}");
            self.seen.insert((operation_method, template.to_owned(), status));
            let content_type = answer.headers[header::CONTENT_TYPE].to_str().unwrap();
            let media = &response["content"][content_type];
            assert!(media.is_object(), "{method} {uri} {status}: {content_type} is not documented: {response}");
            if status == 429 {
                assert!(answer.headers.contains_key(header::RETRY_AFTER));
            }
            if !content_type.starts_with("application/json") {
                return Value::Null;
            }
            let body = answer.json();
            let mut found = Vec::new();
            check(&self.document, &media["schema"], &body, "$", true, &mut found);
            assert!(found.is_empty(), "{method} {uri} {status}:\n{}\n{body:#}", found.join("\n"));
            body
        }
    }

    fn add_key(database: &std::path::Path, role: qualify_store::Role) -> String {
        use qualify_store::Store as _;
        let mut store = qualify_store::SqliteStore::open(database).unwrap();
        let key = crate::auth::generate_key();
        let now = qualify_engine::time::EventTime::now();
        store.add_api_key(Some(role.as_str()), role, &key.prefix, &key.hash, now).unwrap();
        key.key
    }

    /// Generated traffic, as batches of at most 500 messages.
    fn traffic() -> Vec<Value> {
        let config = qualify_generator::GeneratorConfig {
            leads: 40,
            end: jiff::Timestamp::now(),
            days: 30,
            ..Default::default()
        };
        let mut out = Vec::new();
        qualify_generator::generate(&config, &mut out).unwrap();
        let mut messages = Vec::new();
        for line in out.split(|byte| *byte == b'\n') {
            if let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(line) {
                match object.remove("batch") {
                    Some(Value::Array(items)) => messages.extend(items),
                    _ => messages.push(Value::Object(object)),
                }
            }
        }
        messages.chunks(500).map(|chunk| json!({ "batch": chunk })).collect()
    }

    /// Calls every documented operation, for its success and its errors, and
    /// checks each answer against the document: its status is documented,
    /// its content type too, and its body fits the documented schema.
    #[tokio::test]
    async fn answers_match_their_documented_schemas() {
        use qualify_store::Role;
        let directory = tempfile::tempdir().unwrap();
        let database = directory.path().join("qualify.db");
        let (state, _writer_thread) = AppState::start(ServerConfig::new(database.clone())).unwrap();
        let [admin, read, write] = [Role::Admin, Role::Read, Role::Write].map(|role| add_key(&database, role));
        let (admin, read, write) = (Some(admin.as_str()), Some(read.as_str()), Some(write.as_str()));
        let mut api = Checked { app: router(state), document: document_json(), seen: BTreeSet::new() };
        let model = qualify_generator::JEWELRY_MODEL;

        // Operations and documentation.
        api.expect(Method::GET, "/healthz", "/healthz", None, Body::empty(), 200).await;
        api.expect(Method::GET, "/openapi.json", "/openapi.json", None, Body::empty(), 200).await;

        // Models.
        api.expect(Method::GET, "/api/models/{version}", "/api/models/active", read, Body::empty(), 404).await;
        api.expect(Method::GET, "/api/leads/{lead_id}/explain", "/api/leads/u/explain", read, Body::empty(), 404).await;
        let valid = api.expect(Method::POST, "/api/models/validate", "/api/models/validate", read, model, 200).await;
        assert_eq!(valid["valid"], true);
        let invalid =
            api.expect(Method::POST, "/api/models/validate", "/api/models/validate", read, "name = [", 200).await;
        assert_eq!(invalid["valid"], false);
        api.expect(Method::PUT, "/api/models", "/api/models", admin, "name = [", 422).await;
        api.expect(Method::PUT, "/api/models", "/api/models", read, model, 403).await;
        api.expect(Method::PUT, "/api/models", "/api/models", admin, model, 200).await;
        api.expect(Method::GET, "/api/models", "/api/models", read, Body::empty(), 200).await;
        api.expect(Method::GET, "/api/models/{version}", "/api/models/active", read, Body::empty(), 200).await;
        api.expect(Method::GET, "/api/models/{version}", "/api/models/1", read, Body::empty(), 200).await;
        api.expect(Method::GET, "/api/models/{version}", "/api/models/one", read, Body::empty(), 400).await;

        // Ingestion, on every endpoint.
        for batch in traffic() {
            api.expect(Method::POST, "/v1/batch", "/v1/batch", write, batch.to_string(), 200).await;
        }
        let track = json!({"userId": "u_doc", "event": "Docs Read", "messageId": "doc-1"}).to_string();
        for kind in ["identify", "track", "page", "screen", "group", "alias"] {
            let path = format!("/v1/{kind}");
            let message = json!({"userId": "u_doc", "messageId": format!("doc-{kind}"), "event": "Docs Read",
                "groupId": "g_doc", "previousId": "u_old"});
            api.expect(Method::POST, &path, &path, write, message.to_string(), 200).await;
        }
        let one_bad = json!({"batch": [{"userId": "u_doc", "event": "A", "messageId": "doc-2", "type": "track"}, {"type": "track"}]});
        let answer = api.expect(Method::POST, "/v1/import", "/v1/import", write, one_bad.to_string(), 200).await;
        assert_eq!(answer["rejected"], 1);
        api.expect(Method::POST, "/v1/batch", "/v1/batch", write, "{not json", 400).await;
        api.expect(Method::POST, "/v1/track", "/v1/track", write, "{}", 400).await;
        api.expect(Method::POST, "/v1/track", "/v1/track", None, track.clone(), 401).await;
        api.expect(Method::POST, "/v1/track", "/v1/track", read, track, 403).await;
        let too_large = json!({"batch": [], "padding": "x".repeat(600 * 1024)}).to_string();
        api.expect(Method::POST, "/v1/batch", "/v1/batch", write, too_large, 413).await;

        // Leads.
        api.expect(Method::GET, "/api/leads", "/api/leads", None, Body::empty(), 401).await;
        api.expect(Method::GET, "/api/leads", "/api/leads", write, Body::empty(), 403).await;
        api.expect(Method::GET, "/api/leads", "/api/leads?sort=bogus", read, Body::empty(), 400).await;
        let page = api.expect(Method::GET, "/api/leads", "/api/leads?limit=5", read, Body::empty(), 200).await;
        let cursor = page["next_cursor"].as_str().expect("a next page").to_owned();
        let uri = format!("/api/leads?limit=5&cursor={cursor}");
        api.expect(Method::GET, "/api/leads", &uri, read, Body::empty(), 200).await;
        let uri = "/api/leads?anonymous=true&sort=fit&grade=a,b,c,d&status=lead,mql&q=u&limit=3";
        api.expect(Method::GET, "/api/leads", uri, read, Body::empty(), 200).await;
        let queue = api.expect(Method::GET, "/api/queue", "/api/queue?limit=3", read, Body::empty(), 200).await;
        let mql = queue["leads"][0]["lead_id"].as_str().expect("the generated traffic makes an MQL").to_owned();
        for lead in [mql.as_str(), "u_doc"] {
            let explanation = api
                .expect(
                    Method::GET,
                    "/api/leads/{lead_id}/explain",
                    &format!("/api/leads/{lead}/explain"),
                    read,
                    Body::empty(),
                    200,
                )
                .await;
            if lead == mql {
                assert!(explanation["mql_crossing"].is_object(), "{explanation:#}");
            }
            api.expect(Method::GET, "/api/leads/{lead_id}", &format!("/api/leads/{lead}"), read, Body::empty(), 200)
                .await;
            let uri = format!("/api/leads/{lead}/timeline");
            api.expect(Method::GET, "/api/leads/{lead_id}/timeline", &uri, read, Body::empty(), 200).await;
        }
        api.expect(Method::GET, "/api/leads/{lead_id}", "/api/leads/nobody", read, Body::empty(), 404).await;
        api.expect(
            Method::GET,
            "/api/leads/{lead_id}/timeline",
            "/api/leads/nobody/timeline",
            read,
            Body::empty(),
            404,
        )
        .await;

        // Outcomes (no content type: the handler reads the body as JSON whatever it is labelled).
        let template = "/api/leads/{lead_id}/outcomes";
        let uri = format!("/api/leads/{mql}/outcomes");
        let rejected = json!({ "stage": "rejected", "reason": "no budget" }).to_string();
        let answer = api.expect(Method::POST, template, &uri, admin, rejected.clone(), 200).await;
        assert_eq!(answer["stage"], "rejected", "{answer:#}");
        api.expect(Method::POST, template, &uri, read, rejected.clone(), 403).await;
        api.expect(Method::POST, template, &uri, admin, json!({ "stage": "maybe" }).to_string(), 400).await;
        api.expect(Method::POST, template, &uri, admin, "{", 400).await;
        api.expect(Method::POST, template, "/api/leads/nobody/outcomes", admin, rejected, 404).await;

        // Operations.
        let rejects = api.expect(Method::GET, "/api/rejects", "/api/rejects?limit=1", admin, Body::empty(), 200).await;
        assert_eq!(rejects["rejects"].as_array().map(Vec::len), Some(1));
        api.expect(Method::GET, "/api/rejects", "/api/rejects", read, Body::empty(), 403).await;
        api.expect(Method::GET, "/metrics", "/metrics", read, Body::empty(), 200).await;
        api.expect(Method::GET, "/metrics", "/metrics", None, Body::empty(), 401).await;

        // Reports.
        let kpis = api
            .expect(Method::GET, "/api/kpis", "/api/kpis?from=2020-01-01&to=2100-01-01", read, Body::empty(), 200)
            .await;
        assert_eq!(kpis["rows"].as_array().map(Vec::len), Some(1), "{kpis:#}");
        let uri = "/api/kpis?from=2020-01-01&to=2100-01-01&by=channel";
        api.expect(Method::GET, "/api/kpis", uri, read, Body::empty(), 200).await;
        api.expect(Method::GET, "/api/kpis", "/api/kpis?from=2020-01-01&to=2019-01-01", read, Body::empty(), 400).await;
        api.expect(Method::GET, "/api/kpis", "/api/kpis?from=2020-01-01&to=2021-01-01", write, Body::empty(), 403)
            .await;
        let criteria = "/api/reports/criteria";
        let report = api.expect(Method::GET, criteria, criteria, read, Body::empty(), 200).await;
        assert!(report["rules"].as_array().is_some_and(|rules| !rules.is_empty()), "{report:#}");
        api.expect(Method::GET, criteria, "/api/reports/criteria?as_of=2026-11-30", read, Body::empty(), 200).await;
        api.expect(Method::GET, criteria, "/api/reports/criteria?as_of=soon", read, Body::empty(), 400).await;
        api.expect(Method::GET, criteria, criteria, write, Body::empty(), 403).await;
        let backtest = "/api/backtest";
        let window = "/api/backtest?from=2020-01-01&to=2100-01-01";
        let single = api.expect(Method::POST, backtest, window, read, model, 200).await;
        assert!(single["mqls"].is_u64(), "{single:#}");
        let uri = format!("{window}&against=active");
        let both = api.expect(Method::POST, backtest, &uri, read, model, 200).await;
        assert_eq!(both["model"], both["against"], "{both:#}");
        api.expect(Method::POST, backtest, window, read, "name = [", 422).await;
        api.expect(Method::POST, backtest, "/api/backtest?from=2020-01-01&to=2019-01-01", read, model, 400).await;
        api.expect(Method::POST, backtest, &format!("{window}&against=old"), read, model, 400).await;
        api.expect(Method::POST, backtest, window, write, model, 403).await;

        // Every route's success was checked.
        let succeeded: BTreeSet<(String, String)> = api
            .seen
            .iter()
            .filter(|(_, _, status)| *status == 200)
            .map(|(method, path, _)| (method.clone(), path.clone()))
            .collect();
        let routes: BTreeSet<(String, String)> =
            ROUTES.iter().map(|(method, path)| ((*method).to_owned(), (*path).to_owned())).collect();
        assert_eq!(succeeded, routes);
    }
}
