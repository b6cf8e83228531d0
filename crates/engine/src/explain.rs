//! Why a lead has its scores: each engagement rule's events with their
//! decayed values and the cap if it bit, each fit rule held or missed with
//! the trait value, the grade, and the moment the lead became an MQL with the
//! rule totals that carried it there.

use crate::identity::{Identities, LeadKey};
use crate::log::EventLog;
use crate::model::{Grade, Selector};
use crate::score::{LeadHistory, LeadScore, Timelines, cap, event_value, tidy, trait_value};
use crate::time::EventTime;
use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub lead_id: String,
    #[serde(serialize_with = "as_text")]
    pub as_of: EventTime,
    pub engagement: f64,
    pub fit: i64,
    #[serde(serialize_with = "as_text")]
    pub grade: Grade,
    pub persona: Option<String>,
    pub mql: bool,
    #[serde(serialize_with = "optional_as_text")]
    pub mql_at: Option<EventTime>,
    pub engagement_threshold: f64,
    #[serde(serialize_with = "as_text")]
    pub min_grade: Grade,
    pub anonymous_ids: Vec<String>,
    pub merged_user_ids: Vec<String>,
    pub engagement_rules: Vec<RuleExplanation>,
    pub personas: Vec<PersonaExplanation>,
    /// The rules that carried the lead over the threshold, at `mql_at`.
    pub mql_crossing: Option<MqlCrossing>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleExplanation {
    pub id: String,
    pub points: f64,
    pub max_points: Option<f64>,
    pub within_days: Option<f64>,
    pub half_life_days: Option<f64>,
    pub events: Vec<Contribution>,
    /// The sum of the counted values before the cap.
    pub uncapped_total: f64,
    pub total: f64,
    pub capped: bool,
}

/// One event a rule looked at, and what it is worth as of the evaluation time.
#[derive(Clone, Debug, Serialize)]
pub struct Contribution {
    #[serde(serialize_with = "as_text")]
    pub time: EventTime,
    pub description: String,
    /// `None` when the event is outside the rule's window.
    pub value: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PersonaExplanation {
    pub id: String,
    pub fit: i64,
    pub rules: Vec<FitRuleExplanation>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FitRuleExplanation {
    pub id: String,
    #[serde(rename = "trait")]
    pub trait_name: String,
    pub value: Option<Value>,
    pub held: bool,
    pub points: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct MqlCrossing {
    #[serde(serialize_with = "as_text")]
    pub at: EventTime,
    pub engagement: f64,
    pub fit: i64,
    #[serde(serialize_with = "as_text")]
    pub grade: Grade,
    /// Non-zero rule totals at that moment, largest contribution first.
    pub rule_totals: Vec<(String, f64)>,
    pub fit_rules_held: Vec<String>,
}

fn as_text<T: std::fmt::Display, S: serde::Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn optional_as_text<T: std::fmt::Display, S: serde::Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

/// Explains one lead's scores as of `as_of`; `None` when the log has no
/// lead (or anonymous visitor, `anon:<id>`) by that id as of then.
pub fn explain(log: &EventLog, lead_id: &str, as_of: EventTime) -> Option<Explanation> {
    let identities = Identities::resolve(log, as_of);
    let lead = LeadKey::find(log, lead_id)?;
    // A merged-away userId, or an anonymousId that is part of a lead, is
    // explained as the lead it counts for.
    let lead = match lead {
        LeadKey::User(user) => LeadKey::User(identities.surviving(user)),
        LeadKey::Anonymous(anonymous) => identities.lead_of(None, Some(anonymous))?,
    };
    let events = Timelines::build(log, &identities, as_of).events_of(lead);
    if events.is_empty() {
        return None;
    }
    let history = LeadHistory::new(log, lead, events);
    let score: LeadScore = history.score(as_of);
    let model = log.model();

    let totals = history.rule_totals(as_of);
    let engagement_rules = model
        .engagement
        .iter()
        .enumerate()
        .map(|(rule_index, rule)| {
            let events: Vec<Contribution> = history
                .rule_event_times(rule_index)
                .into_iter()
                .map(|(time, index)| Contribution {
                    time,
                    description: match index {
                        Some(index) => log.description(index as usize).unwrap_or(rule_kind(&rule.selector)).to_owned(),
                        None => "visit".to_owned(),
                    },
                    value: event_value(rule, time, as_of).map(tidy),
                })
                .collect();
            let uncapped_total = tidy(events.iter().filter_map(|event| event.value).sum());
            RuleExplanation {
                id: rule.id.clone(),
                points: rule.points,
                max_points: rule.max_points,
                within_days: rule.within_days,
                half_life_days: rule.half_life_days,
                capped: cap(rule, uncapped_total) != uncapped_total,
                total: tidy(totals[rule_index]),
                uncapped_total,
                events,
            }
        })
        .collect();

    let traits = history.traits_at(as_of);
    let fit = history.fit(&traits);
    let personas = model
        .personas
        .iter()
        .zip(&fit.persona_fits)
        .map(|(persona, persona_fit)| PersonaExplanation {
            id: persona.id.clone(),
            fit: *persona_fit,
            rules: persona
                .fit
                .iter()
                .map(|rule| {
                    let value = trait_value(log, &traits, rule.trait_name());
                    FitRuleExplanation {
                        id: rule.id.clone(),
                        trait_name: rule.trait_name().to_owned(),
                        held: rule.condition.holds(value),
                        value: value.cloned(),
                        points: rule.points,
                    }
                })
                .collect(),
        })
        .collect();

    let mql_crossing = score.mql_at.map(|at| {
        let totals = history.rule_totals(at);
        let mut rule_totals: Vec<(String, f64)> = model
            .engagement
            .iter()
            .zip(&totals)
            .filter(|(_, total)| **total != 0.0)
            .map(|(rule, total)| (rule.id.clone(), tidy(*total)))
            .collect();
        rule_totals.sort_by(|a, b| b.1.total_cmp(&a.1));
        let traits_then = history.traits_at(at);
        let fit_then = history.fit(&traits_then);
        let fit_rules_held = match fit_then.persona {
            Some(persona) => model.personas[persona]
                .fit
                .iter()
                .filter(|rule| rule.condition.holds(trait_value(log, &traits_then, rule.trait_name())))
                .map(|rule| rule.id.clone())
                .collect(),
            None => Vec::new(),
        };
        MqlCrossing {
            at,
            engagement: tidy(totals.iter().sum()),
            fit: fit_then.fit,
            grade: model.grades.grade(fit_then.fit),
            rule_totals,
            fit_rules_held,
        }
    });

    let (anonymous_ids, merged_user_ids) = match lead {
        LeadKey::User(user) => (
            identities.anonymous_ids_of(user).into_iter().map(|id| log.name(id).to_owned()).collect(),
            identities.merged_user_ids_of(user).into_iter().map(|id| log.name(id).to_owned()).collect(),
        ),
        LeadKey::Anonymous(_) => (Vec::new(), Vec::new()),
    };

    Some(Explanation {
        lead_id: score.lead_id,
        as_of,
        engagement: score.engagement,
        fit: score.fit,
        grade: score.grade,
        persona: score.persona,
        mql: score.mql,
        mql_at: score.mql_at,
        engagement_threshold: model.mql.engagement_threshold,
        min_grade: model.mql.min_grade,
        anonymous_ids,
        merged_user_ids,
        engagement_rules,
        personas,
        mql_crossing,
    })
}

fn rule_kind(selector: &Selector) -> &'static str {
    match selector {
        Selector::Track { .. } => "track",
        Selector::Page { .. } => "page",
        Selector::Screen { .. } => "screen",
        Selector::Visit => "visit",
    }
}

/// One event of a lead's timeline and the points it earns as of the
/// evaluation time, per rule.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEntry {
    #[serde(serialize_with = "as_text")]
    pub time: EventTime,
    pub kind: &'static str,
    pub description: String,
    /// Whether this event started a visit.
    pub starts_visit: bool,
    /// (rule id, value as of the evaluation time); windowed-out events are left out.
    pub points: Vec<(String, f64)>,
}

/// Every event of a lead, oldest first, with the points each earns as of
/// `as_of`; `None` when there is no such lead then.
pub fn timeline(log: &EventLog, lead_id: &str, as_of: EventTime) -> Option<Vec<TimelineEntry>> {
    let identities = Identities::resolve(log, as_of);
    let lead = match LeadKey::find(log, lead_id)? {
        LeadKey::User(user) => LeadKey::User(identities.surviving(user)),
        LeadKey::Anonymous(anonymous) => identities.lead_of(None, Some(anonymous))?,
    };
    let events = Timelines::build(log, &identities, as_of).events_of(lead);
    if events.is_empty() {
        return None;
    }
    let history = LeadHistory::new(log, lead, events);
    let model = log.model();
    let mut visits = history.visits.iter().peekable();
    let entries = history
        .events
        .iter()
        .map(|&index| {
            let event = history.event(index);
            let mut points: Vec<(String, f64)> = log
                .matched_rules(event)
                .iter()
                .filter_map(|&rule_index| {
                    let rule = &model.engagement[rule_index as usize];
                    Some((rule.id.clone(), tidy(event_value(rule, event.time, as_of)?)))
                })
                .collect();
            let starts_visit = event.kind.is_activity() && visits.next_if(|time| **time == event.time).is_some();
            if starts_visit {
                for rule in model.engagement.iter().filter(|rule| rule.selector == Selector::Visit) {
                    if let Some(value) = event_value(rule, event.time, as_of) {
                        points.push((rule.id.clone(), tidy(value)));
                    }
                }
            }
            TimelineEntry {
                time: event.time,
                kind: event.kind.as_str(),
                description: log.description(index as usize).unwrap_or(event.kind.as_str()).to_owned(),
                starts_visit,
                points,
            }
        })
        .collect();
    Some(entries)
}
