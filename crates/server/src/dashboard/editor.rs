//! The model editor (admin keys): the active model's TOML in a monospaced
//! editor with line numbers, validation errors at their lines, a backtest of
//! the edited model against the active one, activation once that backtest
//! was seen, and the version history with rollback.
//!
//! It works as plain forms (check, backtest, activate are one form's
//! buttons); `app.js` adds live line numbers and validation.

use super::charts::{self, Series};
use super::{
    PageError, SignedIn, csrf_field, date_field, day_start, layout, lead_href, percent, short_date, short_time,
};
use crate::AppState;
use crate::auth::Permission;
use crate::error::ApiError;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::{Markup, html};
use qualify_engine::Model;
use qualify_engine::backtest::{Backtest, compare};
use qualify_engine::kpis::Period;
use qualify_engine::model::ModelError;
use qualify_engine::time::{EventTime, MICROS_PER_DAY};
use qualify_store::ops::{self, OpsError};
use qualify_store::{Store, StoredModel};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The default backtest window: the last twelve weeks, today included.
const DEFAULT_DAYS: i64 = 84;
/// Leads gained or lost listed by id (the counts are always shown).
const LISTED_LEADS: usize = 30;

/// A fingerprint of a model text: the activate button carries the one of
/// the text that was backtested, so a text edited since is not activated
/// unseen.
fn fingerprint(text: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

fn parse_errors(text: &str) -> Vec<ModelError> {
    match Model::parse(text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct EditorParams {
    activated: Option<i64>,
}

/// What the editor shows besides the text.
#[derive(Default)]
struct EditorState {
    text: String,
    from: Option<EventTime>,
    to: Option<EventTime>,
    errors: Vec<ModelError>,
    /// A message above the editor (activation done, or why not).
    notice: Option<(bool, String)>,
    backtest: Option<BacktestView>,
    checked: bool,
}

struct BacktestView {
    candidate_name: String,
    candidate: Backtest,
    active_name: String,
    active: Backtest,
    fingerprint: String,
}

struct Stored {
    active: Option<StoredModel>,
    versions: Vec<StoredModel>,
}

async fn stored_models(state: &AppState) -> Result<Stored, PageError> {
    Ok(state
        .readers
        .run(|store| {
            let mut versions = store.models()?;
            versions.sort_by_key(|model| std::cmp::Reverse(model.version));
            Ok(Stored { active: versions.iter().find(|model| model.active).cloned(), versions })
        })
        .await?)
}

fn default_window() -> (EventTime, EventTime) {
    let to = EventTime::from_micros(day_start(EventTime::now()).as_micros() + MICROS_PER_DAY);
    (EventTime::from_micros(to.as_micros() - DEFAULT_DAYS * MICROS_PER_DAY), to)
}

pub async fn page(
    State(state): State<AppState>,
    user: SignedIn,
    Query(params): Query<EditorParams>,
) -> Result<Html<String>, PageError> {
    user.require(Permission::Administer)?;
    let stored = stored_models(&state).await?;
    let editor = EditorState {
        text: stored.active.as_ref().map(|model| model.toml.clone()).unwrap_or_default(),
        notice: params
            .activated
            .map(|version| (true, format!("Version {version} is active; every lead was re-scored."))),
        ..EditorState::default()
    };
    Ok(markup(&user, &stored, &editor))
}

#[derive(Deserialize)]
pub struct EditorForm {
    csrf: Option<String>,
    action: String,
    toml: String,
    from: Option<String>,
    to: Option<String>,
    /// The fingerprint of the text that was backtested (activate only).
    tested: Option<String>,
}

/// The editor's form: `check`, `backtest` or `activate`.
#[tracing::instrument(skip_all, fields(action = %form.action))]
pub async fn submit(
    State(state): State<AppState>,
    user: SignedIn,
    headers: HeaderMap,
    Form(form): Form<EditorForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&headers, form.csrf.as_deref())?;
    user.require(Permission::Administer)?;
    // Browsers send textarea lines with CRLF; the stored model keeps the
    // line ends the admin sees.
    let text = form.toml.replace("\r\n", "\n");
    let (default_from, default_to) = default_window();
    let from = date_field("from", form.from.as_deref(), default_from)?;
    let to = date_field("to", form.to.as_deref(), default_to)?;
    let mut editor = EditorState {
        errors: parse_errors(&text),
        from: Some(from),
        to: Some(to),
        checked: true,
        ..EditorState::default()
    };
    if editor.errors.is_empty() {
        match form.action.as_str() {
            "check" => {}
            "backtest" => match Period::new(from, to) {
                Some(period) => editor.backtest = Some(backtest(&state, &text, period).await?),
                None => editor.notice = Some((false, "The backtest window must end after it starts.".into())),
            },
            "activate" if form.tested.as_deref() == Some(fingerprint(&text).as_str()) => {
                let body = text.clone();
                let activated = state
                    .writer
                    .exclusive(move |store| ops::activate_model_text(store, &body, EventTime::now()))
                    .await?;
                match activated {
                    Ok((stored, _)) => {
                        return Ok(Redirect::to(&format!("/model?activated={}", stored.version)).into_response());
                    }
                    Err(OpsError::InvalidModel(errors)) => editor.errors = errors.0,
                    Err(OpsError::Store(error)) => return Err(PageError::from(error)),
                }
            }
            "activate" => {
                editor.notice =
                    Some((false, "The model changed since its backtest: backtest it again, then activate it.".into()));
            }
            other => return Err(PageError::BadRequest(format!("{other:?} is not an editor action"))),
        }
    }
    editor.text = text;
    let stored = stored_models(&state).await?;
    Ok(markup(&user, &stored, &editor).into_response())
}

async fn backtest(state: &AppState, text: &str, period: Period) -> Result<BacktestView, PageError> {
    let candidate = Arc::new(Model::parse(text).map_err(|errors| PageError::BadRequest(errors.to_string()))?);
    let fingerprint = fingerprint(text);
    Ok(state
        .readers
        .run(move |store| {
            let (_, active) = ops::active_model(store)
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::NotFound("no model is active yet".into()))?;
            Ok(BacktestView {
                candidate_name: candidate.name.clone(),
                active_name: active.name.clone(),
                candidate: ops::backtest(store, Arc::clone(&candidate), period)?,
                active: ops::backtest(store, active, period)?,
                fingerprint,
            })
        })
        .await?)
}

#[derive(Deserialize)]
pub struct RollbackForm {
    csrf: Option<String>,
    version: i64,
}

/// Makes an earlier version active again and re-scores every lead.
#[tracing::instrument(skip_all, fields(version = form.version))]
pub async fn rollback(
    State(state): State<AppState>,
    user: SignedIn,
    headers: HeaderMap,
    Form(form): Form<RollbackForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&headers, form.csrf.as_deref())?;
    user.require(Permission::Administer)?;
    let version = form.version;
    let activated =
        state.writer.exclusive(move |store| ops::activate_version(store, version, EventTime::now())).await?;
    match activated {
        Ok(_) => Ok(Redirect::to(&format!("/model?activated={version}")).into_response()),
        Err(OpsError::Store(error)) => Err(PageError::from(error)),
        Err(OpsError::InvalidModel(errors)) => Err(PageError::Internal(errors.to_string())),
    }
}

/// Checks a model text (the body) for the editor's live validation.
pub async fn validate(user: SignedIn, headers: HeaderMap, body: String) -> Result<Json<serde_json::Value>, PageError> {
    user.check_csrf(&headers, None)?;
    user.require(Permission::Administer)?;
    let errors: Vec<serde_json::Value> = parse_errors(&body)
        .iter()
        .map(|error| json!({ "line": error.line, "column": error.column, "rule_id": error.rule_id, "message": error.message }))
        .collect();
    Ok(Json(json!({ "valid": errors.is_empty(), "errors": errors })))
}

fn error_text(error: &ModelError) -> String {
    match &error.rule_id {
        Some(rule) => format!("rule \"{rule}\": {}", error.message),
        None => error.message.clone(),
    }
}

fn markup(user: &SignedIn, stored: &Stored, editor: &EditorState) -> Html<String> {
    let (default_from, default_to) = default_window();
    let from = editor.from.unwrap_or(default_from);
    let to = editor.to.unwrap_or(default_to);
    let lines: Vec<&str> = editor.text.split('\n').collect();
    layout(
        user,
        "/model",
        "Model",
        html! {
            h1 { "Model" }
            @if let Some(active) = &stored.active {
                p class="lede" { "Active: version " (active.version) ", " b { (active.name) } ", since " (short_time(active.created_at)) "." }
            }
            @if let Some((good, message)) = &editor.notice {
                p class=(if *good { "notice" } else { "error-message" }) role="status" { (message) }
            }
            form id="model-form" method="post" action="/model" {
                (csrf_field(user))
                div id="model-errors" aria-live="polite" {
                    @if !editor.errors.is_empty() {
                        h2 class="error-title" { (editor.errors.len()) " problem(s): nothing was activated" }
                        ul class="errors" {
                            @for error in &editor.errors {
                                li { button type="button" class="link goto" data-line=(error.line) data-column=(error.column) {
                                    "line " (error.line) ", column " (error.column) } ": " (error_text(error)) }
                            }
                        }
                    } @else if editor.checked {
                        p class="notice" { "The model is valid." }
                    }
                }
                div class="editor" {
                    div class="gutter" aria-hidden="true" id="gutter" {
                        @for (index, _) in lines.iter().enumerate() {
                            @let number = index + 1;
                            @let error = editor.errors.iter().find(|error| error.line == number);
                            @if let Some(error) = error {
                                span class="line-number error" data-line=(number) title=(error_text(error)) { (number) }
                            } @else {
                                span class="line-number" data-line=(number) { (number) }
                            }
                        }
                    }
                    label for="toml" class="visually-hidden" { "The model (TOML)" }
                    textarea id="toml" name="toml" wrap="off" spellcheck="false" autocapitalize="off" autocomplete="off"
                        rows=(lines.len() + 1) aria-describedby="model-errors" { (editor.text) }
                }
                fieldset class="filters" {
                    legend { "Backtest window" }
                    label { "From" input type="date" name="from" value=(short_date(from)); }
                    label { "To" input type="date" name="to" value=(short_date(to)); }
                    button type="submit" name="action" value="check" { "Check" }
                    button type="submit" name="action" value="backtest" class="primary" { "Backtest against the active model" }
                }
                @if let Some(view) = &editor.backtest {
                    (backtest_markup(view))
                    input type="hidden" name="tested" value=(view.fingerprint);
                    p { button type="submit" name="action" value="activate" class="danger" id="activate" {
                        "Activate this model (re-scores every lead)" } }
                }
            }
            section {
                h2 { "Versions" }
                div class="table-wrap" {
                    table class="numbers versions" {
                        thead { tr { th scope="col" { "Version" } th scope="col" { "Name" } th scope="col" { "Created" } th scope="col" { "" } } }
                        tbody {
                            @for model in &stored.versions {
                                tr {
                                    th scope="row" { (model.version) }
                                    td { (model.name) }
                                    td { (short_time(model.created_at)) }
                                    td {
                                        @if model.active { span class="stage stage-accepted" { "active" } } @else {
                                            form method="post" action="/model/rollback" class="inline" {
                                                (csrf_field(user))
                                                input type="hidden" name="version" value=(model.version);
                                                button type="submit" { "Roll back to version " (model.version) }
                                            }
                                        }
                                    }
                                }
                                tr class="toml-row" {
                                    td colspan="4" { details { summary { "TOML of version " (model.version) } pre { (model.toml) } } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn days(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |days| format!("{days:.1} d"))
}

fn lead_list(ids: &[String]) -> Markup {
    html! {
        @if ids.is_empty() { span class="muted" { "none" } } @else {
            ul class="ids inline-list" {
                @for id in ids.iter().take(LISTED_LEADS) { li { a href=(lead_href(id)) { (id) } } }
                @if ids.len() > LISTED_LEADS { li class="muted" { "and " (ids.len() - LISTED_LEADS) " more" } }
            }
        }
    }
}

fn backtest_markup(view: &BacktestView) -> Markup {
    let comparison = compare(&view.candidate, &view.active);
    let weeks: Vec<String> = view.candidate.mqls_per_week.iter().map(|week| week.week.clone()).collect();
    let rows: [(&str, String, String); 5] = [
        ("MQLs", view.candidate.mqls.to_string(), view.active.mqls.to_string()),
        ("Precision (MQLs won)", percent(view.candidate.precision), percent(view.active.precision)),
        ("Recall (wins that were MQLs first)", percent(view.candidate.recall), percent(view.active.recall)),
        (
            "Median lead time (MQL to won)",
            days(view.candidate.median_lead_time_days),
            days(view.active.median_lead_time_days),
        ),
        ("Won in the window", view.candidate.won.to_string(), view.active.won.to_string()),
    ];
    html! {
        section class="backtest" id="backtest" {
            h2 { "Backtest " span class="muted" { (short_date(view.candidate.period.from())) " to " (short_date(view.candidate.period.to())) } }
            div class="table-wrap" {
                table class="numbers" {
                    thead { tr { th scope="col" { "" } th scope="col" class="num" { "Edited (" (view.candidate_name) ")" } th scope="col" class="num" { "Active (" (view.active_name) ")" } } }
                    tbody {
                        @for (name, edited, active) in rows {
                            tr { th scope="row" { (name) } td class="num" { (edited) } td class="num" { (active) } }
                        }
                    }
                }
            }
            (charts::category_lines("MQLs per week: edited and active model", &weeks, &[
                Series { name: "Edited", class: "series-2", values: view.candidate.mqls_per_week.iter().map(|week| week.mqls as f64).collect() },
                Series { name: "Active", class: "series-1", values: view.active.mqls_per_week.iter().map(|week| week.mqls as f64).collect() },
            ]))
            div class="columns" {
                div { h3 { "Leads gained: " span data-count="gained" { (comparison.only_model.len()) } } (lead_list(&comparison.only_model)) }
                div { h3 { "Leads lost: " span data-count="lost" { (comparison.only_against.len()) } } (lead_list(&comparison.only_against)) }
            }
        }
    }
}
