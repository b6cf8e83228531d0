//! The sales queue (the landing page) and recording outcomes from it.

use super::{
    PageError, REJECTION_REASONS, STAGES, SignedIn, age, csrf_field, grade_badge, layout, lead_href, query_value,
    stage_badge, two_decimals,
};
use crate::AppState;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::writer::WriterHandle;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use qualify_engine::explain::{Explanation, explain};
use qualify_engine::outcome::{Outcome, OutcomeStage};
use qualify_engine::time::EventTime;
use qualify_store::{LeadQuery, LeadRecord, LeadSort, Store, StoreError, lead_cursor};
use serde::Deserialize;

/// Leads per page of the queue.
const PAGE_SIZE: u64 = 25;

#[derive(Debug, Default, Deserialize)]
pub struct QueueParams {
    grade: Option<String>,
    channel: Option<String>,
    /// A stage, or `all`; default `mql`.
    stage: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

impl QueueParams {
    fn stage(&self) -> &str {
        self.stage.as_deref().filter(|stage| !stage.is_empty()).unwrap_or("mql")
    }

    fn text(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|text| !text.is_empty())
    }

    /// This query again, without the cursor (for links and the way back
    /// after an outcome).
    fn href(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in [
            ("grade", Self::text(&self.grade)),
            ("channel", Self::text(&self.channel)),
            ("stage", Some(self.stage())),
            ("q", Self::text(&self.q)),
        ] {
            if let Some(value) = value {
                parts.push(format!("{name}={}", query_value(value)));
            }
        }
        format!("/?{}", parts.join("&"))
    }
}

/// A queue row: the lead, and the rules that carried it with their points.
pub struct Row {
    lead: LeadRecord,
    carried_by: Vec<(String, f64)>,
}

/// The two or three rules that gave a lead most of its points: those of its
/// MQL crossing, or (not an MQL) those of its engagement now.
fn carried_by(explanation: Option<&Explanation>) -> Vec<(String, f64)> {
    let Some(explanation) = explanation else { return Vec::new() };
    let mut totals: Vec<(String, f64)> = match &explanation.mql_crossing {
        Some(crossing) => crossing.rule_totals.clone(),
        None => explanation.engagement_rules.iter().map(|rule| (rule.id.clone(), rule.total)).collect(),
    };
    totals.retain(|(_, total)| *total > 0.0);
    totals.sort_by(|a, b| b.1.total_cmp(&a.1));
    totals.truncate(3);
    totals
}

/// The rows of some leads, explained with the active model (one identity
/// component read per lead: a page is a few dozen).
fn rows(
    writer: &WriterHandle,
    store: &dyn Store,
    leads: Vec<LeadRecord>,
    now: EventTime,
) -> Result<Vec<Row>, ApiError> {
    leads
        .into_iter()
        .map(|lead| {
            let explanation = match writer.lead_log(store, &lead.lead_id)? {
                Some(log) => explain(&log, &lead.lead_id, now),
                None => None,
            };
            Ok(Row { carried_by: carried_by(explanation.as_ref()), lead })
        })
        .collect()
}

struct QueuePage {
    rows: Vec<Row>,
    next_cursor: Option<String>,
    channels: Vec<String>,
}

#[tracing::instrument(skip_all)]
pub async fn page(
    State(state): State<AppState>,
    user: SignedIn,
    Query(params): Query<QueueParams>,
) -> Result<Html<String>, PageError> {
    user.require(Permission::Read)?;
    let stage = params.stage().to_owned();
    let query = LeadQuery {
        stages: if stage == "all" { Vec::new() } else { vec![stage.clone()] },
        grades: QueueParams::text(&params.grade).map(|grade| vec![grade.to_uppercase()]).unwrap_or_default(),
        channels: QueueParams::text(&params.channel).map(|channel| vec![channel.to_owned()]).unwrap_or_default(),
        search: QueueParams::text(&params.q).map(str::to_owned),
        sort: LeadSort::Priority,
        limit: Some(PAGE_SIZE + 1),
        after: QueueParams::text(&params.cursor).map(str::to_owned),
        ..LeadQuery::default()
    };
    let now = EventTime::now();
    let writer = state.writer.clone();
    let found = state
        .readers
        .run(move |store| {
            let mut leads = store.leads(&query).map_err(|error| match error {
                StoreError::Invalid(message) => ApiError::InvalidRequest(message),
                other => ApiError::from(other),
            })?;
            let next_cursor = if leads.len() as u64 > PAGE_SIZE {
                leads.truncate(PAGE_SIZE as usize);
                leads.last().map(|lead| lead_cursor(lead, LeadSort::Priority))
            } else {
                None
            };
            Ok(QueuePage { rows: rows(&writer, store, leads, now)?, next_cursor, channels: store.lead_channels()? })
        })
        .await?;
    Ok(page_markup(&user, &params, found, now))
}

fn page_markup(user: &SignedIn, params: &QueueParams, found: QueuePage, now: EventTime) -> Html<String> {
    let back = params.href();
    let stage = params.stage();
    let title = if stage == "mql" { "Sales queue".to_owned() } else { format!("Leads · {stage}") };
    layout(
        user,
        "/",
        &title,
        html! {
            h1 { (title) }
            p class="lede" { "MQLs by priority: grade first, then engagement, then the most recent MQL." }
            form class="filters" method="get" action="/" role="search" {
                label { "Grade"
                    select name="grade" {
                        option value="" { "any" }
                        @for grade in ["A", "B", "C", "D"] {
                            option value=(grade) selected[QueueParams::text(&params.grade) == Some(grade)] { (grade) }
                        }
                    }
                }
                label { "Channel"
                    select name="channel" {
                        option value="" { "any" }
                        @for channel in &found.channels {
                            option value=(channel) selected[QueueParams::text(&params.channel) == Some(channel.as_str())] { (channel) }
                        }
                    }
                }
                label { "Stage"
                    select name="stage" {
                        @for option in STAGES.iter().copied().chain(["all"]) {
                            option value=(option) selected[stage == option] { (option) }
                        }
                    }
                }
                label class="grow" { "Search"
                    input type="search" name="q" value=[QueueParams::text(&params.q)] placeholder="lead id or email";
                }
                button type="submit" { "Filter" }
            }
            @if found.rows.is_empty() {
                p class="empty" { "No lead matches." }
            } @else {
                div class="table-wrap" {
                    table class="queue" {
                        caption class="visually-hidden" { (title) }
                        thead {
                            tr {
                                th scope="col" { "Lead" }
                                th scope="col" { "Grade" }
                                th scope="col" class="num" { "Engagement" }
                                th scope="col" class="wide" { "Carried by" }
                                th scope="col" { "MQL for" }
                                th scope="col" { "Stage" }
                                th scope="col" class="wide" { "Channel" }
                                @if user.may(Permission::RecordOutcomes) { th scope="col" { "Action" } }
                            }
                        }
                        tbody {
                            @for row in &found.rows {
                                (row_markup(user, row, &back, now))
                            }
                        }
                    }
                }
            }
            nav class="pager" aria-label="Pages" {
                @if params.cursor.is_some() {
                    a href=(back) { "First page" }
                }
                @if let Some(cursor) = &found.next_cursor {
                    a href={ (back) "&cursor=" (query_value(cursor)) } rel="next" { "Next page" }
                }
            }
        },
    )
}

/// One row of the queue; also what the script puts in place after an outcome.
fn row_markup(user: &SignedIn, row: &Row, back: &str, now: EventTime) -> Markup {
    let lead = &row.lead;
    let email = lead.traits.get("email").and_then(|email| email.as_str());
    html! {
        tr id={ "lead-" (super::path_segment(&lead.lead_id)) } data-lead=(lead.lead_id) {
            td class="lead" {
                a href=(lead_href(&lead.lead_id)) { (lead.lead_id) }
                @if let Some(email) = email { br; span class="muted" { (email) } }
            }
            td data-label="Grade" { (grade_badge(&lead.grade)) }
            td class="num" data-label="Engagement" { (two_decimals(lead.engagement)) }
            td class="wide carried" {
                @for (rule, points) in &row.carried_by {
                    span class="rule" title={ (rule) ": " (two_decimals(*points)) " points" } { (rule) " " small { (format!("{points:.0}")) } }
                    " "
                }
            }
            td data-label="MQL for" { @if let Some(at) = lead.mql_at { time datetime=(at.to_string()) title=(super::short_time(at)) { (age(at, now)) } } @else { "–" } }
            td class="stage-cell" data-label="Stage" { (stage_badge(&lead.stage)) }
            td class="wide" data-label="Channel" { (lead.channel.as_deref().unwrap_or("direct")) }
            @if user.may(Permission::RecordOutcomes) {
                td class="actions" { (outcome_form(user, &lead.lead_id, &lead.stage, back)) }
            }
        }
    }
}

/// The outcomes sales may record from a stage: accept or reject an MQL,
/// then won or lost.
pub fn outcome_form(user: &SignedIn, lead_id: &str, stage: &str, back: &str) -> Markup {
    let open = matches!(stage, "mql" | "lead");
    let working = matches!(stage, "accepted" | "sql" | "opportunity");
    html! {
        @if open || working {
            form class="outcome" method="post" action={ (lead_href(lead_id)) "/outcomes" } data-inplace {
                (csrf_field(user))
                input type="hidden" name="back" value=(back);
                @if open {
                    button type="submit" name="stage" value="accepted" class="accept" { "Accept" }
                    span class="group" {
                        select name="reason" aria-label={ "Rejection reason for " (lead_id) } {
                            @for reason in REJECTION_REASONS { option value=(reason) { (reason) } }
                        }
                        button type="submit" name="stage" value="rejected" class="reject" { "Reject" }
                    }
                } @else {
                    button type="submit" name="stage" value="won" class="accept" { "Won" }
                    button type="submit" name="stage" value="lost" class="reject" { "Lost" }
                }
            }
        } @else {
            span class="muted" { "–" }
        }
    }
}

#[derive(Deserialize)]
pub struct OutcomeForm {
    csrf: Option<String>,
    stage: String,
    reason: Option<String>,
    back: Option<String>,
}

/// Records what sales did with a lead, through the writer (as
/// `POST /api/leads/{id}/outcomes` does). A form post is sent back where it
/// came from; the script's request (`X-Requested-With: qualify`) gets the
/// lead's new queue row to put in place.
#[tracing::instrument(skip_all, fields(lead_id = %lead_id))]
pub async fn record_outcome(
    State(state): State<AppState>,
    user: SignedIn,
    headers: HeaderMap,
    Path(lead_id): Path<String>,
    Form(form): Form<OutcomeForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&headers, form.csrf.as_deref())?;
    user.require(Permission::RecordOutcomes)?;
    let stage = OutcomeStage::parse(&form.stage)
        .ok_or_else(|| PageError::BadRequest(format!("{:?} is not an outcome", form.stage)))?;
    // Only the listed reasons, and only on a rejection.
    let reason = match stage {
        OutcomeStage::Rejected => Some(
            form.reason
                .filter(|reason| REJECTION_REASONS.contains(&reason.as_str()))
                .ok_or_else(|| PageError::BadRequest("a rejection needs one of the listed reasons".into()))?,
        ),
        _ => None,
    };
    let now = EventTime::now();
    let outcome = Outcome { lead_id: lead_id.clone(), stage, at: now, reason, revenue: None };
    let id = lead_id.clone();
    let recorded = state
        .writer
        .keeping_log(move |store| -> Result<(), ApiError> {
            if store.lead(&id)?.is_none() {
                return Err(ApiError::NotFound(format!("no lead {id:?}")));
            }
            store.add_outcomes(std::slice::from_ref(&outcome))?;
            Ok(())
        })
        .await?;
    recorded?;
    let back = form.back.filter(|back| back.starts_with('/') && !back.starts_with("//")).unwrap_or_else(|| "/".into());
    let from_script = headers.get("x-requested-with").is_some_and(|value| value == "qualify");
    if !from_script {
        return Ok(Redirect::to(&back).into_response());
    }
    let writer = state.writer.clone();
    let row = state
        .readers
        .run(move |store| {
            let lead = store.lead(&lead_id)?.ok_or_else(|| ApiError::NotFound(format!("no lead {lead_id:?}")))?;
            Ok(rows(&writer, store, vec![lead], now)?.pop())
        })
        .await?;
    let row = row.ok_or_else(|| PageError::Internal("the lead's row is missing".into()))?;
    Ok(Html(row_markup(&user, &row, &back, now).into_string()).into_response())
}
