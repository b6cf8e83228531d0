//! Qualify's storage: the append-only event log (deduplicated by
//! `messageId`), identity links, versioned models with one active, the
//! materialised state of every lead with its lifecycle stage and the record
//! of its stage transitions, API keys (their hashes) and rejected messages.
//!
//! Everything goes through the [`Store`] trait, so the SQLite implementation
//! here and the PostgreSQL one to come pass the same tests. The operations
//! that combine storage with scoring (ingesting with incremental re-scoring,
//! activating a model) are plain functions over any `Store`, in [`ops`].

#[cfg(test)]
mod conformance;
mod cursor;
mod error;
pub mod ops;
mod sqlite;

pub use cursor::lead_cursor;
pub use error::StoreError;
pub use sqlite::SqliteStore;

use qualify_engine::outcome::{Outcome, Spend};
use qualify_engine::time::EventTime;
use std::collections::HashMap;

/// A message to append to the log: its JSON text (with an envelope's context
/// already merged in) and the columns the store indexes.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// `messageId`, else a hash of the text (see `qualify_engine::log::dedup_key`), as hex.
    pub dedup_key: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub previous_id: Option<String>,
    pub time: EventTime,
    pub received_at: EventTime,
    /// The message's JSON text, as it will be parsed again for scoring.
    pub json: String,
}

/// An event read back from the log, in acceptance order (`seq`).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub json: String,
}

/// What appending a set (or one group) of events did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    pub accepted: u64,
    pub duplicates: u64,
}

/// A stored model version.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredModel {
    pub version: i64,
    pub name: String,
    pub toml: String,
    pub created_at: EventTime,
    pub active: bool,
}

/// The materialised state of one lead (or anonymous visitor `anon:<id>`).
#[derive(Clone, Debug, PartialEq)]
pub struct LeadRecord {
    pub lead_id: String,
    /// The lifecycle stage: `lead`, `mql`, then `accepted`/`rejected`,
    /// `sql`, `opportunity`, `won`/`lost` (see the Lifecycle section of
    /// `spec/analytics.md`). The store keeps what it is given; the caller
    /// decides the transitions and records them as [`StageTransition`]s.
    pub stage: String,
    pub engagement: f64,
    pub fit: i64,
    pub grade: String,
    pub persona: Option<String>,
    pub mql: bool,
    pub mql_at: Option<EventTime>,
    pub first_seen: EventTime,
    pub last_seen: EventTime,
    /// Merged traits, a JSON object.
    pub traits: serde_json::Map<String, serde_json::Value>,
    pub anonymous_ids: Vec<String>,
    pub channel: Option<String>,
    /// When these scores were computed (their as-of time).
    pub scored_at: EventTime,
    pub model_version: i64,
}

/// Which leads to list, and how.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeadQuery {
    /// `Some(true)`: only MQLs; `Some(false)`: only non-MQLs.
    pub mql: Option<bool>,
    /// Only these grades (e.g. `["A"]`); empty: every grade.
    pub grades: Vec<String>,
    /// Only these lifecycle stages (e.g. `["mql"]`); empty: every stage.
    pub stages: Vec<String>,
    /// Only the leads whose id or `email` trait contains this text, ignoring
    /// the case of ASCII letters. The text is matched literally (`%` and `_`
    /// are not wildcards).
    pub search: Option<String>,
    pub sort: LeadSort,
    pub limit: Option<u64>,
    /// Only the leads that come strictly after this position in `sort`: a
    /// cursor made by [`lead_cursor`] from the last lead of the previous
    /// page, with the same `sort`. A cursor for another sort, or one the
    /// store did not make, is [`StoreError::Invalid`]. The cursor is a
    /// position, not a count, so leads written between two pages shift
    /// nothing: a lead whose place is before the cursor is not seen again,
    /// one after it is.
    pub after: Option<String>,
    /// Include anonymous visitors (`anon:` ids); default false.
    pub include_anonymous: bool,
    /// Only the leads of these first-touch channels; a lead without one
    /// counts as `direct` (as in the KPIs). Empty: every channel.
    pub channels: Vec<String>,
}

/// The order of a lead list. Every order ends with the lead id, so that it
/// is total and a cursor (see [`lead_cursor`]) names one position in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeadSort {
    /// Highest engagement first (then lead id).
    #[default]
    Engagement,
    /// Highest fit first (then engagement, then lead id).
    Fit,
    /// Earliest `mql_at` first, leads without one last.
    MqlAt,
    /// Most recently seen first.
    LastSeen,
    /// By lead id.
    LeadId,
    /// The sales queue: by grade (A first, then B, C, D), then highest
    /// engagement, then most recent `mql_at` (leads without one last), then
    /// lead id.
    Priority,
}

/// What an API key may do. The store only keeps the role; which routes each
/// role opens is the server's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends events (ingestion) and nothing else.
    Write,
    /// Reads leads, models and reports.
    Read,
    /// Reads, and records what sales did with a lead (its outcomes).
    Sales,
    /// Everything, including models and keys.
    Admin,
}

impl Role {
    /// Every role, from the least to the most allowed.
    pub const ALL: [Role; 4] = [Role::Write, Role::Read, Role::Sales, Role::Admin];

    /// The role's name, as stored and as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Write => "write",
            Role::Read => "read",
            Role::Sales => "sales",
            Role::Admin => "admin",
        }
    }

    /// The role named `text` (exactly one of the names [`Role::as_str`]
    /// gives), if any.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// A stored API key. Only a hash of the key is kept, so a key is shown once,
/// when it is made; `prefix` lets a person tell keys apart in a list.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKey {
    pub id: i64,
    pub name: Option<String>,
    pub role: Role,
    /// The first characters of the key, shown in lists.
    pub prefix: String,
    /// The hex SHA-256 of the key. Hashing is the caller's job.
    pub hash: String,
    pub created_at: EventTime,
    /// When the key was revoked, if it was; a revoked key opens nothing.
    pub revoked_at: Option<EventTime>,
}

/// The most of a rejected message's text that the store keeps, in bytes.
pub const REJECT_EXCERPT_MAX_BYTES: usize = 1024;

/// A rejected message, to record for an admin to inspect.
#[derive(Clone, Debug, PartialEq)]
pub struct NewReject {
    pub received_at: EventTime,
    /// The route it came in by, e.g. `/v1/batch`.
    pub endpoint: String,
    /// Its index in the batch, for a message of a batch.
    pub batch_index: Option<i64>,
    /// The field at fault, when one is.
    pub field: Option<String>,
    pub reason: String,
    /// The start of the message text. The store keeps only the first
    /// [`REJECT_EXCERPT_MAX_BYTES`] bytes (cut at a character boundary), so
    /// the caller may pass the whole text.
    pub excerpt: String,
}

/// A recorded rejected message; `id` increases with every reject.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectRecord {
    pub id: i64,
    pub received_at: EventTime,
    pub endpoint: String,
    pub batch_index: Option<i64>,
    pub field: Option<String>,
    pub reason: String,
    pub excerpt: String,
}

/// The first [`REJECT_EXCERPT_MAX_BYTES`] bytes of `text`, cut at a
/// character boundary: what a backend stores of a reject's excerpt.
fn reject_excerpt(text: &str) -> &str {
    &text[..text.floor_char_boundary(REJECT_EXCERPT_MAX_BYTES)]
}

/// What storing spend rows did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpendAdded {
    /// Rows for a channel and days not stored before.
    pub added: u64,
    /// Rows that replaced the stored amount of the same channel and days.
    pub replaced: u64,
}

/// A change of a lead's lifecycle stage, and why it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct StageTransition {
    pub lead_id: String,
    /// The stage before, `None` for a lead's first stage.
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub at: EventTime,
    /// Why: e.g. `{"rule_totals": {...}}` for a lead the model qualified,
    /// `{"outcome": ...}` for one sales acted on. Stored as given.
    pub cause: serde_json::Value,
}

/// The storage API. Implementations keep the event log append-only and
/// apply each call atomically (all of it or none).
pub trait Store {
    /// Appends events in order; an event whose `dedup_key` is already stored
    /// (or repeats within `events`) is a duplicate and is skipped. Also
    /// records the identity links the events carry. Durable on return.
    ///
    /// One group of [`Store::append_event_groups`], so that both take the
    /// same path.
    fn append_events(&mut self, events: &[NewEvent]) -> Result<Appended, StoreError> {
        Ok(self.append_event_groups(&[events])?.pop().unwrap_or_default())
    }

    /// Appends several groups of events (e.g. the messages of many requests)
    /// in one transaction, so that they cost one sync to disk together, and
    /// counts what each group added. The groups are appended in order, each
    /// as [`Store::append_events`] would: an event is a duplicate when its
    /// `dedup_key` is stored or came earlier in this call, in its own group
    /// or an earlier one (the same batch given twice: the second copy is all
    /// duplicates). Returns one count per group, in order. All or nothing;
    /// durable on return.
    fn append_event_groups(&mut self, groups: &[&[NewEvent]]) -> Result<Vec<Appended>, StoreError> {
        Ok(self.append_event_groups_with_seqs(groups)?.0)
    }

    /// [`Store::append_event_groups`], also giving each event's sequence
    /// number (its place in [`Store::for_each_event_page`]'s order), `None`
    /// for a duplicate: one per event of the groups, in order.
    fn append_event_groups_with_seqs(
        &mut self,
        groups: &[&[NewEvent]],
    ) -> Result<(Vec<Appended>, Vec<Option<i64>>), StoreError>;

    /// Every stored event, in acceptance order, handed over in pages.
    fn for_each_event_page(
        &self,
        page_size: usize,
        visit: &mut dyn FnMut(&[StoredEvent]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// The events that carry any of these userIds (as userId or previousId)
    /// or anonymousIds (as anonymousId or previousId), in acceptance order.
    /// The ids have no index (appending would pay for one per event), so
    /// this reads the whole log: a server finds a lead's events through its
    /// in-memory log and [`Store::events_by_seq`] instead.
    fn events_for_identities(
        &self,
        user_ids: &[String],
        anonymous_ids: &[String],
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The events with these sequence numbers (unknown ones are left out),
    /// in acceptance order.
    fn events_by_seq(&self, seqs: &[i64]) -> Result<Vec<StoredEvent>, StoreError>;

    /// The events stored after sequence number `after`, in acceptance order:
    /// what others appended since a reader last looked.
    fn events_after(&self, after: i64) -> Result<Vec<StoredEvent>, StoreError>;

    /// The identifiers linked to these by stored identity links: for each
    /// given userId its anonymousIds and aliased userIds, for each
    /// anonymousId its userIds. Returns (user_ids, anonymous_ids), including
    /// the given ones.
    fn linked_identities(
        &self,
        user_ids: &[String],
        anonymous_ids: &[String],
    ) -> Result<(Vec<String>, Vec<String>), StoreError>;

    fn event_count(&self) -> Result<u64, StoreError>;

    /// Stores a model text (already checked) as a new version and makes it
    /// the active one.
    fn add_model(&mut self, name: &str, toml: &str, created_at: EventTime) -> Result<StoredModel, StoreError>;
    fn activate_model(&mut self, version: i64) -> Result<(), StoreError>;
    fn active_model(&self) -> Result<Option<StoredModel>, StoreError>;
    fn model(&self, version: i64) -> Result<Option<StoredModel>, StoreError>;
    /// Every version, newest first.
    fn models(&self) -> Result<Vec<StoredModel>, StoreError>;

    /// Replaces the state of some leads: deletes the rows named in `remove`
    /// and writes `leads` (insert or replace), and records `transitions`
    /// (the stage changes that the new states make), in one transaction.
    /// A lead given twice in `leads` is [`StoreError::Invalid`].
    fn replace_leads(
        &mut self,
        remove: &[String],
        leads: &[LeadRecord],
        transitions: &[StageTransition],
    ) -> Result<(), StoreError>;
    /// Replaces the state of every lead.
    /// Replaces the state of every lead and records transitions, in one transaction.
    fn replace_all_leads(&mut self, leads: &[LeadRecord], transitions: &[StageTransition]) -> Result<(), StoreError>;
    fn lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError>;
    fn leads(&self, query: &LeadQuery) -> Result<Vec<LeadRecord>, StoreError>;
    /// The current stage of each of these leads that exists (unknown ids are
    /// left out), to work out transitions before a [`Store::replace_leads`].
    fn stages(&self, lead_ids: &[String]) -> Result<HashMap<String, String>, StoreError>;
    /// How many leads are at each stage, by stage name, leaving out
    /// anonymous visitors and stages no lead is at.
    fn lead_counts_by_stage(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// The first-touch channels of the leads (`direct` for those without
    /// one), in name order, leaving out anonymous visitors.
    fn lead_channels(&self) -> Result<Vec<String>, StoreError>;

    /// Records stage transitions (on their own, e.g. an outcome sales
    /// reported), in one transaction.
    fn add_transitions(&mut self, transitions: &[StageTransition]) -> Result<(), StoreError>;
    /// Every recorded transition of one lead, oldest first (by `at`, then in
    /// the order they were recorded).
    fn transitions(&self, lead_id: &str) -> Result<Vec<StageTransition>, StoreError>;

    /// Records what sales reported, in one transaction. An outcome already
    /// stored (same lead, stage and time) is a duplicate and changes
    /// nothing. A new outcome that is now its lead's latest (by `at`, ties
    /// going to the later recorded) moves the lead to its stage and records
    /// a [`StageTransition`] at its time, with the cause
    /// `{"outcome": {"stage", "at", "reason", "revenue"}}`; an older one is
    /// only stored. An outcome for a lead with no row is
    /// [`StoreError::NotFound`] and nothing is stored.
    fn add_outcomes(&mut self, outcomes: &[Outcome]) -> Result<Appended, StoreError>;
    /// Every outcome of one lead, oldest first (by `at`, then as recorded).
    fn outcomes(&self, lead_id: &str) -> Result<Vec<Outcome>, StoreError>;
    /// Every outcome of every lead, by lead, then oldest first (by `at`,
    /// then as recorded): what the reports read in one pass.
    fn all_outcomes(&self) -> Result<Vec<Outcome>, StoreError>;

    /// Stores spend rows in one transaction; a row for a channel and days
    /// (`from`, `to`) already stored replaces its amount.
    fn add_spend(&mut self, spend: &[Spend]) -> Result<SpendAdded, StoreError>;
    /// Every spend row, by `from`, then channel, then `to`.
    fn spend(&self) -> Result<Vec<Spend>, StoreError>;

    /// Stores a new API key by its hash (two keys with one hash are
    /// [`StoreError::Invalid`]) and returns it with its id.
    fn add_api_key(
        &mut self,
        name: Option<&str>,
        role: Role,
        prefix: &str,
        hash: &str,
        created_at: EventTime,
    ) -> Result<ApiKey, StoreError>;
    /// Every key, revoked ones included, oldest first.
    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    /// Marks a key revoked at `at`. Revoking a revoked key keeps its first
    /// revocation time; an unknown id is [`StoreError::NotFound`].
    fn revoke_api_key(&mut self, id: i64, at: EventTime) -> Result<(), StoreError>;

    /// Records rejected messages, in one transaction.
    fn add_rejects(&mut self, rejects: &[NewReject]) -> Result<(), StoreError>;
    /// Up to `limit` recorded rejects, newest first, starting after (older
    /// than) the reject `before_id` when given: the next page starts before
    /// the last id of the previous one.
    fn rejects(&self, limit: u64, before_id: Option<i64>) -> Result<Vec<RejectRecord>, StoreError>;
    fn reject_count(&self) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_parses_from_its_name_and_nothing_else_does() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        let names: Vec<&str> = Role::ALL.iter().map(|role| role.as_str()).collect();
        assert_eq!(names, ["write", "read", "sales", "admin"]);
        for text in ["", "Admin", " read", "reader", "owner"] {
            assert_eq!(Role::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_reject_excerpt_is_cut_at_a_character_boundary_within_1_kb() {
        let cases: &[(String, usize)] = &[
            (String::new(), 0),
            ("a".repeat(1024), 1024),
            ("a".repeat(5000), 1024),
            // 341 three-byte characters make 1023 bytes; the next would end past 1024.
            ("€".repeat(400), 1023),
        ];
        for (text, expected_length) in cases {
            let excerpt = reject_excerpt(text);
            assert_eq!(excerpt.len(), *expected_length);
            assert!(text.starts_with(excerpt));
        }
    }
}
