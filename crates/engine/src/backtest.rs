//! The backtest of a model on history (spec/analytics.md, "Backtest of a
//! model on history"): from the scores as of the end of a window `[from,
//! to)` and sales' outcomes, the window's MQLs, their precision, the recall
//! of the window's customers, the lead time, MQLs per ISO week, and the
//! leads two models disagree on. No IO: callers score the log (see
//! [`backtest_log`]) and load the outcomes.
//!
//! The choices the spec leaves open are listed in docs/scoring.md,
//! "Backtest".

use crate::kpis::{Period, median, ratio, rounded, weeks};
use crate::log::EventLog;
use crate::outcome::{Outcome, OutcomeStage};
use crate::score::{LeadScore, score_log};
use crate::time::EventTime;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// MQLs of one ISO week (Monday 00:00 UTC), clipped to the window.
#[derive(Clone, Debug, PartialEq)]
pub struct WeekMqls {
    /// The ISO week, e.g. `2026-W45`.
    pub week: String,
    pub period: Period,
    pub mqls: u64,
}

/// What one model did over a window.
#[derive(Clone, Debug, PartialEq)]
pub struct Backtest {
    pub period: Period,
    /// Leads (not anonymous visitors) with `mql_at` in the window.
    pub mqls: u64,
    /// Of those, the leads with a `won` outcome at or after their `mql_at`.
    pub won_after_mql: u64,
    /// `won_after_mql / mqls`; `None` without MQLs.
    pub precision: Option<f64>,
    /// Leads whose first `won` outcome is in the window.
    pub won: u64,
    /// Of those, the leads whose `mql_at` is at or before that win.
    pub won_mql_first: u64,
    /// `won_mql_first / won`; `None` without wins.
    pub recall: Option<f64>,
    /// Median days from `mql_at` to the first win at or after it, over the
    /// MQLs counted in `won_after_mql`; `None` when there are none.
    pub median_lead_time_days: Option<f64>,
    /// Every ISO week that overlaps the window, in time order.
    pub mqls_per_week: Vec<WeekMqls>,
    /// The ids of the window's MQLs, sorted.
    pub mql_ids: Vec<String>,
}

/// Whether a score is an anonymous visitor's rather than a lead's.
fn is_anonymous(score: &LeadScore) -> bool {
    score.lead_id.starts_with("anon:")
}

/// The backtest of one model: `scores` are its scores as of `period.to()`
/// (see [`backtest_log`]). Outcomes of leads that have no score (or of
/// anonymous visitors) are ignored; outcomes other than `won` are not used.
pub fn backtest(scores: &[LeadScore], outcomes: &[Outcome], period: Period) -> Backtest {
    let mut wins: HashMap<&str, Vec<EventTime>> = HashMap::new();
    for outcome in outcomes.iter().filter(|outcome| outcome.stage == OutcomeStage::Won) {
        wins.entry(outcome.lead_id.as_str()).or_default().push(outcome.at);
    }
    let leads: Vec<&LeadScore> = scores.iter().filter(|score| !is_anonymous(score)).collect();
    let lead_wins = |score: &LeadScore| wins.get(score.lead_id.as_str()).map(Vec::as_slice).unwrap_or_default();

    let mqls: Vec<(&LeadScore, EventTime)> = leads
        .iter()
        .filter_map(|score| score.mql_at.filter(|&at| period.contains(at)).map(|at| (*score, at)))
        .collect();
    // Days from mql_at to the first win at or after it, per MQL that has one.
    let lead_times: Vec<f64> = mqls
        .iter()
        .filter_map(|&(score, mql_at)| {
            let won_at = lead_wins(score).iter().copied().filter(|&at| at >= mql_at).min()?;
            Some(mql_at.days_until(won_at))
        })
        .collect();
    let won_after_mql = lead_times.len() as u64;

    // A lead is won once, at its first win.
    let won: Vec<(&LeadScore, EventTime)> = leads
        .iter()
        .filter_map(|score| lead_wins(score).iter().copied().min().map(|at| (*score, at)))
        .filter(|&(_, won_at)| period.contains(won_at))
        .collect();
    let won_mql_first =
        won.iter().filter(|(score, won_at)| score.mql_at.is_some_and(|mql_at| mql_at <= *won_at)).count() as u64;

    let mqls_per_week = weeks(period)
        .into_iter()
        .map(|(week, span)| WeekMqls {
            week,
            period: span,
            mqls: mqls.iter().filter(|(_, at)| span.contains(*at)).count() as u64,
        })
        .collect();
    let mut mql_ids: Vec<String> = mqls.iter().map(|(score, _)| score.lead_id.clone()).collect();
    mql_ids.sort_unstable();
    Backtest {
        period,
        mqls: mqls.len() as u64,
        won_after_mql,
        precision: ratio(won_after_mql, mqls.len() as u64),
        won: won.len() as u64,
        won_mql_first,
        recall: ratio(won_mql_first, won.len() as u64),
        median_lead_time_days: median(lead_times),
        mqls_per_week,
        mql_ids,
    }
}

/// Scores `log` as of the end of the window and backtests its model.
pub fn backtest_log(log: &EventLog, outcomes: &[Outcome], period: Period) -> Backtest {
    backtest(&score_log(log, period.to()), outcomes, period)
}

/// The leads two backtests of the same window disagree on.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// MQLs of the window under the first model only, sorted.
    pub only_model: Vec<String>,
    /// MQLs of the window under the second model only, sorted.
    pub only_against: Vec<String>,
}

/// Which leads each backtest qualifies (as MQLs of the window) that the
/// other does not.
pub fn compare(model: &Backtest, against: &Backtest) -> Comparison {
    let first: BTreeSet<&String> = model.mql_ids.iter().collect();
    let second: BTreeSet<&String> = against.mql_ids.iter().collect();
    Comparison {
        only_model: first.difference(&second).map(|id| (*id).clone()).collect(),
        only_against: second.difference(&first).map(|id| (*id).clone()).collect(),
    }
}

/// One backtest as JSON: the counts, rates and median (rounded to 4
/// decimals, `null` without a denominator), the window and `mqls_per_week`.
/// The MQL ids are left out (see [`comparison_json`]).
pub fn backtest_json(name: &str, result: &Backtest) -> Value {
    let optional = |value: Option<f64>| value.map(rounded);
    json!({
        "model_name": name,
        "from": result.period.from().to_string(),
        "to": result.period.to().to_string(),
        "mqls": result.mqls,
        "won_after_mql": result.won_after_mql,
        "precision": optional(result.precision),
        "won": result.won,
        "won_mql_first": result.won_mql_first,
        "recall": optional(result.recall),
        "median_lead_time_days": optional(result.median_lead_time_days),
        "mqls_per_week": result.mqls_per_week.iter().map(|week| json!({
            "week": week.week,
            "from": week.period.from().to_string(),
            "to": week.period.to().to_string(),
            "mqls": week.mqls,
        })).collect::<Vec<Value>>(),
    })
}

/// Two backtests side by side: `{"model": {...}, "against": {...},
/// "only_model": [...], "only_against": [...]}`.
pub fn comparison_json(model: (&str, &Backtest), against: (&str, &Backtest)) -> Value {
    let comparison = compare(model.1, against.1);
    json!({
        "model": backtest_json(model.0, model.1),
        "against": backtest_json(against.0, against.1),
        "only_model": comparison.only_model,
        "only_against": comparison.only_against,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Grade;

    fn time(text: &str) -> EventTime {
        crate::outcome::parse_time(text).unwrap()
    }

    fn period(from: &str, to: &str) -> Period {
        Period::new(time(from), time(to)).unwrap()
    }

    fn score(lead_id: &str, mql_at: Option<&str>) -> LeadScore {
        LeadScore {
            lead_id: lead_id.into(),
            engagement: 0.0,
            fit: 0,
            grade: Grade::D,
            persona: None,
            mql: mql_at.is_some(),
            mql_at: mql_at.map(time),
            first_seen: time("2026-10-01"),
            last_seen: time("2026-11-30"),
        }
    }

    fn outcome(lead_id: &str, stage: OutcomeStage, at: &str) -> Outcome {
        Outcome { lead_id: lead_id.into(), stage, at: time(at), reason: None, revenue: None }
    }

    /// The window is [2026-11-02, 2026-11-16): ISO weeks W45 and W46.
    ///
    /// | lead | mql_at | outcomes |
    /// | a | 11-03 | won 11-07, won again 11-20 |
    /// | b | 11-05 | lost 11-06 |
    /// | c | 11-10 | won 11-30 (after the window) |
    /// | d | 11-12 | won 11-01 (before its MQL, and before the window) |
    /// | e | -     | won 11-08 |
    /// | f | 11-09 | won 11-09 (the same instant) |
    /// | g | 10-20 (before the window) | won 11-04 |
    /// | h | 11-16 (the window's end, excluded) | - |
    /// | anon:x | 11-04 | won 11-05 (anonymous: left out) |
    /// | (zz, no score) | - | won 11-05 (unknown: left out) |
    fn data() -> (Vec<LeadScore>, Vec<Outcome>) {
        use OutcomeStage::*;
        let scores = vec![
            score("a", Some("2026-11-03")),
            score("anon:x", Some("2026-11-04")),
            score("b", Some("2026-11-05")),
            score("c", Some("2026-11-10")),
            score("d", Some("2026-11-12")),
            score("e", None),
            score("f", Some("2026-11-09")),
            score("g", Some("2026-10-20")),
            score("h", Some("2026-11-16")),
        ];
        let outcomes = vec![
            outcome("a", Won, "2026-11-20"),
            outcome("a", Won, "2026-11-07"),
            outcome("b", Lost, "2026-11-06"),
            outcome("c", Won, "2026-11-30"),
            outcome("d", Won, "2026-11-01"),
            outcome("e", Won, "2026-11-08"),
            outcome("f", Won, "2026-11-09"),
            outcome("g", Won, "2026-11-04"),
            outcome("anon:x", Won, "2026-11-05"),
            outcome("zz", Won, "2026-11-05"),
        ];
        (scores, outcomes)
    }

    #[test]
    fn backtest_matches_the_hand_computed_figures() {
        let (scores, outcomes) = data();
        let result = backtest(&scores, &outcomes, period("2026-11-02", "2026-11-16"));
        // MQLs in the window: a, b, c, d, f (g before it, h at its end, anon:x anonymous).
        assert_eq!(result.mqls, 5);
        assert_eq!(result.mql_ids, ["a", "b", "c", "d", "f"]);
        // Won at or after mql_at: a (11-07), c (11-30, after the window
        // still counts), f (same instant). b lost; d won before its MQL.
        assert_eq!(result.won_after_mql, 3);
        assert_eq!(result.precision, Some(0.6));
        // Lead times: a 4 days, c 20 days, f 0: median 4.
        assert_eq!(result.median_lead_time_days, Some(4.0));
        // First wins in the window: a 11-07, e 11-08, f 11-09, g 11-04 (c's
        // is after it, d's before it; anon:x and zz are left out).
        assert_eq!(result.won, 4);
        // MQL at or before the win: a, f, g (g's MQL is before the window); not e.
        assert_eq!(result.won_mql_first, 3);
        assert_eq!(result.recall, Some(0.75));
        let weeks: Vec<(&str, u64)> = result.mqls_per_week.iter().map(|week| (week.week.as_str(), week.mqls)).collect();
        // W45 [11-02, 11-09): a, b. W46 [11-09, 11-16): c, d, f.
        assert_eq!(weeks, [("2026-W45", 2), ("2026-W46", 3)]);
        assert_eq!(result.mqls_per_week[1].period, period("2026-11-09", "2026-11-16"));
    }

    #[test]
    fn rates_and_the_median_are_empty_without_a_denominator() {
        let (scores, outcomes) = data();
        // [11-17, 11-18): no MQL, no first win.
        let result = backtest(&scores, &outcomes, period("2026-11-17", "2026-11-18"));
        assert_eq!((result.mqls, result.won), (0, 0));
        assert_eq!((result.precision, result.recall, result.median_lead_time_days), (None, None, None));
        assert_eq!(result.mqls_per_week.len(), 1);
        let json = backtest_json("m", &result);
        assert_eq!(json["precision"], Value::Null);
        assert_eq!(json["recall"], Value::Null);
        assert_eq!(json["median_lead_time_days"], Value::Null);
    }

    #[test]
    fn an_even_number_of_lead_times_takes_the_mean_of_the_middle_two() {
        let scores = vec![score("a", Some("2026-11-02")), score("b", Some("2026-11-03"))];
        let outcomes = vec![
            outcome("a", OutcomeStage::Won, "2026-11-03"),
            outcome("b", OutcomeStage::Won, "2026-11-06T12:00:00Z"),
        ];
        let result = backtest(&scores, &outcomes, period("2026-11-02", "2026-11-09"));
        // 1 day and 3.5 days.
        assert_eq!(result.median_lead_time_days, Some(2.25));
        assert_eq!((result.precision, result.recall), (Some(1.0), Some(1.0)));
    }

    #[test]
    fn a_comparison_lists_the_leads_each_model_qualifies_alone() {
        let (scores, outcomes) = data();
        let window = period("2026-11-02", "2026-11-16");
        let first = backtest(&scores, &outcomes, window);
        // The other model: c never an MQL, e an MQL on 11-04, a the same.
        let other: Vec<LeadScore> = vec![
            score("a", Some("2026-11-03")),
            score("c", None),
            score("e", Some("2026-11-04")),
            score("b", Some("2026-11-05")),
            score("d", Some("2026-11-12")),
            score("f", Some("2026-11-09")),
        ];
        let second = backtest(&other, &outcomes, window);
        assert_eq!(
            compare(&first, &second),
            Comparison { only_model: vec!["c".into()], only_against: vec!["e".into()] }
        );
        let json = comparison_json(("one", &first), ("two", &second));
        assert_eq!(json["only_model"], json!(["c"]));
        assert_eq!(json["only_against"], json!(["e"]));
        assert_eq!(json["model"]["model_name"], "one");
        // The other model: MQLs a, b, d, e, f; won after: a, e (11-08), f: 3/5.
        assert_eq!(json["against"]["precision"], json!(0.6));
        // Won in the window: a, e, f (g has no score here), all MQLs first.
        assert_eq!(json["against"]["recall"], json!(1.0));
    }
}

/// A snapshot backtest (for data without event times, such as a CRM export
/// whose leads all carry one import time): every lead scored as of one
/// time, the model's MQL condition at that time, against the outcome each
/// lead ended with. See docs/import.md, "Snapshot backtest".
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotBacktest {
    pub as_of: EventTime,
    /// Leads (not anonymous visitors) with an event at or before `as_of`.
    pub leads: u64,
    /// Of those, the ones the model's condition holds for at `as_of`.
    pub mqls: u64,
    /// Leads with a `won` outcome (at any time: a snapshot's outcome times
    /// are the export's, not history).
    pub won: u64,
    /// Leads with a `lost` outcome and none `won`.
    pub lost: u64,
    /// MQLs that were won.
    pub mqls_won: u64,
    /// MQLs that were lost.
    pub mqls_lost: u64,
    /// `mqls_won / (mqls_won + mqls_lost)`: MQLs without a won or lost
    /// outcome are not counted. `None` without such MQLs.
    pub precision: Option<f64>,
    /// `mqls_won / won`; `None` without wins.
    pub recall: Option<f64>,
    /// `won / (won + lost)`: the precision of calling every lead an MQL,
    /// to compare the model's with.
    pub base_rate: Option<f64>,
    /// The ids of the MQLs, sorted.
    pub mql_ids: Vec<String>,
}

/// The snapshot backtest of one model: `scores` are its scores as of `as_of`.
pub fn snapshot_backtest(scores: &[LeadScore], outcomes: &[Outcome], as_of: EventTime) -> SnapshotBacktest {
    let mut ended: HashMap<&str, OutcomeStage> = HashMap::new();
    for outcome in outcomes {
        match outcome.stage {
            OutcomeStage::Won => {
                ended.insert(&outcome.lead_id, OutcomeStage::Won);
            }
            OutcomeStage::Lost => {
                ended.entry(&outcome.lead_id).or_insert(OutcomeStage::Lost);
            }
            _ => {}
        }
    }
    let leads: Vec<&LeadScore> = scores.iter().filter(|score| !is_anonymous(score)).collect();
    let stage = |score: &LeadScore| ended.get(score.lead_id.as_str()).copied();
    let count = |mql_only: bool, wanted: OutcomeStage| {
        leads.iter().filter(|score| (!mql_only || score.mql) && stage(score) == Some(wanted)).count() as u64
    };
    let (won, lost) = (count(false, OutcomeStage::Won), count(false, OutcomeStage::Lost));
    let (mqls_won, mqls_lost) = (count(true, OutcomeStage::Won), count(true, OutcomeStage::Lost));
    let mut mql_ids: Vec<String> = leads.iter().filter(|score| score.mql).map(|score| score.lead_id.clone()).collect();
    mql_ids.sort_unstable();
    SnapshotBacktest {
        as_of,
        leads: leads.len() as u64,
        mqls: mql_ids.len() as u64,
        won,
        lost,
        mqls_won,
        mqls_lost,
        precision: ratio(mqls_won, mqls_won + mqls_lost),
        recall: ratio(mqls_won, won),
        base_rate: ratio(won, won + lost),
        mql_ids,
    }
}

/// The time of the latest event of a log: where a snapshot ends.
pub fn latest_event_time(log: &EventLog) -> Option<EventTime> {
    log.events().iter().map(|event| event.time).max()
}

/// Scores `log` as of `as_of` (default: its latest event) and backtests its
/// model on the snapshot; `None` when the log is empty and no time is given.
pub fn snapshot_backtest_log(
    log: &EventLog,
    outcomes: &[Outcome],
    as_of: Option<EventTime>,
) -> Option<SnapshotBacktest> {
    let as_of = as_of.or_else(|| latest_event_time(log))?;
    Some(snapshot_backtest(&score_log(log, as_of), outcomes, as_of))
}

/// One snapshot backtest as JSON (rates rounded to 4 decimals, `null`
/// without a denominator; the MQL ids left out).
pub fn snapshot_json(name: &str, result: &SnapshotBacktest) -> Value {
    let optional = |value: Option<f64>| value.map(rounded);
    json!({
        "model_name": name,
        "as_of": result.as_of.to_string(),
        "leads": result.leads,
        "mqls": result.mqls,
        "won": result.won,
        "lost": result.lost,
        "mqls_won": result.mqls_won,
        "mqls_lost": result.mqls_lost,
        "precision": optional(result.precision),
        "recall": optional(result.recall),
        "base_rate": optional(result.base_rate),
    })
}

/// Two snapshot backtests side by side, with how many MQLs each model has
/// that the other does not: `{"model", "against", "only_model",
/// "only_against"}` (counts; the lists can be long).
pub fn snapshot_comparison_json(model: (&str, &SnapshotBacktest), against: (&str, &SnapshotBacktest)) -> Value {
    let first: BTreeSet<&String> = model.1.mql_ids.iter().collect();
    let second: BTreeSet<&String> = against.1.mql_ids.iter().collect();
    json!({
        "model": snapshot_json(model.0, model.1),
        "against": snapshot_json(against.0, against.1),
        "only_model": first.difference(&second).count(),
        "only_against": second.difference(&first).count(),
    })
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;
    use crate::model::Grade;

    fn time(text: &str) -> EventTime {
        crate::outcome::parse_time(text).unwrap()
    }

    fn score(lead_id: &str, mql: bool) -> LeadScore {
        LeadScore {
            lead_id: lead_id.into(),
            engagement: 0.0,
            fit: 0,
            grade: Grade::D,
            persona: None,
            mql,
            mql_at: mql.then(|| time("2026-01-01")),
            first_seen: time("2026-01-01"),
            last_seen: time("2026-01-01"),
        }
    }

    fn outcome(lead_id: &str, stage: OutcomeStage) -> Outcome {
        Outcome { lead_id: lead_id.into(), stage, at: time("2026-02-01"), reason: None, revenue: None }
    }

    /// | lead | MQL | outcomes |
    /// | a | yes | won |
    /// | b | yes | lost |
    /// | c | yes | lost, then won (won counts) |
    /// | d | yes | sql only (no won/lost: left out of precision) |
    /// | e | no  | won |
    /// | f | no  | lost |
    /// | g | no  | - |
    /// | anon:x | yes | won (anonymous: left out) |
    /// | (zz, no score) | - | won (unknown: left out) |
    #[test]
    fn a_snapshot_backtest_matches_the_hand_computed_figures() {
        use OutcomeStage::*;
        let scores = vec![
            score("a", true),
            score("anon:x", true),
            score("b", true),
            score("c", true),
            score("d", true),
            score("e", false),
            score("f", false),
            score("g", false),
        ];
        let outcomes = vec![
            outcome("a", Won),
            outcome("b", Lost),
            outcome("c", Lost),
            outcome("c", Won),
            outcome("d", Sql),
            outcome("e", Won),
            outcome("f", Lost),
            outcome("anon:x", Won),
            outcome("zz", Won),
        ];
        let result = snapshot_backtest(&scores, &outcomes, time("2026-03-01"));
        assert_eq!((result.leads, result.mqls), (7, 4));
        assert_eq!(result.mql_ids, ["a", "b", "c", "d"]);
        // Won: a, c, e. Lost: b, f.
        assert_eq!((result.won, result.lost), (3, 2));
        assert_eq!((result.mqls_won, result.mqls_lost), (2, 1));
        // 2 won of the 3 MQLs with an outcome; 2 of the 3 wins were MQLs; 3 won of 5.
        assert_eq!(result.precision, Some(2.0 / 3.0));
        assert_eq!(result.recall, Some(2.0 / 3.0));
        assert_eq!(result.base_rate, Some(0.6));
        let json = snapshot_json("m", &result);
        assert_eq!(json["precision"], json!(0.6667));
        assert_eq!(json["as_of"], "2026-03-01T00:00:00Z");

        let other = vec![score("a", true), score("e", true), score("b", false)];
        let second = snapshot_backtest(&other, &outcomes, time("2026-03-01"));
        // Under the other model: MQLs a, e, both won; b lost and not an MQL.
        assert_eq!((second.precision, second.recall), (Some(1.0), Some(1.0)));
        let comparison = snapshot_comparison_json(("one", &result), ("two", &second));
        assert_eq!((comparison["only_model"].clone(), comparison["only_against"].clone()), (json!(3), json!(1)));
    }

    #[test]
    fn a_snapshot_without_outcomes_has_no_rates() {
        let result = snapshot_backtest(&[score("a", true)], &[], time("2026-03-01"));
        assert_eq!((result.precision, result.recall, result.base_rate), (None, None, None));
        assert_eq!(snapshot_json("m", &result)["recall"], Value::Null);
    }
}
