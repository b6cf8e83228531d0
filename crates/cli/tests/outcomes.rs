//! Black-box tests of `qualify outcomes import`, `qualify spend import` and
//! `qualify leads --status` for the stages sales sets: the real binary in a
//! temporary directory against a real SQLite database.

use assert_cmd::Command;
use serde_json::Value;
use std::process::Output;
use tempfile::TempDir;

/// `u1` (a rich adult who downloaded the catalog: an MQL) and `u2` (a lead).
const MODEL: &str = r#"
name = "outcomes"

[mql]
engagement_threshold = 20
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
half_life_days = 0

[[persona]]
id = "buyer"

[[persona.fit]]
id = "rich"
trait = "income"
gte = 100000
points = 80
"#;

const EVENTS: &str = r#"{"type":"identify","messageId":"e1","userId":"u1","traits":{"income":150000},"timestamp":"2026-11-01T00:00:00Z"}
{"type":"track","messageId":"e2","userId":"u1","event":"Catalog Downloaded","timestamp":"2026-11-02T00:00:00Z"}
{"type":"identify","messageId":"e3","userId":"u2","traits":{"income":10},"timestamp":"2026-11-01T00:00:00Z"}
"#;

/// A temporary directory holding `store.db` with the leads of [`EVENTS`]
/// scored by [`MODEL`].
struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    fn with_leads() -> Sandbox {
        let sandbox = Sandbox { dir: tempfile::tempdir().expect("a temporary directory") };
        sandbox.write("model.toml", MODEL);
        sandbox.write("events.ndjson", EVENTS);
        sandbox.success(&["ingest", "--db", "store.db", "events.ndjson"]);
        sandbox.success(&["model", "activate", "--db", "store.db", "model.toml"]);
        sandbox
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.path().join(name), contents).expect("the file is written");
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::cargo_bin("qualify").expect("the qualify binary is built");
        let output = command.current_dir(self.dir.path()).env_remove("QUALIFY_DB").args(args).output().unwrap();
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"), "{args:?} panicked");
        output
    }

    /// The standard output and standard error of a run that must succeed.
    fn success(&self, args: &[&str]) -> (String, String) {
        let output = self.run(args);
        let (stdout, stderr) = (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap());
        assert!(output.status.success(), "{args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
        (stdout, stderr)
    }

    /// The ids of the leads at a stage.
    fn leads_at(&self, stage: &str) -> Vec<String> {
        let (stdout, _) = self.success(&["leads", "--db", "store.db", "--status", stage, "--format", "json"]);
        let leads: Vec<Value> = stdout
            .lines()
            .flat_map(|line| match serde_json::from_str::<Value>(line).unwrap() {
                Value::Array(items) => items,
                other => vec![other],
            })
            .collect();
        leads.iter().map(|lead| lead["lead_id"].as_str().unwrap().to_owned()).collect()
    }
}

const OUTCOMES: &str = "\u{feff}lead_id,stage,at,reason,revenue
u1,accepted,2026-11-03T00:00:00Z,,
u2,maybe,2026-11-03T00:00:00Z,,
nobody,won,2026-11-03T00:00:00Z,,
u1,won,2026-11-20,,1500
u2,rejected,2026-11-04T00:00:00Z,no budget,
";

#[test]
fn importing_outcomes_keeps_the_good_lines_and_reports_the_bad_ones_by_number() {
    let sandbox = Sandbox::with_leads();
    assert_eq!(sandbox.leads_at("mql"), ["u1"]);
    sandbox.write("outcomes.csv", OUTCOMES);
    let (stdout, stderr) = sandbox.success(&["outcomes", "import", "outcomes.csv", "--db", "store.db"]);
    assert!(stdout.contains("accepted 3 outcome(s)"), "{stdout}");
    assert!(stdout.contains("duplicates 0"), "{stdout}");
    assert!(stdout.contains("rejected 2"), "{stdout}");
    let rejected: Vec<&str> = stderr.lines().collect();
    assert_eq!(rejected.len(), 2, "{stderr}");
    assert!(rejected[0].contains("line 3: stage:"), "{stderr}");
    assert!(rejected[1].contains("line 4: lead_id: no lead \"nobody\""), "{stderr}");

    assert_eq!(sandbox.leads_at("won"), ["u1"]);
    assert_eq!(sandbox.leads_at("rejected"), ["u2"]);
    assert_eq!(sandbox.leads_at("mql"), Vec::<String>::new());
    assert_eq!(sandbox.leads_at("lead"), Vec::<String>::new());

    // The same file again changes nothing.
    let (stdout, _) = sandbox.success(&["outcomes", "import", "outcomes.csv", "--db", "store.db"]);
    assert!(stdout.contains("accepted 0 outcome(s)") && stdout.contains("duplicates 3"), "{stdout}");
    // Re-scoring keeps the stages sales set.
    sandbox.success(&["model", "activate", "--db", "store.db", "model.toml"]);
    assert_eq!(sandbox.leads_at("won"), ["u1"]);
    assert_eq!(sandbox.leads_at("rejected"), ["u2"]);
}

#[test]
fn an_outcomes_file_with_the_wrong_header_is_refused_whole() {
    let sandbox = Sandbox::with_leads();
    sandbox.write("outcomes.csv", "lead,stage,at\nu1,won,2026-11-20\n");
    let output = sandbox.run(&["outcomes", "import", "outcomes.csv", "--db", "store.db"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("line 1") && stderr.contains("lead_id,stage,at,reason,revenue"), "{stderr}");
    assert_eq!(sandbox.leads_at("mql"), ["u1"]);
}

#[test]
fn importing_spend_reports_bad_lines_and_a_repeated_row_replaces_the_amount() {
    let sandbox = Sandbox::with_leads();
    sandbox.write(
        "spend.csv",
        "channel,from,to,amount\n\
         google,2026-11-01,2026-11-30,3000\n\
         meta,2026-11-01T00:00:00Z,2026-11-15T00:00:00Z,lots\n\
         meta,2026-11-01,2026-11-15,200\n",
    );
    let (stdout, stderr) = sandbox.success(&["spend", "import", "spend.csv", "--db", "store.db"]);
    assert!(stdout.contains("added 2 spend row(s)") && stdout.contains("replaced 0"), "{stdout}");
    assert!(stdout.contains("rejected 1"), "{stdout}");
    assert!(stderr.contains("line 3: amount:"), "{stderr}");
    sandbox.write("correction.csv", "channel,from,to,amount\ngoogle,2026-11-01,2026-11-30,3500\n");
    let (stdout, _) = sandbox.success(&["spend", "import", "correction.csv", "--db", "store.db"]);
    assert!(stdout.contains("added 0 spend row(s)") && stdout.contains("replaced 1"), "{stdout}");
}
