//! Deterministic generator of a realistic event data set for a fictional
//! fine-jewelry brand ("Aurelle"): NDJSON of Segment-spec messages, as the
//! brand's site, mobile app and backend would send them through Segment or
//! RudderStack SDKs.
//!
//! It is used by `qualify demo`, by tests and by benchmarks, at any size.
//!
//! # What is in the data
//!
//! - **Leads** (`userId` `u-000001`, `u-000002`, ...) with an `email` trait.
//!   Most start as anonymous browsers (`anonymousId`, a UUID) viewing pages
//!   (`/`, `/collections/...`, `/products/<slug>`, ...) in sessions of a few
//!   pages minutes apart, sessions days apart, then identify (a message with
//!   both ids and traits) or are linked by an `alias` (previousId =
//!   anonymousId). Some use a second device (another browser or the mobile
//!   app, which sends `screen` events); a few are known to the backend first.
//! - **Anonymous visitors** that never identify (about 30% of the
//!   anonymousIds).
//! - **Personas**: affluent socialites and bridal couples (the two personas
//!   of [`JEWELRY_MODEL`]), and non-fit leads (students, budget shoppers,
//!   gift buyers, trade researchers). Fit leads are more engaged. Traits look
//!   like real data: ages sometimes sent as numeric strings, some `null`s,
//!   later identifies that change a trait (getting engaged, a new income).
//! - **Track events**: `Catalog Downloaded`, `Inquiry Submitted` (with
//!   `message_length` below or at/above 80), `Product Added to Wishlist`,
//!   `Newsletter Subscribed`, `Unsubscribed`, `Appointment Booked`,
//!   `Order Completed`, plus non-scoring `Product Viewed` and
//!   `Products Searched`; a few `group` calls.
//! - **SDK variety**: analytics.js and Segment server SDKs (`timestamp`,
//!   traits in `traits`), RudderStack node (`originalTimestamp` only, traits
//!   in `traits` and `context.traits`), rudder-sdk-python (identify traits
//!   only in `context.traits`), mobile SDKs.
//! - **Delivery noise**: ~1% of messages repeated verbatim later (same
//!   `messageId`), local reordering and some messages up to a day late, ~2%
//!   of lines are `{"batch":[...],"sentAt":...}` envelopes of 2-20 messages.
//! - **Visit edge cases**: some gaps between events of exactly 30 minutes
//!   (same visit) and some just over (a new visit).
//!
//! Every event time is in `[end - days, end)`. The same configuration always
//! gives the same bytes: all randomness comes from ChaCha8 streams of the
//! seed, using only integer and basic floating-point arithmetic.
//!
//! # Size
//!
//! About 16 lines, 19 messages and 13 KB per lead (anonymous visitors
//! included): 50,000 leads give about 800,000 lines and 650 MB in under two
//! seconds (release build), with about 25 MB of memory. Messages average
//! ~680 bytes because each browser message carries the full analytics.js
//! `context` (user agent, library, ip, locale; `context.page` on tracks and
//! identifies); batch envelopes average ~9 KB.
//!
//! Memory stays small because actors are played session by session and
//! merged in time order through a bounded look-ahead (see [`generate`]).
//!
//! # Scores
//!
//! With [`JEWELRY_MODEL`] evaluated as of `end`, about 6% of the leads are
//! MQLs, and about 15% have been at some point (`mql_at` set); about a third
//! of the leads grade A or B.
//!
//! # Example
//!
//! ```
//! use qualify_generator::{generate, GeneratorConfig, JEWELRY_MODEL};
//!
//! let config = GeneratorConfig { leads: 50, ..GeneratorConfig::default() };
//! let mut ndjson = Vec::new();
//! let stats = generate(&config, &mut ndjson)?;
//! assert_eq!(stats.leads, 50);
//! assert_eq!(stats.bytes, ndjson.len() as u64);
//!
//! // Every line is a Segment message or a batch envelope.
//! for line in ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
//!     let value: serde_json::Value = serde_json::from_slice(line).unwrap();
//!     assert!(value.get("type").is_some() || value.get("batch").is_some());
//! }
//!
//! // The matching scoring model, in the TOML format of the scoring spec.
//! assert!(JEWELRY_MODEL.contains("[[engagement]]"));
//! # Ok::<(), std::io::Error>(())
//! ```

mod browse;
mod catalog;
mod json;
mod output;
mod people;
mod rng;
mod sim;
mod time;
mod wire;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, BufWriter, Write};

use crate::output::Output;
use crate::sim::{Actor, SESSION_SPAN, World};
use crate::time::DAY;

/// The demo scoring model for the generated data (TOML text in the format
/// of the scoring spec): engagement rules for visits, product pages, the
/// mobile app, catalog downloads, inquiries, wishlists, newsletter sign-ups,
/// appointments, orders and unsubscribes, and the two personas
/// `affluent-socialite` and `bridal-couple`.
pub const JEWELRY_MODEL: &str = include_str!("jewelry-model.toml");

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Number of leads (distinct `userId`s). Anonymous visitors that never
    /// identify come in addition (about 0.45 per lead).
    pub leads: usize,
    /// Seed of all randomness: same config, same bytes.
    pub seed: u64,
    /// End of the time window (exclusive).
    pub end: jiff::Timestamp,
    /// Length of the time window in days (at least 1 is used).
    pub days: u32,
}

impl Default for GeneratorConfig {
    /// 2,000 leads, seed 42, 120 days up to 2026-12-01T00:00:00Z.
    fn default() -> Self {
        GeneratorConfig {
            leads: 2_000,
            seed: 42,
            end: jiff::Timestamp::from_second(1_796_083_200).expect("valid timestamp"),
            days: 120,
        }
    }
}

/// Counts of what [`generate`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeneratedStats {
    /// Lines written (single messages and batch envelopes).
    pub lines: u64,
    /// Messages written, counting those inside batches and duplicates.
    pub messages: u64,
    /// Bytes written, newlines included.
    pub bytes: u64,
    /// Leads (distinct `userId`s), equal to the configured number.
    pub leads: u64,
    /// Distinct `anonymousId`s that never get linked to a `userId`.
    pub anonymous_visitors: u64,
    /// Messages written a second time (same `messageId`).
    pub duplicates: u64,
}

/// Anonymous-only visitors per lead; with the leads' own (~1.05 per lead)
/// anonymousIds this makes ~30% of anonymousIds never identified.
const VISITORS_PER_LEAD: f64 = 0.45;

/// Writes the data set as NDJSON to `out` (buffered internally) and returns
/// what was written.
///
/// Each actor (lead or anonymous visitor) has its own random stream and is
/// played session by session: a heap orders pending sessions by start time,
/// and messages wait in a delivery heap until no later session can produce
/// anything delivered before them. Memory is one small state per actor in
/// flight plus about a day of pending messages, so 50,000+ leads take a few
/// tens of megabytes.
///
/// # Errors
///
/// Only errors of `out`.
pub fn generate(config: &GeneratorConfig, out: &mut impl Write) -> io::Result<GeneratedStats> {
    let days = i128::from(config.days.max(1));
    let end_ns = config.end.as_nanosecond();
    let end_ms = i64::try_from(end_ns.div_euclid(1_000_000)).expect("timestamp in range");
    let start_ns = end_ns - days * i128::from(DAY) * 1_000_000;
    // first whole millisecond at or after `end - days`
    let start_ms = i64::try_from(-((-start_ns).div_euclid(1_000_000))).expect("timestamp in range");
    let world = World { seed: config.seed, start_ms, end_ms, last_start_ms: (end_ms - SESSION_SPAN).max(start_ms) };
    let leads = u32::try_from(config.leads).expect("at most u32::MAX leads");
    let visitors = (f64::from(leads) * VISITORS_PER_LEAD).round() as u32;
    let actors = leads.checked_add(visitors).expect("too many leads");

    // All actors by first session start (ties: by id).
    let mut starts: Vec<(i64, u32)> = (0..actors).map(|id| (sim::first_touch(&world, id), id)).collect();
    starts.sort_unstable();

    let mut buffered = BufWriter::with_capacity(1 << 18, out);
    let mut output = Output::new(&mut buffered, rng::stream(config.seed, 0), end_ms);
    let mut live: Vec<Option<Box<Actor>>> = Vec::new();
    live.resize_with(actors as usize, || None);
    let mut sessions: BinaryHeap<Reverse<(i64, u32)>> = BinaryHeap::new();
    let mut pending = starts.into_iter().peekable();
    let mut anonymous_visitors = 0u64;

    loop {
        // Activate every actor whose first session comes before the next
        // session of those already active.
        while let Some(&(start, id)) = pending.peek() {
            if sessions.peek().is_some_and(|Reverse((t, _))| *t < start) {
                break;
            }
            pending.next();
            let (actor, first) = Actor::new(&world, id, leads);
            debug_assert_eq!(first, start);
            live[id as usize] = Some(Box::new(actor));
            sessions.push(Reverse((start, id)));
        }
        let Some(Reverse((t, id))) = sessions.pop() else {
            break;
        };
        output.flush_before(t)?;
        let actor = live[id as usize].as_mut().expect("live actor");
        match actor.run_session(&world, &mut output, t) {
            Some(next) => sessions.push(Reverse((next, id))),
            None => {
                anonymous_visitors += actor.unlinked_devices();
                live[id as usize] = None;
            }
        }
    }
    output.finish()?;

    let mut stats = output.stats;
    stats.leads = u64::from(leads);
    stats.anonymous_visitors = anonymous_visitors;
    Ok(stats)
}

#[cfg(test)]
mod tests;
