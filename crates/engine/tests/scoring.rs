//! The scoring contract (spec/scoring.md), case by case: each case is a
//! model, a few NDJSON lines, an as-of time and the rows `qualify score`
//! must print for them.

use qualify_engine::Model;
use qualify_engine::log::{EventLog, Keep};
use qualify_engine::score::{LeadScore, score_log};
use qualify_engine::time::EventTime;
use std::sync::Arc;

const BASE_MODEL: &str = r#"
name = "test"
[mql]
engagement_threshold = 60
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
[[engagement]]
id = "product-page"
type = "page"
path_prefix = "/products/"
points = 10
[[fit]]
id = "engaged"
trait = "relationship_status"
equals = "engaged"
points = 50
[[fit]]
id = "age"
trait = "age"
between = [25, 40]
points = 25
"#;

fn time(text: &str) -> EventTime {
    EventTime::parse(text).unwrap_or_else(|| panic!("bad time in test: {text}"))
}

/// Scores NDJSON lines with a model as of a time.
fn score(model: &str, lines: &[&str], as_of: &str) -> Vec<LeadScore> {
    let model = Model::parse(model).unwrap_or_else(|errors| panic!("test model is invalid:\n{errors}"));
    let mut log = EventLog::new(Arc::new(model), Keep::ScoringFacts);
    let bytes: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
    let summary = log.append_lines(&bytes, 1, time("2000-01-01T00:00:00Z"));
    assert!(summary.rejections.is_empty(), "unexpected rejections: {:?}", summary.rejections);
    score_log(&log, time(as_of))
}

/// A row as `qualify score` prints it: lead_id,engagement,fit,grade,mql,mql_at.
fn row(score: &LeadScore) -> String {
    format!(
        "{},{:.2},{},{},{},{}",
        score.lead_id,
        score.engagement,
        score.fit,
        score.grade,
        score.mql,
        score.mql_at.map(|t| t.to_string()).unwrap_or_default()
    )
}

/// Checks every case: (what it shows, model, lines, as-of, expected rows).
fn check(cases: &[(&str, &str, Vec<String>, &str, &[&str])]) {
    for (name, model, lines, as_of, expected) in cases {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let rows: Vec<String> = score(model, &lines, as_of).iter().map(row).collect();
        assert_eq!(rows, *expected, "case: {name}");
    }
}

fn track(id: &str, user: &str, event: &str, at: &str, properties: &str) -> String {
    format!(
        r#"{{"type":"track","messageId":"{id}","userId":"{user}","event":"{event}","timestamp":"{at}","properties":{properties}}}"#
    )
}

fn page(id: &str, who: &str, path: &str, at: &str) -> String {
    format!(r#"{{"type":"page","messageId":"{id}",{who},"timestamp":"{at}","properties":{{"path":"{path}"}}}}"#)
}

fn identify(id: &str, who: &str, at: &str, traits: &str) -> String {
    format!(r#"{{"type":"identify","messageId":"{id}",{who},"timestamp":"{at}","traits":{traits}}}"#)
}

const FIT: &str = r#"{"relationship_status":"engaged","age":30}"#;

#[test]
fn engagement_fit_grade_and_mql() {
    check(&[
        (
            "points add up per rule; an engaged 30-year-old is grade A",
            BASE_MODEL,
            vec![
                identify("i1", r#""userId":"u1""#, "2026-11-01T00:00:00Z", FIT),
                track("t1", "u1", "Catalog Downloaded", "2026-11-01T01:00:00Z", "{}"),
                page("p1", r#""userId":"u1""#, "/products/ring", "2026-11-01T02:00:00Z"),
                page("p2", r#""userId":"u1""#, "/about", "2026-11-01T02:01:00Z"),
                track("t2", "u1", "Catalog Downloaded", "2026-11-02T00:00:00Z", "{}"),
                track("t3", "u1", "Catalog Downloaded", "2026-11-03T00:00:00Z", "{}"),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,70.00,75,A,true,2026-11-03T00:00:00Z"],
        ),
        (
            "engagement alone is not enough below the minimum grade",
            BASE_MODEL,
            vec![
                identify("i1", r#""userId":"u1""#, "2026-11-01T00:00:00Z", r#"{"age":30}"#),
                track("t1", "u1", "Catalog Downloaded", "2026-11-01T01:00:00Z", "{}"),
                track("t2", "u1", "Catalog Downloaded", "2026-11-01T02:00:00Z", "{}"),
                track("t3", "u1", "Catalog Downloaded", "2026-11-01T03:00:00Z", "{}"),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,60.00,25,C,false,"],
        ),
        (
            "a trait update that raises the grade makes the lead an MQL at the identify",
            BASE_MODEL,
            vec![
                track("t1", "u1", "Catalog Downloaded", "2026-11-01T01:00:00Z", "{}"),
                track("t2", "u1", "Catalog Downloaded", "2026-11-01T02:00:00Z", "{}"),
                track("t3", "u1", "Catalog Downloaded", "2026-11-01T03:00:00Z", "{}"),
                identify("i1", r#""userId":"u1""#, "2026-11-05T00:00:00Z", FIT),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,60.00,75,A,true,2026-11-05T00:00:00Z"],
        ),
        (
            "events after the as-of time do not count, and a lead without events by then does not exist",
            BASE_MODEL,
            vec![
                identify("i1", r#""userId":"u1""#, "2026-11-01T00:00:00Z", FIT),
                track("t1", "u1", "Catalog Downloaded", "2026-11-01T01:00:00Z", "{}"),
                track("t2", "u1", "Catalog Downloaded", "2026-11-20T01:00:00Z", "{}"),
                track("t3", "u2", "Catalog Downloaded", "2026-11-20T01:00:00Z", "{}"),
            ],
            "2026-11-10T00:00:00Z",
            &["u1,20.00,75,A,false,"],
        ),
    ]);
}

#[test]
fn decay_caps_windows_and_negative_points() {
    let model = r#"
name = "decay"
[mql]
engagement_threshold = 1000
[decay]
half_life_days = 10
[[engagement]]
id = "catalog"
type = "track"
event = "Catalog Downloaded"
points = 20
[[engagement]]
id = "capped"
type = "track"
event = "Viewed"
points = 10
max_points = 25
half_life_days = 0
[[engagement]]
id = "windowed"
type = "track"
event = "Clicked"
points = 4
within_days = 7
half_life_days = 0
[[engagement]]
id = "unsubscribed"
type = "track"
event = "Unsubscribed"
points = -50
max_points = 30
half_life_days = 0
"#;
    check(&[
        (
            "one half-life halves an event, two quarter it",
            model,
            vec![
                track("a", "u1", "Catalog Downloaded", "2026-11-21T00:00:00Z", "{}"),
                track("b", "u1", "Catalog Downloaded", "2026-11-11T00:00:00Z", "{}"),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,15.00,0,D,false,"],
        ),
        (
            "fractional ages decay continuously",
            model,
            vec![track("a", "u1", "Catalog Downloaded", "2026-11-26T00:00:00Z", "{}")],
            "2026-12-01T00:00:00Z",
            // 20 * 0.5^(5/10) = 14.142...
            &["u1,14.14,0,D,false,"],
        ),
        (
            "a cap limits the rule total",
            model,
            vec![
                track("a", "u1", "Viewed", "2026-11-01T00:00:00Z", "{}"),
                track("b", "u1", "Viewed", "2026-11-02T00:00:00Z", "{}"),
                track("c", "u1", "Viewed", "2026-11-03T00:00:00Z", "{}"),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,25.00,0,D,false,"],
        ),
        (
            "the cap applies to the absolute value of a negative total",
            model,
            vec![track("a", "u1", "Unsubscribed", "2026-11-01T00:00:00Z", "{}")],
            "2026-12-01T00:00:00Z",
            &["u1,-30.00,0,D,false,"],
        ),
        (
            "a window keeps events at most that many days old, the boundary included",
            model,
            vec![
                track("a", "u1", "Clicked", "2026-11-24T00:00:00Z", "{}"),
                track("b", "u1", "Clicked", "2026-11-23T23:59:59Z", "{}"),
                track("c", "u1", "Clicked", "2026-11-30T00:00:00Z", "{}"),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,8.00,0,D,false,"],
        ),
    ]);
}

#[test]
fn visits_split_after_more_than_thirty_minutes() {
    let model = r#"
name = "visits"
[mql]
engagement_threshold = 1000
[[engagement]]
id = "visit"
type = "visit"
points = 5
"#;
    check(&[
        (
            "exactly 30 minutes apart is one visit; a second more starts another",
            model,
            vec![
                page("a", r#""userId":"u1""#, "/", "2026-11-01T10:00:00Z"),
                page("b", r#""userId":"u1""#, "/", "2026-11-01T10:30:00Z"),
                page("c", r#""userId":"u1""#, "/", "2026-11-01T11:00:01Z"),
                identify("d", r#""userId":"u1""#, "2026-11-01T15:00:00Z", "{}"),
                track("e", "u1", "Anything", "2026-11-01T15:10:00Z", "{}"),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,15.00,0,D,false,"],
        ),
        (
            "visits are counted after identity resolution, across devices",
            model,
            vec![
                page("a", r#""anonymousId":"a1""#, "/", "2026-11-01T10:00:00Z"),
                page("b", r#""anonymousId":"a2""#, "/", "2026-11-01T10:20:00Z"),
                identify("c", r#""anonymousId":"a1","userId":"u1""#, "2026-11-02T00:00:00Z", "{}"),
                identify("d", r#""anonymousId":"a2","userId":"u1""#, "2026-11-03T00:00:00Z", "{}"),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,5.00,0,D,false,"],
        ),
    ]);
}

#[test]
fn identities_resolve_as_of_the_evaluation_time() {
    let model = r#"
name = "identity"
[mql]
engagement_threshold = 20
min_grade = "D"
[[engagement]]
id = "product-page"
type = "page"
path_prefix = "/products/"
points = 10
"#;
    let browsing = || {
        vec![
            page("p1", r#""anonymousId":"a1""#, "/products/ring", "2026-11-01T10:00:00Z"),
            page("p2", r#""anonymousId":"a1""#, "/products/necklace", "2026-11-01T10:05:00Z"),
        ]
    };
    let with = |extra: Vec<String>| browsing().into_iter().chain(extra).collect::<Vec<_>>();
    check(&[
        (
            "an anonymous visitor never identified is scored on its own",
            model,
            browsing(),
            "2026-12-01T00:00:00Z",
            &["anon:a1,20.00,0,D,true,2026-11-01T10:05:00Z"],
        ),
        (
            "a late identify brings earlier anonymous events to the lead",
            model,
            with(vec![identify("i", r#""anonymousId":"a1","userId":"u1""#, "2026-11-05T00:00:00Z", "{}")]),
            "2026-12-01T00:00:00Z",
            &["u1,20.00,0,D,true,2026-11-01T10:05:00Z"],
        ),
        (
            "as of a time before the link, the visitor is still anonymous",
            model,
            with(vec![identify("i", r#""anonymousId":"a1","userId":"u1""#, "2026-11-05T00:00:00Z", "{}")]),
            "2026-11-03T00:00:00Z",
            &["anon:a1,20.00,0,D,true,2026-11-01T10:05:00Z"],
        ),
        (
            "an alias links the anonymousId like an identify",
            model,
            with(vec![r#"{"type":"alias","messageId":"al","previousId":"a1","userId":"u1","timestamp":"2026-11-05T00:00:00Z"}"#.into()]),
            "2026-12-01T00:00:00Z",
            &["u1,20.00,0,D,true,2026-11-01T10:05:00Z"],
        ),
        (
            "an anonymousId belongs to the first userId it was linked to",
            model,
            with(vec![
                identify("i2", r#""anonymousId":"a1","userId":"u2""#, "2026-11-06T00:00:00Z", "{}"),
                identify("i1", r#""anonymousId":"a1","userId":"u1""#, "2026-11-05T00:00:00Z", "{}"),
            ]),
            "2026-12-01T00:00:00Z",
            &["u1,20.00,0,D,true,2026-11-01T10:05:00Z", "u2,0.00,0,D,false,"],
        ),
        (
            "an alias from one userId to another merges the leads",
            model,
            vec![
                page("p1", r#""userId":"old""#, "/products/ring", "2026-11-01T10:00:00Z"),
                page("p2", r#""userId":"new""#, "/products/ring", "2026-11-02T10:00:00Z"),
                r#"{"type":"alias","messageId":"al","previousId":"old","userId":"new","timestamp":"2026-11-03T00:00:00Z"}"#.into(),
            ],
            "2026-12-01T00:00:00Z",
            &["new,20.00,0,D,true,2026-11-02T10:00:00Z"],
        ),
    ]);
}

#[test]
fn traits_merge_by_time_and_nulls_are_missing() {
    check(&[
        (
            "the latest identify wins per key, whatever the file order",
            BASE_MODEL,
            vec![
                identify("i2", r#""userId":"u1""#, "2026-11-02T00:00:00Z", r#"{"relationship_status":"single"}"#),
                identify("i1", r#""userId":"u1""#, "2026-11-01T00:00:00Z", FIT),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,0.00,25,C,false,"],
        ),
        (
            "a null trait does not erase the earlier value",
            BASE_MODEL,
            vec![
                identify("i1", r#""userId":"u1""#, "2026-11-01T00:00:00Z", FIT),
                identify("i2", r#""userId":"u1""#, "2026-11-02T00:00:00Z", r#"{"relationship_status":null}"#),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,0.00,75,A,false,"],
        ),
        (
            "numeric strings compare as numbers",
            BASE_MODEL,
            vec![identify("i1", r#""userId":"u1""#, "2026-11-01T00:00:00Z", r#"{"age":"31"}"#)],
            "2026-12-01T00:00:00Z",
            &["u1,0.00,25,C,false,"],
        ),
        (
            "traits sent only in context.traits count; traits wins over context.traits per key",
            BASE_MODEL,
            vec![
                r#"{"type":"identify","messageId":"c1","userId":"u1","timestamp":"2026-11-01T00:00:00Z","context":{"traits":{"relationship_status":"engaged","age":60}},"traits":{"age":30}}"#.into(),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,0.00,75,A,false,"],
        ),
        (
            "anonymous visitors have no traits",
            BASE_MODEL,
            vec![identify("i1", r#""anonymousId":"a1""#, "2026-11-01T00:00:00Z", FIT)],
            "2026-12-01T00:00:00Z",
            &["anon:a1,0.00,0,D,false,"],
        ),
    ]);
}

#[test]
fn event_times_and_properties() {
    let model = r#"
name = "props"
[mql]
engagement_threshold = 1000
[[engagement]]
id = "detailed-inquiry"
type = "track"
event = "Inquiry Submitted"
where = [{ property = "message_length", gte = 80 }]
points = 30
[[engagement]]
id = "ring-page"
type = "page"
where = [{ property = "path", starts_with = "/products/ring" }]
points = 1
"#;
    check(&[
        (
            "where conditions read properties, numeric strings included, null as missing",
            model,
            vec![
                track("a", "u1", "Inquiry Submitted", "2026-11-01T00:00:00Z", r#"{"message_length":120}"#),
                track("b", "u1", "Inquiry Submitted", "2026-11-01T00:00:01Z", r#"{"message_length":"95"}"#),
                track("c", "u1", "Inquiry Submitted", "2026-11-01T00:00:02Z", r#"{"message_length":20}"#),
                track("d", "u1", "Inquiry Submitted", "2026-11-01T00:00:03Z", r#"{"message_length":null}"#),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,60.00,0,D,false,"],
        ),
        (
            "the page path comes from properties.path, else context.page.path, else the url",
            model,
            vec![
                r#"{"type":"page","messageId":"a","userId":"u1","timestamp":"2026-11-01T00:00:00Z","context":{"page":{"path":"/products/ring-1"}}}"#.into(),
                r#"{"type":"page","messageId":"b","userId":"u1","timestamp":"2026-11-01T00:00:00Z","properties":{"url":"https://shop.example/products/ring-2?utm_source=x"}}"#.into(),
                r#"{"type":"page","messageId":"c","userId":"u1","timestamp":"2026-11-01T00:00:00Z","properties":{"path":"/about"},"context":{"page":{"path":"/products/ring-3"}}}"#.into(),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,2.00,0,D,false,"],
        ),
        (
            "originalTimestamp stands in for a missing timestamp",
            model,
            vec![
                r#"{"type":"track","messageId":"a","userId":"u1","event":"Inquiry Submitted","originalTimestamp":"2026-12-02T00:00:00Z","properties":{"message_length":100}}"#.into(),
                r#"{"type":"track","messageId":"b","userId":"u1","event":"Inquiry Submitted","originalTimestamp":"2026-11-02T00:00:00Z","properties":{"message_length":100}}"#.into(),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,30.00,0,D,false,"],
        ),
        (
            "a batch envelope's messages count, and a repeated messageId counts once",
            model,
            vec![
                format!(r#"{{"batch":[{},{}]}}"#,
                    track("a", "u1", "Inquiry Submitted", "2026-11-01T00:00:00Z", r#"{"message_length":100}"#),
                    track("a", "u1", "Inquiry Submitted", "2026-11-01T00:00:00Z", r#"{"message_length":100}"#)),
                track("a", "u1", "Inquiry Submitted", "2026-11-01T00:00:00Z", r#"{"message_length":100}"#),
            ],
            "2026-12-01T00:00:00Z",
            &["u1,30.00,0,D,false,"],
        ),
    ]);
}
