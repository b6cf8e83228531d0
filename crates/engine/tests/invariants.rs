//! Delivery must not change scores: the order of lines, repeated messages
//! (client retries) and how messages are grouped into batch envelopes.
//! Times are distinct, so acceptance order never has to break a tie.

use proptest::prelude::*;
use qualify_engine::Model;
use qualify_engine::live::LiveLog;
use qualify_engine::log::{EventLog, Keep, prepare_line};
use qualify_engine::score::profile_log;
use qualify_engine::score::{LeadScore, score_log};
use qualify_engine::time::EventTime;
use std::sync::Arc;

const MODEL: &str = r#"
name = "invariants"
[mql]
engagement_threshold = 25
min_grade = "C"
[decay]
half_life_days = 7
[[engagement]]
id = "visit"
type = "visit"
points = 3
within_days = 20
[[engagement]]
id = "product"
type = "page"
path_prefix = "/products/"
points = 4
max_points = 20
[[engagement]]
id = "inquiry"
type = "track"
event = "Inquiry Submitted"
where = [{ property = "length", gte = 80 }]
points = 15
[[engagement]]
id = "unsubscribe"
type = "track"
event = "Unsubscribed"
points = -30
half_life_days = 0
[[fit]]
id = "age"
trait = "age"
between = [30, 50]
points = 40
"#;

/// One message of a random history, as JSON text.
fn message(index: usize, choice: (u8, u8, u8, u16)) -> String {
    let (who, kind, detail, minutes) = choice;
    // Distinct times: the index orders them, the minutes spread them out.
    let seconds = index as i64 * 7 + i64::from(minutes) * 60;
    let time =
        EventTime::from_micros(EventTime::parse("2026-10-01T00:00:00Z").unwrap().as_micros() + seconds * 1_000_000);
    let timestamp = time.to_rfc3339();
    let user = format!("u{}", who % 4);
    let anonymous = format!("a{}", who % 6);
    let ids = match who % 3 {
        0 => format!(r#""userId":"{user}""#),
        1 => format!(r#""anonymousId":"{anonymous}""#),
        _ => format!(r#""userId":"{user}","anonymousId":"{anonymous}""#),
    };
    let id = format!("m{index}");
    match kind % 5 {
        0 => format!(
            r#"{{"type":"page","messageId":"{id}",{ids},"timestamp":"{timestamp}","properties":{{"path":"/products/p{detail}"}}}}"#
        ),
        1 => format!(
            r#"{{"type":"page","messageId":"{id}",{ids},"timestamp":"{timestamp}","properties":{{"path":"/about"}}}}"#
        ),
        2 => format!(
            r#"{{"type":"track","messageId":"{id}",{ids},"event":"Inquiry Submitted","timestamp":"{timestamp}","properties":{{"length":{}}}}}"#,
            u16::from(detail) * 2
        ),
        3 => format!(
            r#"{{"type":"identify","messageId":"{id}",{ids},"timestamp":"{timestamp}","traits":{{"age":{}}}}}"#,
            20 + detail % 40
        ),
        _ => format!(r#"{{"type":"track","messageId":"{id}",{ids},"event":"Unsubscribed","timestamp":"{timestamp}"}}"#),
    }
}

fn scores(lines: &[String]) -> Vec<LeadScore> {
    let mut log = EventLog::new(Arc::new(Model::parse(MODEL).unwrap()), Keep::ScoringFacts);
    let bytes: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
    let summary = log.append_lines(&bytes, 1, EventTime::from_micros(0));
    assert!(summary.rejections.is_empty(), "{:?}", summary.rejections);
    score_log(&log, EventTime::parse("2026-12-01T00:00:00Z").unwrap())
}

fn history() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), 0u16..20_000), 1..60)
        .prop_map(|choices| choices.into_iter().enumerate().map(|(index, choice)| message(index, choice)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn shuffling_lines_changes_no_score(lines in history(), seed in any::<u64>()) {
        let mut shuffled = lines.clone();
        // A deterministic shuffle from the seed (Fisher-Yates with an LCG).
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(scores(&lines), scores(&shuffled));
    }

    #[test]
    fn duplicated_messages_change_no_score(lines in history(), picks in prop::collection::vec(any::<prop::sample::Index>(), 1..20)) {
        let mut with_duplicates = lines.clone();
        for pick in picks {
            with_duplicates.push(pick.get(&lines).clone());
        }
        prop_assert_eq!(scores(&lines), scores(&with_duplicates));
    }

    #[test]
    fn grouping_into_batch_envelopes_changes_no_score(lines in history(), sizes in prop::collection::vec(1usize..7, 1..30)) {
        let mut batched = Vec::new();
        let mut rest = lines.as_slice();
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let take = (*size).min(rest.len());
            batched.push(format!(r#"{{"batch":[{}],"sentAt":"2026-12-01T00:00:00Z"}}"#, rest[..take].join(",")));
            rest = &rest[take..];
        }
        prop_assert_eq!(scores(&lines), scores(&batched));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// The server re-scores only the identity components a batch touched,
    /// from its in-memory log: that must give exactly what scoring
    /// everything gives for those leads.
    #[test]
    fn re_scoring_the_touched_components_equals_scoring_everything(lines in history(), cut in any::<prop::sample::Index>()) {
        let model = Arc::new(Model::parse(MODEL).unwrap());
        let as_of = EventTime::parse("2026-12-01T00:00:00Z").unwrap();
        let split = cut.index(lines.len() + 1);
        let (first, second) = lines.split_at(split);
        let bytes = |part: &[String]| part.iter().map(|line| line.as_bytes().to_vec()).collect::<Vec<_>>();
        let mut live = LiveLog::new(Arc::clone(&model));
        let mut next_seq = 1;
        for part in [first, second] {
            let owned = bytes(part);
            let slices: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
            let seqs: Vec<i64> = (next_seq..).take(slices.len()).collect();
            next_seq += slices.len() as i64;
            live.append_stored(&slices, &seqs, EventTime::from_micros(0));
        }
        // The identifiers the second part carries.
        let identifiers: Vec<String> = second
            .iter()
            .flat_map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                ["userId", "anonymousId"].into_iter().filter_map(move |key| value[key].as_str().map(str::to_owned))
            })
            .collect();
        let (partial, rows) = live.profile_components(identifiers.iter().map(String::as_str), as_of);

        // Messages prepared where the request was parsed, then appended
        // without their text, make the same log.
        let mut prepared_live = LiveLog::new(Arc::clone(&model));
        for (offset, line) in lines.iter().enumerate() {
            let messages = prepare_line(line.as_bytes(), offset as u64 + 1, &model, LiveLog::KEEP, EventTime::from_micros(0));
            let seq = offset as i64 + 1;
            prepared_live.append_prepared(messages.into_iter().filter_map(Result::ok).map(|message| (seq, message.into_owned())));
        }
        prop_assert_eq!(
            prepared_live.profile_components(identifiers.iter().map(String::as_str), as_of),
            (partial.clone(), rows.clone())
        );
        for identifier in &identifiers {
            prop_assert_eq!(prepared_live.lead_seqs(identifier), live.lead_seqs(identifier));
        }

        let mut full_log = EventLog::new(Arc::clone(&model), Keep::Profile);
        let owned = bytes(&lines);
        let slices: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        full_log.append_lines(&slices, 1, EventTime::from_micros(0));
        let full = profile_log(&full_log, as_of);
        for profile in &partial {
            let expected = full.iter().find(|candidate| candidate.score.lead_id == profile.score.lead_id);
            prop_assert_eq!(Some(profile), expected);
            prop_assert!(rows.contains(&profile.score.lead_id));
        }
        // Every lead of the full scoring that the second part touched is re-scored.
        for identifier in &identifiers {
            let touched = full.iter().find(|candidate| {
                candidate.score.lead_id == *identifier
                    || candidate.score.lead_id == format!("anon:{identifier}")
                    || candidate.anonymous_ids.contains(identifier)
            });
            if let Some(touched) = touched {
                prop_assert!(partial.iter().any(|profile| profile.score.lead_id == touched.score.lead_id));
            }
        }
    }
}
