//! A lead's page: profile and traits, identities, engagement over time,
//! fit rules held and missed, stage history and the timeline of events.

use super::charts::{self, TimeLine};
use super::{
    PageError, SignedIn, grade_badge, layout, lead_href, short_date, short_time, stage_badge, two_decimals, value_text,
};
use crate::AppState;
use crate::auth::Permission;
use axum::extract::{Path, State};
use axum::response::Html;
use maud::html;
use qualify_engine::explain::{Explanation, TimelineEntry, explain, timeline};
use qualify_engine::score::score_log;
use qualify_engine::time::{EventTime, MICROS_PER_DAY};
use qualify_store::{LeadRecord, StageTransition, Store};

/// Points of the engagement chart.
const SAMPLES: i64 = 90;
/// Timeline entries shown, newest first.
const TIMELINE_LIMIT: usize = 300;

struct LeadView {
    lead: LeadRecord,
    transitions: Vec<StageTransition>,
    explanation: Option<Explanation>,
    entries: Vec<TimelineEntry>,
    /// (time, engagement) from the first event to now.
    history: Vec<(EventTime, f64)>,
}

/// The lead's engagement at evenly spaced times from its first event to
/// `now`, and at its MQL moment, scored from its own events.
fn engagement_history(
    log: &qualify_engine::log::EventLog,
    lead_id: &str,
    first: EventTime,
    mql_at: Option<EventTime>,
    now: EventTime,
) -> Vec<(EventTime, f64)> {
    let span = (now.as_micros() - first.as_micros()).max(1);
    let mut times: Vec<EventTime> =
        (0..=SAMPLES).map(|index| EventTime::from_micros(first.as_micros() + span * index / SAMPLES)).collect();
    times.extend(mql_at);
    times.sort_unstable();
    times.dedup();
    times
        .into_iter()
        .map(|time| {
            let engagement = score_log(log, time)
                .into_iter()
                .find(|score| score.lead_id == lead_id)
                .map_or(0.0, |score| score.engagement);
            (time, engagement)
        })
        .collect()
}

#[tracing::instrument(skip_all, fields(lead_id = %lead_id))]
pub async fn page(
    State(state): State<AppState>,
    user: SignedIn,
    Path(lead_id): Path<String>,
) -> Result<Html<String>, PageError> {
    user.require(Permission::Read)?;
    let now = EventTime::now();
    let id = lead_id.clone();
    let writer = state.writer.clone();
    let view = state
        .readers
        .run(move |store| {
            let Some(lead) = store.lead(&id)? else { return Ok(None) };
            let transitions = store.transitions(&id)?;
            let (explanation, entries, history) = match writer.lead_log(store, &id)? {
                Some(log) => {
                    let explanation = explain(&log, &id, now);
                    let entries = timeline(&log, &id, now).unwrap_or_default();
                    let first = entries.first().map_or(lead.first_seen, |entry| entry.time);
                    let history = engagement_history(&log, &id, first, lead.mql_at, now);
                    (explanation, entries, history)
                }
                None => (None, Vec::new(), Vec::new()),
            };
            Ok(Some(LeadView { lead, transitions, explanation, entries, history }))
        })
        .await?;
    let view = view.ok_or_else(|| PageError::NotFound(format!("no lead {lead_id:?}")))?;
    Ok(markup(&user, &view, now))
}

fn chart(view: &LeadView) -> maud::Markup {
    let Some((first, _)) = view.history.first() else {
        return html! { p class="empty" { "No events to chart." } };
    };
    let days = |time: EventTime| (time.as_micros() - first.as_micros()) as f64 / MICROS_PER_DAY as f64;
    let last = view.history.last().map_or(*first, |(time, _)| *time);
    let tick_count = 5;
    let ticks = (0..=tick_count)
        .map(|index| {
            let time =
                EventTime::from_micros(first.as_micros() + (last.as_micros() - first.as_micros()) * index / tick_count);
            (days(time), short_date(time))
        })
        .collect();
    let threshold = view.explanation.as_ref().map(|explanation| {
        (explanation.engagement_threshold, format!("MQL threshold {}", explanation.engagement_threshold))
    });
    let line = TimeLine {
        points: view.history.iter().map(|(time, engagement)| (days(*time), *engagement)).collect(),
        ticks,
        threshold,
        moment: view.lead.mql_at.map(|at| (days(at), format!("MQL {}", short_date(at)))),
        point_titles: view
            .history
            .iter()
            .map(|(time, engagement)| format!("{}: {}", short_time(*time), two_decimals(*engagement)))
            .collect(),
    };
    charts::time_line(&format!("Engagement of {} over time", view.lead.lead_id), &line)
}

fn markup(user: &SignedIn, view: &LeadView, now: EventTime) -> Html<String> {
    let lead = &view.lead;
    let title = format!("Lead {}", lead.lead_id);
    layout(
        user,
        "",
        &title,
        html! {
            p class="crumbs" { a href="/" { "← Queue" } }
            div class="lead-head" {
                h1 { (lead.lead_id) }
                (grade_badge(&lead.grade))
                (stage_badge(&lead.stage))
            }
            @if let Some(email) = lead.traits.get("email") { p class="lede" { (value_text(email)) } }
            @if user.may(Permission::RecordOutcomes) {
                div class="lead-actions" { (super::queue::outcome_form(user, &lead.lead_id, &lead.stage, &lead_href(&lead.lead_id))) }
            }
            dl class="facts" {
                div { dt { "Engagement" } dd { (two_decimals(lead.engagement)) } }
                div { dt { "Fit" } dd { (lead.fit) @if let Some(persona) = &lead.persona { " (" (persona) ")" } } }
                div { dt { "MQL since" } dd { @if let Some(at) = lead.mql_at { (short_time(at)) " (" (super::age(at, now)) ")" } @else { "not an MQL" } } }
                div { dt { "Channel" } dd { (lead.channel.as_deref().unwrap_or("direct")) } }
                div { dt { "First seen" } dd { (short_time(lead.first_seen)) } }
                div { dt { "Last seen" } dd { (short_time(lead.last_seen)) } }
                div { dt { "Model" } dd { "version " (lead.model_version) } }
            }
            section {
                h2 { "Engagement over time" }
                (chart(view))
            }
            div class="columns" {
                section {
                    h2 { "Fit rules" }
                    @if let Some(explanation) = &view.explanation {
                        @for persona in &explanation.personas {
                            h3 { (persona.id) " " span class="muted" { "fit " (persona.fit) } }
                            ul class="rules" {
                                @for rule in &persona.rules {
                                    li class=(if rule.held { "held" } else { "missed" }) {
                                        span class="mark" aria-hidden="true" { (if rule.held { "✓" } else { "✗" }) }
                                        span class="visually-hidden" { (if rule.held { "held: " } else { "missed: " }) }
                                        b { (rule.id) } " (" (rule.points) " pts) — " (rule.trait_name) " = "
                                        @match &rule.value { Some(value) => code { (value_text(value)) }, None => span class="muted" { "unknown" } }
                                    }
                                }
                            }
                        }
                        h3 { "Engagement rules" }
                        ul class="rules" {
                            @for rule in explanation.engagement_rules.iter().filter(|rule| rule.total > 0.0) {
                                li { b { (rule.id) } " " (two_decimals(rule.total)) " pts from " (rule.events.len()) " event(s)"
                                    @if rule.capped { " (capped)" } }
                            }
                        }
                    } @else {
                        p class="empty" { "No model is active." }
                    }
                }
                section {
                    h2 { "Traits" }
                    @if lead.traits.is_empty() { p class="empty" { "No traits." } } @else {
                        table class="kv" {
                            tbody {
                                @for (name, value) in &lead.traits {
                                    tr { th scope="row" { (name) } td { (value_text(value)) } }
                                }
                            }
                        }
                    }
                    h2 { "Identities" }
                    @let merged = view.explanation.as_ref().map(|explanation| explanation.merged_user_ids.as_slice()).unwrap_or_default();
                    @if lead.anonymous_ids.is_empty() && merged.is_empty() { p class="empty" { "No linked ids." } }
                    ul class="ids" {
                        @for id in &lead.anonymous_ids { li { "anonymous " code { (id) } } }
                        @for id in merged { li { "merged user " code { (id) } } }
                    }
                    h2 { "Stage history" }
                    @if view.transitions.is_empty() { p class="empty" { "No stage changes yet." } } @else {
                        ol class="history" {
                            @for transition in &view.transitions {
                                li {
                                    time datetime=(transition.at.to_string()) { (short_time(transition.at)) } ": "
                                    (transition.from_stage.as_deref().unwrap_or("new")) " → " b { (transition.to_stage) }
                                    " " span class="muted" { (transition_cause(&transition.cause)) }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Timeline" }
                p class="muted" { (view.entries.len()) " events; newest first; points as of now." }
                div class="table-wrap" {
                    table class="timeline" {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "Points" } } }
                        tbody {
                            @for entry in view.entries.iter().rev().take(TIMELINE_LIMIT) {
                                tr class=[entry.starts_visit.then_some("visit-start")] {
                                    td { time datetime=(entry.time.to_string()) { (short_time(entry.time)) } }
                                    td { (entry.description) }
                                    td {
                                        @for (rule, points) in entry.points.iter().filter(|(_, points)| *points != 0.0) {
                                            span class="rule" { (rule) " " small { "+" (two_decimals(*points)) } } " "
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A transition's cause (a JSON value) in words.
fn transition_cause(cause: &serde_json::Value) -> String {
    if let Some(outcome) = cause.get("outcome") {
        let mut text = "by sales".to_owned();
        if let Some(reason) = outcome.get("reason").and_then(|reason| reason.as_str()) {
            text.push_str(": ");
            text.push_str(reason);
        }
        return text;
    }
    match cause {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}
