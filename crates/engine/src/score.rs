//! Scores as of a time (spec sections 3 and 4): visits, engagement with
//! decay, windows and caps, fit per persona, grade, and the MQL verdict with
//! the earliest time it held.

use crate::identity::{Identities, LeadKey};
use crate::log::{Event, EventLog};
use crate::model::{EngagementRule, Grade, Model, Selector};
use crate::time::{EventTime, MICROS_PER_DAY};
use rayon::prelude::*;
use serde_json::Value;

/// A visit ends when the next activity comes more than this long after the
/// previous one; exactly 30 minutes later is still the same visit.
pub const VISIT_GAP_MICROS: i64 = 30 * 60 * 1_000_000;

/// Engagement is compared with the threshold with this much slack, so that
/// the last bits of floating-point rounding in decayed sums do not decide.
const THRESHOLD_EPSILON: f64 = 1e-9;

/// A lead's (or anonymous visitor's) scores as of a time.
#[derive(Clone, Debug, PartialEq)]
pub struct LeadScore {
    pub lead_id: String,
    pub engagement: f64,
    pub fit: i64,
    pub grade: Grade,
    /// Index of the persona that gives the fit (none when fit is 0).
    pub persona: Option<String>,
    pub mql: bool,
    /// The earliest message time at which the MQL condition held.
    pub mql_at: Option<EventTime>,
    pub first_seen: EventTime,
    pub last_seen: EventTime,
}

/// Scores every lead and anonymous visitor that has an event at or before
/// `as_of`, sorted by lead id.
pub fn score_log(log: &EventLog, as_of: EventTime) -> Vec<LeadScore> {
    let identities = Identities::resolve(log, as_of);
    let timelines = Timelines::build(log, &identities, as_of);
    let mut scores: Vec<LeadScore> = timelines
        .leads()
        .into_par_iter()
        .map(|(lead, events)| LeadHistory::new(log, lead, events).score(as_of))
        .collect();
    scores.par_sort_unstable_by(|a, b| a.lead_id.cmp(&b.lead_id));
    scores
}

/// Every lead's events (indices into the log) in (time, acceptance) order.
pub(crate) struct Timelines {
    /// (lead, event index), sorted by lead, then event time, then acceptance.
    entries: Vec<(LeadKey, u32)>,
}

impl Timelines {
    pub(crate) fn build(log: &EventLog, identities: &Identities, as_of: EventTime) -> Timelines {
        Self::build_among(log, None, identities, as_of)
    }

    /// The timelines of some of the log's events (`None`: all of them).
    pub(crate) fn build_among(
        log: &EventLog,
        among: Option<&[u32]>,
        identities: &Identities,
        as_of: EventTime,
    ) -> Timelines {
        let events = log.events();
        let entry = |index: usize| {
            let event = &events[index];
            if event.time > as_of {
                return None;
            }
            Some((identities.lead_of(event.user(), event.anonymous())?, index as u32))
        };
        let mut entries: Vec<(LeadKey, u32)> = match among {
            Some(indices) => indices.iter().filter_map(|&index| entry(index as usize)).collect(),
            None => (0..events.len()).filter_map(entry).collect(),
        };
        entries.par_sort_unstable_by_key(|&(lead, index)| (lead, events[index as usize].time, index));
        Timelines { entries }
    }

    /// Each lead with its slice of event indices.
    pub(crate) fn leads(&self) -> Vec<(LeadKey, Vec<u32>)> {
        let mut leads = Vec::new();
        let mut start = 0;
        while start < self.entries.len() {
            let lead = self.entries[start].0;
            let end = start + self.entries[start..].iter().take_while(|(key, _)| *key == lead).count();
            leads.push((lead, self.entries[start..end].iter().map(|(_, index)| *index).collect()));
            start = end;
        }
        leads
    }

    pub(crate) fn events_of(&self, lead: LeadKey) -> Vec<u32> {
        let start = self.entries.partition_point(|(key, _)| *key < lead);
        self.entries[start..].iter().take_while(|(key, _)| *key == lead).map(|(_, index)| *index).collect()
    }
}

/// One lead's events, in order, with its visits derived.
pub(crate) struct LeadHistory<'l> {
    pub(crate) log: &'l EventLog,
    pub(crate) lead: LeadKey,
    /// Indices into the log, in (time, acceptance) order.
    pub(crate) events: Vec<u32>,
    /// Start times of the lead's visits.
    pub(crate) visits: Vec<EventTime>,
}

impl<'l> LeadHistory<'l> {
    pub(crate) fn new(log: &'l EventLog, lead: LeadKey, events: Vec<u32>) -> Self {
        let mut visits = Vec::new();
        let mut previous_activity: Option<EventTime> = None;
        for &index in &events {
            let event = &log.events()[index as usize];
            if !event.kind.is_activity() {
                continue;
            }
            let starts_visit = previous_activity
                .is_none_or(|previous| event.time.as_micros() - previous.as_micros() > VISIT_GAP_MICROS);
            if starts_visit {
                visits.push(event.time);
            }
            previous_activity = Some(event.time);
        }
        LeadHistory { log, lead, events, visits }
    }

    pub(crate) fn model(&self) -> &'l Model {
        self.log.model()
    }

    pub(crate) fn event(&self, index: u32) -> &'l Event {
        &self.log.events()[index as usize]
    }

    /// The times of the events a rule counts (visits for a visit rule), in order.
    pub(crate) fn rule_event_times(&self, rule_index: usize) -> Vec<(EventTime, Option<u32>)> {
        let rule = &self.model().engagement[rule_index];
        if rule.selector == Selector::Visit {
            return self.visits.iter().map(|time| (*time, None)).collect();
        }
        self.events
            .iter()
            .filter(|&&index| self.log.matched_rules(self.event(index)).contains(&(rule_index as u16)))
            .map(|&index| (self.event(index).time, Some(index)))
            .collect()
    }

    /// Each engagement rule's total (capped) as of `at`.
    pub(crate) fn rule_totals(&self, at: EventTime) -> Vec<f64> {
        let model = self.model();
        let mut sums = vec![0.0; model.engagement.len()];
        for &index in &self.events {
            let event = self.event(index);
            if event.time > at {
                break;
            }
            for &rule_index in self.log.matched_rules(event) {
                let rule = &model.engagement[rule_index as usize];
                sums[rule_index as usize] += event_value(rule, event.time, at).unwrap_or(0.0);
            }
        }
        for (rule_index, rule) in model.engagement.iter().enumerate() {
            if rule.selector == Selector::Visit {
                sums[rule_index] = self.visits.iter().filter_map(|time| event_value(rule, *time, at)).sum();
            }
        }
        model.engagement.iter().zip(sums).map(|(rule, sum)| cap(rule, sum)).collect()
    }

    /// The lead's merged traits as of `at` (none for an anonymous visitor),
    /// as (trait name id, value) with the latest value of each trait.
    pub(crate) fn traits_at(&self, at: EventTime) -> Vec<(u32, &'l Value)> {
        let mut traits: Vec<(u32, &'l Value)> = Vec::new();
        if matches!(self.lead, LeadKey::Anonymous(_)) {
            return traits;
        }
        for &index in &self.events {
            let event = self.event(index);
            if event.time > at {
                break;
            }
            apply_traits(&mut traits, self.log.trait_update(event));
        }
        traits
    }

    /// The lead's fit score, persona index and per-persona fits, from traits.
    pub(crate) fn fit(&self, traits: &[(u32, &Value)]) -> Fit {
        fit_of(self.log, traits)
    }

    pub(crate) fn score(&self, as_of: EventTime) -> LeadScore {
        let model = self.model();
        let engagement: f64 = self.rule_totals(as_of).iter().sum();
        let fit = self.fit(&self.traits_at(as_of));
        let grade = model.grades.grade(fit.fit);
        let first_seen = self.events.first().map(|&index| self.event(index).time).unwrap_or(as_of);
        let last_seen = self.events.last().map(|&index| self.event(index).time).unwrap_or(as_of);
        LeadScore {
            lead_id: self.lead.lead_id(self.log),
            engagement: tidy(engagement),
            fit: fit.fit,
            grade,
            persona: fit.persona.map(|index| model.personas[index].id.clone()),
            mql: is_mql(model, engagement, grade),
            mql_at: self.mql_at(as_of),
            first_seen,
            last_seen,
        }
    }

    /// The earliest message time at or before `as_of` at which the lead was
    /// an MQL. Rule sums are carried forward from one message time to the
    /// next (decayed, with events leaving their window taken out), so the
    /// whole history costs one pass.
    pub(crate) fn mql_at(&self, as_of: EventTime) -> Option<EventTime> {
        let model = self.model();
        let rules = &model.engagement;
        let mut sums = vec![0.0f64; rules.len()];
        let mut sums_time: Option<EventTime> = None;
        // Events still inside a windowed rule's window: (time, points).
        let mut windows: Vec<std::collections::VecDeque<EventTime>> = vec![Default::default(); rules.len()];
        let mut traits: Vec<(u32, &Value)> = Vec::new();
        let mut grade = model.grades.grade(0);
        let mut next_visit = 0;
        let mut position = 0;
        while position < self.events.len() {
            let now = self.event(self.events[position]).time;
            if now > as_of {
                break;
            }
            // Decay what was there to `now`.
            if let Some(then) = sums_time {
                for (sum, rule) in sums.iter_mut().zip(rules) {
                    if let Some(half_life) = rule.half_life_days {
                        *sum *= decay_factor(then.days_until(now), half_life);
                    }
                }
            }
            sums_time = Some(now);
            // Add every message at this time.
            let mut traits_changed = false;
            while position < self.events.len() && self.event(self.events[position]).time == now {
                let event = self.event(self.events[position]);
                for &rule_index in self.log.matched_rules(event) {
                    let rule_index = rule_index as usize;
                    sums[rule_index] += rules[rule_index].points;
                    if rules[rule_index].within_days.is_some() {
                        windows[rule_index].push_back(now);
                    }
                }
                if !matches!(self.lead, LeadKey::Anonymous(_)) {
                    let update = self.log.trait_update(event);
                    traits_changed |= !update.is_empty();
                    apply_traits(&mut traits, update);
                }
                position += 1;
            }
            while next_visit < self.visits.len() && self.visits[next_visit] == now {
                for (rule_index, rule) in rules.iter().enumerate() {
                    if rule.selector == Selector::Visit {
                        sums[rule_index] += rule.points;
                        if rule.within_days.is_some() {
                            windows[rule_index].push_back(now);
                        }
                    }
                }
                next_visit += 1;
            }
            // Take out events that left their window.
            for (rule_index, rule) in rules.iter().enumerate() {
                let Some(within_days) = rule.within_days else {
                    continue;
                };
                while let Some(&oldest) = windows[rule_index].front() {
                    if in_window(within_days, oldest, now) {
                        break;
                    }
                    sums[rule_index] -= event_value_ignoring_window(rule, oldest, now);
                    windows[rule_index].pop_front();
                }
            }
            if traits_changed {
                grade = model.grades.grade(self.fit(&traits).fit);
            }
            let engagement: f64 = rules.iter().zip(&sums).map(|(rule, sum)| cap(rule, *sum)).sum();
            if is_mql(model, engagement, grade) {
                return Some(now);
            }
        }
        None
    }
}

/// Sets each trait of an update, the later value replacing the earlier.
fn apply_traits<'v>(traits: &mut Vec<(u32, &'v Value)>, update: &'v [(u32, Value)]) {
    for (key, value) in update {
        match traits.iter_mut().find(|(name, _)| name == key) {
            Some(slot) => slot.1 = value,
            None => traits.push((*key, value)),
        }
    }
}

/// Fit as evaluated against a set of traits.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fit {
    pub(crate) fit: i64,
    pub(crate) persona: Option<usize>,
    pub(crate) persona_fits: Vec<i64>,
}

/// The value of a trait by name: a top-level trait, else a dotted path into one.
pub(crate) fn trait_value<'v>(log: &EventLog, traits: &[(u32, &'v Value)], name: &str) -> Option<&'v Value> {
    let find = |key: &str| {
        let id = log.trait_name_id(key)?;
        traits.iter().find(|(name, _)| *name == id).map(|(_, value)| *value)
    };
    if let Some(value) = find(name) {
        return Some(value);
    }
    let (head, rest) = name.split_once('.')?;
    let mut value = find(head)?;
    for part in rest.split('.') {
        value = value.get(part)?;
    }
    Some(value)
}

/// Whether each fit rule holds on a set of traits, persona by persona in
/// model order (the rules of every persona, flattened).
pub(crate) fn fit_rules_held(log: &EventLog, traits: &[(u32, &Value)]) -> Vec<bool> {
    log.model()
        .personas
        .iter()
        .flat_map(|persona| persona.fit.iter())
        .map(|rule| rule.condition.holds(trait_value(log, traits, rule.trait_name())))
        .collect()
}

/// Every lead (anonymous visitors left out) that has an event at or before
/// `as_of`, with its history, in no particular order.
pub(crate) fn lead_histories(log: &EventLog, as_of: EventTime) -> Vec<LeadHistory<'_>> {
    let identities = Identities::resolve(log, as_of);
    let timelines = Timelines::build(log, &identities, as_of);
    timelines
        .leads()
        .into_par_iter()
        .filter(|(lead, _)| matches!(lead, LeadKey::User(_)))
        .map(|(lead, events)| LeadHistory::new(log, lead, events))
        .collect()
}

fn fit_of(log: &EventLog, traits: &[(u32, &Value)]) -> Fit {
    let model = log.model();
    let persona_fits: Vec<i64> = model
        .personas
        .iter()
        .map(|persona| {
            let sum: i64 = persona
                .fit
                .iter()
                .filter(|rule| rule.condition.holds(trait_value(log, traits, rule.trait_name())))
                .map(|rule| rule.points)
                .sum();
            sum.clamp(0, 100)
        })
        .collect();
    let fit = persona_fits.iter().copied().max().unwrap_or(0);
    let persona = if fit > 0 { persona_fits.iter().position(|&persona_fit| persona_fit == fit) } else { None };
    Fit { fit, persona, persona_fits }
}

pub(crate) fn is_mql(model: &Model, engagement: f64, grade: Grade) -> bool {
    engagement + THRESHOLD_EPSILON >= model.mql.engagement_threshold && grade.meets(model.mql.min_grade)
}

/// `0.5 ^ (age / half_life)`.
fn decay_factor(age_days: f64, half_life_days: f64) -> f64 {
    0.5f64.powf(age_days / half_life_days)
}

fn in_window(within_days: f64, time: EventTime, at: EventTime) -> bool {
    (at.as_micros() - time.as_micros()) as f64 <= within_days * MICROS_PER_DAY as f64
}

fn event_value_ignoring_window(rule: &EngagementRule, time: EventTime, at: EventTime) -> f64 {
    match rule.half_life_days {
        Some(half_life) => rule.points * decay_factor(time.days_until(at), half_life),
        None => rule.points,
    }
}

/// An event's value for a rule at time `at`: `None` when the event is after
/// `at` or outside the rule's window.
pub(crate) fn event_value(rule: &EngagementRule, time: EventTime, at: EventTime) -> Option<f64> {
    if time > at {
        return None;
    }
    if let Some(within_days) = rule.within_days {
        if !in_window(within_days, time, at) {
            return None;
        }
    }
    Some(event_value_ignoring_window(rule, time, at))
}

/// A rule's total with its absolute value capped at `max_points`.
pub(crate) fn cap(rule: &EngagementRule, sum: f64) -> f64 {
    match rule.max_points {
        Some(max) if sum.abs() > max => max.copysign(sum),
        _ => sum,
    }
}

/// Rounds away floating-point dust (and negative zero) so that printed
/// totals are stable.
pub(crate) fn tidy(value: f64) -> f64 {
    let rounded = (value * 1e9).round() / 1e9;
    if rounded == 0.0 { 0.0 } else { rounded }
}

/// A lead's scores with its profile: merged traits and linked identities.
#[derive(Clone, Debug, PartialEq)]
pub struct LeadProfile {
    pub score: LeadScore,
    /// The merged traits as of the evaluation time (every trait the log
    /// kept; all of them with [`crate::log::Keep::Everything`]).
    pub traits: serde_json::Map<String, Value>,
    /// The anonymousIds that count for this lead.
    pub anonymous_ids: Vec<String>,
    /// The userIds merged into this lead.
    pub merged_user_ids: Vec<String>,
    /// The non-zero engagement rule totals at `mql_at`: what carried the
    /// lead over the threshold (empty when it never was an MQL).
    pub mql_rule_totals: Vec<(String, f64)>,
    /// First-touch channel (spec/analytics.md): the campaign source of the
    /// lead's earliest event, else `direct`.
    pub channel: String,
}

/// Scores and profiles the leads of a log, sorted by lead id.
pub fn profile_log(log: &EventLog, as_of: EventTime) -> Vec<LeadProfile> {
    profile_among(log, None, as_of)
}

/// Like [`profile_log`], over some of the log's events only (indices in
/// acceptance order): exact for the leads whose every event is among them,
/// such as whole identity components.
pub fn profile_among(log: &EventLog, among: Option<&[u32]>, as_of: EventTime) -> Vec<LeadProfile> {
    let identities = Identities::resolve_among(log, among, as_of);
    let timelines = Timelines::build_among(log, among, &identities, as_of);
    let members = identities.members_by_lead();
    let names = |ids: &[crate::log::NameId]| ids.iter().map(|&id| log.name(id).to_owned()).collect::<Vec<_>>();
    let leads = timelines.leads();
    let mut profiles: Vec<LeadProfile> = leads
        .into_par_iter()
        .map(|(lead, events)| {
            let history = LeadHistory::new(log, lead, events);
            let traits = history
                .traits_at(as_of)
                .into_iter()
                .map(|(key, value)| (log.trait_name(key).to_owned(), value.clone()))
                .collect();
            // The first touch: the campaign source of the earliest event, else direct.
            let channel = history
                .events
                .first()
                .and_then(|&index| history.event(index).channel())
                .map_or_else(|| "direct".to_owned(), |name| log.name(name).to_owned());
            let (anonymous_ids, merged_user_ids) = match lead {
                LeadKey::User(user) => {
                    members.get(&user).map(|(anonymous, merged)| (names(anonymous), names(merged))).unwrap_or_default()
                }
                LeadKey::Anonymous(_) => (Vec::new(), Vec::new()),
            };
            let score = history.score(as_of);
            let mql_rule_totals = match score.mql_at {
                Some(at) => log
                    .model()
                    .engagement
                    .iter()
                    .zip(history.rule_totals(at))
                    .filter(|(_, total)| *total != 0.0)
                    .map(|(rule, total)| (rule.id.clone(), tidy(total)))
                    .collect(),
                None => Vec::new(),
            };
            LeadProfile { score, traits, anonymous_ids, merged_user_ids, channel, mql_rule_totals }
        })
        .collect();
    profiles.par_sort_unstable_by(|a, b| a.score.lead_id.cmp(&b.score.lead_id));
    profiles
}
