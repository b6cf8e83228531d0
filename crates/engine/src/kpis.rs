//! KPIs for a period `[from, to)`, overall, by channel or by week
//! (spec/analytics.md, "KPIs for a period"), computed from per-lead facts,
//! outcomes and spend rows. No IO: callers load the facts and hand them over.
//!
//! The choices the spec leaves open are listed in docs/scoring.md, "KPIs".

use crate::outcome::{Outcome, OutcomeStage, Spend};
use crate::time::{EventTime, MICROS_PER_DAY};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// What the KPIs need to know of one lead (anonymous visitors are left out
/// by the caller).
#[derive(Clone, Debug, PartialEq)]
pub struct LeadFacts {
    pub lead_id: String,
    /// When its userId was first seen.
    pub created_at: EventTime,
    /// Its first-touch channel (`direct` when it had none).
    pub channel: String,
    pub mql_at: Option<EventTime>,
    /// Every outcome of the lead, in any order.
    pub outcomes: Vec<Outcome>,
}

/// A period `[from, to)`, `to` after `from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    from: EventTime,
    to: EventTime,
}

impl Period {
    /// The period `[from, to)`, if `to` is after `from`.
    pub fn new(from: EventTime, to: EventTime) -> Option<Period> {
        (to > from).then_some(Period { from, to })
    }

    pub fn from(self) -> EventTime {
        self.from
    }

    pub fn to(self) -> EventTime {
        self.to
    }

    pub fn contains(self, time: EventTime) -> bool {
        self.from <= time && time < self.to
    }

    fn length_in_weeks(self) -> f64 {
        self.from.days_until(self.to) / 7.0
    }

    /// The period of the same length that ends where this one starts.
    fn previous(self) -> Period {
        let length = self.to.as_micros() - self.from.as_micros();
        Period { from: EventTime::from_micros(self.from.as_micros() - length), to: self.from }
    }
}

/// How the KPIs of a period are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// One row for the whole period.
    Overall,
    /// One row per channel that has leads, MQLs, customers or spend.
    Channel,
    /// One row per ISO week (Monday 00:00 UTC), clipped to the period.
    Week,
}

impl Grouping {
    pub fn parse(text: &str) -> Option<Grouping> {
        match text {
            "overall" => Some(Grouping::Overall),
            "channel" => Some(Grouping::Channel),
            "week" => Some(Grouping::Week),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::Overall => "overall",
            Grouping::Channel => "channel",
            Grouping::Week => "week",
        }
    }
}

/// The KPIs of one group: the whole period, a channel or a week.
#[derive(Clone, Debug, PartialEq)]
pub struct KpiRow {
    /// `all`, the channel, or the ISO week (`2026-W45`).
    pub group: String,
    /// The group's own period (a week clipped to the report's period).
    pub period: Period,
    pub leads_generated: u64,
    pub mqls: u64,
    /// Of the leads created in the period: became MQL / leads.
    pub mql_rate: Option<f64>,
    /// Of the cohort's MQLs that sales accepted or rejected: accepted / those.
    pub sales_acceptance_rate: Option<f64>,
    /// Of the cohort: won / leads.
    pub conversion_rate: Option<f64>,
    /// Of the cohort's MQLs: won / MQLs.
    pub mql_to_customer_rate: Option<f64>,
    pub customers_acquired: u64,
    /// Customers acquired per week of the group's period.
    pub customer_acquisition_rate: f64,
    /// The same, over the previous period of the same length.
    pub previous_customer_acquisition_rate: f64,
    /// The relative change (0.5 is +50%); `None` when the previous rate is 0.
    pub customer_acquisition_rate_change: Option<f64>,
    pub spend: f64,
    pub cost_per_lead: Option<f64>,
    pub cost_per_mql: Option<f64>,
    pub cost_per_acquisition: Option<f64>,
    /// Median days from creation to `mql_at`, over the period's MQLs.
    pub median_days_to_mql: Option<f64>,
    /// Median days from `mql_at` to won, over the period's customers that were MQLs.
    pub median_days_mql_to_won: Option<f64>,
}

/// A lead's facts, reduced to what the KPIs count.
struct Reduced<'a> {
    created_at: EventTime,
    channel: &'a str,
    mql_at: Option<EventTime>,
    /// Its first `won` outcome: a lead is won once, at its first win.
    won_at: Option<EventTime>,
    accepted: bool,
    accepted_or_rejected: bool,
}

/// Computes the KPIs of `period`, grouped as asked. Channels come in name
/// order, weeks in time order.
pub fn compute_kpis(leads: &[LeadFacts], spend: &[Spend], period: Period, grouping: Grouping) -> Vec<KpiRow> {
    let reduced: Vec<Reduced> = leads
        .iter()
        .map(|lead| {
            let has = |stage: OutcomeStage| lead.outcomes.iter().any(|outcome| outcome.stage == stage);
            Reduced {
                created_at: lead.created_at,
                channel: &lead.channel,
                mql_at: lead.mql_at,
                won_at: lead
                    .outcomes
                    .iter()
                    .filter(|outcome| outcome.stage == OutcomeStage::Won)
                    .map(|outcome| outcome.at)
                    .min(),
                accepted: has(OutcomeStage::Accepted),
                accepted_or_rejected: has(OutcomeStage::Accepted) || has(OutcomeStage::Rejected),
            }
        })
        .collect();
    match grouping {
        Grouping::Overall => vec![row("all".into(), &reduced, spend, period, None)],
        Grouping::Channel => {
            let mut channels: BTreeSet<&str> = BTreeSet::new();
            for lead in &reduced {
                let touches = period.contains(lead.created_at)
                    || lead.mql_at.is_some_and(|at| period.contains(at))
                    || lead.won_at.is_some_and(|at| period.contains(at));
                if touches {
                    channels.insert(lead.channel);
                }
            }
            for row in spend {
                if spend_in(row, period) > 0.0 {
                    channels.insert(&row.channel);
                }
            }
            channels
                .into_iter()
                .map(|channel| row(channel.to_owned(), &reduced, spend, period, Some(channel)))
                .collect()
        }
        Grouping::Week => {
            weeks(period).into_iter().map(|(label, week)| row(label, &reduced, spend, week, None)).collect()
        }
    }
}

/// The ISO weeks that overlap `period`, each clipped to it, with its label.
pub(crate) fn weeks(period: Period) -> Vec<(String, Period)> {
    let day = period.from.as_micros().div_euclid(MICROS_PER_DAY);
    // 1970-01-01 was a Thursday, 3 days after a Monday.
    let monday = day - (day + 3).rem_euclid(7);
    let mut start = monday * MICROS_PER_DAY;
    let mut weeks = Vec::new();
    while start < period.to.as_micros() {
        let end = start + 7 * MICROS_PER_DAY;
        let week = Period {
            from: EventTime::from_micros(start.max(period.from.as_micros())),
            to: EventTime::from_micros(end.min(period.to.as_micros())),
        };
        let date = jiff::tz::Offset::UTC.to_datetime(EventTime::from_micros(start).to_timestamp()).date();
        let iso = date.iso_week_date();
        weeks.push((format!("{:04}-W{:02}", iso.year(), iso.week()), week));
        start = end;
    }
    weeks
}

/// The part of a spend row that falls in `period`. A row covers the whole
/// days from its `from` date to its `to` date (both included, UTC), and its
/// amount is spread evenly over that time, so a period that covers part of
/// it gets the same part of the amount.
fn spend_in(row: &Spend, period: Period) -> f64 {
    let first_day = row.from.as_micros().div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
    let end = (row.to.as_micros().div_euclid(MICROS_PER_DAY) + 1) * MICROS_PER_DAY;
    let overlap = end.min(period.to.as_micros()) - first_day.max(period.from.as_micros());
    if overlap <= 0 {
        return 0.0;
    }
    row.amount * overlap as f64 / (end - first_day) as f64
}

/// `numerator / denominator`; `None` without a denominator (a rate of
/// nothing is unknown, not 0). Shared by the KPIs, backtests and criteria.
pub(crate) fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn cost(spend: f64, count: u64) -> Option<f64> {
    (count > 0).then(|| spend / count as f64)
}

/// The median of some values (the mean of the middle two for an even count).
pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        length if length % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

/// Customers acquired in a period (leads whose first win is in it).
fn customers(leads: &[&Reduced], period: Period) -> u64 {
    leads.iter().filter(|lead| lead.won_at.is_some_and(|at| period.contains(at))).count() as u64
}

fn row(group: String, all: &[Reduced], spend: &[Spend], period: Period, channel: Option<&str>) -> KpiRow {
    let leads: Vec<&Reduced> =
        all.iter().filter(|lead| channel.is_none_or(|channel| lead.channel == channel)).collect();
    let cohort: Vec<&&Reduced> = leads.iter().filter(|lead| period.contains(lead.created_at)).collect();
    let cohort_mqls: Vec<&&&Reduced> = cohort.iter().filter(|lead| lead.mql_at.is_some()).collect();
    let period_mqls: Vec<&&Reduced> =
        leads.iter().filter(|lead| lead.mql_at.is_some_and(|at| period.contains(at))).collect();
    let count =
        |leads: &[&&&Reduced], keep: fn(&Reduced) -> bool| leads.iter().filter(|lead| keep(lead)).count() as u64;
    let cohort_won = cohort.iter().filter(|lead| lead.won_at.is_some()).count() as u64;
    let customers_acquired = customers(&leads, period);
    let previous = period.previous();
    let rate = customers_acquired as f64 / period.length_in_weeks();
    let previous_rate = customers(&leads, previous) as f64 / previous.length_in_weeks();
    let spent: f64 = spend
        .iter()
        .filter(|row| channel.is_none_or(|channel| row.channel == channel))
        .map(|row| spend_in(row, period))
        // Folded from +0: `sum` of no floats is -0, which would print as "-0".
        .fold(0.0, |total, amount| total + amount);
    let leads_generated = cohort.len() as u64;
    let mqls = period_mqls.len() as u64;
    KpiRow {
        group,
        period,
        leads_generated,
        mqls,
        mql_rate: ratio(cohort_mqls.len() as u64, leads_generated),
        sales_acceptance_rate: ratio(
            count(&cohort_mqls, |lead| lead.accepted),
            count(&cohort_mqls, |lead| lead.accepted_or_rejected),
        ),
        conversion_rate: ratio(cohort_won, leads_generated),
        mql_to_customer_rate: ratio(count(&cohort_mqls, |lead| lead.won_at.is_some()), cohort_mqls.len() as u64),
        customers_acquired,
        customer_acquisition_rate: rate,
        previous_customer_acquisition_rate: previous_rate,
        customer_acquisition_rate_change: (previous_rate > 0.0).then(|| (rate - previous_rate) / previous_rate),
        spend: spent,
        cost_per_lead: cost(spent, leads_generated),
        cost_per_mql: cost(spent, mqls),
        cost_per_acquisition: cost(spent, customers_acquired),
        median_days_to_mql: median(
            period_mqls.iter().filter_map(|lead| Some(lead.created_at.days_until(lead.mql_at?))).collect(),
        ),
        median_days_mql_to_won: median(
            leads
                .iter()
                .filter(|lead| lead.won_at.is_some_and(|at| period.contains(at)))
                .filter_map(|lead| Some(lead.mql_at?.days_until(lead.won_at?)))
                .collect(),
        ),
    }
}

/// The column names of a KPI table, in the order of [`kpi_cells`].
pub const KPI_COLUMNS: [&str; 19] = [
    "group",
    "from",
    "to",
    "leads_generated",
    "mqls",
    "mql_rate",
    "sales_acceptance_rate",
    "conversion_rate",
    "mql_to_customer_rate",
    "customers_acquired",
    "customer_acquisition_rate",
    "previous_customer_acquisition_rate",
    "customer_acquisition_rate_change",
    "spend",
    "cost_per_lead",
    "cost_per_mql",
    "cost_per_acquisition",
    "median_days_to_mql",
    "median_days_mql_to_won",
];

/// A number rounded to 4 decimals, for display.
pub(crate) fn rounded(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// One row as JSON: times in RFC 3339, numbers rounded to 4 decimals,
/// `null` for a rate or cost without a denominator.
pub fn kpi_row_json(row: &KpiRow) -> Value {
    let optional = |value: Option<f64>| value.map(rounded);
    json!({
        "group": row.group,
        "from": row.period.from.to_string(),
        "to": row.period.to.to_string(),
        "leads_generated": row.leads_generated,
        "mqls": row.mqls,
        "mql_rate": optional(row.mql_rate),
        "sales_acceptance_rate": optional(row.sales_acceptance_rate),
        "conversion_rate": optional(row.conversion_rate),
        "mql_to_customer_rate": optional(row.mql_to_customer_rate),
        "customers_acquired": row.customers_acquired,
        "customer_acquisition_rate": rounded(row.customer_acquisition_rate),
        "previous_customer_acquisition_rate": rounded(row.previous_customer_acquisition_rate),
        "customer_acquisition_rate_change": optional(row.customer_acquisition_rate_change),
        "spend": rounded(row.spend),
        "cost_per_lead": optional(row.cost_per_lead),
        "cost_per_mql": optional(row.cost_per_mql),
        "cost_per_acquisition": optional(row.cost_per_acquisition),
        "median_days_to_mql": optional(row.median_days_to_mql),
        "median_days_mql_to_won": optional(row.median_days_mql_to_won),
    })
}

/// One row as text cells for a table or CSV, in [`KPI_COLUMNS`] order,
/// empty for `None`.
pub fn kpi_cells(row: &KpiRow) -> Vec<String> {
    let number = |value: f64| format!("{}", rounded(value));
    let optional = |value: Option<f64>| value.map(number).unwrap_or_default();
    vec![
        row.group.clone(),
        row.period.from.to_string(),
        row.period.to.to_string(),
        row.leads_generated.to_string(),
        row.mqls.to_string(),
        optional(row.mql_rate),
        optional(row.sales_acceptance_rate),
        optional(row.conversion_rate),
        optional(row.mql_to_customer_rate),
        row.customers_acquired.to_string(),
        number(row.customer_acquisition_rate),
        number(row.previous_customer_acquisition_rate),
        optional(row.customer_acquisition_rate_change),
        number(row.spend),
        optional(row.cost_per_lead),
        optional(row.cost_per_mql),
        optional(row.cost_per_acquisition),
        optional(row.median_days_to_mql),
        optional(row.median_days_mql_to_won),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> EventTime {
        crate::outcome::parse_time(text).unwrap()
    }

    fn period(from: &str, to: &str) -> Period {
        Period::new(time(from), time(to)).unwrap()
    }

    fn lead(
        lead_id: &str,
        channel: &str,
        created: &str,
        mql_at: Option<&str>,
        outcomes: &[(OutcomeStage, &str)],
    ) -> LeadFacts {
        LeadFacts {
            lead_id: lead_id.into(),
            created_at: time(created),
            channel: channel.into(),
            mql_at: mql_at.map(time),
            outcomes: outcomes
                .iter()
                .map(|(stage, at)| Outcome {
                    lead_id: lead_id.into(),
                    stage: *stage,
                    at: time(at),
                    reason: None,
                    revenue: None,
                })
                .collect(),
        }
    }

    fn spend(channel: &str, from: &str, to: &str, amount: f64) -> Spend {
        Spend { channel: channel.into(), from: time(from), to: time(to), amount }
    }

    /// The hand-made data set. The report period is [2026-11-02, 2026-11-16)
    /// (two ISO weeks, W45 and W46); the previous one [2026-10-19, 2026-11-02).
    ///
    /// | lead | channel | created | mql_at | outcomes |
    /// | a | google | 11-03 | 11-05 | accepted 11-06, won 11-08, won again 11-12 |
    /// | b | google | 11-04 | 11-10 | rejected 11-11 |
    /// | c | meta   | 11-10 | 11-11 | accepted 11-12, won 11-20 (after the period) |
    /// | d | meta   | 11-12 | -     | - |
    /// | e | direct | 10-20 | 11-03 | won 11-13 |
    /// | f | google | 10-25 | -     | won 10-28 (the previous period) |
    /// | g | direct | 11-15 | 11-16 (after the period) | - |
    ///
    /// Spend: google 10-26..11-08 1400 (14 days, 100 a day; 7 days in the
    /// period: 700), meta 11-10..11-19 500 (10 days, 50 a day; 6 in the
    /// period: 300), tiktok 11-02..11-02 70 (one day, no leads).
    fn data() -> (Vec<LeadFacts>, Vec<Spend>) {
        use OutcomeStage::*;
        let leads = vec![
            lead(
                "a",
                "google",
                "2026-11-03",
                Some("2026-11-05"),
                &[(Accepted, "2026-11-06"), (Won, "2026-11-12"), (Won, "2026-11-08")],
            ),
            lead("b", "google", "2026-11-04", Some("2026-11-10"), &[(Rejected, "2026-11-11")]),
            lead("c", "meta", "2026-11-10", Some("2026-11-11"), &[(Accepted, "2026-11-12"), (Won, "2026-11-20")]),
            lead("d", "meta", "2026-11-12", None, &[]),
            lead("e", "direct", "2026-10-20", Some("2026-11-03"), &[(Won, "2026-11-13")]),
            lead("f", "google", "2026-10-25", None, &[(Won, "2026-10-28")]),
            lead("g", "direct", "2026-11-15", Some("2026-11-16"), &[]),
        ];
        let spend = vec![
            spend("google", "2026-10-26", "2026-11-08", 1400.0),
            spend("meta", "2026-11-10", "2026-11-19", 500.0),
            spend("tiktok", "2026-11-02", "2026-11-02", 70.0),
        ];
        (leads, spend)
    }

    /// A row's figures, in [`KPI_COLUMNS`] order after the period: counts
    /// (leads, MQLs, customers), then the optional figures, then spend and
    /// the acquisition rates.
    struct Expected {
        group: &'static str,
        period: (&'static str, &'static str),
        leads: u64,
        mqls: u64,
        customers: u64,
        /// MQL rate, acceptance, conversion, MQL-to-customer.
        rates: [Option<f64>; 4],
        /// This period's and the previous period's customers per week, and the change.
        acquisition: (f64, f64, Option<f64>),
        spend: f64,
        /// Per lead, per MQL, per acquisition.
        costs: [Option<f64>; 3],
        /// Days to MQL, MQL to won.
        medians: [Option<f64>; 2],
    }

    fn close(actual: Option<f64>, expected: Option<f64>) -> bool {
        match (actual, expected) {
            (Some(actual), Some(expected)) => (actual - expected).abs() < 1e-9,
            (None, None) => true,
            _ => false,
        }
    }

    fn check(grouping: Grouping, report: Period, expected: &[Expected]) {
        let (leads, spend) = data();
        let rows = compute_kpis(&leads, &spend, report, grouping);
        let groups: Vec<&str> = rows.iter().map(|row| row.group.as_str()).collect();
        let expected_groups: Vec<&str> = expected.iter().map(|row| row.group).collect();
        assert_eq!(groups, expected_groups);
        for (row, expected) in rows.iter().zip(expected) {
            let context = &expected.group;
            assert_eq!(row.period, period(expected.period.0, expected.period.1), "{context}");
            assert_eq!(
                (row.leads_generated, row.mqls, row.customers_acquired),
                (expected.leads, expected.mqls, expected.customers),
                "{context}: leads, MQLs, customers"
            );
            let rates = [row.mql_rate, row.sales_acceptance_rate, row.conversion_rate, row.mql_to_customer_rate];
            for (index, (actual, wanted)) in rates.into_iter().zip(expected.rates).enumerate() {
                assert!(close(actual, wanted), "{context}: rate {index}: {actual:?}, expected {wanted:?}");
            }
            let acquisition = [
                Some(row.customer_acquisition_rate),
                Some(row.previous_customer_acquisition_rate),
                row.customer_acquisition_rate_change,
            ];
            let wanted_acquisition =
                [Some(expected.acquisition.0), Some(expected.acquisition.1), expected.acquisition.2];
            for (index, (actual, wanted)) in acquisition.into_iter().zip(wanted_acquisition).enumerate() {
                assert!(close(actual, wanted), "{context}: acquisition {index}: {actual:?}, expected {wanted:?}");
            }
            assert!(close(Some(row.spend), Some(expected.spend)), "{context}: spend {}", row.spend);
            let costs = [row.cost_per_lead, row.cost_per_mql, row.cost_per_acquisition];
            for (index, (actual, wanted)) in costs.into_iter().zip(expected.costs).enumerate() {
                assert!(close(actual, wanted), "{context}: cost {index}: {actual:?}, expected {wanted:?}");
            }
            let medians = [row.median_days_to_mql, row.median_days_mql_to_won];
            for (index, (actual, wanted)) in medians.into_iter().zip(expected.medians).enumerate() {
                assert!(close(actual, wanted), "{context}: median {index}: {actual:?}, expected {wanted:?}");
            }
        }
    }

    const REPORT: (&str, &str) = ("2026-11-02", "2026-11-16");

    #[test]
    fn overall_kpis_match_the_hand_computed_figures() {
        // Cohort (created in the period): a, b, c, d, g = 5 leads.
        // MQLs (mql_at in the period): a, b, c, e = 4 (g's is at the end, excluded).
        // MQL rate: a, b, c, g became MQLs: 4/5. Acceptance: of a, b, c, g, sales
        // acted on a (accepted), b (rejected), c (accepted): 2/3. Conversion:
        // a, c won: 2/5. MQL to customer: a, c of 4 MQLs: 1/2.
        // Customers: a (first win 11-08), e (11-13) = 2, per week 2/2 = 1;
        // previous period: f (10-28), 1/2 = 0.5 a week; change (1 - 0.5)/0.5 = 1.
        // Spend 700 + 300 + 70 = 1070: per lead 214, per MQL 267.5, per customer 535.
        // Days to MQL: a 2, b 6, c 1, e 14: median (2 + 6)/2 = 4.
        // MQL to won: a 3 (11-05 to 11-08), e 10 (11-03 to 11-13): median 6.5.
        check(
            Grouping::Overall,
            period(REPORT.0, REPORT.1),
            &[Expected {
                group: "all",
                period: REPORT,
                leads: 5,
                mqls: 4,
                customers: 2,
                rates: [Some(0.8), Some(2.0 / 3.0), Some(0.4), Some(0.5)],
                acquisition: (1.0, 0.5, Some(1.0)),
                spend: 1070.0,
                costs: [Some(214.0), Some(267.5), Some(535.0)],
                medians: [Some(4.0), Some(6.5)],
            }],
        );
    }

    #[test]
    fn kpis_by_channel_match_the_hand_computed_figures_and_show_spend_without_leads() {
        check(
            Grouping::Channel,
            period(REPORT.0, REPORT.1),
            &[
                // direct: cohort g (an MQL after the period, no outcome); MQL e;
                // customer e (0.5 a week, none before); no spend: costs of 0.
                Expected {
                    group: "direct",
                    period: REPORT,
                    leads: 1,
                    mqls: 1,
                    customers: 1,
                    rates: [Some(1.0), None, Some(0.0), Some(0.0)],
                    acquisition: (0.5, 0.0, None),
                    spend: 0.0,
                    costs: [Some(0.0), Some(0.0), Some(0.0)],
                    medians: [Some(14.0), Some(10.0)],
                },
                // google: cohort a, b, both MQLs in the period; a accepted, b
                // rejected; a won (11-08); f won in the previous period: 0.5
                // a week both times, change 0. Spend 700.
                Expected {
                    group: "google",
                    period: REPORT,
                    leads: 2,
                    mqls: 2,
                    customers: 1,
                    rates: [Some(1.0), Some(0.5), Some(0.5), Some(0.5)],
                    acquisition: (0.5, 0.5, Some(0.0)),
                    spend: 700.0,
                    costs: [Some(350.0), Some(350.0), Some(700.0)],
                    medians: [Some(4.0), Some(3.0)],
                },
                // meta: cohort c, d; c an MQL, accepted, won after the period
                // (converted, but not acquired in it). Spend 300.
                Expected {
                    group: "meta",
                    period: REPORT,
                    leads: 2,
                    mqls: 1,
                    customers: 0,
                    rates: [Some(0.5), Some(1.0), Some(0.5), Some(1.0)],
                    acquisition: (0.0, 0.0, None),
                    spend: 300.0,
                    costs: [Some(150.0), Some(300.0), None],
                    medians: [Some(1.0), None],
                },
                // tiktok: spend of 70 and nothing else.
                Expected {
                    group: "tiktok",
                    period: REPORT,
                    leads: 0,
                    mqls: 0,
                    customers: 0,
                    rates: [None, None, None, None],
                    acquisition: (0.0, 0.0, None),
                    spend: 70.0,
                    costs: [None, None, None],
                    medians: [None, None],
                },
            ],
        );
    }

    #[test]
    fn kpis_by_week_match_the_hand_computed_figures() {
        check(
            Grouping::Week,
            period(REPORT.0, REPORT.1),
            &[
                // W45 [11-02, 11-09): cohort a, b (both MQLs, one accepted, one
                // rejected, a won); MQLs a, e; customer a (1 a week); the week
                // before, f (1 a week): change 0. Spend google 700 + tiktok 70.
                // Days to MQL: a 2, e 14: 8. MQL to won: a 3.
                Expected {
                    group: "2026-W45",
                    period: ("2026-11-02", "2026-11-09"),
                    leads: 2,
                    mqls: 2,
                    customers: 1,
                    rates: [Some(1.0), Some(0.5), Some(0.5), Some(0.5)],
                    acquisition: (1.0, 1.0, Some(0.0)),
                    spend: 770.0,
                    costs: [Some(385.0), Some(385.0), Some(770.0)],
                    medians: [Some(8.0), Some(3.0)],
                },
                // W46 [11-09, 11-16): cohort c, d, g; MQLs b, c; c, g became
                // MQLs (2/3), c accepted (1/1), c won (1/3, 1/2); customer e
                // (1 a week), a the week before (1): change 0. Spend meta 300.
                // Days to MQL: b 6, c 1: 3.5. MQL to won: e 10.
                Expected {
                    group: "2026-W46",
                    period: ("2026-11-09", "2026-11-16"),
                    leads: 3,
                    mqls: 2,
                    customers: 1,
                    rates: [Some(2.0 / 3.0), Some(1.0), Some(1.0 / 3.0), Some(0.5)],
                    acquisition: (1.0, 1.0, Some(0.0)),
                    spend: 300.0,
                    costs: [Some(100.0), Some(150.0), Some(300.0)],
                    medians: [Some(3.5), Some(10.0)],
                },
            ],
        );
    }

    #[test]
    fn weeks_are_iso_weeks_from_monday_clipped_to_the_period() {
        let report = period("2026-11-04T12:00:00Z", "2026-11-11");
        let weeks: Vec<(String, Period)> = weeks(report);
        assert_eq!(
            weeks,
            [
                ("2026-W45".to_owned(), period("2026-11-04T12:00:00Z", "2026-11-09")),
                ("2026-W46".to_owned(), period("2026-11-09", "2026-11-11")),
            ]
        );
        // A year's first ISO week can start in December.
        let turn = weeks_of("2026-12-29", "2027-01-05");
        assert_eq!(turn, ["2026-W53", "2027-W01"]);
    }

    fn weeks_of(from: &str, to: &str) -> Vec<String> {
        weeks(period(from, to)).into_iter().map(|(label, _)| label).collect()
    }

    #[test]
    fn spend_is_spread_evenly_over_its_days_and_counted_pro_rata() {
        let google = spend("google", "2026-10-26", "2026-11-08", 1400.0);
        let cases = [
            // The whole row: 14 days.
            (("2026-10-01", "2026-12-01"), 1400.0),
            // Its last 7 days (100 a day).
            (("2026-11-02", "2026-11-16"), 700.0),
            // Half of its last day.
            (("2026-11-08T12:00:00Z", "2026-11-09"), 50.0),
            // Before and after it.
            (("2026-10-01", "2026-10-26"), 0.0),
            (("2026-11-09", "2026-11-30"), 0.0),
        ];
        for ((from, to), expected) in cases {
            let actual = spend_in(&google, period(from, to));
            assert!((actual - expected).abs() < 1e-9, "{from}..{to}: {actual}, expected {expected}");
        }
        // A row given with times covers the whole days of its dates.
        let timed = spend("meta", "2026-11-10T15:00:00Z", "2026-11-11T09:00:00Z", 20.0);
        assert_eq!(spend_in(&timed, period("2026-11-11", "2026-11-12")), 10.0);
    }

    #[test]
    fn medians_take_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5.0]), Some(5.0));
        assert_eq!(median(vec![9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(vec![14.0, 1.0, 6.0, 2.0]), Some(4.0));
    }

    #[test]
    fn a_period_must_end_after_it_starts_and_groupings_parse_from_their_names() {
        assert_eq!(Period::new(time("2026-11-02"), time("2026-11-02")), None);
        assert_eq!(Period::new(time("2026-11-03"), time("2026-11-02")), None);
        for grouping in [Grouping::Overall, Grouping::Channel, Grouping::Week] {
            assert_eq!(Grouping::parse(grouping.as_str()), Some(grouping));
        }
        assert_eq!(Grouping::parse("month"), None);
    }
}
