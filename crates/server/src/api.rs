//! The JSON API (`/api/...`), `/healthz` and `/metrics`. Every route but
//! `/healthz` needs `Authorization: Bearer KEY`; the role decides what it
//! may do (see [`crate::auth::allows`]).

use crate::AppState;
use crate::auth::{self, Permission};
use crate::error::ApiError;
use crate::openapi as doc;
use crate::writer::{QueueError, WriterHandle};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use qualify_engine::Model;
use qualify_engine::backtest::{backtest_json, comparison_json};
use qualify_engine::criteria::criteria_json;
use qualify_engine::explain::{explain, timeline};
use qualify_engine::kpis::{Grouping, Period, kpi_row_json};
use qualify_engine::outcome::{Outcome, OutcomeStage, parse_time};
use qualify_engine::time::EventTime;
use qualify_store::ops::{self, OpsError};
use qualify_store::{
    LeadQuery, LeadRecord, LeadSort, Role, StageTransition, Store, StoreError, StoredModel, lead_cursor,
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/leads", get(list_leads))
        .route("/api/leads/{lead_id}", get(lead))
        .route("/api/leads/{lead_id}/outcomes", post(record_outcome))
        .route("/api/leads/{lead_id}/explain", get(lead_explanation))
        .route("/api/leads/{lead_id}/timeline", get(lead_timeline))
        .route("/api/queue", get(queue))
        .route("/api/models", get(models).put(put_model))
        .route("/api/models/validate", post(validate_model))
        .route("/api/models/{version}", get(model))
        .route("/api/rejects", get(rejects))
        .route("/api/kpis", get(kpis))
        .route("/api/reports/criteria", get(criteria_report))
        .route("/api/backtest", post(backtest))
}

/// Checks the request's key for a permission and returns its role.
pub async fn authorize(state: &AppState, headers: &HeaderMap, permission: Permission) -> Result<Role, ApiError> {
    let key = auth::key_from_headers(headers).ok_or(ApiError::Unauthenticated)?;
    let role = state.role_of(&key).await?.ok_or(ApiError::Unauthenticated)?;
    auth::require(role, permission)?;
    Ok(role)
}

/// Whether the server is up. Needs no key.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The server is up", body = doc::Health)),
)]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Prometheus metrics: requests, events accepted, rejected and duplicate,
/// ingest latency, leads by stage.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The metrics, in the OpenMetrics text format", body = String,
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    ),
)]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let counts = state.readers.run(|store| Ok(store.lead_counts_by_stage()?)).await?;
    // The store leaves out stages no lead is at any more: drop their
    // series, or a lead that moved on would still be counted where it was.
    state.metrics.leads_by_stage.clear();
    for (stage, count) in counts {
        state.metrics.leads_by_stage.get_or_create(&crate::metrics::StageLabels { stage }).set(count as i64);
    }
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render()))
}

fn time_text(time: Option<EventTime>) -> Value {
    time.map_or(Value::Null, |time| Value::String(time.to_string()))
}

/// A lead as the API shows it.
pub fn lead_json(lead: &LeadRecord) -> Value {
    json!({
        "lead_id": lead.lead_id,
        "engagement": (lead.engagement * 100.0).round() / 100.0,
        "fit": lead.fit,
        "grade": lead.grade,
        "persona": lead.persona,
        "stage": lead.stage,
        "mql": lead.mql,
        "mql_at": time_text(lead.mql_at),
        "channel": lead.channel,
        "first_seen": lead.first_seen.to_string(),
        "last_seen": lead.last_seen.to_string(),
        "traits": lead.traits,
        "anonymous_ids": lead.anonymous_ids,
        "scored_at": lead.scored_at.to_string(),
        "model_version": lead.model_version,
    })
}

/// The query of `GET /api/leads` and `GET /api/queue`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadsParams {
    /// Only leads in these lifecycle stages, comma-separated (e.g.
    /// `mql,accepted`). `/api/queue` defaults to `mql`.
    #[param(example = "mql")]
    status: Option<String>,
    /// Only leads of these grades, comma-separated, any case (e.g. `A,B`).
    #[param(example = "A,B")]
    grade: Option<String>,
    /// Only leads whose id or `email` trait contains this text (ignoring
    /// the case of ASCII letters; matched literally).
    q: Option<String>,
    /// The order. `engagement` (highest first; the default of
    /// `/api/leads`), `fit`, `mql_at` (earliest first), `last_seen` (most
    /// recent first), `lead_id`, or `priority` (grade, then engagement, then
    /// recency; the default of `/api/queue`).
    #[param(pattern = "^(engagement|fit|mql_at|last_seen|lead_id|priority)$")]
    sort: Option<String>,
    /// Leads per page, 1 to 1,000 (out-of-range values are clamped); default 50.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the previous page, with the same `sort`.
    cursor: Option<String>,
    /// Include anonymous visitors (`anon:<id>`); default false.
    anonymous: Option<bool>,
}

const DEFAULT_PAGE: u64 = 50;
const MAX_PAGE: u64 = 1_000;

fn parse_sort(text: Option<&str>, default: LeadSort) -> Result<LeadSort, ApiError> {
    Ok(match text {
        None => default,
        Some("engagement") => LeadSort::Engagement,
        Some("fit") => LeadSort::Fit,
        Some("mql_at") => LeadSort::MqlAt,
        Some("last_seen") => LeadSort::LastSeen,
        Some("lead_id") => LeadSort::LeadId,
        Some("priority") => LeadSort::Priority,
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "unknown sort {other:?}: use engagement, fit, mql_at, last_seen, lead_id or priority"
            )));
        }
    })
}

async fn page_of_leads(state: &AppState, params: LeadsParams, default_sort: LeadSort) -> Result<Json<Value>, ApiError> {
    let sort = parse_sort(params.sort.as_deref(), default_sort)?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let query = LeadQuery {
        stages: params.status.iter().flat_map(|text| text.split(',')).map(str::to_owned).collect(),
        grades: params.grade.iter().flat_map(|text| text.split(',')).map(|grade| grade.to_uppercase()).collect(),
        search: params.q.filter(|text| !text.is_empty()),
        sort,
        // One more than asked, to know whether another page follows.
        limit: Some(limit + 1),
        after: params.cursor,
        include_anonymous: params.anonymous.unwrap_or(false),
        ..Default::default()
    };
    let mut leads = state
        .readers
        .run(move |store| {
            store.leads(&query).map_err(|error| match error {
                // In a list request, only a cursor the store did not make is invalid: the client's mistake.
                StoreError::Invalid(message) => ApiError::InvalidRequest(message),
                other => ApiError::from(other),
            })
        })
        .await?;
    let next_cursor = if leads.len() as u64 > limit {
        leads.truncate(limit as usize);
        leads.last().map(|lead| lead_cursor(lead, sort))
    } else {
        None
    };
    Ok(Json(json!({
        "leads": leads.iter().map(lead_json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

/// Leads: filter, search by id or email, sort, paginate.
#[utoipa::path(
    get,
    path = "/api/leads",
    tag = "leads",
    params(LeadsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of leads", body = doc::LeadPage),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    ),
)]
async fn list_leads(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<LeadsParams>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    page_of_leads(&state, params, LeadSort::Engagement).await
}

/// The sales queue: MQLs by priority (grade, engagement, recency).
///
/// The same query as `/api/leads`, with `status` defaulting to `mql` and
/// `sort` to `priority`.
#[utoipa::path(
    get,
    path = "/api/queue",
    tag = "leads",
    params(LeadsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the queue", body = doc::LeadPage),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    ),
)]
async fn queue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(mut params): Query<LeadsParams>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    params.status = Some(params.status.unwrap_or_else(|| "mql".to_owned()));
    page_of_leads(&state, params, LeadSort::Priority).await
}

/// One lead: its scores, grade, stage, traits, linked anonymous ids and
/// the history of its stages.
#[utoipa::path(
    get,
    path = "/api/leads/{lead_id}",
    tag = "leads",
    params(("lead_id" = String, Path, description = "The lead's user id (or `anon:<id>` for an anonymous visitor)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lead", body = doc::LeadDetail),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    ),
)]
async fn lead(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(lead_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let id = lead_id.clone();
    let (lead, transitions) = state
        .readers
        .run(move |store| {
            let lead = store.lead(&id)?;
            let transitions = match &lead {
                Some(_) => store.transitions(&id)?,
                None => Vec::new(),
            };
            Ok((lead, transitions))
        })
        .await?;
    let lead = lead.ok_or_else(|| ApiError::NotFound(format!("no lead {lead_id:?}")))?;
    Ok(Json(lead_detail_json(&lead, &transitions)))
}

/// A lead with the history of its stages, oldest first.
fn lead_detail_json(lead: &LeadRecord, transitions: &[StageTransition]) -> Value {
    let mut body = lead_json(lead);
    body["stage_history"] = transitions
        .iter()
        .map(|transition| {
            json!({
                "from": transition.from_stage,
                "to": transition.to_stage,
                "at": transition.at.to_string(),
                "cause": transition.cause,
            })
        })
        .collect();
    body
}

/// An outcome as the API takes it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OutcomeRequest {
    /// One of `accepted`, `rejected`, `sql`, `opportunity`, `won`, `lost`.
    #[schema(example = "rejected")]
    stage: String,
    /// When it happened (RFC 3339, or a `YYYY-MM-DD` date); default now.
    #[schema(format = DateTime)]
    at: Option<String>,
    /// Why, e.g. the reason of a rejection (`no budget`, `bad fit`).
    reason: Option<String>,
    /// The revenue of a won lead, 0 or more.
    revenue: Option<f64>,
}

/// A time parameter: RFC 3339, or a `YYYY-MM-DD` date (midnight UTC).
fn time_parameter(name: &str, text: &str) -> Result<EventTime, ApiError> {
    parse_time(text).ok_or_else(|| {
        ApiError::InvalidRequest(format!("{name}: {text:?} is not an RFC 3339 time or a YYYY-MM-DD date"))
    })
}

impl OutcomeRequest {
    fn into_outcome(self, lead_id: String, now: EventTime) -> Result<Outcome, ApiError> {
        let stage = OutcomeStage::parse(&self.stage).ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "stage: {:?} is not a stage (use one of: accepted, rejected, sql, opportunity, won, lost)",
                self.stage
            ))
        })?;
        let at = match &self.at {
            None => now,
            Some(text) => time_parameter("at", text)?,
        };
        if let Some(revenue) = self.revenue.filter(|revenue| !(revenue.is_finite() && *revenue >= 0.0)) {
            return Err(ApiError::InvalidRequest(format!("revenue: {revenue} is not a number of 0 or more")));
        }
        let reason = self.reason.filter(|reason| !reason.trim().is_empty());
        Ok(Outcome { lead_id, stage, at, reason, revenue: self.revenue })
    }
}

/// Records what sales did with a lead, and answers the lead as it is now.
///
/// The lead moves to the outcome's stage when it is its latest outcome; the
/// same outcome (stage and time) sent twice changes nothing. Needs a sales
/// or admin key.
#[utoipa::path(
    post,
    path = "/api/leads/{lead_id}/outcomes",
    tag = "leads",
    params(("lead_id" = String, Path, description = "The lead's user id (or `anon:<id>`)")),
    request_body(content = OutcomeRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The outcome is recorded; the lead as it is now", body = doc::LeadDetail),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 429, response = doc::Overloaded),
        (status = 500, response = doc::Internal),
    ),
)]
#[tracing::instrument(skip_all, fields(lead_id = %lead_id))]
async fn record_outcome(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(lead_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::RecordOutcomes).await?;
    let request: OutcomeRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::InvalidJson(format!("the body is not a valid outcome: {error}")))?;
    let outcome = request.into_outcome(lead_id.clone(), EventTime::now())?;
    let recorded = state
        .writer
        .keeping_log(move |store| -> Result<_, ApiError> {
            if store.lead(&lead_id)?.is_none() {
                return Err(ApiError::NotFound(format!("no lead {lead_id:?}")));
            }
            store.add_outcomes(std::slice::from_ref(&outcome))?;
            let lead = store.lead(&lead_id)?.ok_or_else(|| ApiError::NotFound(format!("no lead {lead_id:?}")))?;
            Ok((lead, store.transitions(&lead_id)?))
        })
        .await
        .map_err(|error| match error {
            QueueError::Full => ApiError::Overloaded(1),
            QueueError::Stopped => ApiError::internal("the writer has stopped"),
        })?;
    let (lead, transitions) = recorded?;
    Ok(Json(lead_detail_json(&lead, &transitions)))
}

/// The log of one lead's identity component, prepared for the active model.
fn lead_log(
    writer: &WriterHandle,
    store: &dyn Store,
    lead_id: &str,
) -> Result<qualify_engine::log::EventLog, ApiError> {
    writer
        .lead_log(store, lead_id)?
        .ok_or_else(|| ApiError::NotFound("no model is active yet: PUT one to /api/models".into()))
}

/// Why a lead has its scores now: every engagement rule with the events it
/// counted, every persona's fit rules, and the crossing that made it an MQL.
#[utoipa::path(
    get,
    path = "/api/leads/{lead_id}/explain",
    tag = "leads",
    params(("lead_id" = String, Path, description = "The lead's user id (or `anon:<id>`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The explanation", body = doc::Explanation),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    ),
)]
async fn lead_explanation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(lead_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let now = EventTime::now();
    let id = lead_id.clone();
    let writer = state.writer.clone();
    let explanation = state.readers.run(move |store| Ok(explain(&lead_log(&writer, store, &id)?, &id, now))).await?;
    let explanation = explanation.ok_or_else(|| ApiError::NotFound(format!("no lead {lead_id:?}")))?;
    Ok(Json(serde_json::to_value(explanation).map_err(ApiError::internal)?))
}

/// A lead's events, oldest first, with the points each earns now.
#[utoipa::path(
    get,
    path = "/api/leads/{lead_id}/timeline",
    tag = "leads",
    params(("lead_id" = String, Path, description = "The lead's user id (or `anon:<id>`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The timeline", body = doc::Timeline),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    ),
)]
async fn lead_timeline(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(lead_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let now = EventTime::now();
    let id = lead_id.clone();
    let writer = state.writer.clone();
    let entries = state.readers.run(move |store| Ok(timeline(&lead_log(&writer, store, &id)?, &id, now))).await?;
    let entries = entries.ok_or_else(|| ApiError::NotFound(format!("no lead {lead_id:?}")))?;
    Ok(Json(json!({ "lead_id": lead_id, "as_of": now.to_string(), "events": entries })))
}

fn model_json(model: &StoredModel) -> Value {
    json!({
        "version": model.version,
        "name": model.name,
        "active": model.active,
        "created_at": model.created_at.to_string(),
        "toml": model.toml,
    })
}

/// Every stored model version.
#[utoipa::path(
    get,
    path = "/api/models",
    tag = "models",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The model versions", body = doc::ModelList),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    ),
)]
async fn models(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let models = state.readers.run(|store| Ok(store.models()?)).await?;
    Ok(Json(json!({ "models": models.iter().map(model_json).collect::<Vec<_>>() })))
}

/// One model version, or the active one.
#[utoipa::path(
    get,
    path = "/api/models/{version}",
    tag = "models",
    params(("version" = String, Path, description = "A version number, or `active`", example = "active")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The model version", body = doc::ModelVersion),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    ),
)]
async fn model(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(version): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let found = if version == "active" {
        state.readers.run(|store| Ok(store.active_model()?)).await?
    } else {
        let number: i64 =
            version.parse().map_err(|_| ApiError::InvalidRequest(format!("{version:?} is not a model version")))?;
        state.readers.run(move |store| Ok(store.model(number)?)).await?
    };
    let found = found.ok_or_else(|| ApiError::NotFound(format!("no model version {version}")))?;
    Ok(Json(model_json(&found)))
}

fn model_errors(errors: &qualify_engine::model::ModelErrors) -> Vec<Value> {
    errors
        .0
        .iter()
        .map(|error| {
            json!({ "line": error.line, "column": error.column, "rule_id": error.rule_id, "message": error.message })
        })
        .collect()
}

/// Checks a model (the TOML text is the body) without storing it.
///
/// A model with errors is still a 200, with `valid: false` and every error.
#[utoipa::path(
    post,
    path = "/api/models/validate",
    tag = "models",
    request_body(content = String, content_type = "text/plain", description = "The model file (TOML)"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Whether the model is valid, and its errors", body = doc::ModelValidation),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
    ),
)]
async fn validate_model(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    match Model::parse(&body) {
        Ok(model) => Ok(Json(json!({ "valid": true, "name": model.name, "summary": model.summary() }))),
        Err(errors) => Ok(Json(json!({ "valid": false, "errors": model_errors(&errors) }))),
    }
}

/// Stores a model (the TOML text is the body) as a new version, makes it
/// active and re-scores every lead. A model with errors is refused with all
/// of them, and the active one stays. Needs an admin key.
#[utoipa::path(
    put,
    path = "/api/models",
    tag = "models",
    request_body(content = String, content_type = "text/plain", description = "The model file (TOML)"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The model is stored, active, and every lead re-scored", body = doc::ModelActivated),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::InvalidModel),
        (status = 429, response = doc::Overloaded),
        (status = 500, response = doc::Internal),
    ),
)]
async fn put_model(State(state): State<AppState>, headers: HeaderMap, body: String) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Administer).await?;
    if let Err(errors) = Model::parse(&body) {
        return Err(ApiError::InvalidModel(model_errors(&errors)));
    }
    let activated =
        state.writer.exclusive(move |store| ops::activate_model_text(store, &body, EventTime::now())).await.map_err(
            |error| match error {
                QueueError::Full => ApiError::Overloaded(1),
                QueueError::Stopped => ApiError::internal("the writer has stopped"),
            },
        )?;
    let (stored, leads) = activated.map_err(|error| match error {
        OpsError::InvalidModel(errors) => ApiError::InvalidModel(model_errors(&errors)),
        OpsError::Store(error) => ApiError::from(error),
    })?;
    Ok(Json(json!({ "model": model_json(&stored), "leads_scored": leads })))
}

/// The query of `GET /api/rejects`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RejectsParams {
    /// Rejects per page, 1 to 1,000 (clamped); default 50.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// Only rejects older than this id: the `next_before` of the previous page.
    before: Option<i64>,
}

/// Rejected messages with their reasons, newest first. Needs an admin key.
#[utoipa::path(
    get,
    path = "/api/rejects",
    tag = "operations",
    params(RejectsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of rejected messages", body = doc::RejectPage),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    ),
)]
async fn rejects(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<RejectsParams>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Administer).await?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let (rejects, total) =
        state.readers.run(move |store| Ok((store.rejects(limit, params.before)?, store.reject_count()?))).await?;
    let items: Vec<Value> = rejects
        .iter()
        .map(|reject| {
            json!({
                "id": reject.id,
                "received_at": reject.received_at.to_string(),
                "endpoint": reject.endpoint,
                "batch_index": reject.batch_index,
                "field": reject.field,
                "reason": reject.reason,
                "excerpt": reject.excerpt,
            })
        })
        .collect();
    let next = if items.len() as u64 == limit { rejects.last().map(|reject| reject.id) } else { None };
    Ok(Json(json!({ "total": total, "rejects": items, "next_before": next })))
}

/// The query of `GET /api/kpis`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KpisParams {
    /// The start of the period, included: RFC 3339 or `YYYY-MM-DD` (midnight UTC).
    #[param(example = "2026-11-02")]
    from: String,
    /// The end of the period, excluded: RFC 3339 or `YYYY-MM-DD` (midnight UTC).
    #[param(example = "2026-11-16")]
    to: String,
    /// `overall` (the default: one row), `channel` or `week` (ISO weeks,
    /// Monday UTC, clipped to the period).
    #[param(example = "channel")]
    by: Option<String>,
}

/// KPIs for a period `[from, to)`: leads, MQLs, cohort rates, customers,
/// acquisition rate and its change, costs and medians, overall, by channel
/// or by week (spec/analytics.md; choices in docs/scoring.md, "KPIs").
#[utoipa::path(
    get,
    path = "/api/kpis",
    tag = "reports",
    params(KpisParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The KPIs, one row per group", body = doc::KpiReport),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    ),
)]
#[tracing::instrument(skip_all, fields(from = %params.from, to = %params.to))]
async fn kpis(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<KpisParams>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let from = time_parameter("from", &params.from)?;
    let to = time_parameter("to", &params.to)?;
    let period = Period::new(from, to)
        .ok_or_else(|| ApiError::InvalidRequest(format!("to ({}) must be after from ({})", params.to, params.from)))?;
    let by = params.by.as_deref().unwrap_or("overall");
    let grouping = Grouping::parse(by).ok_or_else(|| {
        ApiError::InvalidRequest(format!("by: {by:?} is not a grouping (use one of: overall, channel, week)"))
    })?;
    let rows = state.readers.run(move |store| Ok(ops::kpis(store, period, grouping)?)).await?;
    Ok(Json(json!({
        "from": period.from().to_string(),
        "to": period.to().to_string(),
        "by": grouping.as_str(),
        "rows": rows.iter().map(kpi_row_json).collect::<Vec<_>>(),
    })))
}

/// The query of `GET /api/reports/criteria`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CriteriaParams {
    /// Score the leads and count outcomes as of this time: RFC 3339 or
    /// `YYYY-MM-DD` (midnight UTC). Default: now.
    #[param(example = "2026-11-30")]
    as_of: Option<String>,
}

/// The criteria report with the active model: per engagement and fit rule,
/// the leads it fired for, their conversion rate against the others', the
/// lift and its share of the points that made MQLs; conversion by score
/// band; sales' rejection reasons (spec/analytics.md; choices in
/// docs/scoring.md, "Criteria report").
#[utoipa::path(
    get,
    path = "/api/reports/criteria",
    tag = "reports",
    params(CriteriaParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The criteria report", body = doc::CriteriaReport),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    ),
)]
#[tracing::instrument(skip_all)]
async fn criteria_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<CriteriaParams>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let as_of = match params.as_of.as_deref() {
        None => EventTime::now(),
        Some(text) => time_parameter("as_of", text)?,
    };
    let report = state.readers.run(move |store| ops::criteria(store, as_of).map_err(ApiError::from_stored)).await?;
    let report = report.ok_or_else(|| ApiError::NotFound("no model is active yet: PUT one to /api/models".into()))?;
    Ok(Json(criteria_json(&report)))
}

/// The query of `POST /api/backtest`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BacktestParams {
    /// The start of the window, included: RFC 3339 or `YYYY-MM-DD` (midnight UTC).
    #[param(example = "2026-06-01")]
    from: String,
    /// The end of the window, excluded: RFC 3339 or `YYYY-MM-DD` (midnight
    /// UTC). Scores are computed as of it.
    #[param(example = "2026-12-01")]
    to: String,
    /// `active` to compare the candidate with the active model.
    #[param(example = "active")]
    against: Option<String>,
}

/// Tries a candidate model (the TOML text is the body) on the stored events
/// and outcomes over a window `[from, to)`: its MQLs, precision, recall,
/// lead time and MQLs per week; with `against=active`, side by side with
/// the active model and the leads each qualifies that the other does not
/// (spec/analytics.md; choices in docs/scoring.md, "Backtest"). Nothing is
/// stored.
#[utoipa::path(
    post,
    path = "/api/backtest",
    tag = "reports",
    params(BacktestParams),
    request_body(content = String, content_type = "text/plain", description = "The candidate model file (TOML)"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The backtest, or two side by side", body = doc::BacktestAnswer),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 422, response = doc::InvalidModel),
        (status = 500, response = doc::Internal),
    ),
)]
#[tracing::instrument(skip_all, fields(from = %params.from, to = %params.to))]
async fn backtest(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<BacktestParams>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let from = time_parameter("from", &params.from)?;
    let to = time_parameter("to", &params.to)?;
    let period = Period::new(from, to)
        .ok_or_else(|| ApiError::InvalidRequest(format!("to ({}) must be after from ({})", params.to, params.from)))?;
    let against = match params.against.as_deref() {
        None => false,
        Some("active") => true,
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!("against: {other:?} is not a model (use: active)")));
        }
    };
    let candidate =
        std::sync::Arc::new(Model::parse(&body).map_err(|errors| ApiError::InvalidModel(model_errors(&errors)))?);
    let answer = state
        .readers
        .run(move |store| {
            let name = candidate.name.clone();
            let result = ops::backtest(store, candidate, period)?;
            if !against {
                return Ok(backtest_json(&name, &result));
            }
            let (_, active) = ops::active_model(store)
                .map_err(ApiError::from_stored)?
                .ok_or_else(|| ApiError::NotFound("no model is active yet: PUT one to /api/models".into()))?;
            let active_name = active.name.clone();
            let other = ops::backtest(store, active, period)?;
            Ok(comparison_json((&name, &result), (&active_name, &other)))
        })
        .await?;
    Ok(Json(answer))
}
