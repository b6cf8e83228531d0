//! KPIs of a period: the funnel of its leads, weekly trends and a table by
//! channel with costs, from the same `ops::kpis` as `GET /api/kpis`.

use super::charts::{self, Bar, Series};
use super::{PageError, SignedIn, date_field, day_start, layout, money, percent, short_date};
use crate::AppState;
use crate::auth::Permission;
use axum::extract::{Query, State};
use axum::response::Html;
use maud::html;
use qualify_engine::kpis::{Grouping, KpiRow, Period};
use qualify_engine::outcome::OutcomeStage;
use qualify_engine::time::{EventTime, MICROS_PER_DAY};
use qualify_store::ops;
use qualify_store::{LeadQuery, LeadSort, Store, StoreError};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The default period: the last twelve weeks, today included.
const DEFAULT_DAYS: i64 = 84;

#[derive(Debug, Default, Deserialize)]
pub struct KpisParams {
    from: Option<String>,
    to: Option<String>,
}

/// The leads created in a period and how far they got: MQL, accepted by
/// sales, won (each counted once per lead, whenever it happened).
#[derive(Debug, Default, PartialEq)]
pub struct Funnel {
    pub leads: u64,
    pub mqls: u64,
    pub accepted: u64,
    pub won: u64,
}

pub fn funnel(store: &dyn Store, period: Period) -> Result<Funnel, StoreError> {
    let leads = store.leads(&LeadQuery { sort: LeadSort::LeadId, ..LeadQuery::default() })?;
    let mut reached: HashMap<String, HashSet<&'static str>> = HashMap::new();
    for outcome in store.all_outcomes()? {
        let stage = match outcome.stage {
            OutcomeStage::Accepted => "accepted",
            OutcomeStage::Won => "won",
            _ => continue,
        };
        reached.entry(outcome.lead_id).or_default().insert(stage);
    }
    let mut funnel = Funnel::default();
    for lead in leads.iter().filter(|lead| period.contains(lead.first_seen)) {
        let stages = reached.get(&lead.lead_id);
        let has = |stage: &str| stages.is_some_and(|stages| stages.contains(stage));
        funnel.leads += 1;
        funnel.mqls += u64::from(lead.mql_at.is_some());
        funnel.accepted += u64::from(has("accepted"));
        funnel.won += u64::from(has("won"));
    }
    Ok(funnel)
}

struct Report {
    funnel: Funnel,
    overall: Option<KpiRow>,
    weeks: Vec<KpiRow>,
    channels: Vec<KpiRow>,
}

#[tracing::instrument(skip_all)]
pub async fn page(
    State(state): State<AppState>,
    user: SignedIn,
    Query(params): Query<KpisParams>,
) -> Result<Html<String>, PageError> {
    user.require(Permission::Read)?;
    let tomorrow = EventTime::from_micros(day_start(EventTime::now()).as_micros() + MICROS_PER_DAY);
    let to = date_field("to", params.to.as_deref(), tomorrow)?;
    let from = date_field(
        "from",
        params.from.as_deref(),
        EventTime::from_micros(to.as_micros() - DEFAULT_DAYS * MICROS_PER_DAY),
    )?;
    let period =
        Period::new(from, to).ok_or_else(|| PageError::BadRequest("the period must end after it starts".into()))?;
    let report = state
        .readers
        .run(move |store| {
            Ok(Report {
                funnel: funnel(store, period)?,
                overall: ops::kpis(store, period, Grouping::Overall)?.into_iter().next(),
                weeks: ops::kpis(store, period, Grouping::Week)?,
                channels: ops::kpis(store, period, Grouping::Channel)?,
            })
        })
        .await?;
    Ok(markup(&user, period, &report))
}

fn count_bar(label: &str, value: u64, of: Option<u64>) -> Bar {
    let text = match of {
        Some(total) if total > 0 => format!("{value} ({:.1}%)", value as f64 * 100.0 / total as f64),
        _ => value.to_string(),
    };
    Bar { label: label.to_owned(), value: value as f64, text }
}

fn markup(user: &SignedIn, period: Period, report: &Report) -> Html<String> {
    let funnel = &report.funnel;
    // The period's last day, as the form shows it (the end is excluded).
    let last_day = EventTime::from_micros(period.to().as_micros() - MICROS_PER_DAY);
    let weeks: Vec<String> = report.weeks.iter().map(|row| row.group.clone()).collect();
    layout(
        user,
        "/kpis",
        "KPIs",
        html! {
            h1 { "KPIs" }
            form class="filters" method="get" action="/kpis" {
                label { "From" input type="date" name="from" value=(short_date(period.from())); }
                label { "To" input type="date" name="to" value=(short_date(period.to())); }
                button type="submit" { "Show" }
                span class="muted" { "Leads created from " (short_date(period.from())) " to " (short_date(last_day)) " included." }
            }
            section {
                h2 { "Funnel" }
                (charts::rows("Funnel of the period's leads", &[
                    count_bar("Leads", funnel.leads, None),
                    count_bar("MQLs", funnel.mqls, Some(funnel.leads)),
                    count_bar("Accepted", funnel.accepted, Some(funnel.mqls)),
                    count_bar("Won", funnel.won, Some(funnel.accepted)),
                ]))
                dl class="facts funnel-numbers" {
                    div { dt { "Leads" } dd data-kpi="leads" { (funnel.leads) } }
                    div { dt { "MQLs" } dd data-kpi="mqls" { (funnel.mqls) } }
                    div { dt { "Accepted" } dd data-kpi="accepted" { (funnel.accepted) } }
                    div { dt { "Won" } dd data-kpi="won" { (funnel.won) } }
                    @if let Some(row) = &report.overall {
                        div { dt { "MQL rate" } dd { (percent(row.mql_rate)) } }
                        div { dt { "Sales acceptance" } dd { (percent(row.sales_acceptance_rate)) } }
                        div { dt { "Customers / week" } dd { (format!("{:.1}", row.customer_acquisition_rate)) " " span class="muted" { "(" (percent(row.customer_acquisition_rate_change)) " vs previous)" } } }
                        div { dt { "Median days to MQL" } dd { (row.median_days_to_mql.map_or("–".into(), |days| format!("{days:.1}"))) } }
                    }
                }
            }
            section {
                h2 { "Weekly trends" }
                (charts::category_lines("Leads, MQLs and customers per week", &weeks, &[
                    Series { name: "Leads", class: "series-1", values: report.weeks.iter().map(|row| row.leads_generated as f64).collect() },
                    Series { name: "MQLs", class: "series-2", values: report.weeks.iter().map(|row| row.mqls as f64).collect() },
                    Series { name: "Customers", class: "series-3", values: report.weeks.iter().map(|row| row.customers_acquired as f64).collect() },
                ]))
            }
            section {
                h2 { "By channel" }
                (charts::rows("MQLs by channel", &report.channels.iter().map(|row| count_bar(&row.group, row.mqls, Some(row.leads_generated))).collect::<Vec<_>>()))
                div class="table-wrap" {
                    table class="numbers" {
                        thead { tr {
                            th scope="col" { "Channel" } th scope="col" class="num" { "Leads" } th scope="col" class="num" { "MQLs" }
                            th scope="col" class="num" { "MQL rate" } th scope="col" class="num" { "Customers" } th scope="col" class="num" { "Spend" }
                            th scope="col" class="num" { "Cost / lead" } th scope="col" class="num" { "Cost / MQL" } th scope="col" class="num" { "Cost / acquisition" }
                        } }
                        tbody {
                            @for row in &report.channels {
                                tr {
                                    th scope="row" { (row.group) }
                                    td class="num" { (row.leads_generated) } td class="num" { (row.mqls) }
                                    td class="num" { (percent(row.mql_rate)) } td class="num" { (row.customers_acquired) }
                                    @if row.spend > 0.0 {
                                        td class="num" { (format!("{:.2}", row.spend)) }
                                        td class="num" { (money(row.cost_per_lead)) } td class="num" { (money(row.cost_per_mql)) }
                                        td class="num" { (money(row.cost_per_acquisition)) }
                                    } @else {
                                        td class="num" { "–" } td class="num" { "–" } td class="num" { "–" } td class="num" { "–" }
                                    }
                                }
                            }
                        }
                    }
                }
                p class="hint" { "Costs come from the spend imported with " code { "qualify spend import" } "; a channel without spend shows –." }
            }
        },
    )
}
