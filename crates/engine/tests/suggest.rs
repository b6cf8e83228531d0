//! `suggest` on a generated data set whose conversions depend on known
//! rules: the fitted points must rank the predictive rules above the noise
//! ones and beat a deliberately poor hand model on held-out AUC; the model
//! it writes must parse and score as the suggestion says.

use qualify_engine::log::{EventLog, Keep};
use qualify_engine::model::{Grade, Model};
use qualify_engine::outcome::{Outcome, OutcomeStage, parse_time};
use qualify_engine::score::score_log;
use qualify_engine::suggest::{FeatureSource, SuggestError, SuggestOptions, auc, mean, suggest};
use qualify_engine::time::EventTime;
use std::sync::Arc;

/// Points on the noise rules (blog, newsletter, retail, manager) and almost
/// none on the ones that drive a sale (demo, pricing pages, enterprise).
const POOR_MODEL: &str = r#"
name = "poor"

[mql]
engagement_threshold = 30
min_grade = "C"

[[engagement]]
id = "demo-request"
type = "track"
event = "Demo Requested"
points = 1

[[engagement]]
id = "pricing-page"
type = "page"
path = "/pricing"
points = 1
max_points = 3

[[engagement]]
id = "blog-view"
type = "page"
path_prefix = "/blog/"
points = 10

[[engagement]]
id = "newsletter"
type = "track"
event = "Newsletter Subscribed"
points = 20

[[persona]]
id = "buyer"

[[persona.fit]]
id = "enterprise"
trait = "company_size"
gte = 500
points = 5

[[persona.fit]]
id = "retail"
trait = "industry"
equals = "retail"
points = 50

[[persona.fit]]
id = "manager"
trait = "title"
equals = "manager"
points = 40
"#;

const TRUE_RULES: [&str; 3] = ["demo-request", "pricing-page", "enterprise"];
const NOISE_RULES: [&str; 4] = ["blog-view", "newsletter", "retail", "manager"];

fn time(text: &str) -> EventTime {
    parse_time(text).unwrap()
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// `leads` leads identified on 2026-09-01, with events over the next 20
/// days and a won/lost outcome on 2026-10-01 (one per lead), drawn from
/// logit = -2.5 + 2.2 demo + 0.8 pricing pages (up to 3) + 1.8 enterprise.
fn data_set(leads: usize, seed: u64) -> (Vec<String>, Vec<Outcome>) {
    let mut rng = Rng(seed);
    let mut lines = Vec::new();
    let mut outcomes = Vec::new();
    let mut id = 0;
    let mut message = |user: &str, body: String, day: u64, hour: u64| {
        id += 1;
        format!(
            r#"{{"messageId":"m{id}","userId":"{user}",{body},"timestamp":"2026-09-{:02}T{:02}:00:00Z"}}"#,
            day + 1,
            hour
        )
    };
    for lead in 0..leads {
        let user = format!("lead-{lead:05}");
        let size = 10 + rng.below(2000);
        let industry = ["retail", "finance", "health"][rng.below(3) as usize];
        let title = ["manager", "engineer", "director"][rng.below(3) as usize];
        let traits = format!(
            r#""type":"identify","traits":{{"company_size":{size},"industry":"{industry}","title":"{title}"}}"#
        );
        lines.push(message(&user, traits, 0, 8));
        let demo = rng.uniform() < 0.3;
        let pricing = rng.below(5);
        let blog = rng.below(6);
        let newsletter = rng.uniform() < 0.5;
        for visit in 0..pricing {
            lines.push(message(&user, r#""type":"page","properties":{"path":"/pricing"}"#.into(), 1 + visit, 10));
        }
        for visit in 0..blog {
            lines.push(message(&user, r#""type":"page","properties":{"path":"/blog/post"}"#.into(), 2 + visit, 12));
        }
        if newsletter {
            lines.push(message(&user, r#""type":"track","event":"Newsletter Subscribed""#.into(), 3, 9));
        }
        if demo {
            lines.push(message(&user, r#""type":"track","event":"Demo Requested""#.into(), 15, 9));
        }
        let logit =
            -2.5 + if demo { 2.2 } else { 0.0 } + 0.8 * pricing.min(3) as f64 + if size >= 500 { 1.8 } else { 0.0 };
        let won = rng.uniform() < 1.0 / (1.0 + (-logit).exp());
        let stage = if won { OutcomeStage::Won } else { OutcomeStage::Lost };
        outcomes.push(Outcome { lead_id: user, stage, at: time("2026-10-01"), reason: None, revenue: None });
    }
    (lines, outcomes)
}

fn log_of(model_text: &str, lines: &[String]) -> EventLog {
    let model = Arc::new(Model::parse(model_text).unwrap());
    let mut log = EventLog::new(model, Keep::Profile);
    let bytes: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
    let summary = log.append_lines(&bytes, 1, time("2026-11-01"));
    assert!(summary.rejections.is_empty(), "{:?}", summary.rejections);
    log
}

#[test]
fn the_suggestion_ranks_the_predictive_rules_first_and_beats_a_poor_model() {
    let (lines, outcomes) = data_set(1500, 7);
    let log = log_of(POOR_MODEL, &lines);
    let suggestion = suggest(&log, POOR_MODEL, &outcomes, &SuggestOptions::default()).unwrap();
    assert_eq!(suggestion.won + suggestion.lost, 1500);
    assert!(suggestion.won > 200 && suggestion.lost > 200, "{} won, {} lost", suggestion.won, suggestion.lost);
    assert!(suggestion.warnings.is_empty(), "{:?}", suggestion.warnings);

    let points = |id: &str| suggestion.rules.iter().find(|rule| rule.id == id).map(|rule| rule.points).unwrap();
    let weakest_true = TRUE_RULES.iter().map(|id| points(id)).min().unwrap();
    let strongest_noise = NOISE_RULES.iter().map(|id| points(id).abs()).max().unwrap();
    assert!(
        weakest_true > strongest_noise,
        "true rules {:?} vs noise {:?}",
        TRUE_RULES.map(points),
        NOISE_RULES.map(points)
    );

    let cv = &suggestion.cross_validation;
    assert_eq!((cv.folds, cv.current.len(), cv.suggested.len()), (5, 5, 5));
    let (current, suggested, regression) = (mean(&cv.current), mean(&cv.suggested), mean(&cv.regression));
    assert!(suggested > current + 0.1, "held-out AUC: suggested {suggested:.3}, poor hand model {current:.3}");
    assert!((suggested - regression).abs() < 0.01, "rounding to points cost too much: {suggested} vs {regression}");
    // Each fold, not just the mean.
    for (suggested, current) in cv.suggested.iter().zip(&cv.current) {
        assert!(suggested > current, "{:?} vs {:?}", cv.suggested, cv.current);
    }
}

#[test]
fn the_suggested_model_parses_and_scores_as_the_suggestion_says() {
    let (lines, outcomes) = data_set(800, 11);
    let log = log_of(POOR_MODEL, &lines);
    let suggestion = suggest(&log, POOR_MODEL, &outcomes, &SuggestOptions::default()).unwrap();
    let model = Model::parse(&suggestion.model_text).unwrap_or_else(|errors| {
        panic!("{errors}\n{}", suggestion.model_text);
    });
    assert_eq!(model.name, "poor-suggested");
    assert_eq!(model.personas.len(), 1);
    // Every rule with points is in the model with those points; the others are not.
    for rule in &suggestion.rules {
        let in_model = model
            .engagement
            .iter()
            .map(|engagement| (engagement.id.as_str(), engagement.points as i64))
            .chain(model.personas[0].fit.iter().map(|fit| (fit.id.as_str(), fit.points)))
            .find(|(id, _)| *id == rule.id);
        match rule.points {
            0 => assert_eq!(in_model, None, "{}", rule.id),
            points => assert_eq!(in_model, Some((rule.id.as_str(), points)), "{}", rule.id),
        }
    }
    // The pricing rule's cap still stops at 3 pages.
    let pricing = model.engagement.iter().find(|rule| rule.id == "pricing-page").unwrap();
    assert_eq!(pricing.max_points, Some(pricing.points * 3.0));
    // Scored with the real engine at the decision time, the new model makes
    // exactly the MQLs the suggestion counted.
    let threshold = &suggestion.threshold;
    assert_eq!(threshold.min_grade, Grade::B);
    assert_eq!(model.mql.engagement_threshold, threshold.engagement_threshold);
    assert_eq!(model.grades.b, threshold.fit_bound);
    let scored = score_log(&log_of(&suggestion.model_text, &lines), time("2026-10-01"));
    assert_eq!(scored.len(), 800);
    let mqls = scored.iter().filter(|lead| lead.mql).count();
    assert_eq!(mqls, threshold.mqls);
    // Without --capacity: as many MQLs as the current model, within 5%.
    assert!(threshold.mqls.abs_diff(threshold.current_mqls) <= (threshold.current_mqls / 20).max(1), "{threshold:?}");
    // And the in-sample AUC of engagement + fit is the suggestion's ranking.
    let labels: Vec<bool> = scored
        .iter()
        .map(|lead| {
            outcomes.iter().any(|outcome| outcome.lead_id == lead.lead_id && outcome.stage == OutcomeStage::Won)
        })
        .collect();
    let scores: Vec<f64> = scored.iter().map(|lead| lead.engagement + lead.fit as f64).collect();
    assert!(auc(&scores, &labels) > mean(&suggestion.cross_validation.current) + 0.1);
}

#[test]
fn capacity_sets_how_many_leads_qualify() {
    let (lines, outcomes) = data_set(800, 3);
    let log = log_of(POOR_MODEL, &lines);
    // The leads were all created on one day: the history spans one week.
    let options = SuggestOptions { capacity_per_week: Some(120.0), ..SuggestOptions::default() };
    let suggestion = suggest(&log, POOR_MODEL, &outcomes, &options).unwrap();
    let threshold = &suggestion.threshold;
    assert_eq!((threshold.weeks, threshold.target), (1.0, 120));
    assert!(threshold.mqls.abs_diff(120) <= 6, "{threshold:?}");
    // The chosen 120 hold more wins than the base rate would give.
    let base_rate = suggestion.won as f64 / 800.0;
    assert!(threshold.mqls_won as f64 / threshold.mqls as f64 > base_rate + 0.2, "{threshold:?}");
    let model = Model::parse(&suggestion.model_text).unwrap();
    let scored = score_log(&log_of(&suggestion.model_text, &lines), time("2026-10-01"));
    assert_eq!(scored.iter().filter(|lead| lead.mql).count(), threshold.mqls);
    assert!(suggestion.model_text.contains("for a target of 120"), "{}", suggestion.model_text);
    assert_eq!(model.mql.min_grade, Grade::B);
}

#[test]
fn few_outcomes_get_a_warning_and_too_few_an_error() {
    let (lines, mut outcomes) = data_set(200, 5);
    let log = log_of(POOR_MODEL, &lines);
    let won: Vec<Outcome> = outcomes.iter().filter(|o| o.stage == OutcomeStage::Won).take(30).cloned().collect();
    let lost: Vec<Outcome> = outcomes.iter().filter(|o| o.stage == OutcomeStage::Lost).take(30).cloned().collect();
    let few: Vec<Outcome> = won.iter().chain(&lost).cloned().collect();
    let suggestion = suggest(&log, POOR_MODEL, &few, &SuggestOptions::default()).unwrap();
    assert_eq!((suggestion.won, suggestion.lost), (30, 30));
    assert!(
        suggestion.warnings.iter().any(|warning| warning.contains("too few outcomes to trust")),
        "{:?}",
        suggestion.warnings
    );

    let tiny: Vec<Outcome> = won.iter().take(3).chain(&lost).cloned().collect();
    assert_eq!(
        suggest(&log, POOR_MODEL, &tiny, &SuggestOptions::default()),
        Err(SuggestError::TooFewOutcomes { won: 3, lost: 30, folds: 5 })
    );

    // Outcomes for leads without events are counted and reported.
    outcomes.push(Outcome {
        lead_id: "ghost".into(),
        stage: OutcomeStage::Won,
        at: time("2026-10-01"),
        reason: None,
        revenue: None,
    });
    let suggestion = suggest(&log, POOR_MODEL, &outcomes, &SuggestOptions::default()).unwrap();
    assert_eq!(suggestion.outcomes_without_lead, 1);
    assert!(suggestion.warnings.iter().any(|warning| warning.contains("1 leads with outcomes have no events")));
}

#[test]
fn activity_after_the_first_outcome_is_not_a_feature() {
    // Every won lead "downloads" after it was accepted: a leak the
    // suggestion must not see.
    let model = r#"
name = "leak"
[mql]
engagement_threshold = 1
min_grade = "D"
[[engagement]]
id = "after-sale"
type = "track"
event = "Invoice Paid"
points = 10
[[engagement]]
id = "signal"
type = "track"
event = "Demo Requested"
points = 10
"#;
    let mut lines = Vec::new();
    let mut outcomes = Vec::new();
    let mut rng = Rng(9);
    for lead in 0..200 {
        let user = format!("u{lead}");
        let demo = rng.uniform() < 0.5;
        let won = rng.uniform() < if demo { 0.7 } else { 0.3 };
        lines.push(format!(
            r#"{{"messageId":"i{lead}","type":"identify","userId":"{user}","timestamp":"2026-09-01T00:00:00Z"}}"#
        ));
        if demo {
            lines.push(format!(r#"{{"messageId":"d{lead}","type":"track","event":"Demo Requested","userId":"{user}","timestamp":"2026-09-02T00:00:00Z"}}"#));
        }
        if won {
            lines.push(format!(r#"{{"messageId":"p{lead}","type":"track","event":"Invoice Paid","userId":"{user}","timestamp":"2026-09-20T00:00:00Z"}}"#));
        }
        outcomes.push(Outcome {
            lead_id: user.clone(),
            stage: OutcomeStage::Accepted,
            at: time("2026-09-10"),
            reason: None,
            revenue: None,
        });
        let stage = if won { OutcomeStage::Won } else { OutcomeStage::Lost };
        outcomes.push(Outcome { lead_id: user, stage, at: time("2026-09-25"), reason: None, revenue: None });
    }
    let log = log_of(model, &lines);
    let suggestion = suggest(&log, model, &outcomes, &SuggestOptions::default()).unwrap();
    // The invoice never happened before the first outcome: it does not vary,
    // so it is not a feature at all.
    assert!(suggestion.rules.iter().all(|rule| rule.id != "after-sale"), "{:?}", suggestion.rules);
    assert!(suggestion.rules.iter().any(|rule| rule.id == "signal" && rule.points > 0));
    assert_eq!(suggestion.threshold.min_grade, Grade::D);
    Model::parse(&suggestion.model_text).unwrap();
}

#[test]
fn rules_generated_from_traits_cover_each_trait_once_and_carry_the_signal() {
    // Traits only (a CRM snapshot): a category with a winning value, a
    // number whose high values win, a yes/no flag of noise, and a trait
    // often missing.
    let model = r#"
name = "snapshot"
[mql]
engagement_threshold = 0
min_grade = "C"
[[fit]]
id = "hand-rule"
trait = "source"
equals = "referral"
points = 30
"#;
    let mut rng = Rng(21);
    let mut lines = Vec::new();
    let mut outcomes = Vec::new();
    for lead in 0..1000 {
        let source = ["referral", "ads", "search", "event"][rng.below(4) as usize];
        let visits = rng.below(20);
        let flag = rng.uniform() < 0.5;
        let city = if rng.uniform() < 0.4 { "null".to_owned() } else { format!("\"c{}\"", rng.below(3)) };
        let golf = rng.uniform() < 0.3;
        let interests = match (golf, rng.uniform() < 0.5) {
            (true, true) => r#"["golf","chess"]"#,
            (true, false) => r#"["golf"]"#,
            (false, true) => r#"["chess"]"#,
            (false, false) => "[]",
        };
        let logit = -1.0 + if source == "event" { 2.0 } else { 0.0 } + 0.15 * visits as f64 - 1.5
            + if golf { 1.5 } else { 0.0 };
        let won = rng.uniform() < 1.0 / (1.0 + (-logit).exp());
        lines.push(format!(
            r#"{{"messageId":"i{lead}","type":"identify","userId":"u{lead}","traits":{{"source":"{source}","visits":{visits},"flag":{flag},"city":{city},"interests":{interests},"email":"u{lead}@example.com"}},"timestamp":"2026-09-01T00:00:00Z"}}"#
        ));
        let stage = if won { OutcomeStage::Won } else { OutcomeStage::Lost };
        outcomes.push(Outcome {
            lead_id: format!("u{lead}"),
            stage,
            at: time("2026-09-01"),
            reason: None,
            revenue: None,
        });
    }
    let log = log_of(model, &lines);
    let options = SuggestOptions { generate_rules: true, ..SuggestOptions::default() };
    let suggestion = suggest(&log, model, &outcomes, &options).unwrap();
    let generated: Vec<_> = suggestion
        .rules
        .iter()
        .filter_map(|rule| match &rule.source {
            FeatureSource::Generated(generated) => Some((generated, rule)),
            _ => None,
        })
        .collect();
    let groups: std::collections::BTreeSet<&str> =
        generated.iter().filter_map(|(rule, _)| rule.group.as_deref()).collect();
    // Emails are all different: no value reaches the minimum support, so
    // the trait has one "other" rule for everyone and is left out. (The
    // list trait's rules have no group.)
    assert_eq!(groups.into_iter().collect::<Vec<_>>(), ["city", "flag", "source", "visits"]);
    let ids: Vec<&str> = generated.iter().map(|(rule, _)| rule.id.as_str()).collect();
    for id in ["source-event", "source-referral", "city-missing", "flag-true", "flag-false", "visits-below-4"] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    // Each lead holds exactly one rule of each group.
    let scored_traits = |lead: usize| -> serde_json::Value {
        let line: serde_json::Value = serde_json::from_str(&lines[lead]).unwrap();
        line["traits"].clone()
    };
    for lead in 0..50 {
        let traits = scored_traits(lead);
        for group in ["city", "flag", "source", "visits"] {
            let holding = generated
                .iter()
                .filter(|(rule, _)| rule.group.as_deref() == Some(group) && rule.condition.holds(traits.get(group)))
                .count();
            assert_eq!(holding, 1, "lead {lead}, {group}: {traits}");
        }
    }
    // The signal is found: "event" is the best source, the highest visits
    // bucket beats the lowest, and each group's lowest rule gets 0 points.
    let points = |id: &str| generated.iter().find(|(rule, _)| rule.id == id).unwrap().1.points;
    let sources = ["source-event", "source-referral", "source-ads", "source-search"].map(points);
    assert_eq!(sources.iter().max(), Some(&sources[0]), "{sources:?}");
    let visits: Vec<i64> = generated
        .iter()
        .filter(|(rule, _)| rule.group.as_deref() == Some("visits"))
        .map(|(_, rule)| rule.points)
        .collect();
    assert!(visits.last() > visits.first(), "{visits:?}");
    for group in ["city", "flag", "source", "visits"] {
        let low = generated
            .iter()
            .filter(|(rule, _)| rule.group.as_deref() == Some(group))
            .map(|(_, rule)| rule.points)
            .min();
        assert_eq!(low, Some(0), "{group}");
    }
    // A list trait gets a rule per element, weighed on its own.
    let golf = points("interests-has-golf");
    assert!(golf > 0 && golf > points("interests-has-chess").abs(), "{golf}");
    let cv = &suggestion.cross_validation;
    assert!(mean(&cv.suggested) > 0.7, "{cv:?}");
    assert!((mean(&cv.suggested) - mean(&cv.regression)).abs() < 0.01, "{cv:?}");
    // The model it writes parses, and its fit never passes 100.
    let written =
        Model::parse(&suggestion.model_text).unwrap_or_else(|errors| panic!("{errors}\n{}", suggestion.model_text));
    let reach: i64 = ["city", "flag", "source", "visits"]
        .iter()
        .map(|group| {
            generated
                .iter()
                .filter(|(rule, _)| rule.group.as_deref() == Some(*group))
                .map(|(_, rule)| rule.points)
                .max()
                .unwrap()
        })
        .sum::<i64>()
        + ["hand-rule", "interests-has-golf", "interests-has-chess"]
            .iter()
            .map(|id| suggestion.rules.iter().find(|rule| rule.id == *id).map_or(0, |rule| rule.points.max(0)))
            .sum::<i64>();
    assert!(reach <= 102, "{reach}");
    assert!(written.personas[0].fit.len() >= 8);
}

#[test]
fn auc_counts_ties_as_half() {
    // Two won (0.35, 0.8) and two lost (0.1, 0.4): 3 of the 4 pairs ordered.
    assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 0.75);
    assert_eq!(auc(&[1.0, 1.0, 1.0], &[true, false, true]), 0.5);
    assert_eq!(auc(&[2.0, 1.0, 1.0], &[true, false, true]), 0.75);
    assert_eq!(auc(&[1.0, 2.0], &[true, true]), 0.5);
}
