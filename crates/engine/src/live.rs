//! A log that grows while a server runs, with what it takes to re-score one
//! identity component at a time without reading the store again: for each
//! identifier, the events that carry it, and for each event its place in the
//! store (its sequence number), so that a lead's own events can be read back
//! whole (for an explanation) without an index of the store by identifier.

use crate::identity::LeadKey;
use crate::log::{AppendSummary, Appended, EventLog, Keep, NameId, PreparedMessage, prepare_numbered_lines};
use crate::message::Rejection;
use crate::model::Model;
use crate::score::{LeadProfile, profile_among};
use crate::time::EventTime;
use std::sync::Arc;

pub struct LiveLog {
    log: EventLog,
    /// For each identifier, the events carrying it (as userId, anonymousId
    /// or previousId), in acceptance order.
    events_by_name: Vec<Vec<u32>>,
    /// The store's sequence number of each event, in acceptance order.
    seqs: Vec<i64>,
}

impl LiveLog {
    /// What the log keeps of each message: messages prepared elsewhere for
    /// [`LiveLog::append_prepared`] must be prepared with it.
    pub const KEEP: Keep = Keep::Profile;

    pub fn new(model: Arc<Model>) -> LiveLog {
        LiveLog { log: EventLog::new(model, LiveLog::KEEP), events_by_name: Vec::new(), seqs: Vec::new() }
    }

    pub fn model(&self) -> &Model {
        self.log.model()
    }

    /// The model the log was prepared for, shared.
    pub fn shared_model(&self) -> Arc<Model> {
        self.log.shared_model()
    }

    pub fn len(&self) -> usize {
        self.log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Appends stored events: `lines[i]` is the JSON text of the event the
    /// store numbered `seqs[i]` (which a rejection names as its line). An
    /// event the log already has (by `messageId`) is skipped.
    pub fn append_stored(&mut self, lines: &[&[u8]], seqs: &[i64], received: EventTime) -> AppendSummary {
        assert_eq!(lines.len(), seqs.len(), "one sequence number per stored event");
        let model = self.log.shared_model();
        let prepared = prepare_numbered_lines(lines, |offset| seqs[offset] as u64, &model, LiveLog::KEEP, received);
        let numbered = seqs
            .iter()
            .zip(prepared)
            .flat_map(|(seq, messages)| messages.into_iter().map(move |result| (*seq, result)));
        self.append_numbered(numbered)
    }

    /// Appends stored events already prepared for this log's model with
    /// [`LiveLog::KEEP`] (e.g. by the thread that parsed the request), each
    /// with its sequence number: what [`LiveLog::append_stored`] does with
    /// their text, without parsing it again.
    pub fn append_prepared(
        &mut self,
        messages: impl IntoIterator<Item = (i64, PreparedMessage<'static>)>,
    ) -> AppendSummary {
        self.append_numbered(messages.into_iter().map(|(seq, message)| (seq, Ok(message))))
    }

    fn append_numbered<'a>(
        &mut self,
        messages: impl Iterator<Item = (i64, Result<PreparedMessage<'a>, Rejection>)>,
    ) -> AppendSummary {
        let before = self.log.len();
        let mut summary = AppendSummary::default();
        for (seq, result) in messages {
            match result {
                Ok(message) => match self.log.append(message) {
                    Appended::Accepted => {
                        summary.accepted += 1;
                        self.seqs.push(seq);
                    }
                    Appended::Duplicate => summary.duplicates += 1,
                },
                Err(rejection) => summary.rejections.push(rejection),
            }
        }
        self.events_by_name.resize(self.log.name_count(), Vec::new());
        for (index, event) in self.log.events().iter().enumerate().skip(before) {
            for name in [event.user(), event.anonymous(), event.previous()].into_iter().flatten() {
                let list = &mut self.events_by_name[name as usize];
                if list.last() != Some(&(index as u32)) {
                    list.push(index as u32);
                }
            }
        }
        summary
    }

    /// The store's sequence number of the last event appended.
    pub fn last_seq(&self) -> Option<i64> {
        self.seqs.last().copied()
    }

    /// The store's sequence numbers of the events of a lead's identity
    /// component (the lead a userId or `anon:<anonymousId>` names), in
    /// acceptance order; none for a lead the log does not know.
    pub fn lead_seqs(&self, lead_id: &str) -> Vec<i64> {
        let name = LeadKey::find(&self.log, lead_id).map(|key| match key {
            LeadKey::User(name) | LeadKey::Anonymous(name) => name,
        });
        self.component_events(name).into_iter().map(|index| self.seqs[index as usize]).collect()
    }

    /// The events of the identity components of these identifiers: every
    /// event connected to them through shared ids.
    fn component_events(&self, names: impl IntoIterator<Item = NameId>) -> Vec<u32> {
        let events = self.log.events();
        let mut seen_names = vec![false; self.events_by_name.len()];
        let mut seen_events = std::collections::BTreeSet::new();
        let mut queue: Vec<NameId> = Vec::new();
        for name in names {
            if !std::mem::replace(&mut seen_names[name as usize], true) {
                queue.push(name);
            }
        }
        while let Some(name) = queue.pop() {
            for &index in &self.events_by_name[name as usize] {
                if !seen_events.insert(index) {
                    continue;
                }
                let event = &events[index as usize];
                for other in [event.user(), event.anonymous(), event.previous()].into_iter().flatten() {
                    if !std::mem::replace(&mut seen_names[other as usize], true) {
                        queue.push(other);
                    }
                }
            }
        }
        seen_events.into_iter().collect()
    }

    /// Scores the leads of the identity components of these identifiers as
    /// of `as_of`. Also returns every lead id those components may have had
    /// a row under (their userIds and `anon:` visitors), so that merged and
    /// linked ones can be removed.
    pub fn profile_components<'a>(
        &self,
        identifiers: impl IntoIterator<Item = &'a str>,
        as_of: EventTime,
    ) -> (Vec<LeadProfile>, Vec<String>) {
        let names: Vec<NameId> = identifiers.into_iter().filter_map(|text| self.log.name_id(text)).collect();
        let among = self.component_events(names);
        let events = self.log.events();
        let mut row_ids = std::collections::BTreeSet::new();
        for &index in &among {
            let event = &events[index as usize];
            if let Some(user) = event.user() {
                row_ids.insert(self.log.name(user).to_owned());
            }
            if let Some(previous) = event.previous() {
                row_ids.insert(self.log.name(previous).to_owned());
                row_ids.insert(format!("anon:{}", self.log.name(previous)));
            }
            if let Some(anonymous) = event.anonymous() {
                row_ids.insert(format!("anon:{}", self.log.name(anonymous)));
            }
        }
        (profile_among(&self.log, Some(&among), as_of), row_ids.into_iter().collect())
    }
}
