//! Black-box test of `qualify report kpis`: the real binary in a temporary
//! directory, on a small database built with `qualify ingest`, `qualify
//! model activate`, `qualify outcomes import` and `qualify spend import`,
//! against figures computed by hand.

mod common;

use serde_json::{Value, json};
use tempfile::TempDir;

/// A rich lead that downloads the catalog is an MQL at the download.
const MODEL: &str = r#"
name = "kpis"

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

/// u1: google, created 11-02, MQL 11-04. u2: meta, created 11-03, never an
/// MQL. u3: no campaign (direct), created 11-05, MQL 11-06.
const EVENTS: &str = r#"{"type":"identify","messageId":"e1","userId":"u1","traits":{"income":150000},"context":{"campaign":{"source":"google"}},"timestamp":"2026-11-02T00:00:00Z"}
{"type":"track","messageId":"e2","userId":"u1","event":"Catalog Downloaded","timestamp":"2026-11-04T00:00:00Z"}
{"type":"identify","messageId":"e3","userId":"u2","traits":{"income":10},"context":{"campaign":{"source":"meta"}},"timestamp":"2026-11-03T00:00:00Z"}
{"type":"identify","messageId":"e4","userId":"u3","traits":{"income":200000},"timestamp":"2026-11-05T00:00:00Z"}
{"type":"track","messageId":"e5","userId":"u3","event":"Catalog Downloaded","timestamp":"2026-11-06T00:00:00Z"}
"#;

const OUTCOMES: &str = "lead_id,stage,at,reason,revenue
u1,accepted,2026-11-05,,
u1,won,2026-11-09,,1000
u3,rejected,2026-11-07,no budget,
";

/// google: 4 days at 100 a day; meta: 10 days at 10 a day, 9 of them from 11-02.
const SPEND: &str = "channel,from,to,amount
google,2026-11-02,2026-11-05,400
meta,2026-11-01,2026-11-10,100
";

fn run(dir: &TempDir, args: &[&str]) -> String {
    common::run(dir, args).stdout
}

fn database() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, contents) in
        [("model.toml", MODEL), ("events.ndjson", EVENTS), ("outcomes.csv", OUTCOMES), ("spend.csv", SPEND)]
    {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    run(&dir, &["ingest", "--db", "store.db", "events.ndjson"]);
    run(&dir, &["model", "activate", "--db", "store.db", "model.toml"]);
    run(&dir, &["outcomes", "import", "--db", "store.db", "outcomes.csv"]);
    run(&dir, &["spend", "import", "--db", "store.db", "spend.csv"]);
    dir
}

#[test]
fn kpis_of_a_small_database_match_the_hand_computed_figures() {
    let dir = database();
    let args = ["report", "kpis", "--db", "store.db", "--from", "2026-11-02", "--to", "2026-11-16T00:00:00Z"];
    let stdout = run(&dir, &[&args[..], &["--format", "json"]].concat());
    let report: Value = serde_json::from_str(&stdout).unwrap();
    // Leads u1, u2, u3; MQLs u1, u3 (2/3); sales acted on u1 (accepted) and
    // u3 (rejected): 1/2; u1 won on 11-09: conversion 1/3, MQL to customer
    // 1/2, one customer in two weeks (0.5 a week, none the two weeks
    // before). Spend 400 + 90 = 490: per lead 163.3333, per MQL 245, per
    // customer 490. Days to MQL: u1 2, u3 1: 1.5. MQL to won: u1 5.
    assert_eq!(
        report,
        json!({
            "from": "2026-11-02T00:00:00Z",
            "to": "2026-11-16T00:00:00Z",
            "by": "overall",
            "rows": [{
                "group": "all",
                "from": "2026-11-02T00:00:00Z",
                "to": "2026-11-16T00:00:00Z",
                "leads_generated": 3,
                "mqls": 2,
                "mql_rate": 0.6667,
                "sales_acceptance_rate": 0.5,
                "conversion_rate": 0.3333,
                "mql_to_customer_rate": 0.5,
                "customers_acquired": 1,
                "customer_acquisition_rate": 0.5,
                "previous_customer_acquisition_rate": 0.0,
                "customer_acquisition_rate_change": null,
                "spend": 490.0,
                "cost_per_lead": 163.3333,
                "cost_per_mql": 245.0,
                "cost_per_acquisition": 490.0,
                "median_days_to_mql": 1.5,
                "median_days_mql_to_won": 5.0,
            }],
        })
    );

    // By channel, as CSV: u3 (direct) has no spend; meta has spend and a
    // lead but no MQL and no customer.
    let stdout = run(&dir, &[&args[..], &["--by", "channel", "--format", "csv"]].concat());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("group,from,to,leads_generated,mqls,mql_rate,"), "{stdout}");
    let expected = [
        "direct,2026-11-02T00:00:00Z,2026-11-16T00:00:00Z,1,1,1,0,0,0,0,0,0,,0,0,0,,1,",
        "google,2026-11-02T00:00:00Z,2026-11-16T00:00:00Z,1,1,1,1,1,1,1,0.5,0,,400,400,400,400,2,5",
        "meta,2026-11-02T00:00:00Z,2026-11-16T00:00:00Z,1,0,0,,0,,0,0,0,,90,90,,,,",
    ];
    assert_eq!(&lines[1..], expected);

    // By week: everything but the win happened in the first week.
    let stdout = run(&dir, &[&args[..], &["--by", "week", "--format", "json"]].concat());
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let weeks: Vec<(&str, u64, u64, u64, f64)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["group"].as_str().unwrap(),
                row["leads_generated"].as_u64().unwrap(),
                row["mqls"].as_u64().unwrap(),
                row["customers_acquired"].as_u64().unwrap(),
                row["spend"].as_f64().unwrap(),
            )
        })
        .collect();
    // Week 45 gets google's 400 and 7 days of meta (70); week 46, meta's last 2 days (20).
    assert_eq!(weeks, [("2026-W45", 3, 2, 0, 470.0), ("2026-W46", 0, 0, 1, 20.0)]);

    // The table names every KPI.
    let stdout = run(&dir, &[&args[..], &["--format", "table"]].concat());
    for kpi in ["leads_generated", "cost_per_acquisition", "median_days_mql_to_won"] {
        assert!(stdout.contains(kpi), "{stdout}");
    }
}

#[test]
fn a_period_that_does_not_end_after_it_starts_is_refused() {
    let dir = database();
    let stderr =
        common::fails(&dir, &["report", "kpis", "--db", "store.db", "--from", "2026-11-16", "--to", "2026-11-02"]);
    assert!(stderr.contains("must be after"), "{stderr}");
}
