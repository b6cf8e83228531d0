//! Black-box test of `qualify backtest`: the real binary in a temporary
//! directory, on a small hand-made events file, outcomes file and two
//! models, against figures computed by hand; then the same data in a store
//! (`qualify ingest`, `model activate`, `outcomes import`) must give the
//! same JSON.

mod common;

use assert_cmd::Command;
use serde_json::{Value, json};
use tempfile::TempDir;

/// A catalog download makes a rich lead an MQL; a newsletter signup alone
/// does not.
const CATALOG_MODEL: &str = r#"
name = "catalog"

[mql]
engagement_threshold = 20
min_grade = "B"

[[engagement]]
id = "catalog"
type = "track"
event = "Catalog Downloaded"
points = 20
half_life_days = 0

[[engagement]]
id = "newsletter"
type = "track"
event = "Newsletter Signup"
points = 10
half_life_days = 0

[[persona]]
id = "buyer"

[[persona.fit]]
id = "rich"
trait = "income"
gte = 100000
points = 80
"#;

/// The other way round: the newsletter signup qualifies, a catalog
/// download alone does not.
const NEWSLETTER_MODEL: &str = r#"
name = "newsletter"

[mql]
engagement_threshold = 20
min_grade = "B"

[[engagement]]
id = "catalog"
type = "track"
event = "Catalog Downloaded"
points = 10
half_life_days = 0

[[engagement]]
id = "newsletter"
type = "track"
event = "Newsletter Signup"
points = 20
half_life_days = 0

[[persona]]
id = "buyer"

[[persona.fit]]
id = "rich"
trait = "income"
gte = 100000
points = 80
"#;

/// Every lead is identified as rich on 11-01 (grade A). Then:
///
/// | lead | events | MQL under catalog | MQL under newsletter |
/// | u1 | catalog 11-03 | 11-03 | - |
/// | u2 | newsletter 11-04 | - | 11-04 |
/// | u3 | catalog 11-05, newsletter 11-08 | 11-05 | 11-08 |
/// | u4 | catalog 11-10 | 11-10 | - |
/// | u5 | - | - | - |
/// | u6 | newsletter 11-09 00:00, catalog 11-09 01:00 | 11-09 01:00 | 11-09 00:00 |
///
/// An anonymous visitor downloads the catalog too (never an MQL: no traits).
const EVENTS: &str = r#"{"type":"identify","messageId":"i1","userId":"u1","traits":{"income":150000},"timestamp":"2026-11-01T00:00:00Z"}
{"type":"identify","messageId":"i2","userId":"u2","traits":{"income":150000},"timestamp":"2026-11-01T00:00:00Z"}
{"type":"identify","messageId":"i3","userId":"u3","traits":{"income":150000},"timestamp":"2026-11-01T00:00:00Z"}
{"type":"identify","messageId":"i4","userId":"u4","traits":{"income":150000},"timestamp":"2026-11-01T00:00:00Z"}
{"type":"identify","messageId":"i5","userId":"u5","traits":{"income":150000},"timestamp":"2026-11-01T00:00:00Z"}
{"type":"identify","messageId":"i6","userId":"u6","traits":{"income":150000},"timestamp":"2026-11-01T00:00:00Z"}
{"type":"track","messageId":"t1","userId":"u1","event":"Catalog Downloaded","timestamp":"2026-11-03T00:00:00Z"}
{"type":"track","messageId":"t2","userId":"u2","event":"Newsletter Signup","timestamp":"2026-11-04T00:00:00Z"}
{"type":"track","messageId":"t3","userId":"u3","event":"Catalog Downloaded","timestamp":"2026-11-05T00:00:00Z"}
{"type":"track","messageId":"t4","userId":"u3","event":"Newsletter Signup","timestamp":"2026-11-08T00:00:00Z"}
{"type":"track","messageId":"t5","userId":"u4","event":"Catalog Downloaded","timestamp":"2026-11-10T00:00:00Z"}
{"type":"track","messageId":"t6","userId":"u6","event":"Newsletter Signup","timestamp":"2026-11-09T00:00:00Z"}
{"type":"track","messageId":"t7","userId":"u6","event":"Catalog Downloaded","timestamp":"2026-11-09T01:00:00Z"}
{"type":"track","messageId":"t8","anonymousId":"v1","event":"Catalog Downloaded","timestamp":"2026-11-03T00:00:00Z"}
"#;

/// u4 wins after the window; u5 wins without ever being an MQL.
const OUTCOMES: &str = "lead_id,stage,at,reason,revenue
u1,won,2026-11-06,,100
u2,won,2026-11-10,,
u3,lost,2026-11-09,too expensive,
u4,won,2026-11-20,,
u5,won,2026-11-12,,
u6,won,2026-11-11,,
";

const WINDOW: [&str; 4] = ["--from", "2026-11-02", "--to", "2026-11-16T00:00:00Z"];

fn run(dir: &TempDir, args: &[&str]) -> String {
    common::run(dir, args).stdout
}

fn json_of(dir: &TempDir, args: &[&str]) -> Value {
    let stdout = run(dir, &[&["backtest"], args, &WINDOW, &["--format", "json"]].concat());
    assert_eq!(stdout.lines().count(), 1, "one JSON object on one line: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn files() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, contents) in [
        ("catalog.toml", CATALOG_MODEL),
        ("newsletter.toml", NEWSLETTER_MODEL),
        ("events.ndjson", EVENTS),
        ("outcomes.csv", OUTCOMES),
    ] {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    dir
}

/// The catalog model over [11-02, 11-16). MQLs u1 (11-03), u3 (11-05), u4
/// (11-10), u6 (11-09 01:00): 4. Won at or after the MQL: u1 (3 days), u4
/// (10 days, after the window still counts), u6 (1 day 23 hours); u3 lost:
/// 3/4. Median lead time 3 days. Won in the window (first win): u1, u2, u5,
/// u6 (u4's is after it): 4; an MQL first: u1, u6: 1/2. Weeks: W45 u1, u3;
/// W46 u4, u6.
fn catalog_result() -> Value {
    json!({
        "model_name": "catalog",
        "from": "2026-11-02T00:00:00Z",
        "to": "2026-11-16T00:00:00Z",
        "mqls": 4,
        "won_after_mql": 3,
        "precision": 0.75,
        "won": 4,
        "won_mql_first": 2,
        "recall": 0.5,
        "median_lead_time_days": 3.0,
        "mqls_per_week": [
            {"week": "2026-W45", "from": "2026-11-02T00:00:00Z", "to": "2026-11-09T00:00:00Z", "mqls": 2},
            {"week": "2026-W46", "from": "2026-11-09T00:00:00Z", "to": "2026-11-16T00:00:00Z", "mqls": 2},
        ],
    })
}

/// The newsletter model. MQLs u2 (11-04), u3 (11-08), u6 (11-09): 3. Won
/// at or after: u2 (6 days), u6 (2 days): 2/3. Median (2 + 6) / 2 = 4.
/// Won in the window: the same 4; an MQL first: u2, u6: 1/2. Weeks: W45
/// u2, u3; W46 u6.
fn newsletter_result() -> Value {
    json!({
        "model_name": "newsletter",
        "from": "2026-11-02T00:00:00Z",
        "to": "2026-11-16T00:00:00Z",
        "mqls": 3,
        "won_after_mql": 2,
        "precision": 0.6667,
        "won": 4,
        "won_mql_first": 2,
        "recall": 0.5,
        "median_lead_time_days": 4.0,
        "mqls_per_week": [
            {"week": "2026-W45", "from": "2026-11-02T00:00:00Z", "to": "2026-11-09T00:00:00Z", "mqls": 2},
            {"week": "2026-W46", "from": "2026-11-09T00:00:00Z", "to": "2026-11-16T00:00:00Z", "mqls": 1},
        ],
    })
}

const FILE_ARGS: [&str; 4] = ["--events", "events.ndjson", "--outcomes", "outcomes.csv"];

#[test]
fn a_backtest_from_files_matches_the_hand_computed_figures() {
    let dir = files();
    assert_eq!(json_of(&dir, &[&FILE_ARGS[..], &["--model", "catalog.toml"]].concat()), catalog_result());
    assert_eq!(json_of(&dir, &[&FILE_ARGS[..], &["--model", "newsletter.toml"]].concat()), newsletter_result());
}

#[test]
fn against_another_model_shows_both_and_the_leads_only_one_qualifies() {
    let dir = files();
    let both = json_of(&dir, &[&FILE_ARGS[..], &["--model", "catalog.toml", "--against", "newsletter.toml"]].concat());
    assert_eq!(
        both,
        json!({
            "model": catalog_result(),
            "against": newsletter_result(),
            "only_model": ["u1", "u4"],
            "only_against": ["u2"],
        })
    );
    let table = run(
        &dir,
        &[
            &["backtest"],
            &FILE_ARGS[..],
            &["--model", "catalog.toml", "--against", "newsletter.toml"],
            &WINDOW,
            &["--format", "table"],
        ]
        .concat(),
    );
    assert!(table.contains("precision"), "{table}");
    assert!(table.contains("MQLs only under catalog: u1, u4"), "{table}");
    assert!(table.contains("MQLs only under newsletter: u2"), "{table}");
}

#[test]
fn the_store_gives_the_same_json_as_the_files() {
    let dir = files();
    run(&dir, &["ingest", "--db", "store.db", "events.ndjson"]);
    run(&dir, &["model", "activate", "--db", "store.db", "catalog.toml"]);
    run(&dir, &["outcomes", "import", "--db", "store.db", "outcomes.csv"]);
    // The active model by default.
    let from_files = json_of(&dir, &[&FILE_ARGS[..], &["--model", "catalog.toml"]].concat());
    assert_eq!(json_of(&dir, &["--db", "store.db"]), from_files);
    // A candidate model file against the active one.
    let from_files =
        json_of(&dir, &[&FILE_ARGS[..], &["--model", "newsletter.toml", "--against", "catalog.toml"]].concat());
    let from_store = json_of(&dir, &["--db", "store.db", "--model", "newsletter.toml", "--against", "active"]);
    assert_eq!(from_store, from_files);
    assert_eq!(from_store["only_model"], json!(["u2"]));
}

#[test]
fn events_without_outcomes_and_an_empty_window_are_refused() {
    let dir = files();
    let refused = |args: &[&str]| {
        let output = Command::cargo_bin("qualify").unwrap().current_dir(dir.path()).args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
    };
    refused(&[&["backtest", "--events", "events.ndjson", "--model", "catalog.toml"][..], &WINDOW].concat());
    refused(&[
        "backtest",
        "--events",
        "events.ndjson",
        "--outcomes",
        "outcomes.csv",
        "--model",
        "catalog.toml",
        "--from",
        "2026-11-16",
        "--to",
        "2026-11-02",
    ]);
}
