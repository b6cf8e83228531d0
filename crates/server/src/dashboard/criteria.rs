//! The criteria report of the active model (the same `ops::criteria` as
//! `GET /api/reports/criteria`): lift per rule, conversion by score band,
//! rejection reasons.

use super::charts::{self, Bar};
use super::{PageError, SignedIn, layout, percent, short_time};
use crate::AppState;
use crate::auth::Permission;
use crate::error::ApiError;
use axum::extract::State;
use axum::response::Html;
use maud::html;
use qualify_engine::criteria::CriteriaReport;
use qualify_engine::time::EventTime;
use qualify_store::ops;

#[tracing::instrument(skip_all)]
pub async fn page(State(state): State<AppState>, user: SignedIn) -> Result<Html<String>, PageError> {
    user.require(Permission::Read)?;
    let now = EventTime::now();
    let report = state.readers.run(move |store| ops::criteria(store, now).map_err(ApiError::from_stored)).await?;
    Ok(match report {
        Some(report) => markup(&user, &report),
        None => layout(
            &user,
            "/criteria",
            "Criteria",
            html! { h1 { "Criteria" } p class="empty" { "No model is active yet." } },
        ),
    })
}

fn lift_text(lift: Option<f64>) -> String {
    lift.map_or_else(|| "–".to_owned(), |lift| format!("×{lift:.2}"))
}

fn markup(user: &SignedIn, report: &CriteriaReport) -> Html<String> {
    let bands: Vec<Bar> = report
        .bands
        .iter()
        .map(|band| Bar {
            label: format!("{}", band.band),
            value: band.conversion_rate * 100.0,
            text: format!("{:.1}%", band.conversion_rate * 100.0),
        })
        .collect();
    let lifts: Vec<Bar> = report
        .rules
        .iter()
        .filter_map(|rule| {
            let lift = rule.lift?;
            let name = match &rule.persona {
                Some(persona) => format!("{persona}/{}", rule.rule),
                None => rule.rule.clone(),
            };
            Some(Bar { label: name, value: lift, text: lift_text(Some(lift)) })
        })
        .collect();
    let reasons: Vec<Bar> = report
        .rejection_reasons
        .iter()
        .map(|reason| Bar {
            label: reason.reason.clone(),
            value: reason.rejections as f64,
            text: reason.rejections.to_string(),
        })
        .collect();
    layout(
        user,
        "/criteria",
        "Criteria",
        html! {
            h1 { "Criteria" }
            p class="lede" {
                (report.leads) " leads, " (report.mqls) " MQLs, " (report.won) " won ("
                (percent(report.conversion_rate)) ") as of " (short_time(report.as_of)) "."
            }
            section {
                h2 { "Conversion by score band" }
                p class="muted" { "Leads in tenths of engagement, lowest (1) to highest (10): the share that was won." }
                @if report.won == 0 { p class="empty" { "No lead has been won yet: conversion needs outcomes from sales." } } @else {
                    (charts::columns("Conversion rate by engagement band", &bands, &|value| format!("{value:.0}%")))
                }
            }
            section {
                h2 { "Lift per rule" }
                p class="muted" { "How much more often the leads a rule fired for were won than the others (×1 is no difference)." }
                @if lifts.is_empty() { p class="empty" { "No rule has a lift yet: it needs won leads on both sides." } } @else {
                    (charts::rows("Lift per rule", &lifts))
                }
                div class="table-wrap" {
                    table class="numbers" {
                        thead { tr {
                            th scope="col" { "Rule" } th scope="col" { "Kind" } th scope="col" class="num" { "Fired for" }
                            th scope="col" class="num" { "Conversion (fired)" } th scope="col" class="num" { "Conversion (others)" }
                            th scope="col" class="num" { "Lift" } th scope="col" class="num" { "Share of MQL points" }
                        } }
                        tbody {
                            @for rule in &report.rules {
                                tr {
                                    th scope="row" { @if let Some(persona) = &rule.persona { span class="muted" { (persona) "/" } } (rule.rule) }
                                    td { (rule.kind.as_str()) }
                                    td class="num" { (rule.leads_fired) }
                                    td class="num" { (percent(rule.conversion_fired)) }
                                    td class="num" { (percent(rule.conversion_not_fired)) }
                                    td class="num" { (lift_text(rule.lift)) }
                                    td class="num" { (percent(rule.share_of_mql_points)) }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Rejection reasons" }
                @if reasons.is_empty() { p class="empty" { "Sales has rejected no lead yet." } } @else {
                    (charts::rows("Rejections by reason", &reasons))
                }
            }
        },
    )
}
