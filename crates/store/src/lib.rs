//! Qualify's storage: the append-only event log (deduplicated by
//! `messageId`), identity links, versioned models with one active, and the
//! materialised state of every lead.
//!
//! Everything goes through the [`Store`] trait, so the SQLite implementation
//! here and the PostgreSQL one to come pass the same tests. The operations
//! that combine storage with scoring (ingesting with incremental re-scoring,
//! activating a model) are plain functions over any `Store`, in [`ops`].

#[cfg(test)]
mod conformance;
mod error;
pub mod ops;
mod sqlite;

pub use error::StoreError;
pub use sqlite::SqliteStore;

use qualify_engine::time::EventTime;

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

/// What appending a set of events did.
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
    /// Only these grades (e.g. `["A"]`).
    pub grades: Vec<String>,
    pub sort: LeadSort,
    pub limit: Option<u64>,
    /// Include anonymous visitors (`anon:` ids); default false.
    pub include_anonymous: bool,
}

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
}

/// The storage API. Implementations keep the event log append-only and
/// apply each call atomically (all of it or none).
pub trait Store {
    /// Appends events in order; an event whose `dedup_key` is already stored
    /// (or repeats within `events`) is a duplicate and is skipped. Also
    /// records the identity links the events carry. Durable on return.
    fn append_events(&mut self, events: &[NewEvent]) -> Result<Appended, StoreError>;

    /// Every stored event, in acceptance order, handed over in pages.
    fn for_each_event_page(
        &self,
        page_size: usize,
        visit: &mut dyn FnMut(&[StoredEvent]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// The events that carry any of these userIds (as userId or previousId)
    /// or anonymousIds (as anonymousId or previousId), in acceptance order.
    fn events_for_identities(
        &self,
        user_ids: &[String],
        anonymous_ids: &[String],
    ) -> Result<Vec<StoredEvent>, StoreError>;

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
    /// and writes `leads` (insert or replace), in one transaction.
    fn replace_leads(&mut self, remove: &[String], leads: &[LeadRecord]) -> Result<(), StoreError>;
    /// Replaces the state of every lead.
    fn replace_all_leads(&mut self, leads: &[LeadRecord]) -> Result<(), StoreError>;
    fn lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError>;
    fn leads(&self, query: &LeadQuery) -> Result<Vec<LeadRecord>, StoreError>;
}
