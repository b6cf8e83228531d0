//! Bad input: every invalid message is rejected with where and why, and the
//! valid messages next to it are kept. Nothing panics, whatever the bytes.

use proptest::prelude::*;
use qualify_engine::Model;
use qualify_engine::log::{EventLog, Keep};
use qualify_engine::time::EventTime;
use std::sync::Arc;

const MODEL: &str = r#"
name = "m"
[mql]
engagement_threshold = 10
[[engagement]]
id = "any-page"
type = "page"
points = 1
"#;

fn log() -> EventLog {
    EventLog::new(Arc::new(Model::parse(MODEL).expect("valid model")), Keep::ScoringFacts)
}

fn received() -> EventTime {
    EventTime::parse("2026-11-01T00:00:00Z").expect("valid time")
}

const GOOD: &str = r#"{"type":"page","messageId":"good","userId":"u1","timestamp":"2026-11-01T00:00:00Z"}"#;

/// Each bad line, placed between two good ones, must give exactly this
/// rejection text (`line 2...`) and keep both good lines.
#[test]
fn each_kind_of_bad_message_is_rejected_with_its_line_and_field() {
    let cases: &[(&str, &str)] = &[
        ("{not json", "line 2: not valid JSON"),
        ("[1,2]", "line 2: not a JSON object"),
        (r#""just a string""#, "line 2: not a JSON object"),
        (r#"{"type":"purchase","userId":"u1"}"#, "line 2, field `type`: unknown type \"purchase\""),
        (r#"{"userId":"u1"}"#, "line 2, field `type`: missing"),
        (r#"{"type":"page","timestamp":"2026-11-01T00:00:00Z"}"#, "line 2, field `userId`: the message has neither"),
        (r#"{"type":"page","userId":null,"anonymousId":""}"#, "line 2, field `userId`: the message has neither"),
        (r#"{"type":"page","userId":"u1","timestamp":"yesterday"}"#, "line 2, field `timestamp`: not an RFC 3339 time"),
        (r#"{"type":"page","userId":"u1","originalTimestamp":12}"#, "line 2, field `originalTimestamp`: invalid type"),
        (r#"{"type":"page","userId":{"id":1}}"#, "line 2, field `userId`: invalid type"),
        (r#"{"type":"page","userId":"u1","properties":[1]}"#, "line 2, field `properties`: must be an object"),
        (r#"{"type":"identify","userId":"u1","traits":"vip"}"#, "line 2, field `traits`: must be an object"),
        (r#"{"type":"track","userId":"u1"}"#, "line 2, field `event`: a track message needs an event name"),
        (r#"{"type":"track","userId":"u1","event":7}"#, "line 2, field `event`: invalid type"),
        (r#"{"type":"alias","userId":"u1"}"#, "line 2, field `previousId`: an alias message needs a previousId"),
        (r#"{"batch":[{"type":"page","userId":"u9"},{"type":"page"}]}"#, "line 2, batch item 1, field `userId`"),
        (r#"{"batch":"nope"}"#, "line 2, field `batch`: invalid type"),
        (r#"{"type":"page","userId":"u1"} trailing"#, "line 2: not valid JSON"),
    ];
    for (bad, expected) in cases {
        let mut log = log();
        let good_after = GOOD.replace("good", "good-2");
        let lines: Vec<&[u8]> = vec![GOOD.as_bytes(), bad.as_bytes(), good_after.as_bytes()];
        let summary = log.append_lines(&lines, 1, received());
        assert_eq!(summary.rejections.len(), 1, "{bad}: {:?}", summary.rejections);
        let text = summary.rejections[0].to_string();
        assert!(text.starts_with(expected), "{bad}: got {text:?}, expected it to start with {expected:?}");
        let valid_in_batch = u64::from(bad.contains("u9"));
        assert_eq!(summary.accepted, 2 + valid_in_batch, "{bad}: the good messages around it are kept");
    }
}

#[test]
fn bytes_that_are_not_utf8_reject_their_line_only() {
    let mut log = log();
    let lines: Vec<&[u8]> = vec![GOOD.as_bytes(), b"{\"type\":\"page\",\"userId\":\"\xff\"}"];
    let summary = log.append_lines(&lines, 7, received());
    assert_eq!(summary.accepted, 1);
    assert_eq!(summary.rejections.len(), 1);
    assert!(summary.rejections[0].to_string().starts_with("line 8: not valid UTF-8"));
}

#[test]
fn a_byte_order_mark_before_the_first_message_is_ignored() {
    let mut log = log();
    let first = format!("\u{feff}{GOOD}");
    let summary = log.append_lines(&[first.as_bytes()], 1, received());
    assert_eq!((summary.accepted, summary.rejections.len()), (1, 0));
}

#[test]
fn blank_lines_are_skipped_silently() {
    let mut log = log();
    let lines: Vec<&[u8]> = vec![b"", b"   ", GOOD.as_bytes()];
    let summary = log.append_lines(&lines, 1, received());
    assert_eq!((summary.accepted, summary.rejections.len()), (1, 0));
}

#[test]
fn integer_ids_are_taken_as_text_and_empty_ids_as_missing() {
    let mut log = log();
    let lines: Vec<&[u8]> =
        vec![br#"{"type":"page","messageId":"m","userId":42,"anonymousId":"","timestamp":"2026-11-01T00:00:00Z"}"#];
    let summary = log.append_lines(&lines, 1, received());
    assert_eq!(summary.accepted, 1);
    let event = log.events()[0];
    assert_eq!(log.name(event.user().expect("userId")), "42");
    assert_eq!(event.anonymous(), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..20)) {
        let mut log = log();
        let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let summary = log.append_lines(&lines, 1, received());
        prop_assert!(summary.accepted as usize + summary.rejections.len() <= lines.len() * 2 + 1);
    }

    #[test]
    fn json_shaped_noise_never_panics(
        keys in prop::collection::vec(prop::sample::select(vec!["type", "userId", "anonymousId", "timestamp", "properties", "traits", "context", "batch", "event", "previousId", "messageId"]), 0..8),
        values in prop::collection::vec(prop::sample::select(vec!["null", "1", "-3.5", "\"page\"", "\"track\"", "\"2026-11-01T00:00:00Z\"", "{}", "[]", "[{}]", "{\"path\":1}", "true", "\"\""]), 8),
    ) {
        let body: Vec<String> = keys.iter().zip(&values).map(|(key, value)| format!("\"{key}\":{value}")).collect();
        let line = format!("{{{}}}", body.join(","));
        let mut log = log();
        let _ = log.append_lines(&[line.as_bytes()], 1, received());
    }
}
