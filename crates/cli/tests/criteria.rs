//! Black-box test of `qualify report criteria`: the real binary in a
//! temporary directory, on a small database built with `qualify ingest`,
//! `qualify model activate` and `qualify outcomes import`, against figures
//! computed by hand.

mod common;

use serde_json::{Value, json};
use tempfile::TempDir;

/// A rich lead that downloads the catalog is an MQL at the download.
const MODEL: &str = r#"
name = "criteria"

[mql]
engagement_threshold = 20
min_grade = "B"

[[engagement]]
id = "catalog"
type = "track"
event = "Catalog Downloaded"
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

/// u1: rich, MQL at the download on 11-04. u2: poor, nothing else. u3:
/// rich, MQL at the download on 11-06. An anonymous visitor's page is left out.
const EVENTS: &str = r#"{"type":"identify","messageId":"e1","userId":"u1","traits":{"income":150000},"timestamp":"2026-11-02T00:00:00Z"}
{"type":"track","messageId":"e2","userId":"u1","event":"Catalog Downloaded","timestamp":"2026-11-04T00:00:00Z"}
{"type":"identify","messageId":"e3","userId":"u2","traits":{"income":10},"timestamp":"2026-11-03T00:00:00Z"}
{"type":"identify","messageId":"e4","userId":"u3","traits":{"income":200000},"timestamp":"2026-11-05T00:00:00Z"}
{"type":"track","messageId":"e5","userId":"u3","event":"Catalog Downloaded","timestamp":"2026-11-06T00:00:00Z"}
{"type":"page","messageId":"e6","anonymousId":"a1","properties":{"path":"/"},"timestamp":"2026-11-06T00:00:00Z"}
"#;

/// u1 won; u3 rejected; u2 won after the as-of time used below.
const OUTCOMES: &str = "lead_id,stage,at,reason,revenue
u1,won,2026-11-09,,1000
u3,rejected,2026-11-07,no budget,
u2,won,2026-11-20,,10
";

fn run(dir: &TempDir, args: &[&str]) -> String {
    common::run(dir, args).stdout
}

fn database() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, contents) in [("model.toml", MODEL), ("events.ndjson", EVENTS), ("outcomes.csv", OUTCOMES)] {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    run(&dir, &["ingest", "--db", "store.db", "events.ndjson"]);
    run(&dir, &["model", "activate", "--db", "store.db", "model.toml"]);
    run(&dir, &["outcomes", "import", "--db", "store.db", "outcomes.csv"]);
    dir
}

#[test]
fn the_criteria_report_of_a_small_database_matches_the_hand_computed_figures() {
    let dir = database();
    let args = ["report", "criteria", "--db", "store.db", "--as-of", "2026-11-10"];
    let report: Value = serde_json::from_str(&run(&dir, &[&args[..], &["--format", "json"]].concat())).unwrap();
    // Leads u1, u2, u3 (not the visitor); MQLs u1, u3; won by 11-10: u1.
    // catalog fired for u1 and u3 (1 won of 2) and not for u2 (0 of 1): no
    // lift (nothing to divide by). It gave all the MQLs' engagement (20 +
    // 20), and rich all their fit (80 + 80). Bands: u2 at 0 (as-of), u1 and
    // u3 at 20 (at mql_at); of 3 leads, positions 0, 1, 2 give bands 1, 4,
    // 7, and u3 ties with u1 in band 4.
    let rule = |kind: &str, persona: Value, rule: &str| {
        json!({
            "kind": kind, "persona": persona, "rule": rule,
            "leads_fired": 2, "leads_not_fired": 1, "won_fired": 1, "won_not_fired": 0,
            "conversion_fired": 0.5, "conversion_not_fired": 0.0, "lift": null, "share_of_mql_points": 1.0,
        })
    };
    assert_eq!(
        report,
        json!({
            "as_of": "2026-11-10T00:00:00Z",
            "leads": 3,
            "mqls": 2,
            "won": 1,
            "conversion_rate": 0.3333,
            "rules": [rule("engagement", Value::Null, "catalog"), rule("fit", json!("buyer"), "rich")],
            "bands": [
                { "band": 1, "leads": 1, "won": 0, "conversion_rate": 0.0, "min_engagement": 0.0, "max_engagement": 0.0 },
                { "band": 4, "leads": 2, "won": 1, "conversion_rate": 0.5, "min_engagement": 20.0, "max_engagement": 20.0 },
            ],
            "rejection_reasons": [{ "reason": "no budget", "rejections": 1 }],
        })
    );

    let csv = run(&dir, &[&args[..], &["--format", "csv"]].concat());
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "section,kind,persona,name,leads,won,conversion_rate,leads_without,conversion_rate_without,lift,share_of_mql_points,min_engagement,max_engagement",
            "rule,engagement,,catalog,2,1,0.5,1,0,,1,,",
            "rule,fit,buyer,rich,2,1,0.5,1,0,,1,,",
            "band,,,1,1,0,0,,,,,0,0",
            "band,,,4,2,1,0.5,,,,,20,20",
            "rejection,,,no budget,1,,,,,,,,",
        ]
    );
    let table = run(&dir, &[&args[..], &["--format", "table"]].concat());
    assert!(table.contains("3 leads, 2 MQLs, 1 won"), "{table}");
}

#[test]
fn the_criteria_report_needs_an_active_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.ndjson"), EVENTS).unwrap();
    run(&dir, &["ingest", "--db", "store.db", "events.ndjson"]);
    let stderr = common::fails(&dir, &["report", "criteria", "--db", "store.db"]);
    assert!(stderr.contains("no model is active"), "{stderr}");
}
