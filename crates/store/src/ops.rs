//! Operations that combine storage with scoring: ingesting messages with
//! incremental re-scoring, activating a model, and loading the stored log
//! into the engine.
//!
//! Incremental re-scoring works on identity components: the userIds and
//! anonymousIds connected by stored links to the ones a batch touched. A
//! lead's scores depend only on the events of its component, so
//! re-scoring the component gives exactly what re-scoring the world would.

use crate::{LeadQuery, LeadRecord, LeadSort, NewEvent, StageTransition, Store, StoreError, StoredEvent, StoredModel};
use qualify_engine::Model;
use qualify_engine::backtest::{Backtest, backtest_log};
use qualify_engine::criteria::{CriteriaReport, compute_criteria, lead_rules};
use qualify_engine::kpis::{Grouping, KpiRow, LeadFacts, Period, compute_kpis};
use qualify_engine::live::LiveLog;
use qualify_engine::log::{AppendSummary, EventLog, Keep, dedup_key, prepare_numbered_lines};
use qualify_engine::message::{Message, Rejection, parse_line_bytes};
use qualify_engine::model::ModelErrors;
use qualify_engine::outcome::{LineError, Numbered, Outcome};
use qualify_engine::score::{LeadProfile, profile_log};
use qualify_engine::time::EventTime;
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Above this many touched identities, re-scoring every lead in one pass is
/// cheaper than finding and loading each component.
const FULL_RESCORE_THRESHOLD: usize = 20_000;
const PAGE_SIZE: usize = 20_000;

/// What an ingest did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IngestSummary {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejections: Vec<Rejection>,
    /// Leads (and anonymous visitors) whose state was re-computed.
    pub leads_scored: u64,
    /// False when no model is active: events are stored, nothing is scored.
    pub scored: bool,
}

/// The identities a batch of messages touched, for re-scoring.
#[derive(Clone, Debug, Default)]
pub struct Touched {
    pub user_ids: BTreeSet<String>,
    pub anonymous_ids: BTreeSet<String>,
}

impl Touched {
    pub fn len(&self) -> usize {
        self.user_ids.len() + self.anonymous_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Errors of the operations: a bad model (the user's to fix) or the store.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("the model is not valid:\n{0}")]
    InvalidModel(ModelErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The row to store for a parsed message.
pub fn new_event(message: &Message<'_>, received: EventTime) -> NewEvent {
    NewEvent {
        dedup_key: format!("{:032x}", dedup_key(message)),
        kind: message.kind.as_str().to_owned(),
        user_id: message.user_id.as_deref().map(str::to_owned),
        anonymous_id: message.anonymous_id.as_deref().map(str::to_owned),
        previous_id: message.previous_id.as_deref().map(str::to_owned),
        time: message.time.unwrap_or(received),
        received_at: received,
        json: message.standalone_json(received).into_owned(),
    }
}

/// Parses NDJSON lines (messages or batch envelopes) into events to store,
/// on every core, and says which were rejected and why.
pub fn parse_lines(lines: &[&[u8]], first_line_number: u64, received: EventTime) -> (Vec<NewEvent>, Vec<Rejection>) {
    let parsed: Vec<Vec<Result<NewEvent, Rejection>>> = lines
        .par_iter()
        .with_min_len(256)
        .enumerate()
        .map(|(offset, bytes)| {
            parse_line_bytes(bytes, first_line_number + offset as u64, |message| new_event(&message, received))
        })
        .collect();
    let mut events = Vec::new();
    let mut rejections = Vec::new();
    for result in parsed.into_iter().flatten() {
        match result {
            Ok(event) => events.push(event),
            Err(rejection) => rejections.push(rejection),
        }
    }
    (events, rejections)
}

/// Notes the identities events touch, for re-scoring.
pub fn note_touched(events: &[NewEvent], touched: &mut Touched) {
    for event in events {
        touched.user_ids.extend(event.user_id.iter().cloned());
        touched.anonymous_ids.extend(event.anonymous_id.iter().cloned());
        if let Some(previous) = &event.previous_id {
            // A previousId may name either kind; the component search finds out.
            touched.user_ids.insert(previous.clone());
            touched.anonymous_ids.insert(previous.clone());
        }
    }
}

/// Appends parsed events and notes the identities they touch.
pub fn append(store: &mut dyn Store, events: &[NewEvent], touched: &mut Touched) -> Result<AppendSummary, StoreError> {
    let appended = store.append_events(events)?;
    note_touched(events, touched);
    Ok(AppendSummary { accepted: appended.accepted, duplicates: appended.duplicates, rejections: Vec::new() })
}

/// The active model, parsed.
pub fn active_model(store: &dyn Store) -> Result<Option<(StoredModel, Arc<Model>)>, OpsError> {
    let Some(stored) = store.active_model()? else {
        return Ok(None);
    };
    let model = Model::parse(&stored.toml).map_err(OpsError::InvalidModel)?;
    Ok(Some((stored, Arc::new(model))))
}

/// Loads the whole stored log into the engine, prepared for `model`.
pub fn load_log(store: &dyn Store, model: Arc<Model>, keep: Keep) -> Result<EventLog, StoreError> {
    let mut log = EventLog::new(model, keep);
    let received = EventTime::now();
    append_stored_log(store, |lines, seqs| {
        let model = log.shared_model();
        let prepared = prepare_numbered_lines(lines, |offset| seqs[offset] as u64, &model, keep, received);
        log.append_prepared(prepared.into_iter().flatten().collect())
    })?;
    Ok(log)
}

/// Hands the whole stored log to `append`, page by page, as NDJSON lines
/// and their sequence numbers. A stored event that no longer parses is
/// corruption, not bad input.
fn append_stored_log(
    store: &dyn Store,
    mut append: impl FnMut(&[&[u8]], &[i64]) -> AppendSummary,
) -> Result<(), StoreError> {
    store.for_each_event_page(PAGE_SIZE, &mut |page| {
        let lines: Vec<&[u8]> = page.iter().map(|event| event.json.as_bytes()).collect();
        let seqs: Vec<i64> = page.iter().map(|event| event.seq).collect();
        let summary = append(&lines, &seqs);
        match summary.rejections.first() {
            Some(rejection) => Err(StoreError::Corrupt(format!(
                "stored event {} no longer parses: {}",
                rejection.line, rejection.reason
            ))),
            None => Ok(()),
        }
    })
}

/// The lifecycle stage of re-scored leads, and the transitions to record
/// (spec/analytics.md): a lead becomes an MQL when the model says so and
/// stays one until sales acts, even if its score decays; a stage sales set
/// is never changed by scoring, except that a `rejected` lead the model
/// qualifies again becomes an MQL once `recycle_days` have passed since its
/// rejection.
fn assign_stages(
    store: &dyn Store,
    profiles: Vec<LeadProfile>,
    scored_at: EventTime,
    model_version: i64,
    recycle_days: f64,
) -> Result<(Vec<LeadRecord>, Vec<StageTransition>), StoreError> {
    let ids: Vec<String> = profiles.iter().map(|profile| profile.score.lead_id.clone()).collect();
    let previous = store.stages(&ids)?;
    let mut transitions = Vec::new();
    let mut records = Vec::with_capacity(profiles.len());
    for profile in profiles {
        let before = previous.get(&profile.score.lead_id).cloned();
        let rule_totals = || {
            profile
                .mql_rule_totals
                .iter()
                .map(|(rule, total)| (rule.clone(), serde_json::json!(total)))
                .collect::<serde_json::Map<String, serde_json::Value>>()
        };
        let stage = match (before.as_deref(), profile.score.mql_at) {
            (None | Some(LEAD), Some(at)) => {
                transitions.push(StageTransition {
                    lead_id: profile.score.lead_id.clone(),
                    from_stage: before.clone(),
                    to_stage: MQL.to_owned(),
                    at,
                    cause: serde_json::json!({ "model_version": model_version, "rule_totals": rule_totals() }),
                });
                MQL.to_owned()
            }
            (None, None) => LEAD.to_owned(),
            (Some(REJECTED), _) if profile.score.mql => {
                // Only rejected leads are looked up, and they are few.
                let rejected_at = store
                    .transitions(&profile.score.lead_id)?
                    .iter()
                    .rev()
                    .find(|transition| transition.to_stage == REJECTED)
                    .map(|transition| transition.at);
                match rejected_at {
                    Some(rejected_at) if rejected_at.days_until(scored_at) >= recycle_days => {
                        transitions.push(StageTransition {
                            lead_id: profile.score.lead_id.clone(),
                            from_stage: before.clone(),
                            to_stage: MQL.to_owned(),
                            at: scored_at,
                            cause: serde_json::json!({
                                "recycled": { "rejected_at": rejected_at.to_string(), "recycle_days": recycle_days },
                                "model_version": model_version,
                                "rule_totals": rule_totals(),
                            }),
                        });
                        MQL.to_owned()
                    }
                    _ => REJECTED.to_owned(),
                }
            }
            (Some(stage), _) => stage.to_owned(),
        };
        records.push(record(profile, stage, scored_at, model_version));
    }
    Ok((records, transitions))
}

const LEAD: &str = "lead";
const MQL: &str = "mql";
const REJECTED: &str = "rejected";

fn record(profile: LeadProfile, stage: String, scored_at: EventTime, model_version: i64) -> LeadRecord {
    let score = profile.score;
    LeadRecord {
        lead_id: score.lead_id,
        stage,
        engagement: score.engagement,
        fit: score.fit,
        grade: score.grade.as_str().to_owned(),
        persona: score.persona,
        mql: score.mql,
        mql_at: score.mql_at,
        first_seen: score.first_seen,
        last_seen: score.last_seen,
        traits: profile.traits,
        anonymous_ids: profile.anonymous_ids,
        channel: Some(profile.channel),
        scored_at,
        model_version,
    }
}

/// Re-scores every lead with the active model as of `as_of`; returns how
/// many leads were scored (0 when no model is active).
pub fn rescore_all(store: &mut dyn Store, as_of: EventTime) -> Result<u64, OpsError> {
    let Some((stored, model)) = active_model(store)? else {
        return Ok(0);
    };
    let log = load_log(store, model, Keep::Profile)?;
    let (records, transitions) =
        assign_stages(store, profile_log(&log, as_of), as_of, stored.version, log.model().recycle_days)?;
    store.replace_all_leads(&records, &transitions)?;
    Ok(records.len() as u64)
}

/// Grows a set of identities to its identity component (a fixpoint over
/// stored links); `None` when it grows past the size where re-scoring
/// everything is cheaper.
fn component(
    store: &dyn Store,
    mut user_ids: Vec<String>,
    mut anonymous_ids: Vec<String>,
) -> Result<Option<(Vec<String>, Vec<String>)>, StoreError> {
    loop {
        let (users, anonymous) = store.linked_identities(&user_ids, &anonymous_ids)?;
        if users.len() == user_ids.len() && anonymous.len() == anonymous_ids.len() {
            return Ok(Some((users, anonymous)));
        }
        if users.len() + anonymous.len() > FULL_RESCORE_THRESHOLD {
            return Ok(None);
        }
        user_ids = users;
        anonymous_ids = anonymous;
    }
}

/// The events of one lead's identity component (a userId or
/// `anon:<anonymousId>`), prepared for `model` with everything kept, for
/// explanations and timelines.
pub fn lead_log(store: &dyn Store, lead_id: &str, model: Arc<Model>) -> Result<EventLog, StoreError> {
    let (users, anonymous) = match lead_id.strip_prefix("anon:") {
        Some(anonymous) => (Vec::new(), vec![anonymous.to_owned()]),
        None => (vec![lead_id.to_owned()], Vec::new()),
    };
    // A component too large to grow is loaded as far as it was grown.
    let (users, anonymous) = component(store, users.clone(), anonymous.clone())?.unwrap_or((users, anonymous));
    identities_log(store, &users, &anonymous, model, Keep::Everything)
}

/// The stored events of these identities, prepared for `model`.
fn identities_log(
    store: &dyn Store,
    user_ids: &[String],
    anonymous_ids: &[String],
    model: Arc<Model>,
    keep: Keep,
) -> Result<EventLog, StoreError> {
    Ok(events_log(&store.events_for_identities(user_ids, anonymous_ids)?, model, keep))
}

/// The events of one lead's identity component, found by a server's
/// in-memory log ([`LiveLog::lead_seqs`]) and read back by sequence number:
/// what [`lead_log`] gives, without reading the whole log.
pub fn lead_log_of_seqs(store: &dyn Store, seqs: &[i64], model: Arc<Model>) -> Result<EventLog, StoreError> {
    Ok(events_log(&store.events_by_seq(seqs)?, model, Keep::Everything))
}

fn events_log(events: &[StoredEvent], model: Arc<Model>, keep: Keep) -> EventLog {
    let mut log = EventLog::new(model, keep);
    let lines: Vec<&[u8]> = events.iter().map(|event| event.json.as_bytes()).collect();
    log.append_lines(&lines, 1, EventTime::now());
    log
}

/// Re-scores the identity components of the touched identities as of `as_of`.
pub fn rescore_touched(store: &mut dyn Store, touched: &Touched, as_of: EventTime) -> Result<u64, OpsError> {
    if touched.is_empty() {
        return Ok(0);
    }
    if touched.len() > FULL_RESCORE_THRESHOLD {
        return rescore_all(store, as_of);
    }
    let Some((stored, model)) = active_model(store)? else {
        return Ok(0);
    };
    let Some((user_ids, anonymous_ids)) =
        component(store, touched.user_ids.iter().cloned().collect(), touched.anonymous_ids.iter().cloned().collect())?
    else {
        return rescore_all(store, as_of);
    };
    let log = identities_log(store, &user_ids, &anonymous_ids, model, Keep::Profile)?;
    let (records, transitions) =
        assign_stages(store, profile_log(&log, as_of), as_of, stored.version, log.model().recycle_days)?;
    // Every lead row an identity of the component may have had: its userIds
    // (merged ones disappear) and its anonymous visitors (linked ones disappear).
    let remove: Vec<String> =
        user_ids.iter().cloned().chain(anonymous_ids.iter().map(|anonymous| format!("anon:{anonymous}"))).collect();
    store.replace_leads(&remove, &records, &transitions)?;
    Ok(records.len() as u64)
}

/// Ingests NDJSON lines: stores the valid messages (skipping duplicates) and
/// re-scores the leads they touch as of `now`.
pub fn ingest_lines(
    store: &mut dyn Store,
    lines: &[&[u8]],
    first_line_number: u64,
    now: EventTime,
) -> Result<IngestSummary, OpsError> {
    let (events, rejections) = parse_lines(lines, first_line_number, now);
    let mut touched = Touched::default();
    let appended = append(store, &events, &mut touched)?;
    let scored = store.active_model()?.is_some();
    let leads_scored = rescore_touched(store, &touched, now)?;
    Ok(IngestSummary { accepted: appended.accepted, duplicates: appended.duplicates, rejections, leads_scored, scored })
}

/// The whole stored log in memory, for a server's writer to re-score
/// components without reading them back (`None` when no model is active).
pub fn load_live_log(store: &dyn Store) -> Result<Option<(StoredModel, LiveLog)>, OpsError> {
    let Some((stored, model)) = active_model(store)? else { return Ok(None) };
    let mut live = LiveLog::new(model);
    let received = EventTime::now();
    append_stored_log(store, |lines, seqs| live.append_stored(lines, seqs, received))?;
    Ok(Some((stored, live)))
}

/// Stores freshly computed profiles: stages and transitions assigned, the
/// rows in `remove` (merged or linked identities) replaced.
pub fn store_profiles(
    store: &mut dyn Store,
    profiles: Vec<LeadProfile>,
    remove: &[String],
    as_of: EventTime,
    model_version: i64,
    recycle_days: f64,
) -> Result<u64, StoreError> {
    let (records, transitions) = assign_stages(store, profiles, as_of, model_version, recycle_days)?;
    store.replace_leads(remove, &records, &transitions)?;
    Ok(records.len() as u64)
}

/// What importing outcomes did: counts, and the lines refused.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutcomeImport {
    pub accepted: u64,
    pub duplicates: u64,
    /// Outcomes for unknown leads, by line.
    pub rejected: Vec<LineError>,
}

/// Records outcomes (rows of a file, or one from the API): those for a lead
/// the store does not know are refused with their line number, the others
/// are stored in one transaction (see [`Store::add_outcomes`]).
pub fn import_outcomes(store: &mut dyn Store, rows: &[Numbered<Outcome>]) -> Result<OutcomeImport, StoreError> {
    let ids: Vec<String> =
        rows.iter().map(|row| row.value.lead_id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let known = store.stages(&ids)?;
    let mut import = OutcomeImport::default();
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        if known.contains_key(&row.value.lead_id) {
            outcomes.push(row.value.clone());
        } else {
            import.rejected.push(LineError {
                line: row.line,
                field: Some("lead_id".to_owned()),
                reason: format!("no lead {:?} in the store", row.value.lead_id),
            });
        }
    }
    let added = store.add_outcomes(&outcomes)?;
    import.accepted = added.accepted;
    import.duplicates = added.duplicates;
    Ok(import)
}

/// Computes the KPIs of a period from the stored leads (anonymous visitors
/// left out), their outcomes and the spend (see `qualify_engine::kpis`).
/// A lead without a first-touch channel counts as `direct`; outcomes of a
/// lead that has no row are ignored.
pub fn kpis(store: &dyn Store, period: Period, grouping: Grouping) -> Result<Vec<KpiRow>, StoreError> {
    let records = store.leads(&LeadQuery { sort: LeadSort::LeadId, ..LeadQuery::default() })?;
    let mut outcomes: HashMap<String, Vec<Outcome>> = HashMap::new();
    for outcome in store.all_outcomes()? {
        outcomes.entry(outcome.lead_id.clone()).or_default().push(outcome);
    }
    let leads: Vec<LeadFacts> = records
        .into_iter()
        .map(|record| LeadFacts {
            outcomes: outcomes.remove(&record.lead_id).unwrap_or_default(),
            lead_id: record.lead_id,
            created_at: record.first_seen,
            channel: record.channel.unwrap_or_else(|| "direct".to_owned()),
            mql_at: record.mql_at,
        })
        .collect();
    Ok(compute_kpis(&leads, &store.spend()?, period, grouping))
}

/// The criteria report as of `as_of` (see `qualify_engine::criteria`): the
/// whole stored log scored with the active model, and every stored outcome
/// (those after `as_of` are left out by the engine). `None` when no model
/// is active.
pub fn criteria(store: &dyn Store, as_of: EventTime) -> Result<Option<CriteriaReport>, OpsError> {
    let Some((_, model)) = active_model(store)? else {
        return Ok(None);
    };
    let log = load_log(store, model, Keep::Profile)?;
    let leads = lead_rules(&log, as_of);
    Ok(Some(compute_criteria(log.model(), &leads, &store.all_outcomes()?, as_of)))
}

/// The backtest of `model` over `period` on the stored events and outcomes
/// (see `qualify_engine::backtest`): the whole stored log scored with the
/// model as of the end of the period.
pub fn backtest(store: &dyn Store, model: Arc<Model>, period: Period) -> Result<Backtest, StoreError> {
    let log = load_log(store, model, Keep::ScoringFacts)?;
    Ok(backtest_log(&log, &store.all_outcomes()?, period))
}

/// Checks a model text, stores it as a new active version and re-scores
/// every lead with it as of `now`. A model with errors is refused and the
/// active one stays.
pub fn activate_model_text(store: &mut dyn Store, text: &str, now: EventTime) -> Result<(StoredModel, u64), OpsError> {
    let model = Model::parse(text).map_err(OpsError::InvalidModel)?;
    let stored = store.add_model(&model.name, text, now)?;
    let leads = rescore_all(store, now)?;
    Ok((stored, leads))
}

/// Makes an earlier version active again and re-scores every lead.
pub fn activate_version(store: &mut dyn Store, version: i64, now: EventTime) -> Result<u64, OpsError> {
    store.activate_model(version)?;
    rescore_all(store, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use qualify_engine::outcome::OutcomeStage;
    use qualify_engine::time::MICROS_PER_DAY;

    /// A catalog download is worth the 20 points of the MQL threshold (no
    /// decay); a rich adult grades A.
    const MODEL: &str = r#"
name = "test"

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

[[persona]]
id = "buyer"

[[persona.fit]]
id = "rich"
trait = "income"
gte = 100000
points = 80
"#;

    fn day(days: i64) -> EventTime {
        EventTime::from_micros(1_790_000_000_000_000 + days * MICROS_PER_DAY)
    }

    /// A store whose active model is [`MODEL`], with `u1` an MQL since day 0
    /// and `u2` a lead that is not.
    fn store_with_an_mql(directory: &tempfile::TempDir) -> SqliteStore {
        let mut store = SqliteStore::open(&directory.path().join("qualify.db")).unwrap();
        activate_model_text(&mut store, MODEL, day(0)).unwrap();
        let time = day(0).to_rfc3339();
        let lines = [
            format!(
                r#"{{"type":"identify","messageId":"m1","userId":"u1","traits":{{"income":200000}},"timestamp":"{time}"}}"#
            ),
            format!(
                r#"{{"type":"track","messageId":"m2","userId":"u1","event":"Catalog Downloaded","timestamp":"{time}"}}"#
            ),
            format!(r#"{{"type":"identify","messageId":"m3","userId":"u2","traits":{{}},"timestamp":"{time}"}}"#),
        ];
        let lines: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
        let summary = ingest_lines(&mut store, &lines, 1, day(0)).unwrap();
        assert_eq!(summary.rejections, []);
        assert_eq!(stage(&store, "u1"), "mql");
        store
    }

    /// A server finds a lead's events through its in-memory log and reads
    /// them by sequence number; the command line scans the store by
    /// identifier. Both must give the same log for every lead: anonymous
    /// visitors, visitors merged into a user, aliased users, and unknown ids.
    #[test]
    fn a_lead_log_read_by_the_live_logs_sequence_numbers_is_the_one_found_by_identifier() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&directory.path().join("qualify.db")).unwrap();
        activate_model_text(&mut store, MODEL, day(0)).unwrap();
        let track = |id: &str, who: &str, day_number: i64| {
            let time = day(day_number).to_rfc3339();
            format!(r#"{{"type":"track","messageId":"{id}",{who},"event":"Catalog Downloaded","timestamp":"{time}"}}"#)
        };
        let lines = [
            track("m1", r#""anonymousId":"a1""#, 0),
            track("m2", r#""anonymousId":"a2""#, 1),
            track("m3", r#""anonymousId":"a1","userId":"u1""#, 2),
            track("m4", r#""userId":"u2""#, 3),
            r#"{"type":"alias","messageId":"m5","previousId":"u2","userId":"u1","timestamp":"2026-10-01T00:00:00Z"}"#
                .to_owned(),
            track("m6", r#""anonymousId":"a9""#, 4),
            track("m1", r#""anonymousId":"a1""#, 0),
        ];
        let lines: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
        // In two ingests, so that sequence numbers span appends.
        ingest_lines(&mut store, &lines[..3], 1, day(5)).unwrap();
        ingest_lines(&mut store, &lines[3..], 4, day(5)).unwrap();
        let (_, live) = load_live_log(&store).unwrap().unwrap();
        let (_, model) = active_model(&store).unwrap().unwrap();
        let query = LeadQuery { include_anonymous: true, sort: LeadSort::LeadId, ..LeadQuery::default() };
        let mut lead_ids: Vec<String> = store.leads(&query).unwrap().into_iter().map(|lead| lead.lead_id).collect();
        assert_eq!(lead_ids, ["anon:a2", "anon:a9", "u1", "u2"]);
        lead_ids.extend(["anon:a1", "nobody", "anon:nobody"].map(str::to_owned));
        let now = day(6);
        for lead_id in &lead_ids {
            let by_seq = lead_log_of_seqs(&store, &live.lead_seqs(lead_id), Arc::clone(&model)).unwrap();
            let by_identifier = lead_log(&store, lead_id, Arc::clone(&model)).unwrap();
            assert_eq!(by_seq.len(), by_identifier.len(), "{lead_id}");
            let views = |log: &EventLog| {
                let explanation = qualify_engine::explain::explain(log, lead_id, now);
                let timeline = qualify_engine::explain::timeline(log, lead_id, now);
                (serde_json::to_value(explanation).unwrap(), serde_json::to_value(timeline).unwrap())
            };
            assert_eq!(views(&by_seq), views(&by_identifier), "{lead_id}");
        }
        assert_eq!(live.lead_seqs("u1").len(), 4);
        assert_eq!(live.lead_seqs("nobody"), Vec::<i64>::new());
    }

    fn stage(store: &SqliteStore, lead_id: &str) -> String {
        store.lead(lead_id).unwrap().expect("the lead exists").stage
    }

    fn numbered(line: u64, lead_id: &str, stage: OutcomeStage, at: EventTime) -> Numbered<Outcome> {
        Numbered { line, value: Outcome { lead_id: lead_id.to_owned(), stage, at, reason: None, revenue: None } }
    }

    #[test]
    fn an_outcome_for_an_unknown_lead_is_refused_with_its_line_and_the_others_are_stored() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = store_with_an_mql(&directory);
        let rows = [
            numbered(2, "u1", OutcomeStage::Accepted, day(1)),
            numbered(3, "nobody", OutcomeStage::Won, day(1)),
            numbered(4, "u1", OutcomeStage::Accepted, day(1)),
        ];
        let import = import_outcomes(&mut store, &rows).unwrap();
        assert_eq!((import.accepted, import.duplicates), (1, 1));
        let refused: Vec<(u64, Option<&str>)> =
            import.rejected.iter().map(|error| (error.line, error.field.as_deref())).collect();
        assert_eq!(refused, [(3, Some("lead_id"))]);
        assert_eq!(stage(&store, "u1"), "accepted");
    }

    #[test]
    fn re_scoring_never_overrides_a_stage_sales_set() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = store_with_an_mql(&directory);
        import_outcomes(&mut store, &[numbered(2, "u1", OutcomeStage::Sql, day(1))]).unwrap();
        rescore_all(&mut store, day(200)).unwrap();
        assert_eq!(stage(&store, "u1"), "sql");
        assert_eq!(stage(&store, "u2"), "lead");
    }

    #[test]
    fn a_rejected_lead_that_still_qualifies_becomes_an_mql_again_after_the_recycle_period() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = store_with_an_mql(&directory);
        import_outcomes(&mut store, &[numbered(2, "u1", OutcomeStage::Rejected, day(10))]).unwrap();
        // 89 days after the rejection: not yet (the default period is 90 days).
        rescore_all(&mut store, day(99)).unwrap();
        assert_eq!(stage(&store, "u1"), "rejected");
        rescore_all(&mut store, day(100)).unwrap();
        assert_eq!(stage(&store, "u1"), "mql");
        let last = store.transitions("u1").unwrap().pop().unwrap();
        assert_eq!((last.from_stage.as_deref(), last.to_stage.as_str(), last.at), (Some("rejected"), "mql", day(100)));
        assert_eq!(last.cause["recycled"]["rejected_at"], serde_json::json!(day(10).to_string()));
        assert_eq!(last.cause["rule_totals"]["catalog"], serde_json::json!(20.0));
        // Once recycled it is an MQL like any other: re-scoring keeps it.
        rescore_all(&mut store, day(101)).unwrap();
        assert_eq!(store.transitions("u1").unwrap().len(), 3);
    }

    #[test]
    fn a_rejected_lead_that_no_longer_qualifies_stays_rejected_after_the_recycle_period() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = store_with_an_mql(&directory);
        // u1 no longer qualifies under a model whose threshold is out of reach.
        let strict = MODEL.replace("engagement_threshold = 20", "engagement_threshold = 50");
        import_outcomes(&mut store, &[numbered(2, "u1", OutcomeStage::Rejected, day(10))]).unwrap();
        activate_model_text(&mut store, &strict, day(200)).unwrap();
        assert_eq!(stage(&store, "u1"), "rejected");
    }
}
