//! Identity resolution as of a time (spec section 2).
//!
//! A lead is a `userId`. An `anonymousId` joins the lead it was first linked
//! to (earliest event time, then acceptance order), by a message carrying
//! both ids or by an `alias` from the anonymousId to the userId. An `alias`
//! whose `previousId` is itself a known userId merges that lead into the
//! alias's `userId` (the survivor): every event of the merged lead counts as
//! if it had carried the surviving id. The first merge of an id wins, and a
//! merge that would close a cycle is ignored. Only events at or before the
//! evaluation time count, links included, so a backtest never sees the future.

use crate::log::{EventLog, NameId};
use crate::message::MessageKind;
use crate::time::EventTime;
use rustc_hash::FxHashMap;

/// Who an event counts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeadKey {
    /// A known person, by the (surviving) userId.
    User(NameId),
    /// An anonymousId never linked to a userId as of the evaluation time.
    Anonymous(NameId),
}

impl LeadKey {
    /// The lead id as printed: the userId, or `anon:<anonymousId>`.
    pub fn lead_id(self, log: &EventLog) -> String {
        match self {
            LeadKey::User(name) => log.name(name).to_owned(),
            LeadKey::Anonymous(name) => format!("anon:{}", log.name(name)),
        }
    }

    /// Parses a printed lead id back into a key of this log.
    pub fn find(log: &EventLog, lead_id: &str) -> Option<LeadKey> {
        match lead_id.strip_prefix("anon:") {
            Some(anonymous) => log.name_id(anonymous).map(LeadKey::Anonymous),
            None => log.name_id(lead_id).map(LeadKey::User),
        }
    }
}

/// The identity graph as of a time.
#[derive(Debug, Default)]
pub struct Identities {
    /// A merged userId → the userId it was merged into.
    merged_into: FxHashMap<NameId, NameId>,
    /// An anonymousId → the userId it was first linked to (before merges).
    linked_to: FxHashMap<NameId, NameId>,
}

impl Identities {
    /// Resolves identities from the events at or before `as_of`.
    pub fn resolve(log: &EventLog, as_of: EventTime) -> Identities {
        Self::resolve_among(log, None, as_of)
    }

    /// Resolves identities from some of the log's events (`among`, indices
    /// in acceptance order; `None`: all of them), at or before `as_of`. The
    /// result is exact for leads whose every event is among them.
    pub fn resolve_among(log: &EventLog, among: Option<&[u32]>, as_of: EventTime) -> Identities {
        let events = log.events();
        let chosen: Box<dyn Iterator<Item = usize> + '_> = match among {
            Some(indices) => Box::new(indices.iter().map(|&index| index as usize)),
            None => Box::new(0..events.len()),
        };
        // Which names were used as a userId: an alias from one of them is a merge.
        let mut is_user = vec![false; log.name_count()];
        let mut linking: Vec<usize> = Vec::new();
        for index in chosen {
            let event = &events[index];
            if event.time > as_of {
                continue;
            }
            if event.user().is_some() && (event.anonymous().is_some() || event.previous().is_some()) {
                linking.push(index);
            }
            if let Some(user) = event.user() {
                let index = user as usize;
                if index >= is_user.len() {
                    is_user.resize(index + 1, false);
                }
                is_user[index] = true;
            }
        }
        let known_user = |name: NameId| is_user.get(name as usize).copied().unwrap_or(false);

        // Links and merges in (time, acceptance) order.
        linking.sort_by_key(|&index| (events[index].time, index));

        let mut identities = Identities::default();
        for index in linking {
            let event = &events[index];
            let Some(user) = event.user() else { continue };
            if let Some(anonymous) = event.anonymous() {
                identities.linked_to.entry(anonymous).or_insert(user);
            }
            if event.kind != MessageKind::Alias {
                continue;
            }
            let Some(previous) = event.previous() else {
                continue;
            };
            if previous == user {
                continue;
            }
            if known_user(previous) {
                let cycle = identities.surviving(user) == previous;
                if !cycle && !identities.merged_into.contains_key(&previous) {
                    identities.merged_into.insert(previous, user);
                }
            } else {
                identities.linked_to.entry(previous).or_insert(user);
            }
        }
        identities
    }

    /// The userId a userId finally counts as, after merges.
    pub fn surviving(&self, mut user: NameId) -> NameId {
        // Merges never form a cycle (see `resolve`), so this ends.
        while let Some(&next) = self.merged_into.get(&user) {
            user = next;
        }
        user
    }

    /// The lead an event with these ids counts for.
    pub fn lead_of(&self, user: Option<NameId>, anonymous: Option<NameId>) -> Option<LeadKey> {
        match (user, anonymous) {
            (Some(user), _) => Some(LeadKey::User(self.surviving(user))),
            (None, Some(anonymous)) => Some(match self.linked_to.get(&anonymous) {
                Some(&user) => LeadKey::User(self.surviving(user)),
                None => LeadKey::Anonymous(anonymous),
            }),
            (None, None) => None,
        }
    }

    /// Every lead's linked anonymousIds and merged userIds, sorted by name id.
    pub fn members_by_lead(&self) -> FxHashMap<NameId, (Vec<NameId>, Vec<NameId>)> {
        let mut members: FxHashMap<NameId, (Vec<NameId>, Vec<NameId>)> = FxHashMap::default();
        for (&anonymous, &user) in &self.linked_to {
            members.entry(self.surviving(user)).or_default().0.push(anonymous);
        }
        for &merged in self.merged_into.keys() {
            members.entry(self.surviving(merged)).or_default().1.push(merged);
        }
        for (anonymous, merged) in members.values_mut() {
            anonymous.sort_unstable();
            merged.sort_unstable();
        }
        members
    }

    /// The anonymousIds that count for a lead, sorted by name id.
    pub fn anonymous_ids_of(&self, lead: NameId) -> Vec<NameId> {
        let mut ids: Vec<NameId> = self
            .linked_to
            .iter()
            .filter(|(_, user)| self.surviving(**user) == lead)
            .map(|(anonymous, _)| *anonymous)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The userIds merged into a lead (not including its own).
    pub fn merged_user_ids_of(&self, lead: NameId) -> Vec<NameId> {
        let mut ids: Vec<NameId> =
            self.merged_into.keys().copied().filter(|user| self.surviving(*user) == lead).collect();
        ids.sort_unstable();
        ids
    }
}
