//! The behaviour every [`Store`] implementation must have, written once as
//! test cases over fresh stores, so that each backend runs the same suite.
//!
//! A case is a function taking a [`FreshStore`], which opens a new, empty
//! store each time it is called. A backend's test module defines a runner
//! `fn(fn(FreshStore<'_>))` that sets up whatever its stores need (a
//! temporary directory, a database) and calls the case, then declares one
//! `#[test]` per case with [`conformance_tests!`]:
//!
//! ```text
//! use crate::conformance::{self, conformance_tests};
//! conformance_tests!(with_fresh_sqlite_stores);
//! ```

use crate::{
    ApiKey, Appended, LeadQuery, LeadRecord, LeadSort, NewEvent, NewReject, REJECT_EXCERPT_MAX_BYTES, RejectRecord,
    Role, StageTransition, Store, StoreError, StoredEvent, lead_cursor,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use qualify_engine::outcome::{Outcome, OutcomeStage, Spend};
use qualify_engine::time::{EventTime, MICROS_PER_SECOND};
use serde_json::json;
use std::cell::RefCell;
use std::collections::HashMap;

/// Opens a new, empty store on each call.
pub type FreshStore<'a> = &'a mut dyn FnMut() -> Box<dyn Store>;

/// Declares one `#[test]` per conformance case, each handed to `$runner`.
/// Expects `conformance` (this module) and this macro in scope.
macro_rules! conformance_tests {
    ($runner:path) => {
        conformance_tests!(@cases $runner;
            appending_the_same_events_twice_stores_them_once,
            a_key_repeated_within_one_batch_keeps_only_the_first_event,
            events_are_kept_in_acceptance_order_across_batches,
            any_batches_keep_the_first_event_of_each_key_in_acceptance_order,
            appending_groups_counts_each_group_and_the_same_batch_twice_is_all_duplicates,
            appending_no_groups_or_empty_groups_counts_nothing,
            appending_gives_each_stored_event_its_sequence_number_and_reads_them_back_by_it,
            any_grouping_of_batches_stores_and_counts_as_appending_them_one_by_one,
            paging_visits_every_event_once_in_order_whatever_the_page_size,
            paging_an_empty_log_visits_nothing,
            an_error_from_the_page_visitor_stops_paging_and_is_returned,
            events_for_identities_match_user_anonymous_and_previous_ids,
            events_for_identities_accept_thousands_of_ids,
            linked_identities_connect_anonymous_ids_and_user_ids_both_ways,
            linked_identities_follow_aliases_both_ways,
            linked_identities_take_a_single_step,
            a_duplicate_event_adds_no_identity_link,
            an_empty_store_has_no_models,
            each_added_model_gets_the_next_version_and_becomes_the_only_active_one,
            activating_an_old_version_makes_it_the_only_active_one,
            activating_an_unknown_version_is_not_found_and_keeps_the_active_one,
            a_lead_reads_back_exactly_as_written,
            replacing_leads_removes_the_named_rows_and_writes_the_given_ones,
            a_replacement_that_gives_a_lead_twice_fails_and_changes_nothing,
            replacing_all_leads_drops_the_leads_not_given,
            lead_queries_leave_out_anonymous_visitors_unless_asked,
            lead_queries_filter_by_mql_and_grade,
            each_lead_sort_orders_as_documented,
            a_lead_query_limit_keeps_the_first_leads_of_the_order,
            lead_queries_filter_by_stage,
            lead_queries_filter_by_channel_and_channels_are_listed,
            lead_queries_search_lead_ids_and_email_traits_ignoring_case,
            the_priority_sort_puts_grade_a_first_then_engagement_then_the_latest_mql,
            cursor_pages_walk_every_lead_once_in_every_sort_whatever_the_page_size,
            a_cursor_pages_through_a_filtered_list_and_skips_nothing_when_leads_change_between_pages,
            a_cursor_for_another_sort_or_not_made_by_the_store_is_invalid,
            stages_give_the_current_stage_of_the_leads_that_exist,
            lead_counts_by_stage_leave_out_anonymous_visitors,
            transitions_read_back_oldest_first_for_their_lead_only,
            a_replacement_records_its_transitions_with_the_leads_or_not_at_all,
            api_keys_are_listed_oldest_first_as_added,
            a_revoked_key_is_listed_with_the_time_it_was_first_revoked,
            revoking_an_unknown_key_is_not_found,
            two_keys_with_one_hash_are_refused,
            rejects_read_back_as_written_with_the_excerpt_cut_to_1_kb,
            rejects_page_newest_first_without_gaps_or_repeats,
            an_outcome_moves_its_lead_to_its_stage_with_a_transition_caused_by_it,
            the_same_outcome_twice_changes_nothing,
            an_older_outcome_is_stored_but_does_not_move_the_lead_back,
            outcomes_at_one_time_leave_the_lead_at_the_later_recorded_one,
            an_outcome_for_an_unknown_lead_is_not_found_and_stores_nothing,
            spend_for_the_same_channel_and_days_replaces_the_stored_amount,
        );
    };
    (@cases $runner:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $runner(conformance::$case);
            }
        )*
    };
}
pub(crate) use conformance_tests;

const START: EventTime = EventTime::from_micros(1_790_000_000 * MICROS_PER_SECOND);

fn at(seconds: i64) -> EventTime {
    EventTime::from_micros(START.as_micros() + seconds * MICROS_PER_SECOND)
}

/// An event of `kind` whose JSON records its key and ids, so that tests can
/// tell stored events apart.
fn message(
    kind: &str,
    dedup_key: &str,
    user_id: Option<&str>,
    anonymous_id: Option<&str>,
    previous_id: Option<&str>,
) -> NewEvent {
    NewEvent {
        dedup_key: dedup_key.to_owned(),
        kind: kind.to_owned(),
        user_id: user_id.map(str::to_owned),
        anonymous_id: anonymous_id.map(str::to_owned),
        previous_id: previous_id.map(str::to_owned),
        time: START,
        received_at: START,
        json: json!({
            "type": kind,
            "messageId": dedup_key,
            "userId": user_id,
            "anonymousId": anonymous_id,
            "previousId": previous_id,
        })
        .to_string(),
    }
}

fn event(dedup_key: &str) -> NewEvent {
    message("track", dedup_key, None, None, None)
}

fn event_of(dedup_key: &str, user_id: Option<&str>, anonymous_id: Option<&str>) -> NewEvent {
    message("track", dedup_key, user_id, anonymous_id, None)
}

fn alias(dedup_key: &str, previous_id: &str, user_id: &str) -> NewEvent {
    message("alias", dedup_key, Some(user_id), None, Some(previous_id))
}

/// The `messageId` each stored event's JSON records.
fn message_ids(events: &[StoredEvent]) -> Vec<String> {
    events
        .iter()
        .map(|event| {
            let value: serde_json::Value = serde_json::from_str(&event.json).expect("stored JSON parses");
            value["messageId"].as_str().expect("stored JSON has a messageId").to_owned()
        })
        .collect()
}

fn all_events(store: &dyn Store) -> Vec<StoredEvent> {
    let mut events = Vec::new();
    store
        .for_each_event_page(1000, &mut |page| {
            events.extend_from_slice(page);
            Ok(())
        })
        .unwrap();
    events
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

pub fn appending_the_same_events_twice_stores_them_once(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let batch = [event("k1"), event("k2"), event("k3")];
    assert_eq!(store.append_events(&batch).unwrap(), Appended { accepted: 3, duplicates: 0 });
    assert_eq!(store.append_events(&batch).unwrap(), Appended { accepted: 0, duplicates: 3 });
    assert_eq!(store.append_events(&[]).unwrap(), Appended::default());
    assert_eq!(store.event_count().unwrap(), 3);
    assert_eq!(message_ids(&all_events(&*store)), ["k1", "k2", "k3"]);
}

pub fn a_key_repeated_within_one_batch_keeps_only_the_first_event(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let first = NewEvent { json: r#"{"messageId":"k1","note":"first"}"#.to_owned(), ..event("k1") };
    let second = NewEvent { json: r#"{"messageId":"k1","note":"second"}"#.to_owned(), ..event("k1") };
    let appended = store.append_events(&[first.clone(), event("k2"), second]).unwrap();
    assert_eq!(appended, Appended { accepted: 2, duplicates: 1 });
    let stored = all_events(&*store);
    assert_eq!(message_ids(&stored), ["k1", "k2"]);
    assert_eq!(stored[0].json, first.json);
}

pub fn events_are_kept_in_acceptance_order_across_batches(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let first_batch = [event("z"), event("a"), event("m")];
    let second_batch = [event("b"), event("a"), event("y")];
    store.append_events(&first_batch).unwrap();
    assert_eq!(store.append_events(&second_batch).unwrap(), Appended { accepted: 2, duplicates: 1 });
    let stored = all_events(&*store);
    assert_eq!(message_ids(&stored), ["z", "a", "m", "b", "y"]);
    assert!(stored.windows(2).all(|pair| pair[0].seq < pair[1].seq), "seq increases: {stored:?}");
    let accepted = [&first_batch[..], &second_batch[..1], &second_batch[2..]].concat();
    let expected_json: Vec<&str> = accepted.iter().map(|event| event.json.as_str()).collect();
    let stored_json: Vec<&str> = stored.iter().map(|event| event.json.as_str()).collect();
    assert_eq!(stored_json, expected_json);
}

/// For any batches over a few keys: each append counts what is new, and the
/// log holds the first event of each key, in order, whatever the page size.
pub fn any_batches_keep_the_first_event_of_each_key_in_acceptance_order(fresh_store: FreshStore<'_>) {
    let fresh_store = RefCell::new(fresh_store);
    let batches = prop::collection::vec(prop::collection::vec(0u8..8, 0..8), 0..5);
    let mut runner = TestRunner::new(Config { cases: 48, failure_persistence: None, ..Config::default() });
    let result = runner.run(&(batches, 1usize..6), |(batches, page_size)| {
        let mut store = (*fresh_store.borrow_mut())();
        let mut expected: Vec<(String, String)> = Vec::new();
        for (batch_index, batch) in batches.iter().enumerate() {
            let events: Vec<NewEvent> = batch
                .iter()
                .enumerate()
                .map(|(position, key)| {
                    let dedup_key = format!("k{key}");
                    let json =
                        json!({ "messageId": dedup_key, "batch": batch_index, "position": position }).to_string();
                    NewEvent { json, ..event(&dedup_key) }
                })
                .collect();
            let mut accepted = 0;
            for event in &events {
                if !expected.iter().any(|(key, _)| *key == event.dedup_key) {
                    expected.push((event.dedup_key.clone(), event.json.clone()));
                    accepted += 1;
                }
            }
            let appended = store.append_events(&events).map_err(|error| TestCaseError::fail(error.to_string()))?;
            let duplicates = events.len() as u64 - accepted;
            prop_assert_eq!(appended, Appended { accepted, duplicates });
        }
        let mut stored = Vec::new();
        store
            .for_each_event_page(page_size, &mut |page| {
                stored.extend(page.iter().map(|event| event.json.clone()));
                Ok(())
            })
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        let expected_json: Vec<String> = expected.into_iter().map(|(_, json)| json).collect();
        prop_assert_eq!(stored, expected_json);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// A group commit: each group is counted on its own, and a duplicate is
/// judged against the store and everything earlier in the call.
pub fn appending_groups_counts_each_group_and_the_same_batch_twice_is_all_duplicates(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store.append_events(&[event("k0")]).unwrap();
    let batch = [event_of("k1", Some("u1"), Some("a1")), event("k2"), event("k3")];
    let resent_k2 = NewEvent { json: r#"{"messageId":"k2","note":"resent"}"#.to_owned(), ..event("k2") };
    let mixed = [event("k0"), event("k4"), resent_k2, event("k4")];
    let appended = store.append_event_groups(&[&batch, &mixed, &batch]).unwrap();
    assert_eq!(
        appended,
        [
            Appended { accepted: 3, duplicates: 0 },
            Appended { accepted: 1, duplicates: 3 },
            Appended { accepted: 0, duplicates: 3 },
        ]
    );
    let stored = all_events(&*store);
    assert_eq!(message_ids(&stored), ["k0", "k1", "k2", "k3", "k4"]);
    assert_eq!(stored[2].json, batch[1].json);
    assert_eq!(store.event_count().unwrap(), 5);
    assert_links(&*store, &[(&["u1"], &[], &["u1"], &["a1"])]);
}

pub fn appending_no_groups_or_empty_groups_counts_nothing(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    assert_eq!(store.append_event_groups(&[]).unwrap(), []);
    assert_eq!(store.append_event_groups(&[&[], &[]]).unwrap(), [Appended::default(), Appended::default()]);
    assert_eq!(
        store.append_event_groups(&[&[], &[event("k1")], &[]]).unwrap(),
        [Appended::default(), Appended { accepted: 1, duplicates: 0 }, Appended::default()]
    );
    assert_eq!(message_ids(&all_events(&*store)), ["k1"]);
}

pub fn appending_gives_each_stored_event_its_sequence_number_and_reads_them_back_by_it(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let (_, first) = store.append_event_groups_with_seqs(&[&[event("k0"), event("k1")]]).unwrap();
    let (appended, seqs) =
        store.append_event_groups_with_seqs(&[&[event("k1"), event("k2")], &[], &[event("k3"), event("k2")]]).unwrap();
    assert_eq!(appended.len(), 3);
    let stored = all_events(&*store);
    let stored_seqs: Vec<i64> = stored.iter().map(|event| event.seq).collect();
    let given: Vec<i64> = first.iter().chain(&seqs).flatten().copied().collect();
    // One per event, `None` for each duplicate; the stored ones, in order.
    assert_eq!(first.len(), 2);
    assert_eq!(seqs.iter().map(Option::is_some).collect::<Vec<_>>(), [false, true, true, false]);
    assert_eq!(given, stored_seqs);
    // Read back by any of them, in acceptance order; unknown ones are left out.
    let wanted = [stored_seqs[3], stored_seqs[0], stored_seqs[3] + 1_000];
    assert_eq!(message_ids(&store.events_by_seq(&wanted).unwrap()), ["k0", "k3"]);
    assert_eq!(store.events_by_seq(&[]).unwrap(), []);
    assert_eq!(store.events_by_seq(&stored_seqs).unwrap(), stored);
    // After a sequence number: the later ones, in order.
    assert_eq!(store.events_after(stored_seqs[1]).unwrap(), stored[2..]);
    assert_eq!(store.events_after(i64::MIN).unwrap(), stored);
    assert_eq!(store.events_after(stored_seqs[3]).unwrap(), []);
}

/// For any batches, and any way of grouping consecutive batches into calls:
/// the counts per batch and the stored log are those of appending each
/// batch on its own.
pub fn any_grouping_of_batches_stores_and_counts_as_appending_them_one_by_one(fresh_store: FreshStore<'_>) {
    let fresh_store = RefCell::new(fresh_store);
    // Each batch: its keys, and whether the call ends after it.
    let batches = prop::collection::vec((prop::collection::vec(0u8..8, 0..6), any::<bool>()), 0..6);
    let mut runner = TestRunner::new(Config { cases: 32, failure_persistence: None, ..Config::default() });
    let result = runner.run(&batches, |batches| {
        let fail = |error: StoreError| TestCaseError::fail(error.to_string());
        let events: Vec<Vec<NewEvent>> = batches
            .iter()
            .enumerate()
            .map(|(batch_index, (keys, _))| {
                keys.iter()
                    .enumerate()
                    .map(|(position, key)| {
                        let dedup_key = format!("k{key}");
                        let json =
                            json!({ "messageId": dedup_key, "batch": batch_index, "position": position }).to_string();
                        NewEvent { json, ..event(&dedup_key) }
                    })
                    .collect()
            })
            .collect();
        let mut one_by_one = (*fresh_store.borrow_mut())();
        let mut expected_counts = Vec::new();
        for batch in &events {
            expected_counts.push(one_by_one.append_events(batch).map_err(fail)?);
        }
        let mut grouped = (*fresh_store.borrow_mut())();
        let mut counts = Vec::new();
        let mut call: Vec<&[NewEvent]> = Vec::new();
        for (batch, (_, ends_call)) in events.iter().zip(&batches) {
            call.push(batch);
            if *ends_call {
                counts.extend(grouped.append_event_groups(&call).map_err(fail)?);
                call.clear();
            }
        }
        counts.extend(grouped.append_event_groups(&call).map_err(fail)?);
        prop_assert_eq!(counts, expected_counts);
        let json = |events: Vec<StoredEvent>| -> Vec<String> { events.into_iter().map(|event| event.json).collect() };
        prop_assert_eq!(json(all_events(&*grouped)), json(all_events(&*one_by_one)));
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

pub fn paging_visits_every_event_once_in_order_whatever_the_page_size(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let keys: Vec<String> = (0..7).map(|index| format!("k{index}")).collect();
    let events: Vec<NewEvent> = keys.iter().map(|key| event(key)).collect();
    store.append_events(&events).unwrap();
    for page_size in [1, 2, 3, 6, 7, 8, 100] {
        let mut page_lengths = Vec::new();
        let mut visited = Vec::new();
        store
            .for_each_event_page(page_size, &mut |page| {
                page_lengths.push(page.len());
                visited.extend_from_slice(page);
                Ok(())
            })
            .unwrap();
        assert_eq!(message_ids(&visited), keys, "page size {page_size}");
        let full_pages = keys.len() / page_size;
        let mut expected_lengths = vec![page_size; full_pages];
        if keys.len() % page_size != 0 {
            expected_lengths.push(keys.len() % page_size);
        }
        assert_eq!(page_lengths, expected_lengths, "page size {page_size}");
    }
}

pub fn paging_an_empty_log_visits_nothing(fresh_store: FreshStore<'_>) {
    let store = fresh_store();
    let mut visits = 0;
    store
        .for_each_event_page(10, &mut |_| {
            visits += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(visits, 0);
    assert_eq!(store.event_count().unwrap(), 0);
}

pub fn an_error_from_the_page_visitor_stops_paging_and_is_returned(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let events: Vec<NewEvent> = (0..5).map(|index| event(&format!("k{index}"))).collect();
    store.append_events(&events).unwrap();
    let mut visits = 0;
    let result = store.for_each_event_page(2, &mut |_| {
        visits += 1;
        if visits == 2 { Err(StoreError::Invalid("stop here".to_owned())) } else { Ok(()) }
    });
    assert!(matches!(&result, Err(StoreError::Invalid(message)) if message == "stop here"), "{result:?}");
    assert_eq!(visits, 2);
}

pub fn events_for_identities_match_user_anonymous_and_previous_ids(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store
        .append_events(&[
            event_of("k1", Some("u1"), None),
            event_of("k2", None, Some("a1")),
            event_of("k3", Some("u2"), Some("a2")),
            alias("k4", "a3", "u3"),
            alias("k5", "u4", "u5"),
            event_of("k6", None, Some("a9")),
            event_of("k7", Some("u1"), Some("a1")),
        ])
        .unwrap();
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (&["u1"], &[], &["k1", "k7"]),
        (&[], &["a1"], &["k2", "k7"]),
        (&["u1"], &["a1"], &["k1", "k2", "k7"]),
        (&["u2"], &[], &["k3"]),
        (&[], &["a2"], &["k3"]),
        (&[], &["a3"], &["k4"]),
        (&["u3"], &[], &["k4"]),
        (&["u4"], &[], &["k5"]),
        (&["u5"], &[], &["k5"]),
        (&["a1"], &["u1"], &[]),
        (&["nobody"], &["nothing"], &[]),
        (&[], &[], &[]),
    ];
    for (user_ids, anonymous_ids, expected) in cases {
        let found = store.events_for_identities(&strings(user_ids), &strings(anonymous_ids)).unwrap();
        assert_eq!(message_ids(&found), *expected, "users {user_ids:?}, anonymous {anonymous_ids:?}");
    }
}

pub fn events_for_identities_accept_thousands_of_ids(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let events: Vec<NewEvent> = (0..3000)
        .map(|index| {
            let key = format!("k{index}");
            if index % 2 == 0 {
                event_of(&key, Some(&format!("user-{index}")), None)
            } else {
                event_of(&key, None, Some(&format!("anon-{index}")))
            }
        })
        .collect();
    store.append_events(&events).unwrap();
    let mut user_ids: Vec<String> = (0..3000).step_by(2).map(|index| format!("user-{index}")).collect();
    user_ids.extend((0..100).map(|index| format!("unknown-{index}")));
    let anonymous_ids: Vec<String> = (1..3000).step_by(2).map(|index| format!("anon-{index}")).collect();
    let found = store.events_for_identities(&user_ids, &anonymous_ids).unwrap();
    let all_keys: Vec<String> = (0..3000).map(|index| format!("k{index}")).collect();
    assert_eq!(message_ids(&found), all_keys);

    let every_fourth: Vec<String> = (0..3000).step_by(4).map(|index| format!("user-{index}")).collect();
    let found = store.events_for_identities(&every_fourth, &[]).unwrap();
    let expected: Vec<String> = (0..3000).step_by(4).map(|index| format!("k{index}")).collect();
    assert_eq!(message_ids(&found), expected);
}

/// Checks `linked_identities` against a table of (user ids, anonymous ids)
/// given and the (user ids, anonymous ids) expected.
fn assert_links(store: &dyn Store, cases: &[(&[&str], &[&str], &[&str], &[&str])]) {
    for (user_ids, anonymous_ids, expected_users, expected_anonymous) in cases {
        let (users, anonymous) = store.linked_identities(&strings(user_ids), &strings(anonymous_ids)).unwrap();
        assert_eq!(
            (users, anonymous),
            (strings(expected_users), strings(expected_anonymous)),
            "from users {user_ids:?} and anonymous {anonymous_ids:?}"
        );
    }
}

pub fn linked_identities_connect_anonymous_ids_and_user_ids_both_ways(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store
        .append_events(&[
            event_of("k1", Some("u1"), Some("a1")),
            event_of("k2", Some("u1"), Some("a2")),
            event_of("k3", Some("u2"), Some("a2")),
            event_of("k4", Some("u1"), Some("a1")),
            event_of("k5", None, Some("a3")),
            event_of("k6", Some("u3"), None),
        ])
        .unwrap();
    assert_links(
        &*store,
        &[
            (&["u1"], &[], &["u1"], &["a1", "a2"]),
            (&[], &["a2"], &["u1", "u2"], &["a2"]),
            (&[], &["a1"], &["u1"], &["a1"]),
            (&["u1"], &["a2"], &["u1", "u2"], &["a1", "a2"]),
            (&[], &["a3"], &[], &["a3"]),
            (&["u3"], &[], &["u3"], &[]),
            (&["u2", "u1", "u2"], &[], &["u1", "u2"], &["a1", "a2"]),
            (&["nobody"], &["nothing"], &["nobody"], &["nothing"]),
            (&[], &[], &[], &[]),
        ],
    );
}

/// An alias's previousId may be an anonymousId or another userId; the store
/// cannot tell which, so it must at least report it where each role needs.
pub fn linked_identities_follow_aliases_both_ways(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store
        .append_events(&[
            event_of("k1", Some("u2"), None),
            alias("k2", "a5", "u1"),
            alias("k3", "u2", "u1"),
            alias("k4", "a9", "u9"),
            // A previousId on a message that is not an alias links nothing.
            message("track", "k5", Some("u7"), None, Some("a7")),
        ])
        .unwrap();
    let (users, anonymous) = store.linked_identities(&strings(&["u1"]), &[]).unwrap();
    assert!(users.contains(&"u2".to_owned()) && users.contains(&"u1".to_owned()), "{users:?}");
    assert!(anonymous.contains(&"a5".to_owned()), "{anonymous:?}");
    assert!(!users.iter().chain(&anonymous).any(|id| id.ends_with('9')), "{users:?} {anonymous:?}");

    let (users, _) = store.linked_identities(&strings(&["u2"]), &[]).unwrap();
    assert_eq!(users, ["u1", "u2"]);
    let (users, anonymous) = store.linked_identities(&[], &strings(&["a5"])).unwrap();
    assert_eq!((users, anonymous), (strings(&["u1"]), strings(&["a5"])));
    assert_links(&*store, &[(&["u7"], &[], &["u7"], &[]), (&[], &["a7"], &[], &["a7"])]);
}

/// Links are followed one step per call; the caller iterates to a fixpoint.
pub fn linked_identities_take_a_single_step(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store.append_events(&[event_of("k1", Some("u1"), Some("a1")), event_of("k2", Some("u2"), Some("a1"))]).unwrap();
    assert_links(&*store, &[(&["u1"], &[], &["u1"], &["a1"]), (&["u1"], &["a1"], &["u1", "u2"], &["a1"])]);
}

pub fn a_duplicate_event_adds_no_identity_link(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store.append_events(&[event_of("k1", Some("u1"), None)]).unwrap();
    let appended = store.append_events(&[event_of("k1", Some("u1"), Some("a1")), alias("k1", "u0", "u1")]).unwrap();
    assert_eq!(appended, Appended { accepted: 0, duplicates: 2 });
    assert_links(&*store, &[(&["u1"], &[], &["u1"], &[]), (&[], &["a1"], &[], &["a1"])]);
    assert_eq!(store.events_for_identities(&strings(&["u0"]), &strings(&["a1"])).unwrap(), []);
}

pub fn an_empty_store_has_no_models(fresh_store: FreshStore<'_>) {
    let store = fresh_store();
    assert_eq!(store.active_model().unwrap(), None);
    assert_eq!(store.model(1).unwrap(), None);
    assert_eq!(store.models().unwrap(), []);
}

/// (version, active) of every stored model, newest first.
fn model_versions(store: &dyn Store) -> Vec<(i64, bool)> {
    store.models().unwrap().iter().map(|model| (model.version, model.active)).collect()
}

pub fn each_added_model_gets_the_next_version_and_becomes_the_only_active_one(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let first = store.add_model("first", "name = \"first\"\n", at(1)).unwrap();
    assert_eq!(
        (first.version, first.name.as_str(), first.toml.as_str(), first.created_at, first.active),
        (1, "first", "name = \"first\"\n", at(1), true)
    );
    let second = store.add_model("second", "name = \"second\"\n", at(2)).unwrap();
    assert_eq!((second.version, second.active), (2, true));
    assert_eq!(store.active_model().unwrap(), Some(second.clone()));
    assert_eq!(store.model(1).unwrap(), Some(crate::StoredModel { active: false, ..first.clone() }));
    assert_eq!(store.models().unwrap(), [second, crate::StoredModel { active: false, ..first }]);
}

pub fn activating_an_old_version_makes_it_the_only_active_one(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    for (index, name) in ["one", "two", "three"].into_iter().enumerate() {
        store.add_model(name, &format!("name = \"{name}\"\n"), at(index as i64)).unwrap();
    }
    store.activate_model(1).unwrap();
    assert_eq!(model_versions(&*store), [(3, false), (2, false), (1, true)]);
    assert_eq!(store.active_model().unwrap().map(|model| model.name), Some("one".to_owned()));
    store.activate_model(1).unwrap();
    assert_eq!(model_versions(&*store), [(3, false), (2, false), (1, true)]);
    store.activate_model(3).unwrap();
    assert_eq!(model_versions(&*store), [(3, true), (2, false), (1, false)]);
    store.add_model("four", "name = \"four\"\n", at(4)).unwrap();
    assert_eq!(model_versions(&*store), [(4, true), (3, false), (2, false), (1, false)]);
}

pub fn activating_an_unknown_version_is_not_found_and_keeps_the_active_one(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    assert!(matches!(store.activate_model(1), Err(StoreError::NotFound(_))));
    store.add_model("one", "name = \"one\"\n", at(1)).unwrap();
    for version in [0, 2, 7, -1] {
        let result = store.activate_model(version);
        assert!(
            matches!(&result, Err(StoreError::NotFound(message)) if message.contains(&version.to_string())),
            "{result:?}"
        );
    }
    assert_eq!(model_versions(&*store), [(1, true)]);
}

/// A lead with every optional field empty; tests set what they need.
fn lead(lead_id: &str) -> LeadRecord {
    LeadRecord {
        lead_id: lead_id.to_owned(),
        engagement: 0.0,
        fit: 0,
        grade: "D".to_owned(),
        persona: None,
        mql: false,
        mql_at: None,
        first_seen: START,
        last_seen: START,
        traits: serde_json::Map::new(),
        anonymous_ids: Vec::new(),
        channel: None,
        scored_at: START,
        model_version: 1,
        stage: "lead".to_owned(),
    }
}

fn lead_ids(store: &dyn Store, query: &LeadQuery) -> Vec<String> {
    store.leads(query).unwrap().into_iter().map(|lead| lead.lead_id).collect()
}

fn all_lead_ids(store: &dyn Store) -> Vec<String> {
    lead_ids(store, &LeadQuery { sort: LeadSort::LeadId, include_anonymous: true, ..LeadQuery::default() })
}

pub fn a_lead_reads_back_exactly_as_written(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let serde_json::Value::Object(traits) = json!({
        "email": "ada@example.com",
        "employees": 250,
        "score": 0.5,
        "paying": true,
        "tags": ["a", "b"],
        "address": { "city": "Zürich", "zip": null },
    }) else {
        unreachable!("a JSON object literal")
    };
    let full = LeadRecord {
        lead_id: "ada@example.com".to_owned(),
        engagement: 12.345,
        fit: -3,
        grade: "A".to_owned(),
        persona: Some("Economic buyer".to_owned()),
        mql: true,
        mql_at: Some(EventTime::from_micros(START.as_micros() + 123_456)),
        first_seen: at(-86_400),
        last_seen: at(3600),
        traits,
        anonymous_ids: strings(&["anon-2", "anon-1"]),
        channel: Some("newsletter".to_owned()),
        scored_at: at(7200),
        model_version: 3,
        stage: "opportunity".to_owned(),
    };
    let sparse = lead("anon:visitor");
    store.replace_all_leads(&[full.clone(), sparse.clone()], &[]).unwrap();
    assert_eq!(store.lead("ada@example.com").unwrap(), Some(full.clone()));
    assert_eq!(store.lead("anon:visitor").unwrap(), Some(sparse.clone()));
    assert_eq!(store.lead("nobody").unwrap(), None);
    let query = LeadQuery { sort: LeadSort::LeadId, include_anonymous: true, ..LeadQuery::default() };
    assert_eq!(store.leads(&query).unwrap(), [full, sparse]);
}

pub fn replacing_leads_removes_the_named_rows_and_writes_the_given_ones(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store.replace_all_leads(&[lead("u1"), lead("u2"), lead("u3")], &[]).unwrap();
    let changed = LeadRecord { engagement: 40.0, grade: "B".to_owned(), ..lead("u1") };
    store.replace_leads(&strings(&["u2", "nobody"]), &[changed.clone(), lead("u4")], &[]).unwrap();
    assert_eq!(all_lead_ids(&*store), ["u1", "u3", "u4"]);
    assert_eq!(store.lead("u1").unwrap(), Some(changed));
    // A lead both removed and given is written.
    store.replace_leads(&strings(&["u3"]), &[lead("u3")], &[]).unwrap();
    assert_eq!(all_lead_ids(&*store), ["u1", "u3", "u4"]);
    store.replace_leads(&[], &[], &[]).unwrap();
    assert_eq!(all_lead_ids(&*store), ["u1", "u3", "u4"]);
}

/// Two records for one lead in one call are the caller's mistake: the call
/// fails with an error naming the lead, and nothing of it is applied.
pub fn a_replacement_that_gives_a_lead_twice_fails_and_changes_nothing(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let before = [lead("u1"), lead("u2")];
    store.replace_all_leads(&before, &[]).unwrap();
    let changed = LeadRecord { engagement: 99.0, ..lead("u1") };
    let result = store.replace_leads(&strings(&["u2"]), &[lead("u3"), changed, lead("u3")], &[]);
    assert!(matches!(&result, Err(StoreError::Invalid(message)) if message.contains("u3")), "{result:?}");
    let result = store.replace_all_leads(&[lead("u5"), lead("u5")], &[]);
    assert!(matches!(&result, Err(StoreError::Invalid(message)) if message.contains("u5")), "{result:?}");
    let everything = LeadQuery { sort: LeadSort::LeadId, include_anonymous: true, ..LeadQuery::default() };
    assert_eq!(store.leads(&everything).unwrap(), before);
}

pub fn replacing_all_leads_drops_the_leads_not_given(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store.replace_all_leads(&[lead("u1"), lead("u2"), lead("anon:a1")], &[]).unwrap();
    store.replace_all_leads(&[lead("u3"), lead("u1")], &[]).unwrap();
    assert_eq!(all_lead_ids(&*store), ["u1", "u3"]);
    store.replace_all_leads(&[], &[]).unwrap();
    assert_eq!(all_lead_ids(&*store), Vec::<String>::new());
}

pub fn lead_queries_leave_out_anonymous_visitors_unless_asked(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store.replace_all_leads(&[lead("u1"), lead("anon:a1"), lead("Anon:Upper"), lead("anonymous-user")], &[]).unwrap();
    let by_id = LeadQuery { sort: LeadSort::LeadId, ..LeadQuery::default() };
    assert_eq!(lead_ids(&*store, &by_id), ["Anon:Upper", "anonymous-user", "u1"]);
    assert_eq!(lead_ids(&*store, &LeadQuery::default()).len(), 3);
    let with_anonymous = LeadQuery { include_anonymous: true, ..by_id };
    assert_eq!(lead_ids(&*store, &with_anonymous), ["Anon:Upper", "anon:a1", "anonymous-user", "u1"]);
}

pub fn lead_queries_filter_by_mql_and_grade(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let graded = |lead_id: &str, mql: bool, grade: &str| LeadRecord { mql, grade: grade.to_owned(), ..lead(lead_id) };
    store
        .replace_all_leads(
            &[
                graded("u1", true, "A"),
                graded("u2", true, "B"),
                graded("u3", false, "A"),
                graded("u4", false, "C"),
                graded("anon:x", true, "A"),
            ],
            &[],
        )
        .unwrap();
    let query = |mql: Option<bool>, grades: &[&str], include_anonymous: bool| LeadQuery {
        mql,
        grades: strings(grades),
        sort: LeadSort::LeadId,
        include_anonymous,
        ..LeadQuery::default()
    };
    let cases: &[(LeadQuery, &[&str])] = &[
        (query(None, &[], false), &["u1", "u2", "u3", "u4"]),
        (query(Some(true), &[], false), &["u1", "u2"]),
        (query(Some(false), &[], false), &["u3", "u4"]),
        (query(None, &["A"], false), &["u1", "u3"]),
        (query(None, &["A", "C"], false), &["u1", "u3", "u4"]),
        (query(None, &["E"], false), &[]),
        (query(Some(true), &["A"], false), &["u1"]),
        (query(Some(true), &["A"], true), &["anon:x", "u1"]),
    ];
    for (query, expected) in cases {
        assert_eq!(lead_ids(&*store, query), *expected, "{query:?}");
    }
}

pub fn each_lead_sort_orders_as_documented(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let scored = |lead_id: &str, engagement: f64, fit: i64, mql_at: Option<i64>, last_seen: i64| LeadRecord {
        engagement,
        fit,
        mql_at: mql_at.map(at),
        last_seen: at(last_seen),
        ..lead(lead_id)
    };
    // Written out of order; every sort has ties that its later keys break.
    store
        .replace_all_leads(
            &[
                scored("f", 5.0, 10, None, 1),
                scored("d", 1.0, 10, None, 2),
                scored("b", 9.0, 10, None, 5),
                scored("e", 9.0, 0, Some(1), 0),
                scored("a", 5.0, 10, Some(3), 1),
                scored("c", 5.0, 20, Some(1), 5),
            ],
            &[],
        )
        .unwrap();
    let cases = [
        (LeadSort::Engagement, ["b", "e", "a", "c", "f", "d"]),
        (LeadSort::Fit, ["c", "b", "a", "f", "d", "e"]),
        (LeadSort::MqlAt, ["c", "e", "a", "b", "d", "f"]),
        (LeadSort::LastSeen, ["b", "c", "d", "a", "f", "e"]),
        (LeadSort::LeadId, ["a", "b", "c", "d", "e", "f"]),
    ];
    for (sort, expected) in cases {
        assert_eq!(lead_ids(&*store, &LeadQuery { sort, ..LeadQuery::default() }), expected, "{sort:?}");
    }
    assert_eq!(LeadQuery::default().sort, LeadSort::Engagement);
}

pub fn a_lead_query_limit_keeps_the_first_leads_of_the_order(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let engaged = |lead_id: &str, engagement: f64| LeadRecord { engagement, ..lead(lead_id) };
    store
        .replace_all_leads(&[engaged("u1", 1.0), engaged("u2", 3.0), engaged("u3", 2.0), engaged("anon:a", 9.0)], &[])
        .unwrap();
    let cases: [(Option<u64>, &[&str]); 5] = [
        (Some(0), &[]),
        (Some(1), &["u2"]),
        (Some(2), &["u2", "u3"]),
        (Some(100), &["u2", "u3", "u1"]),
        (None, &["u2", "u3", "u1"]),
    ];
    for (limit, expected) in cases {
        assert_eq!(lead_ids(&*store, &LeadQuery { limit, ..LeadQuery::default() }), expected, "limit {limit:?}");
    }
}

pub fn lead_queries_filter_by_stage(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let staged = |lead_id: &str, stage: &str, grade: &str| LeadRecord {
        stage: stage.to_owned(),
        grade: grade.to_owned(),
        ..lead(lead_id)
    };
    store
        .replace_all_leads(
            &[
                staged("u1", "lead", "D"),
                staged("u2", "mql", "A"),
                staged("u3", "mql", "B"),
                staged("u4", "accepted", "A"),
                staged("u5", "won", "A"),
                staged("anon:x", "mql", "A"),
            ],
            &[],
        )
        .unwrap();
    let query = |stages: &[&str], grades: &[&str], include_anonymous: bool| LeadQuery {
        stages: strings(stages),
        grades: strings(grades),
        sort: LeadSort::LeadId,
        include_anonymous,
        ..LeadQuery::default()
    };
    let cases: &[(LeadQuery, &[&str])] = &[
        (query(&[], &[], false), &["u1", "u2", "u3", "u4", "u5"]),
        (query(&["mql"], &[], false), &["u2", "u3"]),
        (query(&["accepted", "won"], &[], false), &["u4", "u5"]),
        (query(&["MQL"], &[], false), &[]),
        (query(&["mql"], &["A"], false), &["u2"]),
        (query(&["mql"], &[], true), &["anon:x", "u2", "u3"]),
    ];
    for (query, expected) in cases {
        assert_eq!(lead_ids(&*store, query), *expected, "{query:?}");
    }
}

pub fn lead_queries_filter_by_channel_and_channels_are_listed(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    assert_eq!(store.lead_channels().unwrap(), Vec::<String>::new());
    let from =
        |lead_id: &str, channel: Option<&str>| LeadRecord { channel: channel.map(str::to_owned), ..lead(lead_id) };
    store
        .replace_all_leads(
            &[
                from("u1", Some("paid_search")),
                from("u2", None),
                from("u3", Some("email")),
                from("u4", Some("paid_search")),
                from("anon:x", Some("social")),
            ],
            &[],
        )
        .unwrap();
    assert_eq!(store.lead_channels().unwrap(), strings(&["direct", "email", "paid_search"]));
    let query =
        |channels: &[&str]| LeadQuery { channels: strings(channels), sort: LeadSort::LeadId, ..LeadQuery::default() };
    let cases: [(&[&str], &[&str]); 4] = [
        (&[], &["u1", "u2", "u3", "u4"]),
        (&["paid_search"], &["u1", "u4"]),
        (&["direct", "email"], &["u2", "u3"]),
        (&["social"], &[]),
    ];
    for (channels, expected) in cases {
        assert_eq!(lead_ids(&*store, &query(channels)), expected, "{channels:?}");
    }
}

pub fn lead_queries_search_lead_ids_and_email_traits_ignoring_case(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let with_traits = |lead_id: &str, traits: serde_json::Value| {
        let serde_json::Value::Object(traits) = traits else { unreachable!("traits are an object") };
        LeadRecord { traits, ..lead(lead_id) }
    };
    store
        .replace_all_leads(
            &[
                with_traits("Ada-42", json!({ "email": "ada.lovelace@Example.COM" })),
                with_traits("u-100", json!({ "email": "bob@corp.io" })),
                // Only the email trait is searched, not the others.
                with_traits("carol_c", json!({ "name": "Example Carol" })),
                with_traits("dave", json!({ "email": "d%ve@x.io" })),
                with_traits("anon:ex", json!({ "email": "visitor@example.com" })),
            ],
            &[],
        )
        .unwrap();
    let search = |text: &str, include_anonymous: bool| LeadQuery {
        search: Some(text.to_owned()),
        sort: LeadSort::LeadId,
        include_anonymous,
        ..LeadQuery::default()
    };
    let cases: &[(LeadQuery, &[&str])] = &[
        (search("example", false), &["Ada-42"]),
        (search("LOVELACE@example.com", false), &["Ada-42"]),
        (search("ada", false), &["Ada-42"]),
        (search("U-1", false), &["u-100"]),
        (search("corp.io", false), &["u-100"]),
        // Matched literally: no LIKE wildcards.
        (search("%", false), &["dave"]),
        (search("_", false), &["carol_c"]),
        (search("nobody", false), &[]),
        (search("", false), &["Ada-42", "carol_c", "dave", "u-100"]),
        (search("example", true), &["Ada-42", "anon:ex"]),
    ];
    for (query, expected) in cases {
        assert_eq!(lead_ids(&*store, query), *expected, "{query:?}");
    }
}

pub fn the_priority_sort_puts_grade_a_first_then_engagement_then_the_latest_mql(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let queued = |lead_id: &str, grade: &str, engagement: f64, mql_at: Option<i64>| LeadRecord {
        grade: grade.to_owned(),
        engagement,
        mql: mql_at.is_some(),
        mql_at: mql_at.map(at),
        ..lead(lead_id)
    };
    // Written out of order; ties on grade, engagement and mql_at.
    store
        .replace_all_leads(
            &[
                queued("d1", "D", 0.0, None),
                queued("b1", "B", 90.0, Some(5)),
                queued("a5", "A", 50.0, Some(9)),
                queued("a1", "A", 10.0, Some(1)),
                queued("a4", "A", 50.0, None),
                queued("c1", "C", 99.0, Some(9)),
                queued("a2", "A", 50.0, Some(1)),
                queued("a3", "A", 50.0, Some(9)),
            ],
            &[],
        )
        .unwrap();
    let query = LeadQuery { sort: LeadSort::Priority, ..LeadQuery::default() };
    assert_eq!(lead_ids(&*store, &query), ["a3", "a5", "a2", "a4", "a1", "b1", "c1", "d1"]);
}

const ALL_SORTS: [LeadSort; 6] =
    [LeadSort::Engagement, LeadSort::Fit, LeadSort::MqlAt, LeadSort::LastSeen, LeadSort::LeadId, LeadSort::Priority];

/// The lead ids of `leads` in the order [`LeadSort`] documents, worked out
/// here independently of any store.
fn documented_order(leads: &[LeadRecord], sort: LeadSort) -> Vec<String> {
    use std::cmp::Reverse;
    let mut sorted: Vec<&LeadRecord> = leads.iter().collect();
    sorted.sort_by(|a, b| {
        let engagement = b.engagement.total_cmp(&a.engagement);
        let by_keys = match sort {
            LeadSort::Engagement => engagement,
            LeadSort::Fit => b.fit.cmp(&a.fit).then(engagement),
            // `true` sorts after `false`: leads without an mql_at go last.
            LeadSort::MqlAt => (a.mql_at.is_none(), a.mql_at).cmp(&(b.mql_at.is_none(), b.mql_at)),
            LeadSort::LastSeen => b.last_seen.cmp(&a.last_seen),
            LeadSort::LeadId => std::cmp::Ordering::Equal,
            LeadSort::Priority => a
                .grade
                .cmp(&b.grade)
                .then(engagement)
                .then((a.mql_at.is_none(), Reverse(a.mql_at)).cmp(&(b.mql_at.is_none(), Reverse(b.mql_at)))),
        };
        by_keys.then_with(|| a.lead_id.cmp(&b.lead_id))
    });
    sorted.into_iter().map(|lead| lead.lead_id.clone()).collect()
}

/// Walks a query page by page, each page starting after the cursor of the
/// last lead of the previous one, and returns the lead ids in walk order.
/// Stops after `most` leads, so that a cursor that does not advance fails
/// the test instead of hanging it.
fn walk_pages(store: &dyn Store, query: &LeadQuery, page_size: u64, most: usize) -> Result<Vec<String>, StoreError> {
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = store.leads(&LeadQuery { limit: Some(page_size), after, ..query.clone() })?;
        walked.extend(page.iter().map(|lead| lead.lead_id.clone()));
        match page.last() {
            Some(last) if page.len() as u64 == page_size && walked.len() <= most => {
                after = Some(lead_cursor(last, query.sort));
            }
            _ => return Ok(walked),
        }
    }
}

/// For any leads (with many ties and missing `mql_at`s), every sort lists
/// them in the documented order, and walking it page by page with cursors
/// visits each lead once, in that order, whatever the page size.
pub fn cursor_pages_walk_every_lead_once_in_every_sort_whatever_the_page_size(fresh_store: FreshStore<'_>) {
    let fresh_store = RefCell::new(fresh_store);
    // Few distinct values, so that every sort key has ties.
    let one_lead = (0usize..3, 0i64..2, 0usize..2, prop::option::of(0i64..2), 0i64..2);
    let leads = prop::collection::vec(one_lead, 0..12);
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    let result = runner.run(&(leads, 1u64..5), |(leads, page_size)| {
        let fail = |error: StoreError| TestCaseError::fail(error.to_string());
        let records: Vec<LeadRecord> = leads
            .iter()
            .enumerate()
            .map(|(index, (engagement, fit, grade, mql_at, last_seen))| LeadRecord {
                engagement: [0.0, 1.5, -2.25][*engagement],
                fit: *fit,
                grade: ["A", "B"][*grade].to_owned(),
                mql_at: mql_at.map(at),
                last_seen: at(*last_seen),
                ..lead(&format!("u{index}"))
            })
            .collect();
        let mut store = (*fresh_store.borrow_mut())();
        store.replace_all_leads(&records, &[]).map_err(fail)?;
        for sort in ALL_SORTS {
            let query = LeadQuery { sort, ..LeadQuery::default() };
            let listed: Vec<String> = store.leads(&query).map_err(fail)?.into_iter().map(|lead| lead.lead_id).collect();
            prop_assert_eq!(&listed, &documented_order(&records, sort), "{:?}", sort);
            let walked = walk_pages(&*store, &query, page_size, records.len()).map_err(fail)?;
            prop_assert_eq!(&walked, &listed, "{:?} in pages of {}", sort, page_size);
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// A cursor is a position in the order, not a count of leads: leads added
/// or removed between pages (the cursor's own lead included) neither repeat
/// nor hide the leads after it.
pub fn a_cursor_pages_through_a_filtered_list_and_skips_nothing_when_leads_change_between_pages(
    fresh_store: FreshStore<'_>,
) {
    let mut store = fresh_store();
    let scored = |lead_id: &str, stage: &str, engagement: f64| LeadRecord {
        stage: stage.to_owned(),
        engagement,
        ..lead(lead_id)
    };
    store
        .replace_all_leads(
            &[
                scored("m1", "mql", 50.0),
                scored("m2", "mql", 40.0),
                scored("n1", "lead", 35.0),
                scored("m3", "mql", 30.0),
                scored("m4", "mql", 20.0),
            ],
            &[],
        )
        .unwrap();
    let query = LeadQuery { stages: strings(&["mql"]), limit: Some(2), ..LeadQuery::default() };
    let first_page = store.leads(&query).unwrap();
    let first_ids: Vec<&str> = first_page.iter().map(|lead| lead.lead_id.as_str()).collect();
    assert_eq!(first_ids, ["m1", "m2"]);
    let cursor = lead_cursor(&first_page[1], LeadSort::Engagement);
    store.replace_leads(&strings(&["m2"]), &[scored("m0", "mql", 60.0), scored("m5", "mql", 10.0)], &[]).unwrap();
    let second_page = lead_ids(&*store, &LeadQuery { after: Some(cursor), ..query.clone() });
    assert_eq!(second_page, ["m3", "m4"]);
    let last = store.lead("m4").unwrap().unwrap();
    let third_page = lead_ids(&*store, &LeadQuery { after: Some(lead_cursor(&last, LeadSort::Engagement)), ..query });
    assert_eq!(third_page, ["m5"]);
}

pub fn a_cursor_for_another_sort_or_not_made_by_the_store_is_invalid(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store.replace_all_leads(&[lead("u1"), lead("u2")], &[]).unwrap();
    let u1 = store.lead("u1").unwrap().unwrap();
    let hex = |text: &str| -> String { text.bytes().map(|byte| format!("{byte:02x}")).collect() };
    let cases = [
        (lead_cursor(&u1, LeadSort::Engagement), LeadSort::Fit),
        (lead_cursor(&u1, LeadSort::Priority), LeadSort::LeadId),
        (String::new(), LeadSort::Engagement),
        ("zz".to_owned(), LeadSort::Engagement),
        ("abc".to_owned(), LeadSort::Engagement),
        ("é".to_owned(), LeadSort::LeadId),
        (hex("{}"), LeadSort::LeadId),
        (hex(r#"["engagement","not a number","u1"]"#), LeadSort::Engagement),
        (hex(r#"["lead_id"]"#), LeadSort::LeadId),
    ];
    for (cursor, sort) in cases {
        let result = store.leads(&LeadQuery { sort, after: Some(cursor.clone()), ..LeadQuery::default() });
        assert!(matches!(&result, Err(StoreError::Invalid(_))), "{cursor:?} for {sort:?}: {result:?}");
    }
    for sort in ALL_SORTS {
        let query = LeadQuery { sort, after: Some(lead_cursor(&u1, sort)), ..LeadQuery::default() };
        assert_eq!(lead_ids(&*store, &query), ["u2"], "{sort:?}");
    }
}

pub fn stages_give_the_current_stage_of_the_leads_that_exist(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let staged = |lead_id: &str, stage: &str| LeadRecord { stage: stage.to_owned(), ..lead(lead_id) };
    store.replace_all_leads(&[staged("u1", "mql"), staged("u2", "lead"), staged("anon:a", "lead")], &[]).unwrap();
    let expected: HashMap<String, String> =
        [("u1", "mql"), ("anon:a", "lead")].into_iter().map(|(id, stage)| (id.to_owned(), stage.to_owned())).collect();
    assert_eq!(store.stages(&strings(&["u1", "anon:a", "nobody"])).unwrap(), expected);
    assert_eq!(store.stages(&[]).unwrap(), HashMap::new());
    store.replace_leads(&[], &[staged("u1", "accepted")], &[]).unwrap();
    assert_eq!(store.stages(&strings(&["u1"])).unwrap()["u1"], "accepted");
}

pub fn lead_counts_by_stage_leave_out_anonymous_visitors(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    assert_eq!(store.lead_counts_by_stage().unwrap(), []);
    let staged = |lead_id: &str, stage: &str| LeadRecord { stage: stage.to_owned(), ..lead(lead_id) };
    store
        .replace_all_leads(
            &[
                staged("u1", "lead"),
                staged("u2", "won"),
                staged("u3", "mql"),
                staged("u4", "lead"),
                staged("anon:a", "lead"),
                staged("anon:b", "rejected"),
            ],
            &[],
        )
        .unwrap();
    let counts = store.lead_counts_by_stage().unwrap();
    assert_eq!(counts, [("lead".to_owned(), 2), ("mql".to_owned(), 1), ("won".to_owned(), 1)]);
}

fn transition(
    lead_id: &str,
    from_stage: Option<&str>,
    to_stage: &str,
    seconds: i64,
    cause: serde_json::Value,
) -> StageTransition {
    StageTransition {
        lead_id: lead_id.to_owned(),
        from_stage: from_stage.map(str::to_owned),
        to_stage: to_stage.to_owned(),
        at: at(seconds),
        cause,
    }
}

pub fn transitions_read_back_oldest_first_for_their_lead_only(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let qualified = transition(
        "u1",
        Some("lead"),
        "mql",
        10,
        json!({ "rule_totals": { "pricing-page": 30, "demo-request": 40.5 } }),
    );
    let accepted = transition("u1", Some("mql"), "accepted", 10, json!({ "outcome": { "by": "sales", "note": "ok" } }));
    let first_seen = transition("u1", None, "lead", 2, json!({}));
    let other = transition("u2", None, "lead", 1, json!(null));
    store.add_transitions(&[qualified.clone(), other.clone(), accepted.clone()]).unwrap();
    store.add_transitions(std::slice::from_ref(&first_seen)).unwrap();
    store.add_transitions(&[]).unwrap();
    // By time; the two at one time in the order they were recorded.
    assert_eq!(store.transitions("u1").unwrap(), [first_seen, qualified, accepted]);
    assert_eq!(store.transitions("u2").unwrap(), [other]);
    assert_eq!(store.transitions("nobody").unwrap(), []);
}

/// The stage written with a lead and the transition that explains it are
/// stored together or not at all.
pub fn a_replacement_records_its_transitions_with_the_leads_or_not_at_all(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    store.replace_all_leads(&[lead("u1")], &[]).unwrap();
    let mql = LeadRecord { stage: "mql".to_owned(), mql: true, mql_at: Some(at(3)), ..lead("u1") };
    let qualified = transition("u1", Some("lead"), "mql", 3, json!({ "rule_totals": { "demo": 60 } }));
    store.replace_leads(&strings(&["u1"]), std::slice::from_ref(&mql), std::slice::from_ref(&qualified)).unwrap();
    assert_eq!(store.lead("u1").unwrap(), Some(mql.clone()));
    assert_eq!(store.transitions("u1").unwrap(), std::slice::from_ref(&qualified));

    // A lead given twice fails the call: neither the leads nor the transitions are stored.
    let accepted = LeadRecord { stage: "accepted".to_owned(), ..mql.clone() };
    let result = store.replace_leads(
        &[],
        &[accepted, lead("u2"), lead("u2")],
        &[
            transition("u1", Some("mql"), "accepted", 4, json!({ "outcome": "accepted" })),
            transition("u2", None, "lead", 4, json!({})),
        ],
    );
    assert!(matches!(&result, Err(StoreError::Invalid(_))), "{result:?}");
    assert_eq!(store.lead("u1").unwrap(), Some(mql));
    assert_eq!(store.lead("u2").unwrap(), None);
    assert_eq!(store.transitions("u1").unwrap(), [qualified]);
    assert_eq!(store.transitions("u2").unwrap(), []);
}

/// A hash that stands for the hex SHA-256 of key number `index`.
fn key_hash(index: usize) -> String {
    format!("{index:064x}")
}

pub fn api_keys_are_listed_oldest_first_as_added(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    assert_eq!(store.api_keys().unwrap(), []);
    let mut added: Vec<ApiKey> = Vec::new();
    for (index, role) in Role::ALL.into_iter().enumerate() {
        let name = (index % 2 == 0).then(|| format!("{} key", role.as_str()));
        let prefix = format!("qk_{index}");
        let key = store.add_api_key(name.as_deref(), role, &prefix, &key_hash(index), at(index as i64)).unwrap();
        assert_eq!(
            (key.name.as_deref(), key.role, key.prefix.as_str(), key.hash.as_str(), key.created_at, key.revoked_at),
            (name.as_deref(), role, prefix.as_str(), key_hash(index).as_str(), at(index as i64), None)
        );
        added.push(key);
    }
    assert!(added.windows(2).all(|pair| pair[0].id < pair[1].id), "{added:?}");
    assert_eq!(store.api_keys().unwrap(), added);
}

pub fn a_revoked_key_is_listed_with_the_time_it_was_first_revoked(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let revoked = store.add_api_key(Some("old"), Role::Write, "qk_old", &key_hash(1), at(1)).unwrap();
    let kept = store.add_api_key(None, Role::Read, "qk_new", &key_hash(2), at(2)).unwrap();
    store.revoke_api_key(revoked.id, at(10)).unwrap();
    store.revoke_api_key(revoked.id, at(20)).unwrap();
    assert_eq!(store.api_keys().unwrap(), [ApiKey { revoked_at: Some(at(10)), ..revoked }, kept]);
}

pub fn revoking_an_unknown_key_is_not_found(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    assert!(matches!(store.revoke_api_key(1, at(1)), Err(StoreError::NotFound(_))));
    let key = store.add_api_key(None, Role::Admin, "qk_a", &key_hash(1), at(1)).unwrap();
    let unknown = key.id + 1;
    let result = store.revoke_api_key(unknown, at(2));
    assert!(
        matches!(&result, Err(StoreError::NotFound(message)) if message.contains(&unknown.to_string())),
        "{result:?}"
    );
    assert_eq!(store.api_keys().unwrap(), [key]);
}

pub fn two_keys_with_one_hash_are_refused(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let first = store.add_api_key(Some("first"), Role::Read, "qk_1", &key_hash(7), at(1)).unwrap();
    let result = store.add_api_key(Some("second"), Role::Admin, "qk_1", &key_hash(7), at(2));
    assert!(matches!(&result, Err(StoreError::Invalid(_))), "{result:?}");
    assert_eq!(store.api_keys().unwrap(), [first]);
}

/// A reject whose fields tell it apart by `index`.
fn reject(index: i64) -> NewReject {
    NewReject {
        received_at: at(index),
        endpoint: "/v1/batch".to_owned(),
        batch_index: Some(index),
        field: Some("userId".to_owned()),
        reason: format!("reject {index}"),
        excerpt: format!(r#"{{"type":"track","n":{index}}}"#),
    }
}

/// What the store gives back for `reject` under `id`.
fn reject_record(id: i64, reject: &NewReject) -> RejectRecord {
    RejectRecord {
        id,
        received_at: reject.received_at,
        endpoint: reject.endpoint.clone(),
        batch_index: reject.batch_index,
        field: reject.field.clone(),
        reason: reject.reason.clone(),
        excerpt: reject.excerpt.clone(),
    }
}

pub fn rejects_read_back_as_written_with_the_excerpt_cut_to_1_kb(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    assert_eq!(REJECT_EXCERPT_MAX_BYTES, 1024);
    let sparse = NewReject {
        received_at: at(2),
        endpoint: "/v1/track".to_owned(),
        batch_index: None,
        field: None,
        reason: "not JSON".to_owned(),
        excerpt: String::new(),
    };
    let exactly_1_kb = NewReject { excerpt: "a".repeat(1024), ..reject(3) };
    let over_1_kb = NewReject { excerpt: "b".repeat(1025), ..reject(4) };
    // 1 + 600 * 2 bytes: byte 1024 falls inside an `é`, which is left out whole.
    let multibyte = NewReject { excerpt: format!("x{}", "é".repeat(600)), ..reject(5) };
    store
        .add_rejects(&[reject(1), sparse.clone(), exactly_1_kb.clone(), over_1_kb.clone(), multibyte.clone()])
        .unwrap();
    let stored = store.rejects(10, None).unwrap();
    let ids: Vec<i64> = stored.iter().map(|reject| reject.id).collect();
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "newest first: {ids:?}");
    let expected = [
        reject_record(ids[0], &NewReject { excerpt: format!("x{}", "é".repeat(511)), ..multibyte }),
        reject_record(ids[1], &NewReject { excerpt: "b".repeat(1024), ..over_1_kb }),
        reject_record(ids[2], &exactly_1_kb),
        reject_record(ids[3], &sparse),
        reject_record(ids[4], &reject(1)),
    ];
    assert_eq!(stored, expected);
}

pub fn rejects_page_newest_first_without_gaps_or_repeats(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    assert_eq!(store.reject_count().unwrap(), 0);
    assert_eq!(store.rejects(10, None).unwrap(), []);
    store.add_rejects(&(0..4).map(reject).collect::<Vec<_>>()).unwrap();
    store.add_rejects(&[]).unwrap();
    store.add_rejects(&(4..7).map(reject).collect::<Vec<_>>()).unwrap();
    assert_eq!(store.reject_count().unwrap(), 7);
    let newest_first: Vec<String> = (0..7).rev().map(|index| format!("reject {index}")).collect();
    for page_size in 1..=8 {
        let mut walked: Vec<String> = Vec::new();
        let mut before_id = None;
        loop {
            let page = store.rejects(page_size, before_id).unwrap();
            walked.extend(page.iter().map(|reject| reject.reason.clone()));
            match page.last() {
                Some(last) if page.len() as u64 == page_size && walked.len() <= 7 => before_id = Some(last.id),
                _ => break,
            }
        }
        assert_eq!(walked, newest_first, "page size {page_size}");
    }
    assert_eq!(store.rejects(0, None).unwrap(), []);
    let oldest = store.rejects(7, None).unwrap().pop().unwrap();
    assert_eq!(store.rejects(10, Some(oldest.id)).unwrap(), []);
}

fn outcome(lead_id: &str, stage: OutcomeStage, seconds: i64) -> Outcome {
    Outcome { lead_id: lead_id.to_owned(), stage, at: at(seconds), reason: None, revenue: None }
}

/// A store with leads `u1` (an MQL) and `u2` (a lead).
fn store_with_two_leads(fresh_store: FreshStore<'_>) -> Box<dyn Store> {
    let mut store = fresh_store();
    let mql = LeadRecord { stage: "mql".to_owned(), mql: true, mql_at: Some(at(5)), ..lead("u1") };
    store.replace_leads(&[], &[mql, lead("u2")], &[]).unwrap();
    store
}

fn stage_of(store: &dyn Store, lead_id: &str) -> String {
    store.lead(lead_id).unwrap().expect("the lead exists").stage
}

pub fn an_outcome_moves_its_lead_to_its_stage_with_a_transition_caused_by_it(fresh_store: FreshStore<'_>) {
    let mut store = store_with_two_leads(fresh_store);
    let rejected = Outcome { reason: Some("no budget".to_owned()), ..outcome("u1", OutcomeStage::Rejected, 10) };
    let won = Outcome { revenue: Some(1200.5), ..outcome("u2", OutcomeStage::Won, 20) };
    let added = store.add_outcomes(&[rejected.clone(), won.clone()]).unwrap();
    assert_eq!(added, Appended { accepted: 2, duplicates: 0 });
    assert_eq!(stage_of(&*store, "u1"), "rejected");
    assert_eq!(stage_of(&*store, "u2"), "won");
    assert_eq!(
        store.transitions("u1").unwrap(),
        [transition(
            "u1",
            Some("mql"),
            "rejected",
            10,
            json!({ "outcome": { "stage": "rejected", "at": at(10).to_string(), "reason": "no budget", "revenue": null } }),
        )]
    );
    assert_eq!(store.transitions("u2").unwrap()[0].cause["outcome"]["revenue"], json!(1200.5));
    assert_eq!(store.outcomes("u1").unwrap(), [rejected.clone()]);
    assert_eq!(store.outcomes("u2").unwrap(), [won.clone()]);
    assert_eq!(store.outcomes("nobody").unwrap(), []);
    assert_eq!(store.all_outcomes().unwrap(), [rejected, won]);
}

pub fn the_same_outcome_twice_changes_nothing(fresh_store: FreshStore<'_>) {
    let mut store = store_with_two_leads(fresh_store);
    let accepted = outcome("u1", OutcomeStage::Accepted, 10);
    store.add_outcomes(std::slice::from_ref(&accepted)).unwrap();
    // Even with another reason: the outcome is its lead, stage and time.
    let again = Outcome { reason: Some("again".to_owned()), ..accepted.clone() };
    let added = store.add_outcomes(&[accepted.clone(), again]).unwrap();
    assert_eq!(added, Appended { accepted: 0, duplicates: 2 });
    assert_eq!(store.outcomes("u1").unwrap(), [accepted]);
    assert_eq!(store.transitions("u1").unwrap().len(), 1);
    assert_eq!(stage_of(&*store, "u1"), "accepted");
}

pub fn an_older_outcome_is_stored_but_does_not_move_the_lead_back(fresh_store: FreshStore<'_>) {
    let mut store = store_with_two_leads(fresh_store);
    store.add_outcomes(&[outcome("u1", OutcomeStage::Sql, 20)]).unwrap();
    store.add_outcomes(&[outcome("u1", OutcomeStage::Accepted, 10)]).unwrap();
    assert_eq!(stage_of(&*store, "u1"), "sql");
    let stages: Vec<OutcomeStage> = store.outcomes("u1").unwrap().iter().map(|outcome| outcome.stage).collect();
    assert_eq!(stages, [OutcomeStage::Accepted, OutcomeStage::Sql]);
    let history: Vec<(Option<String>, String)> = store
        .transitions("u1")
        .unwrap()
        .into_iter()
        .map(|transition| (transition.from_stage, transition.to_stage))
        .collect();
    assert_eq!(history, [(Some("mql".to_owned()), "sql".to_owned())]);
    // A later one moves it on, in one call as in several.
    store.add_outcomes(&[outcome("u1", OutcomeStage::Opportunity, 30), outcome("u1", OutcomeStage::Won, 40)]).unwrap();
    assert_eq!(stage_of(&*store, "u1"), "won");
    let stages: Vec<String> =
        store.transitions("u1").unwrap().into_iter().map(|transition| transition.to_stage).collect();
    assert_eq!(stages, ["sql", "opportunity", "won"]);
}

pub fn outcomes_at_one_time_leave_the_lead_at_the_later_recorded_one(fresh_store: FreshStore<'_>) {
    let mut store = store_with_two_leads(fresh_store);
    store.add_outcomes(&[outcome("u1", OutcomeStage::Accepted, 10), outcome("u1", OutcomeStage::Sql, 10)]).unwrap();
    assert_eq!(stage_of(&*store, "u1"), "sql");
    store.add_outcomes(&[outcome("u2", OutcomeStage::Won, 10)]).unwrap();
    store.add_outcomes(&[outcome("u2", OutcomeStage::Lost, 10)]).unwrap();
    assert_eq!(stage_of(&*store, "u2"), "lost");
}

pub fn an_outcome_for_an_unknown_lead_is_not_found_and_stores_nothing(fresh_store: FreshStore<'_>) {
    let mut store = store_with_two_leads(fresh_store);
    let result =
        store.add_outcomes(&[outcome("u1", OutcomeStage::Accepted, 10), outcome("nobody", OutcomeStage::Won, 10)]);
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
    assert_eq!(store.outcomes("u1").unwrap(), []);
    assert_eq!(stage_of(&*store, "u1"), "mql");
    assert_eq!(store.transitions("u1").unwrap(), []);
}

pub fn spend_for_the_same_channel_and_days_replaces_the_stored_amount(fresh_store: FreshStore<'_>) {
    let mut store = fresh_store();
    let spend = |channel: &str, from: i64, to: i64, amount: f64| Spend {
        channel: channel.to_owned(),
        from: at(from),
        to: at(to),
        amount,
    };
    assert_eq!(store.spend().unwrap(), []);
    let added = store.add_spend(&[spend("google", 0, 10, 100.0), spend("meta", 0, 10, 50.0)]).unwrap();
    assert_eq!(added, crate::SpendAdded { added: 2, replaced: 0 });
    let added = store.add_spend(&[spend("google", 0, 10, 120.0), spend("google", 10, 20, 30.0)]).unwrap();
    assert_eq!(added, crate::SpendAdded { added: 1, replaced: 1 });
    assert_eq!(
        store.spend().unwrap(),
        [spend("google", 0, 10, 120.0), spend("meta", 0, 10, 50.0), spend("google", 10, 20, 30.0)]
    );
}
