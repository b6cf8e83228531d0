//! The criteria report (spec/analytics.md, "Criteria report"): for each
//! engagement and fit rule, the leads it fired for, their conversion rate
//! against the others', the lift and the rule's share of the points that
//! took leads over the threshold; conversion by score band; and sales'
//! rejection reasons. No IO: callers load the log and the outcomes.
//!
//! The choices the spec leaves open are listed in docs/scoring.md,
//! "Criteria report".

use crate::kpis::ratio;
use crate::log::EventLog;
use crate::model::{Model, Selector};
use crate::outcome::{Outcome, OutcomeStage};
use crate::score::{fit_rules_held, lead_histories, tidy};
use crate::time::EventTime;
use rayon::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

/// What the report needs to know of one lead as of a time.
#[derive(Clone, Debug, PartialEq)]
pub struct LeadRules {
    pub lead_id: String,
    /// Per engagement rule (model order): whether the lead had an event it
    /// matches (a visit, for a visit rule) at or before as-of.
    pub fired: Vec<bool>,
    /// Per fit rule (personas in model order, their rules flattened):
    /// whether it held on the lead's traits at as-of.
    pub fit_held: Vec<bool>,
    /// Engagement at as-of.
    pub engagement: f64,
    pub mql_at: Option<EventTime>,
    /// Per engagement rule: its total at `mql_at` (empty when never an MQL).
    pub mql_rule_totals: Vec<f64>,
    /// Per fit rule: its points when it held at `mql_at` in the persona
    /// that gave the fit, else 0 (empty when never an MQL).
    pub mql_fit_points: Vec<i64>,
}

impl LeadRules {
    /// The score that places the lead in a band: engagement at `mql_at` for
    /// an MQL, else at as-of.
    fn band_score(&self) -> f64 {
        match self.mql_at {
            Some(_) => tidy(self.mql_rule_totals.iter().sum()),
            None => self.engagement,
        }
    }
}

/// The rule facts of every lead of a log (anonymous visitors left out) that
/// has an event at or before `as_of`, sorted by lead id.
pub fn lead_rules(log: &EventLog, as_of: EventTime) -> Vec<LeadRules> {
    let model = log.model();
    let mut leads: Vec<LeadRules> = lead_histories(log, as_of)
        .into_par_iter()
        .map(|history| {
            let mut fired = vec![false; model.engagement.len()];
            for &index in &history.events {
                for &rule in log.matched_rules(history.event(index)) {
                    fired[rule as usize] = true;
                }
            }
            for (rule_index, rule) in model.engagement.iter().enumerate() {
                if rule.selector == Selector::Visit {
                    fired[rule_index] = !history.visits.is_empty();
                }
            }
            let fit_held = fit_rules_held(log, &history.traits_at(as_of));
            let engagement = tidy(history.rule_totals(as_of).iter().sum());
            let mql_at = history.mql_at(as_of);
            let (mql_rule_totals, mql_fit_points) = match mql_at {
                None => (Vec::new(), Vec::new()),
                Some(at) => {
                    let traits = history.traits_at(at);
                    let persona = history.fit(&traits).persona;
                    let held = fit_rules_held(log, &traits);
                    let mut points = Vec::with_capacity(held.len());
                    for (persona_index, rules) in model.personas.iter().enumerate() {
                        for rule in &rules.fit {
                            let holds = held[points.len()];
                            points.push(if holds && persona == Some(persona_index) { rule.points } else { 0 });
                        }
                    }
                    (history.rule_totals(at), points)
                }
            };
            LeadRules {
                lead_id: history.lead.lead_id(log),
                fired,
                fit_held,
                engagement,
                mql_at,
                mql_rule_totals,
                mql_fit_points,
            }
        })
        .collect();
    leads.sort_unstable_by(|a, b| a.lead_id.cmp(&b.lead_id));
    leads
}

/// Whether a row is about an engagement or a fit rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Engagement,
    Fit,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Engagement => "engagement",
            RuleKind::Fit => "fit",
        }
    }
}

/// What one rule did.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleRow {
    pub kind: RuleKind,
    /// The persona of a fit rule.
    pub persona: Option<String>,
    pub rule: String,
    /// Leads it fired for, and those it did not.
    pub leads_fired: u64,
    pub leads_not_fired: u64,
    pub won_fired: u64,
    pub won_not_fired: u64,
    /// Won / leads, of those it fired for and of the others.
    pub conversion_fired: Option<f64>,
    pub conversion_not_fired: Option<f64>,
    /// `conversion_fired / conversion_not_fired`; `None` when either is
    /// missing or the second is 0.
    pub lift: Option<f64>,
    /// Its share of the positive points the MQLs had at `mql_at`
    /// (engagement rules among engagement points, fit rules among fit points).
    pub share_of_mql_points: Option<f64>,
}

/// Conversion of the leads of one score band.
#[derive(Clone, Debug, PartialEq)]
pub struct BandRow {
    /// 1 (lowest tenth) to 10 (highest).
    pub band: u32,
    pub leads: u64,
    pub won: u64,
    pub conversion_rate: f64,
    pub min_engagement: f64,
    pub max_engagement: f64,
}

/// How often sales gave one reason for a rejection.
#[derive(Clone, Debug, PartialEq)]
pub struct ReasonRow {
    /// The reason as written (`unspecified` when it was empty).
    pub reason: String,
    pub rejections: u64,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq)]
pub struct CriteriaReport {
    pub as_of: EventTime,
    pub leads: u64,
    pub mqls: u64,
    pub won: u64,
    pub conversion_rate: Option<f64>,
    /// Engagement rules in model order, then fit rules persona by persona.
    pub rules: Vec<RuleRow>,
    /// Bands that have leads, lowest first.
    pub bands: Vec<BandRow>,
    /// Most frequent first, then by reason.
    pub rejection_reasons: Vec<ReasonRow>,
}

/// Computes the report over some leads (from [`lead_rules`] with the same
/// model) and their outcomes. Only outcomes at or before `as_of` of those
/// leads count: a lead is won when it has a `won` one.
pub fn compute_criteria(model: &Model, leads: &[LeadRules], outcomes: &[Outcome], as_of: EventTime) -> CriteriaReport {
    let known: HashSet<&str> = leads.iter().map(|lead| lead.lead_id.as_str()).collect();
    let counted: Vec<&Outcome> =
        outcomes.iter().filter(|outcome| outcome.at <= as_of && known.contains(outcome.lead_id.as_str())).collect();
    let won_ids: HashSet<&str> = counted
        .iter()
        .filter(|outcome| outcome.stage == OutcomeStage::Won)
        .map(|outcome| outcome.lead_id.as_str())
        .collect();
    let won: Vec<bool> = leads.iter().map(|lead| won_ids.contains(lead.lead_id.as_str())).collect();
    let mqls: Vec<&LeadRules> = leads.iter().filter(|lead| lead.mql_at.is_some()).collect();

    let row = |kind: RuleKind, persona: Option<String>, rule: String, fired: &dyn Fn(&LeadRules) -> bool, share| {
        let (mut fired_leads, mut fired_won, mut other_won) = (0, 0, 0);
        for (lead, won) in leads.iter().zip(&won) {
            if fired(lead) {
                fired_leads += 1;
                fired_won += u64::from(*won);
            } else {
                other_won += u64::from(*won);
            }
        }
        let other_leads = leads.len() as u64 - fired_leads;
        let conversion_fired = ratio(fired_won, fired_leads);
        let conversion_not_fired = ratio(other_won, other_leads);
        let lift = match (conversion_fired, conversion_not_fired) {
            (Some(with), Some(without)) if without > 0.0 => Some(with / without),
            _ => None,
        };
        RuleRow {
            kind,
            persona,
            rule,
            leads_fired: fired_leads,
            leads_not_fired: other_leads,
            won_fired: fired_won,
            won_not_fired: other_won,
            conversion_fired,
            conversion_not_fired,
            lift,
            share_of_mql_points: share,
        }
    };
    // The positive points each MQL had at `mql_at`, per rule.
    let engagement_points: Vec<Vec<f64>> = mqls.iter().map(|lead| lead.mql_rule_totals.clone()).collect();
    let fit_points: Vec<Vec<f64>> =
        mqls.iter().map(|lead| lead.mql_fit_points.iter().map(|&points| points as f64).collect()).collect();
    let share = |index: usize, points: &[Vec<f64>]| {
        let total: f64 = points.iter().flatten().map(|value| value.max(0.0)).sum();
        let own: f64 = points.iter().map(|lead| lead.get(index).copied().unwrap_or(0.0).max(0.0)).sum();
        (total > 0.0).then(|| own / total)
    };

    let mut rules = Vec::new();
    for (index, rule) in model.engagement.iter().enumerate() {
        let fired = |lead: &LeadRules| lead.fired.get(index).copied().unwrap_or(false);
        let share = share(index, &engagement_points);
        rules.push(row(RuleKind::Engagement, None, rule.id.clone(), &fired, share));
    }
    let mut index = 0;
    for persona in &model.personas {
        for rule in &persona.fit {
            let fired = |lead: &LeadRules| lead.fit_held.get(index).copied().unwrap_or(false);
            let share = share(index, &fit_points);
            rules.push(row(RuleKind::Fit, Some(persona.id.clone()), rule.id.clone(), &fired, share));
            index += 1;
        }
    }

    let mut rejections: BTreeMap<String, u64> = BTreeMap::new();
    for outcome in counted.iter().filter(|outcome| outcome.stage == OutcomeStage::Rejected) {
        let reason = outcome.reason.as_deref().map(str::trim).filter(|reason| !reason.is_empty());
        *rejections.entry(reason.unwrap_or("unspecified").to_owned()).or_default() += 1;
    }
    let mut rejection_reasons: Vec<ReasonRow> =
        rejections.into_iter().map(|(reason, rejections)| ReasonRow { reason, rejections }).collect();
    rejection_reasons.sort_by(|a, b| b.rejections.cmp(&a.rejections).then_with(|| a.reason.cmp(&b.reason)));

    let won_count = won.iter().filter(|won| **won).count() as u64;
    CriteriaReport {
        as_of,
        leads: leads.len() as u64,
        mqls: mqls.len() as u64,
        won: won_count,
        conversion_rate: ratio(won_count, leads.len() as u64),
        rules,
        bands: bands(leads, &won),
        rejection_reasons,
    }
}

/// Deciles of the band score: leads sorted by score, the lead at position
/// `i` of `n` (from 0, lowest first) in band `i * 10 / n + 1`, except that
/// tied leads all go in the band of the first of them.
fn bands(leads: &[LeadRules], won: &[bool]) -> Vec<BandRow> {
    let mut scored: Vec<(f64, bool)> = leads.iter().map(LeadRules::band_score).zip(won.iter().copied()).collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let count = scored.len();
    let mut rows: Vec<BandRow> = Vec::new();
    let mut tie_start = 0;
    for (position, &(score, won)) in scored.iter().enumerate() {
        if position > 0 && scored[position - 1].0 != score {
            tie_start = position;
        }
        let band = (tie_start * 10 / count + 1) as u32;
        match rows.last_mut() {
            Some(row) if row.band == band => {
                row.leads += 1;
                row.won += u64::from(won);
                row.max_engagement = score;
            }
            _ => rows.push(BandRow {
                band,
                leads: 1,
                won: u64::from(won),
                conversion_rate: 0.0,
                min_engagement: score,
                max_engagement: score,
            }),
        }
    }
    for row in &mut rows {
        row.conversion_rate = row.won as f64 / row.leads as f64;
    }
    rows
}

/// A number rounded to 4 decimals, for display.
fn rounded(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// The report as JSON: numbers rounded to 4 decimals, `null` for a rate,
/// lift or share without a denominator.
pub fn criteria_json(report: &CriteriaReport) -> Value {
    let optional = |value: Option<f64>| value.map(rounded);
    json!({
        "as_of": report.as_of.to_string(),
        "leads": report.leads,
        "mqls": report.mqls,
        "won": report.won,
        "conversion_rate": optional(report.conversion_rate),
        "rules": report.rules.iter().map(|row| json!({
            "kind": row.kind.as_str(),
            "persona": row.persona,
            "rule": row.rule,
            "leads_fired": row.leads_fired,
            "leads_not_fired": row.leads_not_fired,
            "won_fired": row.won_fired,
            "won_not_fired": row.won_not_fired,
            "conversion_fired": optional(row.conversion_fired),
            "conversion_not_fired": optional(row.conversion_not_fired),
            "lift": optional(row.lift),
            "share_of_mql_points": optional(row.share_of_mql_points),
        })).collect::<Vec<_>>(),
        "bands": report.bands.iter().map(|row| json!({
            "band": row.band,
            "leads": row.leads,
            "won": row.won,
            "conversion_rate": rounded(row.conversion_rate),
            "min_engagement": rounded(row.min_engagement),
            "max_engagement": rounded(row.max_engagement),
        })).collect::<Vec<_>>(),
        "rejection_reasons": report.rejection_reasons.iter().map(|row| json!({
            "reason": row.reason,
            "rejections": row.rejections,
        })).collect::<Vec<_>>(),
    })
}

/// The columns of the report as one table (CSV and the terminal), in the
/// order of [`criteria_cells`]. `section` says what a row is: `rule`,
/// `band` or `rejection`; a column that does not apply is empty.
pub const CRITERIA_COLUMNS: [&str; 13] = [
    "section",
    "kind",
    "persona",
    "name",
    "leads",
    "won",
    "conversion_rate",
    "leads_without",
    "conversion_rate_without",
    "lift",
    "share_of_mql_points",
    "min_engagement",
    "max_engagement",
];

/// The report as rows of text cells in [`CRITERIA_COLUMNS`] order: rules
/// (leads and conversion of those the rule fired for, then of the others),
/// bands, rejection reasons (the count in `leads`).
pub fn criteria_cells(report: &CriteriaReport) -> Vec<Vec<String>> {
    let number = |value: f64| format!("{}", rounded(value));
    let optional = |value: Option<f64>| value.map(number).unwrap_or_default();
    let mut rows = Vec::new();
    for row in &report.rules {
        rows.push(vec![
            "rule".to_owned(),
            row.kind.as_str().to_owned(),
            row.persona.clone().unwrap_or_default(),
            row.rule.clone(),
            row.leads_fired.to_string(),
            row.won_fired.to_string(),
            optional(row.conversion_fired),
            row.leads_not_fired.to_string(),
            optional(row.conversion_not_fired),
            optional(row.lift),
            optional(row.share_of_mql_points),
            String::new(),
            String::new(),
        ]);
    }
    for row in &report.bands {
        rows.push(vec![
            "band".to_owned(),
            String::new(),
            String::new(),
            row.band.to_string(),
            row.leads.to_string(),
            row.won.to_string(),
            number(row.conversion_rate),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            number(row.min_engagement),
            number(row.max_engagement),
        ]);
    }
    for row in &report.rejection_reasons {
        let mut cells = vec![String::new(); CRITERIA_COLUMNS.len()];
        cells[0] = "rejection".to_owned();
        cells[3] = row.reason.clone();
        cells[4] = row.rejections.to_string();
        rows.push(cells);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Keep;
    use std::sync::Arc;

    /// Nothing decays. An MQL needs 20 points and grade B (50), so the
    /// `rich` rule (60) is needed to qualify.
    const MODEL: &str = r#"
name = "criteria"
[mql]
engagement_threshold = 20
min_grade = "B"
[grades]
A = 75
B = 50
C = 25
[[engagement]]
id = "catalog"
type = "track"
event = "Catalog Downloaded"
points = 20
half_life_days = 0
[[engagement]]
id = "product-page"
type = "page"
path_prefix = "/products/"
points = 5
half_life_days = 0
[[persona]]
id = "buyer"
[[persona.fit]]
id = "rich"
trait = "income"
gte = 100000
points = 60
[[persona.fit]]
id = "adult"
trait = "age"
gte = 18
points = 20
"#;

    fn time(text: &str) -> EventTime {
        crate::outcome::parse_time(text).unwrap()
    }

    fn identify(id: &str, user: &str, traits: &str, at: &str) -> String {
        format!(
            r#"{{"type":"identify","messageId":"{id}","userId":"{user}","traits":{traits},"timestamp":"{at}T00:00:00Z"}}"#
        )
    }

    fn catalog(id: &str, user: &str, at: &str) -> String {
        format!(
            r#"{{"type":"track","messageId":"{id}","userId":"{user}","event":"Catalog Downloaded","timestamp":"{at}T00:00:00Z"}}"#
        )
    }

    fn page(id: &str, who: &str, at: &str) -> String {
        format!(
            r#"{{"type":"page","messageId":"{id}",{who},"properties":{{"path":"/products/ring"}},"timestamp":"{at}T00:00:00Z"}}"#
        )
    }

    fn outcome(lead: &str, stage: OutcomeStage, at: &str, reason: Option<&str>) -> Outcome {
        Outcome { lead_id: lead.into(), stage, at: time(at), reason: reason.map(str::to_owned), revenue: None }
    }

    /// The hand-made leads, as of 2026-11-10:
    ///
    /// | lead | traits (fit) | events | mql_at (totals then) | outcomes |
    /// | u1 | income 150000, age 30 (80, A) | page 11-02, catalog 11-03 | 11-03 (catalog 20, page 5; rich 60, adult 20) | won 11-05 |
    /// | u2 | income 200000 (60, B) | catalog 11-02, page 11-04 | 11-02 (catalog 20; rich 60) | rejected "no budget" 11-04, rejected "bad fit" 11-20 (after as-of) |
    /// | u3 | income 10, age 40 (20, D) | catalog 11-02, page 11-03 | - (engagement 25 at as-of) | rejected "no budget" 11-05 |
    /// | u4 | age 20 (20, D) | - | - (0) | won 11-06 |
    /// | u5 | - | page 11-02 | - (5) | rejected "" 11-05, won 11-20 (after as-of) |
    /// | anon:a1 | - | page 11-02 | left out | - |
    ///
    /// And a `won` outcome for a lead the log does not know (left out).
    fn report() -> CriteriaReport {
        let lines = [
            identify("1", "u1", r#"{"income":150000,"age":30}"#, "2026-11-01"),
            page("2", r#""userId":"u1""#, "2026-11-02"),
            catalog("3", "u1", "2026-11-03"),
            identify("4", "u2", r#"{"income":200000}"#, "2026-11-01"),
            catalog("5", "u2", "2026-11-02"),
            page("6", r#""userId":"u2""#, "2026-11-04"),
            identify("7", "u3", r#"{"income":10,"age":40}"#, "2026-11-01"),
            catalog("8", "u3", "2026-11-02"),
            page("9", r#""userId":"u3""#, "2026-11-03"),
            identify("10", "u4", r#"{"age":20}"#, "2026-11-01"),
            page("11", r#""userId":"u5""#, "2026-11-02"),
            page("12", r#""anonymousId":"a1""#, "2026-11-02"),
        ];
        let model = Arc::new(Model::parse(MODEL).unwrap());
        let mut log = EventLog::new(model.clone(), Keep::Profile);
        let bytes: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
        let summary = log.append_lines(&bytes, 1, time("2026-11-01"));
        assert!(summary.rejections.is_empty(), "{:?}", summary.rejections);
        use OutcomeStage::*;
        let outcomes = [
            outcome("u1", Won, "2026-11-05", None),
            outcome("u2", Rejected, "2026-11-04", Some("no budget")),
            outcome("u2", Rejected, "2026-11-20", Some("bad fit")),
            outcome("u3", Rejected, "2026-11-05", Some("no budget")),
            outcome("u4", Won, "2026-11-06", None),
            outcome("u5", Rejected, "2026-11-05", Some(" ")),
            outcome("u5", Won, "2026-11-20", None),
            outcome("ghost", Won, "2026-11-05", None),
        ];
        let as_of = time("2026-11-10");
        compute_criteria(&model, &lead_rules(&log, as_of), &outcomes, as_of)
    }

    fn close(actual: Option<f64>, expected: Option<f64>) -> bool {
        match (actual, expected) {
            (Some(actual), Some(expected)) => (actual - expected).abs() < 1e-9,
            (actual, expected) => actual == expected,
        }
    }

    #[test]
    fn the_report_counts_known_leads_mqls_and_wins_up_to_as_of_without_visitors() {
        let log_report = report();
        assert_eq!((log_report.leads, log_report.mqls, log_report.won), (5, 2, 2));
        assert!(close(log_report.conversion_rate, Some(0.4)));
    }

    #[test]
    fn each_rule_has_its_leads_conversion_with_and_without_lift_and_share() {
        let report = report();
        // (kind, persona, rule, fired, won of them, not fired, won of them,
        // conversion with, without, lift, share).
        // catalog fired for u1, u2, u3 (won: u1), not for u4, u5 (won: u4):
        // 1/3 against 1/2, lift (1/3)/(1/2) = 2/3. The MQLs' positive
        // engagement at mql_at: u1 20 + 5, u2 20, 45 in all: catalog 40/45.
        // product-page fired for u1, u2 (after its mql_at: it still fired),
        // u3, u5 (won: u1): 1/4; not for u4 (won): 1/1; lift 0.25; share 5/45.
        // rich held for u1, u2 (won: u1): 1/2; not for u3, u4, u5 (won: u4):
        // 1/3; lift 1.5. adult held for u1, u3, u4 (won: u1, u4): 2/3; not
        // for u2, u5: 0/2, so no lift. Fit points of the MQLs at mql_at: u1
        // rich 60 + adult 20, u2 rich 60, 140 in all: rich 120/140, adult 20/140.
        let expected = [
            (
                RuleKind::Engagement,
                None,
                "catalog",
                3,
                1,
                2,
                1,
                Some(1.0 / 3.0),
                Some(0.5),
                Some(2.0 / 3.0),
                Some(40.0 / 45.0),
            ),
            (
                RuleKind::Engagement,
                None,
                "product-page",
                4,
                1,
                1,
                1,
                Some(0.25),
                Some(1.0),
                Some(0.25),
                Some(5.0 / 45.0),
            ),
            (
                RuleKind::Fit,
                Some("buyer"),
                "rich",
                2,
                1,
                3,
                1,
                Some(0.5),
                Some(1.0 / 3.0),
                Some(1.5),
                Some(120.0 / 140.0),
            ),
            (RuleKind::Fit, Some("buyer"), "adult", 3, 2, 2, 0, Some(2.0 / 3.0), Some(0.0), None, Some(20.0 / 140.0)),
        ];
        assert_eq!(report.rules.len(), expected.len());
        for (row, expected) in report.rules.iter().zip(expected) {
            let (kind, persona, rule, fired, won_fired, other, won_other, with, without, lift, share) = expected;
            assert_eq!((row.kind, row.persona.as_deref(), row.rule.as_str()), (kind, persona, rule));
            assert_eq!(
                (row.leads_fired, row.won_fired, row.leads_not_fired, row.won_not_fired),
                (fired, won_fired, other, won_other),
                "{rule}"
            );
            assert!(close(row.conversion_fired, with), "{rule}: {row:?}");
            assert!(close(row.conversion_not_fired, without), "{rule}: {row:?}");
            assert!(close(row.lift, lift), "{rule}: {row:?}");
            assert!(close(row.share_of_mql_points, share), "{rule}: {row:?}");
        }
    }

    #[test]
    fn bands_are_deciles_of_engagement_at_mql_at_or_as_of_with_ties_together() {
        // Band scores: u4 0, u5 5, u2 20 (at its mql_at, before its page),
        // u1 25 (at mql_at), u3 25 (as-of). Of 5 leads, positions 0..4 give
        // bands 1, 3, 5, 7 and 9, but u3 ties with u1 and joins band 7.
        let report = report();
        let bands: Vec<(u32, u64, u64, f64, f64, f64)> = report
            .bands
            .iter()
            .map(|row| (row.band, row.leads, row.won, row.conversion_rate, row.min_engagement, row.max_engagement))
            .collect();
        assert_eq!(
            bands,
            [
                (1, 1, 1, 1.0, 0.0, 0.0),
                (3, 1, 0, 0.0, 5.0, 5.0),
                (5, 1, 0, 0.0, 20.0, 20.0),
                (7, 2, 1, 0.5, 25.0, 25.0)
            ]
        );
    }

    #[test]
    fn rejection_reasons_count_rejections_up_to_as_of_most_frequent_first() {
        // u2 and u3 "no budget"; u5 with a blank reason; u2's "bad fit" comes after as-of.
        let reasons: Vec<(String, u64)> =
            report().rejection_reasons.into_iter().map(|row| (row.reason, row.rejections)).collect();
        assert_eq!(reasons, [("no budget".to_owned(), 2), ("unspecified".to_owned(), 1)]);
    }

    #[test]
    fn no_leads_give_empty_rates_and_no_bands() {
        let model = Model::parse(MODEL).unwrap();
        let report = compute_criteria(&model, &[], &[], time("2026-11-10"));
        assert_eq!((report.leads, report.conversion_rate, report.bands.len()), (0, None, 0));
        for row in &report.rules {
            assert_eq!((row.conversion_fired, row.lift, row.share_of_mql_points), (None, None, None));
        }
    }

    #[test]
    fn the_cells_have_one_row_per_rule_band_and_reason() {
        let report = report();
        let cells = criteria_cells(&report);
        assert_eq!(cells.len(), 4 + 4 + 2);
        assert!(cells.iter().all(|row| row.len() == CRITERIA_COLUMNS.len()));
        assert_eq!(
            cells[0][..11],
            ["rule", "engagement", "", "catalog", "3", "1", "0.3333", "2", "0.5", "0.6667", "0.8889"]
        );
        assert_eq!(criteria_json(&report)["rules"][3]["lift"], Value::Null);
    }
}
