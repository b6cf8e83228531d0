//! The event log a scoring run works on: every accepted message, reduced to
//! the facts scoring needs and checked against one model.
//!
//! Preparing a message ([`prepare_line`]) is pure and can run on many threads
//! at once; appending to the [`EventLog`] is sequential, because acceptance
//! order decides duplicates (the first message with a `messageId` wins) and
//! breaks ties between events at the same time.

use crate::condition::Condition;
use crate::message::{Message, MessageKind, Rejection, parse_line_bytes};
use crate::model::{Model, Selector};
use crate::time::EventTime;
use indexmap::IndexSet;
use rustc_hash::{FxBuildHasher, FxHashSet};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// How much of each message a log keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Only what the model's rules read: the fastest and smallest.
    ScoringFacts,
    /// Also every trait and the first-touch channel, for lead profiles.
    Profile,
    /// Also a one-line description of each event, for explanations.
    Everything,
}

/// A message checked against a model, ready to be appended to the log.
#[derive(Clone, Debug)]
pub struct PreparedMessage<'a> {
    /// `messageId`, hashed; a message without one is keyed by its text.
    pub dedup_key: u128,
    pub time: EventTime,
    pub kind: MessageKind,
    pub user_id: Option<Cow<'a, str>>,
    pub anonymous_id: Option<Cow<'a, str>>,
    pub previous_id: Option<Cow<'a, str>>,
    /// Indices of the engagement rules whose selector and conditions hold.
    pub matched_rules: Vec<u16>,
    pub traits: Vec<(Cow<'a, str>, Value)>,
    pub channel: Option<Cow<'a, str>>,
    pub description: Option<String>,
}

impl PreparedMessage<'_> {
    /// The same message, owning its text, so that it can outlive the text it
    /// was prepared from (e.g. be handed to another thread).
    pub fn into_owned(self) -> PreparedMessage<'static> {
        let owned = |text: Option<Cow<'_, str>>| text.map(|text| Cow::Owned(text.into_owned()));
        PreparedMessage {
            dedup_key: self.dedup_key,
            time: self.time,
            kind: self.kind,
            user_id: owned(self.user_id),
            anonymous_id: owned(self.anonymous_id),
            previous_id: owned(self.previous_id),
            matched_rules: self.matched_rules,
            traits: self.traits.into_iter().map(|(key, value)| (Cow::Owned(key.into_owned()), value)).collect(),
            channel: owned(self.channel),
            description: self.description,
        }
    }
}

/// The dedup key of a message: its `messageId`, else its whole text. A
/// 128-bit hash keeps the set of seen ids small; a collision between two
/// real ids is far less likely than a disk error.
pub fn dedup_key(message: &Message<'_>) -> u128 {
    match &message.message_id {
        Some(id) => xxhash_rust::xxh3::xxh3_128(id.as_bytes()),
        None => xxhash_rust::xxh3::xxh3_128_with_seed(message.raw.as_bytes(), 1),
    }
}

/// Checks one message against the model. `received` is the time to use when
/// the message carries no time of its own.
pub fn prepare_message<'a>(
    message: Message<'a>,
    model: &Model,
    keep: Keep,
    received: EventTime,
) -> PreparedMessage<'a> {
    let path = match message.kind {
        MessageKind::Page | MessageKind::Screen => message.path(),
        _ => None,
    };
    let property = |condition: &Condition| -> Option<Value> {
        match (&path, condition.field.as_str()) {
            (Some(path), "path") if message.properties.raw("path").is_none() => Some(Value::String(path.to_string())),
            _ => message.properties.get(&condition.field),
        }
    };
    let mut matched_rules = Vec::new();
    for (index, rule) in model.engagement.iter().enumerate() {
        let selected = match (&rule.selector, message.kind) {
            (Selector::Track { event }, MessageKind::Track) => message.event.as_deref() == Some(event.as_str()),
            (Selector::Page { path: matcher }, MessageKind::Page)
            | (Selector::Screen { path: matcher }, MessageKind::Screen) => matcher.matches(path.as_deref()),
            _ => false,
        };
        if selected && rule.conditions.iter().all(|condition| condition.holds(property(condition).as_ref())) {
            matched_rules.push(index as u16);
        }
    }
    let traits = if message.kind == MessageKind::Identify && message.has_traits() {
        let mut traits = message.merged_traits();
        if keep == Keep::ScoringFacts {
            let wanted = model.trait_names();
            traits.retain(|(key, _)| wanted.contains(&key.as_ref()));
        }
        traits
    } else {
        Vec::new()
    };
    let description = (keep == Keep::Everything).then(|| describe(&message, path.as_deref()));
    PreparedMessage {
        dedup_key: dedup_key(&message),
        time: message.time.unwrap_or(received),
        kind: message.kind,
        channel: if keep == Keep::ScoringFacts { None } else { message.campaign_source() },
        user_id: message.user_id,
        anonymous_id: message.anonymous_id,
        previous_id: message.previous_id,
        matched_rules,
        traits,
        description,
    }
}

/// A short description of an event for explanations: `page /products/ring`.
fn describe(message: &Message<'_>, path: Option<&str>) -> String {
    let kind = message.kind.as_str();
    match message.kind {
        MessageKind::Track => format!("{kind} {}", message.event.as_deref().unwrap_or("")),
        MessageKind::Page | MessageKind::Screen => match (path, message.name.as_deref()) {
            (Some(path), _) => format!("{kind} {path}"),
            (None, Some(name)) => format!("{kind} {name}"),
            (None, None) => kind.to_owned(),
        },
        MessageKind::Alias => format!(
            "alias {} → {}",
            message.previous_id.as_deref().unwrap_or(""),
            message.user_id.as_deref().unwrap_or("")
        ),
        MessageKind::Identify | MessageKind::Group => kind.to_owned(),
    }
}

/// Parses and prepares one NDJSON line (a message or a batch envelope).
/// `line_number` is 1-based and only used to say where a rejection is.
pub fn prepare_line<'a>(
    bytes: &'a [u8],
    line_number: u64,
    model: &Model,
    keep: Keep,
    received: EventTime,
) -> Vec<Result<PreparedMessage<'a>, Rejection>> {
    parse_line_bytes(bytes, line_number, |message| prepare_message(message, model, keep, received))
}

/// Index of an interned identifier (a userId or an anonymousId).
pub type NameId = u32;
const NO_NAME: NameId = NameId::MAX;
const NO_TRAITS: u32 = u32::MAX;

/// One accepted event, reduced to what scoring needs.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub time: EventTime,
    pub kind: MessageKind,
    user: NameId,
    anonymous: NameId,
    previous: NameId,
    match_set: u32,
    traits: u32,
    channel: NameId,
}

fn name(id: NameId) -> Option<NameId> {
    (id != NO_NAME).then_some(id)
}

impl Event {
    pub fn user(&self) -> Option<NameId> {
        name(self.user)
    }
    pub fn anonymous(&self) -> Option<NameId> {
        name(self.anonymous)
    }
    pub fn previous(&self) -> Option<NameId> {
        name(self.previous)
    }
    pub fn channel(&self) -> Option<NameId> {
        name(self.channel)
    }
}

/// Whether an appended message was new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    Accepted,
    Duplicate,
}

/// The accepted events of a data set, in acceptance order, prepared for one model.
#[derive(Debug)]
pub struct EventLog {
    model: Arc<Model>,
    keep: Keep,
    events: Vec<Event>,
    names: IndexSet<Box<str>, FxBuildHasher>,
    match_sets: IndexSet<Box<[u16]>, FxBuildHasher>,
    trait_names: IndexSet<Box<str>, FxBuildHasher>,
    trait_updates: Vec<Box<[(u32, Value)]>>,
    descriptions: Vec<Box<str>>,
    seen: FxHashSet<u128>,
    duplicates: u64,
}

impl EventLog {
    pub fn new(model: Arc<Model>, keep: Keep) -> Self {
        let mut match_sets = IndexSet::default();
        match_sets.insert(Box::from([] as [u16; 0]));
        EventLog {
            model,
            keep,
            events: Vec::new(),
            names: IndexSet::default(),
            match_sets,
            trait_names: IndexSet::default(),
            trait_updates: Vec::new(),
            descriptions: Vec::new(),
            seen: FxHashSet::default(),
            duplicates: 0,
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn keep(&self) -> Keep {
        self.keep
    }

    /// Appends a prepared message unless its `messageId` was already accepted.
    pub fn append(&mut self, message: PreparedMessage<'_>) -> Appended {
        if !self.seen.insert(message.dedup_key) {
            self.duplicates += 1;
            return Appended::Duplicate;
        }
        let user = self.intern(message.user_id.as_deref());
        let anonymous = self.intern(message.anonymous_id.as_deref());
        let previous = self.intern(message.previous_id.as_deref());
        let channel = self.intern(message.channel.as_deref());
        let match_set = match self.match_sets.get_index_of(message.matched_rules.as_slice()) {
            Some(index) => index as u32,
            None => self.match_sets.insert_full(message.matched_rules.into_boxed_slice()).0 as u32,
        };
        let traits = if message.traits.is_empty() {
            NO_TRAITS
        } else {
            let update: Box<[(u32, Value)]> = message
                .traits
                .into_iter()
                .map(|(key, value)| (self.trait_names.insert_full(Box::from(key.as_ref())).0 as u32, value))
                .collect();
            self.trait_updates.push(update);
            (self.trait_updates.len() - 1) as u32
        };
        if let Some(description) = message.description {
            self.descriptions.push(description.into_boxed_str());
        }
        self.events.push(Event {
            time: message.time,
            kind: message.kind,
            user,
            anonymous,
            previous,
            match_set,
            traits,
            channel,
        });
        Appended::Accepted
    }

    fn intern(&mut self, text: Option<&str>) -> NameId {
        match text {
            None => NO_NAME,
            Some(text) => match self.names.get_index_of(text) {
                Some(index) => index as NameId,
                None => self.names.insert_full(Box::from(text)).0 as NameId,
            },
        }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub fn name(&self, id: NameId) -> &str {
        &self.names[id as usize]
    }

    /// How many distinct identifiers the log has interned.
    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    pub fn name_id(&self, text: &str) -> Option<NameId> {
        self.names.get_index_of(text).map(|index| index as NameId)
    }

    /// The engagement rules (indices into the model) an event matched.
    pub fn matched_rules(&self, event: &Event) -> &[u16] {
        &self.match_sets[event.match_set as usize]
    }

    /// The trait update an identify event carries, as (trait name, value).
    pub fn traits(&self, event: &Event) -> impl Iterator<Item = (&str, &Value)> {
        let update: &[(u32, Value)] =
            if event.traits == NO_TRAITS { &[] } else { &self.trait_updates[event.traits as usize] };
        update.iter().map(|(key, value)| (&*self.trait_names[*key as usize], value))
    }

    pub(crate) fn trait_update(&self, event: &Event) -> &[(u32, Value)] {
        if event.traits == NO_TRAITS { &[] } else { &self.trait_updates[event.traits as usize] }
    }

    pub(crate) fn trait_name_id(&self, name: &str) -> Option<u32> {
        self.trait_names.get_index_of(name).map(|index| index as u32)
    }

    pub(crate) fn trait_name(&self, id: u32) -> &str {
        &self.trait_names[id as usize]
    }

    /// The description of the event at `index` (only kept with [`Keep::Everything`]).
    pub fn description(&self, index: usize) -> Option<&str> {
        self.descriptions.get(index).map(|text| &**text)
    }
}

/// What appending a run of lines did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendSummary {
    pub accepted: u64,
    pub duplicates: u64,
    /// The messages that were not valid, in line order.
    pub rejections: Vec<Rejection>,
}

impl AppendSummary {
    pub fn add(&mut self, other: AppendSummary) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejections.extend(other.rejections);
    }
}

/// Prepared messages of a run of lines, still borrowing the lines' text.
pub type PreparedLines<'a> = Vec<Result<PreparedMessage<'a>, Rejection>>;

/// Parses and prepares consecutive NDJSON lines on every core.
/// `first_line_number` is the 1-based number of `lines[0]`; bytes that are not
/// UTF-8 reject their line only.
pub fn prepare_lines<'a>(
    lines: &[&'a [u8]],
    first_line_number: u64,
    model: &Model,
    keep: Keep,
    received: EventTime,
) -> PreparedLines<'a> {
    let per_line = prepare_numbered_lines(lines, |offset| first_line_number + offset as u64, model, keep, received);
    let mut prepared = Vec::with_capacity(per_line.iter().map(Vec::len).sum());
    prepared.extend(per_line.into_iter().flatten());
    prepared
}

/// Parses and prepares lines on every core, keeping each line's messages
/// apart; `line_number(i)` is the number to report for `lines[i]`.
pub fn prepare_numbered_lines<'a>(
    lines: &[&'a [u8]],
    line_number: impl Fn(usize) -> u64 + Sync,
    model: &Model,
    keep: Keep,
    received: EventTime,
) -> Vec<PreparedLines<'a>> {
    use rayon::prelude::*;
    // Small runs are not worth a thread hand-off.
    let minimum_run = 256;
    // One slot per line, so that rayon writes the results in place.
    lines
        .par_iter()
        .with_min_len(minimum_run)
        .enumerate()
        .map(|(offset, bytes)| prepare_line(bytes, line_number(offset), model, keep, received))
        .collect()
}

/// Splits a buffer of NDJSON into lines: on `\n`, dropping a `\r` before it;
/// a last line without a newline counts, an empty tail after the last newline
/// does not.
pub fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::with_capacity(bytes.len() / 256 + 1);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes) {
        lines.push(trim_carriage_return(&bytes[start..end]));
        start = end + 1;
    }
    if start < bytes.len() {
        lines.push(trim_carriage_return(&bytes[start..]));
    }
    lines
}

fn trim_carriage_return(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

self_cell::self_cell!(
    /// A chunk of NDJSON text together with its prepared messages, so that
    /// one chunk can be prepared while the previous one is appended.
    pub struct PreparedChunk {
        owner: Vec<u8>,
        #[covariant]
        dependent: PreparedLines,
    }
);

impl PreparedChunk {
    /// Prepares a chunk of whole lines whose first line has number `first_line_number`.
    pub fn prepare(bytes: Vec<u8>, first_line_number: u64, model: &Model, keep: Keep, received: EventTime) -> Self {
        PreparedChunk::new(bytes, |bytes| prepare_lines(&split_lines(bytes), first_line_number, model, keep, received))
    }
}

/// How many lines [`split_lines`] finds in `bytes`.
pub fn count_lines(bytes: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', bytes).count() as u64;
    newlines + u64::from(!bytes.is_empty() && !bytes.ends_with(b"\n"))
}

impl EventLog {
    /// Appends prepared messages in order.
    pub fn append_prepared(&mut self, prepared: PreparedLines<'_>) -> AppendSummary {
        let mut summary = AppendSummary::default();
        self.events.reserve(prepared.len());
        self.seen.reserve(prepared.len());
        for result in prepared {
            match result {
                Ok(message) => match self.append(message) {
                    Appended::Accepted => summary.accepted += 1,
                    Appended::Duplicate => summary.duplicates += 1,
                },
                Err(rejection) => summary.rejections.push(rejection),
            }
        }
        summary
    }

    /// Appends a prepared chunk.
    pub fn append_chunk(&mut self, mut chunk: PreparedChunk) -> AppendSummary {
        chunk.with_dependent_mut(|_, prepared| self.append_prepared(std::mem::take(prepared)))
    }

    /// Parses, prepares (on every core) and appends consecutive NDJSON lines.
    pub fn append_lines(&mut self, lines: &[&[u8]], first_line_number: u64, received: EventTime) -> AppendSummary {
        let model = Arc::clone(&self.model);
        let prepared = prepare_lines(lines, first_line_number, &model, self.keep, received);
        self.append_prepared(prepared)
    }

    /// The model the log was prepared for, shared.
    pub fn shared_model(&self) -> Arc<Model> {
        Arc::clone(&self.model)
    }
}
