//! Suggested weights (`qualify suggest`): a regularised logistic regression
//! of sales' won/lost outcomes on the rules of a model (and, optionally, on
//! rules generated from the leads' traits), turned back into a transparent
//! points model a human can read, backtest and activate.
//!
//! What a lead "looked like" is taken at its first outcome (the moment sales
//! first judged it), so that activity after the sale does not leak into the
//! features. The choices are listed in docs/scoring.md, "Suggested weights".

use crate::condition::{Condition, Operand, Operator, number};
use crate::log::EventLog;
use crate::model::{Grade, Model};
use crate::outcome::{Outcome, OutcomeStage};
use crate::score::{fit_rules_held, is_mql, lead_histories, tidy};
use crate::time::{EventTime, MICROS_PER_DAY};
use linfa::Dataset;
use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Below this many won (or lost) outcomes the suggestion is not to be
/// trusted: the rule of thumb the issue gives.
pub const TRUSTED_OUTCOMES_PER_CLASS: usize = 40;

/// How `suggest` runs.
#[derive(Clone, Debug, PartialEq)]
pub struct SuggestOptions {
    /// Folds of the stratified cross-validation.
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// Strength of the L2 penalty on the standardised features.
    pub alpha: f64,
    /// Sales' capacity in MQLs per week; `None`: as many MQLs as the
    /// current model makes.
    pub capacity_per_week: Option<f64>,
    /// Also generate rules from the traits (one per category value and per
    /// numeric bucket, and one for a missing value).
    pub generate_rules: bool,
    /// The fewest labelled leads a generated rule must hold for
    /// (`None`: 1% of them, at least 10).
    pub min_support: Option<usize>,
}

impl Default for SuggestOptions {
    fn default() -> Self {
        SuggestOptions {
            folds: 5,
            seed: 1,
            alpha: 1.0,
            capacity_per_week: None,
            generate_rules: false,
            min_support: None,
        }
    }
}

/// Why there is no suggestion.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SuggestError {
    #[error(
        "too few outcomes to fit anything: {won} won and {lost} lost leads found in the events, \
         and {folds}-fold cross-validation needs at least {folds} of each"
    )]
    TooFewOutcomes { won: usize, lost: usize, folds: usize },
    #[error("the model has no rule that varies between the leads with an outcome: nothing to weigh")]
    NoFeatures,
    #[error("the logistic regression failed: {0}")]
    Fit(String),
}

/// Where a feature comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureSource {
    /// An engagement rule of the model (its index): the value is the rule's
    /// total at the decision divided by its points, i.e. its decayed,
    /// capped count of events.
    Engagement(usize),
    /// A fit rule of the model (its index among every persona's rules,
    /// flattened): 1 when it holds.
    Fit(usize),
    /// A rule generated from the traits: 1 when it holds.
    Generated(GeneratedRule),
}

/// A fit rule generated from one trait's values.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedRule {
    pub id: String,
    /// The trait's name when the rules of the trait are exclusive and, with
    /// the one for a missing value, cover every lead (so their points can be
    /// shifted to start at 0 without changing any ranking); `None` for an
    /// element of a list trait, which holds or not on its own.
    pub group: Option<String>,
    pub condition: Condition,
}

/// One feature with what the fit made of it.
#[derive(Clone, Debug, PartialEq)]
pub struct SuggestedRule {
    pub id: String,
    pub source: FeatureSource,
    /// Labelled leads it fired for (value above 0).
    pub support: usize,
    /// Of those, how many were won.
    pub won: usize,
    /// The fitted weight: change in log-odds per unit of the feature.
    pub weight: f64,
    /// The points it had in the model (`None` for a generated rule).
    pub old_points: Option<f64>,
    /// The suggested points (0: the rule is left out of the model).
    pub points: i64,
}

/// Cross-validated areas under the ROC curve, fold by fold.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossValidation {
    pub folds: usize,
    pub seed: u64,
    /// The current model's score (engagement + fit at the decision).
    pub current: Vec<f64>,
    /// The suggested points model's score.
    pub suggested: Vec<f64>,
    /// The logistic regression's own score, before rounding to points.
    pub regression: Vec<f64>,
}

/// The MQL condition picked for sales' capacity.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub engagement_threshold: f64,
    /// `B` with fit rules (whose lower bound is `fit_bound`), `D` without.
    pub min_grade: Grade,
    /// The grade B lower bound.
    pub fit_bound: i64,
    /// MQLs wanted: capacity per week times the weeks the leads span (or
    /// the current model's MQL count).
    pub target: usize,
    pub capacity_per_week: Option<f64>,
    pub weeks: f64,
    /// Leads the condition makes MQLs, and how many of them were won.
    pub mqls: usize,
    pub mqls_won: usize,
    /// The same for the current model.
    pub current_mqls: usize,
    pub current_mqls_won: usize,
}

/// What `suggest` found.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    pub model_name: String,
    pub leads: usize,
    pub won: usize,
    pub lost: usize,
    /// Outcomes naming leads that have no events.
    pub outcomes_without_lead: usize,
    pub rules: Vec<SuggestedRule>,
    pub cross_validation: CrossValidation,
    pub threshold: Threshold,
    pub warnings: Vec<String>,
    /// The suggested model, as TOML.
    pub model_text: String,
}

/// One lead as the regression sees it.
struct LeadRow {
    values: Vec<f64>,
    label: Option<bool>,
    current_score: f64,
    current_mql: bool,
    created: EventTime,
}

/// Fits weights on a log scored with `model_text`'s model and the outcomes.
pub fn suggest(
    log: &EventLog,
    model_text: &str,
    outcomes: &[Outcome],
    options: &SuggestOptions,
) -> Result<Suggestion, SuggestError> {
    let model = log.model();
    let decisions = decisions(outcomes);
    let end = log.events().iter().map(|event| event.time).max().unwrap_or(EventTime::from_micros(0));
    let histories = lead_histories(log, end);

    // Each lead as of its decision (the end of the log when it has none):
    // the model's rule facts, its current score and its traits.
    let engagement_columns: Vec<usize> =
        model.engagement.iter().enumerate().filter(|(_, rule)| rule.points != 0.0).map(|(index, _)| index).collect();
    let fit_count: usize = model.personas.iter().map(|persona| persona.fit.len()).sum();
    let facts: Vec<(String, LeadRow, BTreeMap<String, Value>)> = histories
        .par_iter()
        .map(|history| {
            let lead_id = history.lead.lead_id(log);
            let (at, label) = match decisions.get(&lead_id) {
                Some(decision) => (decision.at, decision.label),
                None => (end, None),
            };
            let totals = history.rule_totals(at);
            let traits = history.traits_at(at);
            let held = fit_rules_held(log, &traits);
            let fit = history.fit(&traits).fit;
            let engagement = tidy(totals.iter().sum());
            let mut values: Vec<f64> =
                engagement_columns.iter().map(|&rule| totals[rule] / model.engagement[rule].points).collect();
            values.extend(held.iter().map(|&held| if held { 1.0 } else { 0.0 }));
            let created = history.events.first().map_or(end, |&index| history.event(index).time);
            let traits = if options.generate_rules {
                traits.iter().map(|(name, value)| (log.trait_name(*name).to_owned(), (*value).clone())).collect()
            } else {
                BTreeMap::new()
            };
            let row = LeadRow {
                values,
                label,
                current_score: engagement + fit as f64,
                current_mql: is_mql(model, engagement, model.grades.grade(fit)),
                created,
            };
            (lead_id, row, traits)
        })
        .collect();
    let known: HashSet<&str> = facts.iter().map(|(lead_id, _, _)| lead_id.as_str()).collect();
    let outcomes_without_lead = decisions.keys().filter(|lead| !known.contains(lead.as_str())).count();
    let (mut rows, lead_traits): (Vec<LeadRow>, Vec<BTreeMap<String, Value>>) =
        facts.into_iter().map(|(_, row, traits)| (row, traits)).unzip();

    let mut sources: Vec<FeatureSource> =
        engagement_columns.iter().map(|&rule| FeatureSource::Engagement(rule)).collect();
    sources.extend((0..fit_count).map(FeatureSource::Fit));
    if options.generate_rules {
        let labelled: Vec<&BTreeMap<String, Value>> =
            rows.iter().zip(&lead_traits).filter(|(row, _)| row.label.is_some()).map(|(_, traits)| traits).collect();
        let min_support = options.min_support.unwrap_or((labelled.len() / 100).max(10));
        let taken: HashSet<&str> = model.rule_ids().collect();
        for rule in generate_rules(&labelled, min_support, &taken) {
            for (row, traits) in rows.iter_mut().zip(&lead_traits) {
                let holds = rule.condition.holds(traits.get(&rule.condition.field));
                row.values.push(if holds { 1.0 } else { 0.0 });
            }
            sources.push(FeatureSource::Generated(rule));
        }
    }

    let labelled: Vec<usize> = (0..rows.len()).filter(|&index| rows[index].label.is_some()).collect();
    let won = labelled.iter().filter(|&&index| rows[index].label == Some(true)).count();
    let lost = labelled.len() - won;
    if won < options.folds.max(2) || lost < options.folds.max(2) {
        return Err(SuggestError::TooFewOutcomes { won, lost, folds: options.folds.max(2) });
    }
    // Features that do not vary among the labelled leads carry nothing.
    let varying: Vec<usize> = (0..sources.len())
        .filter(|&column| {
            let first = rows[labelled[0]].values[column];
            labelled.iter().any(|&index| rows[index].values[column] != first)
        })
        .collect();
    if varying.is_empty() {
        return Err(SuggestError::NoFeatures);
    }

    let labels: Vec<bool> = labelled.iter().map(|&index| rows[index].label == Some(true)).collect();
    let matrix: Vec<Vec<f64>> =
        labelled.iter().map(|&index| varying.iter().map(|&column| rows[index].values[column]).collect()).collect();
    let kinds: Vec<Kind> = varying.iter().map(|&column| Kind::of(&sources[column])).collect();

    // Cross-validation: each fold scored by models fitted on the others.
    let folds = stratified_folds(&labels, options.folds, options.seed);
    let mut cross_validation = CrossValidation {
        folds: options.folds,
        seed: options.seed,
        current: Vec::new(),
        suggested: Vec::new(),
        regression: Vec::new(),
    };
    for fold in 0..options.folds {
        let (train, test): (Vec<usize>, Vec<usize>) = (0..labels.len()).partition(|&index| folds[index] != fold);
        let fitted = fit_regression(&matrix, &labels, &train, options.alpha)?;
        let points = to_points(&fitted.weights, &kinds, &matrix, &train);
        let test_labels: Vec<bool> = test.iter().map(|&index| labels[index]).collect();
        let score_of = |score: &dyn Fn(usize) -> f64| -> f64 {
            let scores: Vec<f64> = test.iter().map(|&index| score(index)).collect();
            auc(&scores, &test_labels)
        };
        cross_validation.current.push(score_of(&|index| rows[labelled[index]].current_score));
        cross_validation.suggested.push(score_of(&|index| {
            let (engagement, fit) = points_score(&matrix[index], &points, &kinds);
            engagement + fit as f64
        }));
        cross_validation.regression.push(score_of(&|index| fitted.linear(&matrix[index])));
    }

    // The suggestion itself: fitted on every labelled lead.
    let all: Vec<usize> = (0..labels.len()).collect();
    let fitted = fit_regression(&matrix, &labels, &all, options.alpha)?;
    let points = to_points(&fitted.weights, &kinds, &matrix, &all);
    let scored: Vec<(f64, i64)> = rows
        .iter()
        .map(|row| {
            let values: Vec<f64> = varying.iter().map(|&column| row.values[column]).collect();
            points_score(&values, &points, &kinds)
        })
        .collect();
    let mut threshold = pick_threshold(&rows, &scored, options.capacity_per_week);
    let has_fit = points.iter().zip(&kinds).any(|(points, kind)| *points != 0 && *kind != Kind::Engagement);
    if !has_fit {
        threshold.min_grade = Grade::D;
    }

    let mut rules = Vec::with_capacity(varying.len());
    for (position, &column) in varying.iter().enumerate() {
        let fired: Vec<usize> = (0..labels.len()).filter(|&index| matrix[index][position] > 0.0).collect();
        let (id, old_points) = match &sources[column] {
            FeatureSource::Engagement(rule) => {
                (model.engagement[*rule].id.clone(), Some(model.engagement[*rule].points))
            }
            FeatureSource::Fit(flat) => {
                let rule = fit_rule(model, *flat);
                (rule.id.clone(), Some(rule.points as f64))
            }
            FeatureSource::Generated(rule) => (rule.id.clone(), None),
        };
        rules.push(SuggestedRule {
            id,
            source: sources[column].clone(),
            support: fired.len(),
            won: fired.iter().filter(|&&index| labels[index]).count(),
            weight: fitted.weights[position],
            old_points,
            points: points[position],
        });
    }

    let mut warnings = Vec::new();
    if won < TRUSTED_OUTCOMES_PER_CLASS || lost < TRUSTED_OUTCOMES_PER_CLASS {
        warnings.push(format!(
            "only {won} won and {lost} lost leads: too few outcomes to trust these weights \
             (as a rule of thumb, wait for at least {TRUSTED_OUTCOMES_PER_CLASS} of each)"
        ));
    }
    if outcomes_without_lead > 0 {
        warnings.push(format!("{outcomes_without_lead} leads with outcomes have no events and were left out"));
    }
    let mut suggestion = Suggestion {
        model_name: format!("{}-suggested", model.name),
        leads: rows.len(),
        won,
        lost,
        outcomes_without_lead,
        rules,
        cross_validation,
        threshold,
        warnings,
        model_text: String::new(),
    };
    suggestion.model_text = suggested_model_text(model_text, model, &suggestion);
    Ok(suggestion)
}

/// A lead's first outcome time and its last won/lost verdict.
struct Decision {
    at: EventTime,
    label: Option<bool>,
}

fn decisions(outcomes: &[Outcome]) -> HashMap<String, Decision> {
    let mut sorted: Vec<&Outcome> = outcomes.iter().collect();
    sorted.sort_by_key(|outcome| outcome.at);
    let mut decisions: HashMap<String, Decision> = HashMap::new();
    for outcome in sorted {
        let decision = decisions.entry(outcome.lead_id.clone()).or_insert(Decision { at: outcome.at, label: None });
        match outcome.stage {
            OutcomeStage::Won => decision.label = Some(true),
            OutcomeStage::Lost => decision.label = Some(false),
            _ => {}
        }
    }
    decisions
}

fn fit_rule(model: &Model, flat: usize) -> &crate::model::FitRule {
    model.personas.iter().flat_map(|persona| persona.fit.iter()).nth(flat).expect("a fit rule index from the model")
}

/// How a feature turns into points.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// Points per unit, added to engagement.
    Engagement,
    /// Points when it holds, added to fit.
    Fit,
    /// Like `Fit`, one of a group of exclusive rules covering every lead.
    Group(String),
}

impl Kind {
    fn of(source: &FeatureSource) -> Kind {
        match source {
            FeatureSource::Engagement(_) => Kind::Engagement,
            FeatureSource::Fit(_) => Kind::Fit,
            FeatureSource::Generated(rule) => match &rule.group {
                Some(group) => Kind::Group(group.clone()),
                None => Kind::Fit,
            },
        }
    }
}

struct Fitted {
    intercept: f64,
    /// Per feature, in the features' own units.
    weights: Vec<f64>,
}

impl Fitted {
    fn linear(&self, values: &[f64]) -> f64 {
        self.intercept + values.iter().zip(&self.weights).map(|(value, weight)| value * weight).sum::<f64>()
    }
}

/// An L2-regularised logistic regression (linfa) of `labels` on the rows
/// `among` of `matrix`, on standardised features; the weights are returned
/// in the features' own units.
fn fit_regression(matrix: &[Vec<f64>], labels: &[bool], among: &[usize], alpha: f64) -> Result<Fitted, SuggestError> {
    let columns = matrix.first().map_or(0, Vec::len);
    let count = among.len() as f64;
    let mut means = vec![0.0; columns];
    let mut deviations = vec![0.0; columns];
    for &row in among {
        for (mean, value) in means.iter_mut().zip(&matrix[row]) {
            *mean += value / count;
        }
    }
    for &row in among {
        for ((deviation, mean), value) in deviations.iter_mut().zip(&means).zip(&matrix[row]) {
            *deviation += (value - mean).powi(2) / count;
        }
    }
    let deviations: Vec<f64> = deviations.iter().map(|variance| variance.sqrt()).collect();
    let mut data = Vec::with_capacity(among.len() * columns);
    for &row in among {
        for column in 0..columns {
            let deviation = deviations[column];
            data.push(if deviation > 0.0 { (matrix[row][column] - means[column]) / deviation } else { 0.0 });
        }
    }
    let records =
        Array2::from_shape_vec((among.len(), columns), data).map_err(|error| SuggestError::Fit(error.to_string()))?;
    let targets: Array1<bool> = among.iter().map(|&row| labels[row]).collect();
    let fitted = LogisticRegression::default()
        .alpha(alpha)
        .max_iterations(500)
        .fit(&Dataset::new(records, targets))
        .map_err(|error| SuggestError::Fit(error.to_string()))?;
    // linfa calls "positive" the first label it meets: turn the weights
    // around when that was `false`, so that they always favour a win.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let mut intercept = sign * fitted.intercept();
    let mut weights = Vec::with_capacity(columns);
    for (column, weight) in fitted.params().iter().enumerate() {
        let deviation = deviations[column];
        let weight = if deviation > 0.0 { sign * weight / deviation } else { 0.0 };
        intercept -= weight * means[column];
        weights.push(weight);
    }
    Ok(Fitted { intercept, weights })
}

/// Rounded points from weights: each group of exclusive rules shifted so
/// that its lowest rule gets 0, then one scale for every feature such that
/// the highest fit among the rows `among` of `matrix` is 100 (the spec clamps fit to 0..=100; a
/// combination no lead had may reach more and is clamped), or, without fit
/// rules, that the largest engagement weight is worth 100 points.
fn to_points(weights: &[f64], kinds: &[Kind], matrix: &[Vec<f64>], among: &[usize]) -> Vec<i64> {
    let mut shifted = weights.to_vec();
    let mut group_low: HashMap<&str, f64> = HashMap::new();
    for (weight, kind) in weights.iter().zip(kinds) {
        if let Kind::Group(group) = kind {
            let low = group_low.entry(group.as_str()).or_insert(f64::INFINITY);
            *low = low.min(*weight);
        }
    }
    for (value, kind) in shifted.iter_mut().zip(kinds) {
        if let Kind::Group(group) = kind {
            *value -= group_low[group.as_str()];
        }
    }
    let fit_reach = among
        .iter()
        .map(|&row| {
            matrix[row]
                .iter()
                .zip(&shifted)
                .zip(kinds)
                .filter(|((value, _), kind)| **kind != Kind::Engagement && **value > 0.0)
                .map(|((_, weight), _)| *weight)
                .sum::<f64>()
        })
        .fold(0.0, f64::max);
    let engagement_reach = shifted
        .iter()
        .zip(kinds)
        .filter(|(_, kind)| **kind == Kind::Engagement)
        .map(|(value, _)| value.abs())
        .fold(0.0, f64::max);
    let reach = if fit_reach > 0.0 { fit_reach } else { engagement_reach };
    let scale = if reach > 0.0 { 100.0 / reach } else { 0.0 };
    shifted.iter().map(|value| (value * scale).round() as i64).collect()
}

/// A lead's engagement and fit under the suggested points, fit clamped to
/// 0..=100 as the spec does.
fn points_score(values: &[f64], points: &[i64], kinds: &[Kind]) -> (f64, i64) {
    let mut engagement = 0.0;
    let mut fit = 0i64;
    for ((value, points), kind) in values.iter().zip(points).zip(kinds) {
        match kind {
            Kind::Engagement => engagement += value * *points as f64,
            Kind::Fit | Kind::Group(_) => {
                if *value > 0.0 {
                    fit += points;
                }
            }
        }
    }
    (tidy(engagement), fit.clamp(0, 100))
}

/// The suggested MQL condition: `engagement >= T` and a grade of B or
/// better, with B's bound chosen with T so that about `target` leads
/// qualify, and among the choices that do, the one that would have caught
/// the most won leads.
fn pick_threshold(rows: &[LeadRow], scored: &[(f64, i64)], capacity_per_week: Option<f64>) -> Threshold {
    let current_mqls = rows.iter().filter(|row| row.current_mql).count();
    let current_mqls_won = rows.iter().filter(|row| row.current_mql && row.label == Some(true)).count();
    let first = rows.iter().map(|row| row.created).min();
    let last = rows.iter().map(|row| row.created).max();
    let weeks = match (first, last) {
        (Some(first), Some(last)) => {
            ((last.as_micros() - first.as_micros()) as f64 / (7 * MICROS_PER_DAY) as f64).max(1.0)
        }
        _ => 1.0,
    };
    let target = match capacity_per_week {
        Some(capacity) => (capacity * weeks).round().max(1.0) as usize,
        None => current_mqls.max(1),
    };
    let tolerance = (target / 20).max(1);
    let mut bounds: Vec<i64> = scored.iter().map(|(_, fit)| *fit).collect();
    bounds.push(0);
    bounds.sort_unstable();
    bounds.dedup();
    // (matches the target, won when it does, -distance, bound, T, count, won)
    let mut best: Option<(bool, usize, i64, i64, f64, usize, usize)> = None;
    for &bound in &bounds {
        let mut engagements: Vec<(f64, bool)> = rows
            .iter()
            .zip(scored)
            .filter(|(_, (_, fit))| *fit >= bound)
            .map(|(row, (engagement, _))| (*engagement, row.label == Some(true)))
            .collect();
        if engagements.is_empty() {
            continue;
        }
        engagements.sort_by(|a, b| b.0.total_cmp(&a.0));
        // Ties make the count jump: try the cut that reaches the target and
        // the next higher one, which stays under it.
        let reaching = engagements[target.min(engagements.len()) - 1].0;
        let under = engagements.iter().map(|(engagement, _)| *engagement).find(|engagement| *engagement > reaching);
        for cut in std::iter::once(reaching).chain(under) {
            let selected: Vec<&(f64, bool)> = engagements.iter().filter(|(engagement, _)| *engagement >= cut).collect();
            let count = selected.len();
            let won = selected.iter().filter(|(_, won)| *won).count();
            let distance = count.abs_diff(target);
            let matches = distance <= tolerance;
            // Within the tolerance the most wins; outside it, the closest count.
            let candidate = (matches, if matches { won } else { 0 }, -(distance as i64), bound, cut, count, won);
            let better = match &best {
                None => true,
                Some(best) => (candidate.0, candidate.1, candidate.2) > (best.0, best.1, best.2),
            };
            if better {
                best = Some(candidate);
            }
        }
    }
    let (_, _, _, fit_bound, cut, mqls, mqls_won) = best.unwrap_or((false, 0, 0, 0, 0.0, 0, 0));
    Threshold {
        // Two decimals, rounded down, so the last lead chosen still qualifies.
        engagement_threshold: (cut * 100.0 + 1e-6).floor() / 100.0,
        min_grade: Grade::B,
        fit_bound,
        target,
        capacity_per_week,
        weeks,
        mqls,
        mqls_won,
        current_mqls,
        current_mqls_won,
    }
}

/// Folds 0..k for each example, won and lost leads dealt out separately
/// after a seeded shuffle, so that every fold has the same share of wins.
fn stratified_folds(labels: &[bool], folds: usize, seed: u64) -> Vec<usize> {
    let mut assignment = vec![0; labels.len()];
    let mut state = seed;
    for class in [true, false] {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&index| labels[index] == class).collect();
        for index in (1..members.len()).rev() {
            let other = (splitmix64(&mut state) % (index as u64 + 1)) as usize;
            members.swap(index, other);
        }
        for (position, member) in members.into_iter().enumerate() {
            assignment[member] = position % folds;
        }
    }
    assignment
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The area under the ROC curve: the chance that a random won lead scores
/// above a random lost one, ties counting half (Mann–Whitney with average
/// ranks). 0.5 when either class is empty.
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let positives = labels.iter().filter(|&&label| label).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return 0.5;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start..=end (1-based: +1) share their average.
        let average = (start + end) as f64 / 2.0 + 1.0;
        rank_sum += average * order[start..=end].iter().filter(|&&index| labels[index]).count() as f64;
        start = end + 1;
    }
    let positives = positives as f64;
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives as f64)
}

/// Candidate rules from the labelled leads' traits: per trait, one rule per
/// value seen on at least `min_support` leads (rarer values share an
/// "other" rule), or for numbers with many values one per quantile bucket,
/// and one for a missing value; elements of list traits get a `contains`
/// rule each. Traits where nothing reaches `min_support` are left out.
fn generate_rules(
    traits: &[&BTreeMap<String, Value>],
    min_support: usize,
    taken: &HashSet<&str>,
) -> Vec<GeneratedRule> {
    let mut names: Vec<&String> = traits.iter().flat_map(|traits| traits.keys()).collect();
    names.sort();
    names.dedup();
    let mut ids: HashSet<String> = taken.iter().map(|id| id.to_string()).collect();
    let mut rules = Vec::new();
    for name in names {
        let values: Vec<Option<&Value>> =
            traits.iter().map(|traits| traits.get(name.as_str()).filter(|value| !value.is_null())).collect();
        let missing = values.iter().filter(|value| value.is_none()).count();
        let present: Vec<&Value> = values.iter().flatten().copied().collect();
        if present.is_empty() {
            continue;
        }
        let mut group: Vec<(String, Vec<Operator>)> = Vec::new();
        if present.iter().all(|value| value.is_array()) {
            let mut counts: BTreeMap<String, (usize, Value)> = BTreeMap::new();
            for value in &present {
                let mut seen = HashSet::new();
                for item in value.as_array().into_iter().flatten() {
                    if (item.is_string() || item.is_number() || item.is_boolean()) && seen.insert(item.to_string()) {
                        counts.entry(item.to_string()).or_insert((0, item.clone())).0 += 1;
                    }
                }
            }
            for (_, (count, item)) in counts {
                if count >= min_support
                    && count < traits.len()
                    && let Some(operand) = operand(&item)
                {
                    let id = unique_id(&mut ids, &format!("{name}-has-{}", label_of(&item)));
                    // List elements are not exclusive: no group.
                    let condition = Condition { field: name.clone(), operators: vec![Operator::Contains(operand)] };
                    rules.push(GeneratedRule { id, group: None, condition });
                }
            }
            continue;
        }
        let numbers: Option<Vec<f64>> = if present.iter().all(|value| value.is_number() || value.is_string()) {
            present.iter().map(|value| number(value)).collect()
        } else {
            None
        };
        let mut distinct: BTreeMap<String, (usize, &Value)> = BTreeMap::new();
        for value in &present {
            distinct.entry(value.to_string()).or_insert((0, value)).0 += 1;
        }
        match numbers {
            Some(mut numbers) if distinct.len() > 6 => {
                numbers.sort_by(f64::total_cmp);
                let mut cuts: Vec<f64> = [0.2, 0.4, 0.6, 0.8]
                    .iter()
                    .map(|quantile| numbers[((numbers.len() as f64 * quantile) as usize).min(numbers.len() - 1)])
                    .collect();
                cuts.dedup();
                cuts.retain(|cut| *cut > numbers[0]);
                let mut low = None;
                for cut in cuts.iter().copied().chain([f64::INFINITY]) {
                    let mut operators = Vec::new();
                    if let Some(low) = low {
                        operators.push(Operator::Gte(low));
                    }
                    let label = match (low, cut.is_finite()) {
                        (None, _) => format!("below-{}", number_label(cut)),
                        (Some(low), true) => format!("{}-to-{}", number_label(low), number_label(cut)),
                        (Some(low), false) => format!("{}-or-more", number_label(low)),
                    };
                    if cut.is_finite() {
                        operators.push(Operator::Lt(cut));
                    }
                    group.push((label, operators));
                    low = Some(cut);
                }
            }
            _ => {
                let mut other = Vec::new();
                for (count, value) in distinct.values() {
                    match operand(value) {
                        Some(operand) if *count >= min_support => {
                            group.push((label_of(value), vec![Operator::Equals(operand)]));
                        }
                        Some(operand) => other.push(operand),
                        None => {}
                    }
                }
                if !other.is_empty() {
                    group.push(("other".to_owned(), vec![Operator::In(other)]));
                }
            }
        }
        if missing > 0 {
            group.push(("missing".to_owned(), vec![Operator::Exists(false)]));
        }
        // A trait whose every lead lands on one rule says nothing.
        let supports: Vec<usize> = group
            .iter()
            .map(|(_, operators)| {
                let condition = Condition { field: name.clone(), operators: operators.clone() };
                values.iter().filter(|value| condition.holds(**value)).count()
            })
            .collect();
        // Every rule needs `min_support` leads (a rule for a handful would
        // get a weight from noise, and a huge one: its feature is almost
        // constant); leads on a rarer one get no points from this trait. A
        // trait left with one rule that every lead holds says nothing.
        let kept: Vec<usize> = supports.iter().copied().filter(|&support| support >= min_support).collect();
        if kept.is_empty() || (kept.len() == 1 && kept[0] == values.len()) {
            continue;
        }
        for ((label, operators), support) in group.into_iter().zip(supports) {
            if support < min_support {
                continue;
            }
            let id = unique_id(&mut ids, &format!("{name}-{label}"));
            rules.push(GeneratedRule {
                id,
                group: Some(name.clone()),
                condition: Condition { field: name.clone(), operators },
            });
        }
    }
    rules
}

fn operand(value: &Value) -> Option<Operand> {
    match value {
        Value::String(text) => Some(Operand::Text(text.clone())),
        Value::Bool(flag) => Some(Operand::Bool(*flag)),
        Value::Number(number) => number.as_f64().map(Operand::Number),
        _ => None,
    }
}

fn label_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number_label(number.as_f64().unwrap_or(0.0)),
        other => other.to_string(),
    }
}

fn number_label(value: f64) -> String {
    let text = format!("{}", tidy(value));
    text.replace('.', "_").replace('-', "minus-")
}

/// A rule id from a label: lower case, words joined by `-`, made unique.
fn unique_id(taken: &mut HashSet<String>, label: &str) -> String {
    let mut slug = String::new();
    for character in label.chars() {
        if character.is_alphanumeric() || character == '_' {
            slug.extend(character.to_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    let slug = if slug.is_empty() { "rule".to_owned() } else { slug };
    let mut id = slug.clone();
    let mut number = 2;
    while taken.contains(&id) {
        id = format!("{slug}-{number}");
        number += 1;
    }
    taken.insert(id.clone());
    id
}

/// The suggested model as TOML: the original file edited in place (its
/// comments kept) with the new points, the rules weighed at 0 left out,
/// every fit rule (the original ones and the generated ones) in one
/// persona, the grades and the MQL condition picked for the capacity.
fn suggested_model_text(original: &str, model: &Model, suggestion: &Suggestion) -> String {
    use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};
    let Ok(mut document) = original.parse::<DocumentMut>() else {
        return String::new();
    };
    let points_of = |source: &FeatureSource| {
        suggestion.rules.iter().find(|rule| rule.source == *source).map_or(0, |rule| rule.points)
    };
    document["name"] = value(suggestion.model_name.clone());
    let threshold = &suggestion.threshold;
    let mql = document["mql"].or_insert(toml_edit::table());
    mql["engagement_threshold"] = value(threshold.engagement_threshold);
    mql["min_grade"] = value(threshold.min_grade.as_str());
    let b = threshold.fit_bound;
    let grades = document["grades"].or_insert(toml_edit::table());
    grades["A"] = value(b + (100 - b + 1) / 2);
    grades["B"] = value(b);
    grades["C"] = value(b / 2);

    // Engagement rules: new points, caps kept in events, zero-weight ones out.
    let mut engagement = ArrayOfTables::new();
    if let Some(tables) = document.get("engagement").and_then(Item::as_array_of_tables) {
        for (index, table) in tables.iter().enumerate() {
            let Some(rule) = model.engagement.get(index) else { continue };
            let points = points_of(&FeatureSource::Engagement(index));
            if points == 0 {
                continue;
            }
            let mut table = table.clone();
            table["points"] = value(points);
            if let Some(max) = rule.max_points {
                let events = max / rule.points.abs();
                table["max_points"] = value(((points.abs() as f64) * events).round().max(points.abs() as f64) as i64);
            }
            engagement.push(table);
        }
    }
    document.remove("engagement");

    // Fit: the original rules (top-level `[[fit]]` first, as the model
    // reads them) then the generated ones, in one persona.
    let mut originals: Vec<Table> = Vec::new();
    if let Some(tables) = document.get("fit").and_then(Item::as_array_of_tables) {
        originals.extend(tables.iter().cloned());
    }
    if let Some(personas) = document.get("persona").and_then(Item::as_array_of_tables) {
        for persona in personas.iter() {
            if let Some(tables) = persona.get("fit").and_then(Item::as_array_of_tables) {
                originals.extend(tables.iter().cloned());
            }
        }
    }
    let mut fit = ArrayOfTables::new();
    for (flat, table) in originals.into_iter().enumerate() {
        let points = points_of(&FeatureSource::Fit(flat));
        if points != 0 {
            let mut table = table;
            table["points"] = value(points);
            fit.push(table);
        }
    }
    for rule in &suggestion.rules {
        let FeatureSource::Generated(generated) = &rule.source else { continue };
        if rule.points == 0 {
            continue;
        }
        let mut table = Table::new();
        table["id"] = value(generated.id.clone());
        table["trait"] = value(generated.condition.field.clone());
        for operator in &generated.condition.operators {
            let (key, item) = operator_item(operator);
            table[key] = item;
        }
        table["points"] = value(rule.points);
        fit.push(table);
    }
    document.remove("fit");
    document.remove("persona");
    if !engagement.is_empty() {
        document.insert("engagement", Item::ArrayOfTables(engagement));
    }
    let mut persona = Table::new();
    persona["id"] = value("suggested");
    persona["description"] = value("Every fit rule with fitted points (qualify suggest)");
    if !fit.is_empty() {
        persona.insert("fit", Item::ArrayOfTables(fit));
    }
    let mut personas = ArrayOfTables::new();
    personas.push(persona);
    document.insert("persona", Item::ArrayOfTables(personas));

    let cv = &suggestion.cross_validation;
    let header = format!(
        "# Suggested by `qualify suggest` from {} won and {} lost leads, starting from \"{}\".\n\
         # Cross-validated AUC ({}-fold, seed {}): {:.3} for \"{}\", {:.3} for these points.\n\
         # MQL: engagement >= {} and grade {} (fit >= {}): {} leads on this history ({} won) for a target of {}.\n\n",
        suggestion.won,
        suggestion.lost,
        model.name,
        cv.folds,
        cv.seed,
        mean(&cv.current),
        model.name,
        mean(&cv.suggested),
        threshold.engagement_threshold,
        threshold.min_grade.as_str(),
        threshold.fit_bound,
        threshold.mqls,
        threshold.mqls_won,
        threshold.target,
    );
    format!("{header}{}", document.to_string().trim_start())
}

fn operator_item(operator: &Operator) -> (&'static str, toml_edit::Item) {
    use toml_edit::{Array, value};
    let operand_value = |operand: &Operand| -> toml_edit::Value {
        match operand {
            Operand::Number(number) if number.fract() == 0.0 && number.abs() < 1e15 => (*number as i64).into(),
            Operand::Number(number) => (*number).into(),
            Operand::Text(text) => text.as_str().into(),
            Operand::Bool(flag) => (*flag).into(),
        }
    };
    let number_value = |number: f64| operand_value(&Operand::Number(number));
    let list = |operands: &[Operand]| value(operands.iter().map(operand_value).collect::<Array>());
    match operator {
        Operator::Equals(operand) => ("equals", value(operand_value(operand))),
        Operator::NotEquals(operand) => ("not_equals", value(operand_value(operand))),
        Operator::In(operands) => ("in", list(operands)),
        Operator::Gte(bound) => ("gte", value(number_value(*bound))),
        Operator::Gt(bound) => ("gt", value(number_value(*bound))),
        Operator::Lte(bound) => ("lte", value(number_value(*bound))),
        Operator::Lt(bound) => ("lt", value(number_value(*bound))),
        Operator::Between(low, high) => {
            ("between", value([number_value(*low), number_value(*high)].into_iter().collect::<Array>()))
        }
        Operator::Contains(operand) => ("contains", value(operand_value(operand))),
        Operator::ContainsAny(operands) => ("contains_any", list(operands)),
        Operator::StartsWith(prefix) => ("starts_with", value(prefix.as_str())),
        Operator::Exists(flag) => ("exists", value(*flag)),
        Operator::MinLength(length) => ("min_length", value(*length as i64)),
    }
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 }
}

/// The suggestion as JSON (what `qualify suggest --format json` prints).
pub fn suggestion_json(suggestion: &Suggestion) -> Value {
    let cv = &suggestion.cross_validation;
    let threshold = &suggestion.threshold;
    let rules: Vec<Value> = suggestion
        .rules
        .iter()
        .map(|rule| {
            let kind = match rule.source {
                FeatureSource::Engagement(_) => "engagement",
                FeatureSource::Fit(_) => "fit",
                FeatureSource::Generated(_) => "generated",
            };
            json!({
                "id": rule.id,
                "kind": kind,
                "support": rule.support,
                "won": rule.won,
                "weight": tidy(rule.weight),
                "old_points": rule.old_points,
                "points": rule.points,
            })
        })
        .collect();
    json!({
        "model": suggestion.model_name,
        "leads": suggestion.leads,
        "won": suggestion.won,
        "lost": suggestion.lost,
        "outcomes_without_lead": suggestion.outcomes_without_lead,
        "cross_validation": {
            "folds": cv.folds,
            "seed": cv.seed,
            "auc_current": tidy(mean(&cv.current)),
            "auc_suggested": tidy(mean(&cv.suggested)),
            "auc_regression": tidy(mean(&cv.regression)),
            "current_by_fold": cv.current.iter().map(|auc| tidy(*auc)).collect::<Vec<_>>(),
            "suggested_by_fold": cv.suggested.iter().map(|auc| tidy(*auc)).collect::<Vec<_>>(),
            "regression_by_fold": cv.regression.iter().map(|auc| tidy(*auc)).collect::<Vec<_>>(),
        },
        "threshold": {
            "engagement_threshold": threshold.engagement_threshold,
            "min_grade": threshold.min_grade.as_str(),
            "fit_bound": threshold.fit_bound,
            "capacity_per_week": threshold.capacity_per_week,
            "weeks": tidy(threshold.weeks),
            "target": threshold.target,
            "mqls": threshold.mqls,
            "mqls_won": threshold.mqls_won,
            "current_mqls": threshold.current_mqls,
            "current_mqls_won": threshold.current_mqls_won,
        },
        "rules": rules,
        "warnings": suggestion.warnings,
    })
}
