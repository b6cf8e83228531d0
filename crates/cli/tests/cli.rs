//! Black-box tests of the `qualify` binary: every test runs the real command
//! in its own temporary directory, against real files and SQLite databases.
//!
//! Small data sets keep the file fast: a hand-written one whose scores are
//! worked out by hand below, and generated ones (`qualify demo --generate`,
//! 200 leads) for the comparisons between the file and the store.

use assert_cmd::Command;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use tempfile::TempDir;

const AS_OF: &str = "2026-12-01T00:00:00Z";

/// A temporary working directory in which `qualify` runs, with no
/// `QUALIFY_DB` inherited from the environment.
struct Sandbox {
    dir: TempDir,
}

/// What a finished run printed, and how it exited.
struct Finished {
    args: String,
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn success(self) -> Finished {
        assert!(
            self.success,
            "`qualify {}` failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    fn failure(self) -> Finished {
        assert!(
            !self.success && self.code.is_some(),
            "`qualify {}` should have failed with an exit code, got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().expect("a temporary directory") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file into the sandbox; tests then name it relative to it.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        std::fs::write(self.path(name), contents).expect("the file is written");
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("the file is readable")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("qualify").expect("the qualify binary is built");
        command.current_dir(self.dir.path()).env_remove("QUALIFY_DB").args(args);
        command
    }

    /// Runs a prepared command; whatever it is given, it must never panic.
    fn finish(&self, args: &[&str], mut command: Command) -> Finished {
        let output = command.output().expect("qualify starts");
        let finished = Finished {
            args: args.join(" "),
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        };
        assert!(!finished.stderr.contains("panicked"), "`qualify {}` panicked:\n{}", finished.args, finished.stderr);
        finished
    }

    fn run(&self, args: &[&str]) -> Finished {
        self.finish(args, self.command(args))
    }

    fn run_with_stdin(&self, args: &[&str], stdin: impl Into<Vec<u8>>) -> Finished {
        let mut command = self.command(args);
        command.write_stdin(stdin.into());
        self.finish(args, command)
    }

    fn run_with_env(&self, args: &[&str], key: &str, value: &str) -> Finished {
        let mut command = self.command(args);
        command.env(key, value);
        self.finish(args, command)
    }

    /// The standard output of a run that must succeed.
    fn stdout_of(&self, args: &[&str]) -> String {
        self.run(args).success().stdout
    }

    /// `events.ndjson` and `model.toml`: a generated fine-jewelry data set
    /// and the demo model.
    fn generate(&self, leads: usize, seed: u64) {
        let (leads, seed) = (leads.to_string(), seed.to_string());
        let args =
            ["demo", "--generate", "events.ndjson", "--write-model", "model.toml", "--leads", &leads, "--seed", &seed];
        self.run(&args).success();
    }
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"))).collect()
}

/// CSV rows as maps from column name to cell (the values here hold no
/// commas or quotes).
fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{line}");
            header.iter().zip(cells).map(|(name, cell)| (name.to_string(), cell.to_string())).collect()
        })
        .collect()
}

/// The 1-based number of the only line that contains `needle`.
fn line_number(text: &str, needle: &str) -> usize {
    let found: Vec<usize> =
        text.lines().enumerate().filter(|(_, line)| line.contains(needle)).map(|(index, _)| index + 1).collect();
    assert_eq!(found.len(), 1, "{needle:?} should be on exactly one line");
    found[0]
}

/// A model small enough to score by hand: a never-decaying catalog rule and
/// a product-page rule with a 10-day half-life; two personas.
const TINY_MODEL: &str = r#"
name = "tiny"

[mql]
engagement_threshold = 20
min_grade = "B"

[decay]
half_life_days = 10

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

[[engagement]]
id = "product-page"
type = "page"
path_prefix = "/products/"
points = 3

[[persona]]
id = "buyer"

[[persona.fit]]
id = "rich"
trait = "income"
gte = 100000
points = 60

[[persona.fit]]
id = "adult"
trait = "age"
gte = 18
points = 20

[[persona]]
id = "local"

[[persona.fit]]
id = "city-paris"
trait = "city"
equals = "Paris"
points = 30
"#;

/// Worked out as of 2026-12-01T00:00:00Z (a page 10 days old is worth 1.5,
/// 20 days 0.75, 5 days 3 * 2^-0.5 = 2.12):
/// - `u2`: fit 60 + 20 = 80 (A, buyer; the income is a numeric string);
///   catalog 20 + page 1.5 = 21.50; MQL from the catalog download
///   (20 >= 20 with grade A), at 08:30:15 with the fraction dropped.
/// - `u10`: pages of 20 days (0.75) and, through the anonymousId `v2` it
///   identified with, of 10 days (1.5) = 2.25; the /about page counts for no
///   rule. Fit: local 30 beats buyer 20 (adult only), grade C.
/// - `Zed`: catalog 20.00 but no traits (fit 0, D: not an MQL); its page of
///   2026-12-05 is after the as-of time.
/// - `anon:v1`: an anonymous visitor with one page 5 days old, 2.12.
/// - `u9-future` has events only in 2099 and does not exist yet.
/// Byte order sorts `Zed` < `anon:v1` < `u10` < `u2`.
const TINY_EVENTS: &str = r#"{"type":"identify","messageId":"e1","userId":"u2","traits":{"income":"150000","age":30},"timestamp":"2026-11-01T00:00:00Z"}
{"type":"track","messageId":"e2","userId":"u2","event":"Catalog Downloaded","timestamp":"2026-11-10T08:30:15.250Z"}
{"type":"page","messageId":"e3","userId":"u2","properties":{"path":"/products/ring"},"timestamp":"2026-11-21T00:00:00Z"}
{"type":"page","messageId":"e4","userId":"u10","properties":{"path":"/products/z"},"timestamp":"2026-11-11T00:00:00Z"}
{"type":"page","messageId":"e5","anonymousId":"v2","properties":{"path":"/products/y"},"timestamp":"2026-11-21T00:00:00Z"}
{"type":"identify","messageId":"e6","userId":"u10","anonymousId":"v2","traits":{"income":50000,"age":40,"city":"Paris"},"timestamp":"2026-11-22T00:00:00Z"}
{"type":"page","messageId":"e7","userId":"u10","properties":{"path":"/about"},"timestamp":"2026-11-30T00:00:00Z"}
{"type":"track","messageId":"e8","userId":"Zed","event":"Catalog Downloaded","timestamp":"2026-11-20T00:00:00Z"}
{"type":"page","messageId":"e9","userId":"Zed","properties":{"path":"/products/x"},"timestamp":"2026-12-05T00:00:00Z"}
{"type":"page","messageId":"e10","anonymousId":"v1","properties":{"path":"/products/x"},"timestamp":"2026-11-26T00:00:00Z"}
{"type":"page","messageId":"e11","userId":"u9-future","properties":{"path":"/products/x"},"timestamp":"2099-01-01T00:00:00Z"}
"#;

const TINY_SCORES_CSV: &str = "\
lead_id,engagement,fit,grade,mql,mql_at
Zed,20.00,0,D,false,
anon:v1,2.12,0,D,false,
u10,2.25,30,C,false,
u2,21.50,80,A,true,2026-11-10T08:30:15Z
";

fn tiny_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("tiny.toml", TINY_MODEL);
    sandbox.write("tiny.ndjson", TINY_EVENTS);
    sandbox
}

// --- qualify score --events ---------------------------------------------------

#[test]
fn score_from_a_file_prints_one_sorted_row_per_lead() {
    let sandbox = tiny_sandbox();
    let stdout = sandbox.stdout_of(&[
        "score",
        "--events",
        "tiny.ndjson",
        "--model",
        "tiny.toml",
        "--as-of",
        AS_OF,
        "--format",
        "csv",
    ]);
    assert_eq!(stdout, TINY_SCORES_CSV);
}

#[test]
fn score_as_json_gives_the_same_fields_plus_persona_one_object_per_line() {
    let sandbox = tiny_sandbox();
    let stdout = sandbox.stdout_of(&[
        "score",
        "--events",
        "tiny.ndjson",
        "--model",
        "tiny.toml",
        "--as-of",
        AS_OF,
        "--format",
        "json",
    ]);
    let expected = [
        json!({"lead_id": "Zed", "engagement": 20.0, "fit": 0, "grade": "D", "mql": false, "mql_at": null, "persona": null}),
        json!({"lead_id": "anon:v1", "engagement": 2.12, "fit": 0, "grade": "D", "mql": false, "mql_at": null, "persona": null}),
        json!({"lead_id": "u10", "engagement": 2.25, "fit": 30, "grade": "C", "mql": false, "mql_at": null, "persona": "local"}),
        json!({"lead_id": "u2", "engagement": 21.5, "fit": 80, "grade": "A", "mql": true, "mql_at": "2026-11-10T08:30:15Z", "persona": "buyer"}),
    ];
    assert_eq!(stdout.lines().count(), expected.len(), "one object per line:\n{stdout}");
    assert_eq!(json_lines(&stdout), expected);
}

#[test]
fn score_without_as_of_scores_as_of_now() {
    let sandbox = tiny_sandbox();
    let stdout = sandbox.stdout_of(&["score", "--events", "tiny.ndjson", "--model", "tiny.toml"]);
    let rows = csv_rows(&stdout);
    let lead_ids: Vec<&str> = rows.iter().map(|row| row["lead_id"].as_str()).collect();
    // Now is after the hand-written events of 2026 and before 2099: the
    // same leads exist, u9-future does not.
    assert_eq!(lead_ids, ["Zed", "anon:v1", "u10", "u2"]);
    let u2 = &rows[3];
    assert_eq!((u2["fit"].as_str(), u2["grade"].as_str()), ("80", "A"));
    assert_eq!(u2["mql_at"], "2026-11-10T08:30:15Z");
}

#[test]
fn score_with_an_unparseable_as_of_fails_naming_the_flag() {
    let sandbox = tiny_sandbox();
    let run =
        sandbox.run(&["score", "--events", "tiny.ndjson", "--model", "tiny.toml", "--as-of", "garbage"]).failure();
    assert!(run.stderr.contains("--as-of") && run.stderr.contains("garbage"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

// --- Bad input -------------------------------------------------------------------

/// Valid messages (lines 1, 8, 9 and two items of the batch on line 7)
/// around six bad ones; line 9 repeats line 1's messageId.
const MIXED_EVENTS: &str = r#"{"type":"page","messageId":"m1","userId":"u1","properties":{"path":"/products/a"},"timestamp":"2026-11-21T00:00:00Z"}
{not json
{"type":"purchase","messageId":"m2","userId":"u1","timestamp":"2026-11-21T00:00:00Z"}
{"type":"page","messageId":"m3","properties":{"path":"/products/a"},"timestamp":"2026-11-21T00:00:00Z"}
{"type":"page","messageId":"m4","userId":"u2","timestamp":"yesterday"}
{"type":"track","messageId":"m5","userId":"u2","event":7,"timestamp":"2026-11-21T00:00:00Z"}
{"batch":[{"type":"page","messageId":"m6","userId":"u3","properties":{"path":"/products/b"},"timestamp":"2026-11-21T00:00:00Z"},{"type":"page","messageId":"m7","timestamp":"2026-11-21T00:00:00Z"},{"type":"page","messageId":"m8","anonymousId":"a9","properties":{"path":"/products/c"},"timestamp":"2026-11-21T00:00:00Z"}]}
{"type":"page","messageId":"m9","userId":"u4","properties":{"path":"/products/d"},"timestamp":"2026-11-21T00:00:00Z"}
{"type":"page","messageId":"m1","userId":"u1","properties":{"path":"/products/a"},"timestamp":"2026-11-21T00:00:00Z"}
"#;

/// The start of each rejection line on stderr, in file order.
const MIXED_REJECTIONS: [&str; 6] = [
    "mixed.ndjson: rejected line 2: not valid JSON",
    "mixed.ndjson: rejected line 3, field `type`: unknown type \"purchase\"",
    "mixed.ndjson: rejected line 4, field `userId`: ",
    "mixed.ndjson: rejected line 5, field `timestamp`: ",
    "mixed.ndjson: rejected line 6, field `event`: ",
    "mixed.ndjson: rejected line 7, batch item 1, field `userId`: ",
];

#[test]
fn bad_messages_are_reported_one_line_each_and_the_valid_ones_are_scored() {
    let sandbox = tiny_sandbox();
    sandbox.write("mixed.ndjson", MIXED_EVENTS);
    let run = sandbox.run(&["score", "--events", "mixed.ndjson", "--model", "tiny.toml", "--as-of", AS_OF]).success();
    // Each valid product page is 10 days old: 1.50 (the duplicate of m1 adds nothing).
    assert_eq!(
        run.stdout,
        "lead_id,engagement,fit,grade,mql,mql_at\n\
         anon:a9,1.50,0,D,false,\n\
         u1,1.50,0,D,false,\n\
         u3,1.50,0,D,false,\n\
         u4,1.50,0,D,false,\n"
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), MIXED_REJECTIONS.len(), "one line per bad message:\n{}", run.stderr);
    for (line, expected) in lines.iter().zip(MIXED_REJECTIONS) {
        assert!(line.starts_with(expected), "got {line:?}, expected it to start with {expected:?}");
    }
}

#[test]
fn a_missing_events_file_is_an_error_naming_the_path() {
    let sandbox = tiny_sandbox();
    let run =
        sandbox.run(&["score", "--events", "no-such-file.ndjson", "--model", "tiny.toml", "--as-of", AS_OF]).failure();
    assert!(run.stderr.contains("no-such-file.ndjson"), "{}", run.stderr);
    let run = sandbox.run(&["ingest", "--db", "store.db", "no-such-file.ndjson"]).failure();
    assert!(run.stderr.contains("no-such-file.ndjson"), "{}", run.stderr);
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn random_bytes(seed: u64, count: usize) -> Vec<u8> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn random_bytes_are_rejected_without_a_panic() {
    let sandbox = tiny_sandbox();
    // Raw bytes, then text from JSON's own alphabet (which gets further into
    // the parser), then one valid message that must still be scored.
    let mut garbage = random_bytes(0x5EED, 64 * 1024);
    let alphabet = br#"{}[]":,.-+0123456789eE truefalsenull\ "batch" "type" "userId" "page""#;
    garbage.extend(
        random_bytes(0xBEEF, 32 * 1024)
            .into_iter()
            .map(|byte| if byte % 16 == 0 { b'\n' } else { alphabet[usize::from(byte) % alphabet.len()] }),
    );
    garbage.extend_from_slice(
        b"\n{\"type\":\"page\",\"userId\":\"survivor\",\"properties\":{\"path\":\"/products/a\"},\"timestamp\":\"2026-11-21T00:00:00Z\"}\n",
    );
    sandbox.write("garbage.ndjson", &garbage);

    let run = sandbox.run(&["score", "--events", "garbage.ndjson", "--model", "tiny.toml", "--as-of", AS_OF]).success();
    assert!(run.stdout.ends_with("survivor,1.50,0,D,false,\n"), "{}", run.stdout);
    assert!(!run.stderr.is_empty());
    for line in run.stderr.lines() {
        assert!(line.starts_with("garbage.ndjson: rejected line "), "{line}");
    }

    let run = sandbox.run(&["ingest", "--db", "store.db", "garbage.ndjson"]).success();
    assert!(run.stdout.starts_with("accepted 1, duplicates 0, rejected "), "{}", run.stdout);
}

// --- qualify model check -------------------------------------------------------

#[test]
fn model_check_of_a_valid_model_prints_a_summary_naming_its_rules() {
    let sandbox = Sandbox::new();
    sandbox.generate(10, 1);
    let model = String::from_utf8(sandbox.read("model.toml")).expect("UTF-8");
    let stdout = sandbox.stdout_of(&["model", "check", "model.toml"]);
    let rule_ids: Vec<&str> = model
        .lines()
        .filter_map(|line| line.trim().strip_prefix("id = \""))
        .map(|rest| rest.split('"').next().expect("a quoted id"))
        .collect();
    assert!(rule_ids.len() > 10, "{rule_ids:?}");
    for id in rule_ids {
        assert!(stdout.contains(id), "the summary should name {id}:\n{stdout}");
    }
    assert!(stdout.contains("fine-jewelry"), "{stdout}");
    assert!(stdout.contains("model.toml is valid."), "{stdout}");
}

/// Six problems, each marked by a comment that names it.
const BROKEN_MODEL: &str = r#"name = "broken"
colour = "red"                   # unknown top-level key

[mql]
engagement_threshold = 10
min_grade = "E"                  # bad grade

[[engagement]]
id = "visits"
type = "visit"
points = 5
colour = "blue"                  # unknown key in a rule

[[engagement]]
id = "visits"                    # duplicate id
type = "visit"
points = 1

[[engagement]]                   # no type
id = "no-type"
points = 2

[[persona]]
id = "buyer"

[[persona.fit]]
id = "rich"
trait = "income"
greater = 100                    # unknown operator
points = 10
"#;

#[test]
fn model_check_of_a_broken_model_reports_every_problem_with_its_line_and_rule() {
    let sandbox = Sandbox::new();
    sandbox.write("broken.toml", BROKEN_MODEL);
    let run = sandbox.run(&["model", "check", "broken.toml"]).failure();
    let output = format!("{}{}", run.stdout, run.stderr);
    // (marker comment, what the message says, the rule it must name)
    let problems = [
        ("# unknown top-level key", "unknown key \"colour\"", None),
        ("# bad grade", "grade \"E\"", None),
        ("# unknown key in a rule", "unknown key \"colour\"", Some("rule \"visits\"")),
        ("# duplicate id", "duplicate id", Some("rule \"visits\"")),
        ("# no type", "\"type\"", Some("rule \"no-type\"")),
        ("# unknown operator", "unknown operator \"greater\"", Some("rule \"rich\"")),
    ];
    for (marker, message, rule) in problems {
        let prefix = format!("line {}, ", line_number(BROKEN_MODEL, marker));
        let line = output
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no problem reported on {prefix:?} ({marker}):\n{output}"));
        assert!(line.contains(message), "{line:?} should say {message:?}");
        if let Some(rule) = rule {
            assert!(line.contains(rule), "{line:?} should name {rule}");
        }
    }
    assert!(output.contains("6 problem(s)"), "{output}");
}

#[test]
fn model_check_of_a_toml_syntax_error_gives_line_and_column() {
    let sandbox = Sandbox::new();
    sandbox.write("syntax.toml", "name = \"x\"\n[mql\nengagement_threshold = 1\n");
    let run = sandbox.run(&["model", "check", "syntax.toml"]).failure();
    assert!(run.stderr.contains("line 2, column "), "{}", run.stderr);
    assert!(run.stderr.contains("TOML"), "{}", run.stderr);
}

// --- The store ---------------------------------------------------------------------

#[test]
fn ingest_prints_accepted_duplicates_and_rejected_with_reasons() {
    let sandbox = tiny_sandbox();
    sandbox.write("mixed.ndjson", MIXED_EVENTS);
    let run = sandbox.run(&["ingest", "--db", "store.db", "mixed.ndjson"]).success();
    let mut lines = run.stdout.lines();
    assert_eq!(lines.next(), Some("accepted 4, duplicates 1, rejected 6"));
    assert!(run.stdout.contains("rejected 2: userId"), "two messages had no id:\n{}", run.stdout);
    assert!(run.stdout.contains("rejected 1: timestamp"), "{}", run.stdout);
    assert!(run.stdout.contains("no active model yet"), "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 6, "{}", run.stderr);
}

#[test]
fn ingesting_the_same_file_twice_changes_nothing() {
    let sandbox = Sandbox::new();
    sandbox.generate(200, 7);
    sandbox.stdout_of(&["model", "activate", "--db", "store.db", "model.toml"]);
    let first = sandbox.stdout_of(&["ingest", "--db", "store.db", "events.ndjson"]);
    let numbers: Vec<u64> = first
        .lines()
        .next()
        .expect("a summary")
        .split(", ")
        .map(|part| part.rsplit(' ').next().expect("a count").parse().expect("a number"))
        .collect();
    let [accepted, duplicates, rejected] = numbers[..] else { panic!("{first}") };
    assert!(accepted > 1000 && rejected == 0, "{first}");
    let scores_before = sandbox.stdout_of(&["score", "--db", "store.db", "--as-of", AS_OF]);

    let second = sandbox.stdout_of(&["ingest", "--db", "store.db", "events.ndjson"]);
    let messages = accepted + duplicates;
    assert!(second.starts_with(&format!("accepted 0, duplicates {messages}, rejected 0\n")), "{second}");
    assert_eq!(sandbox.stdout_of(&["score", "--db", "store.db", "--as-of", AS_OF]), scores_before);
}

#[test]
fn ingest_reads_standard_input_for_a_dash() {
    let sandbox = tiny_sandbox();
    let run = sandbox.run_with_stdin(&["ingest", "--db", "store.db", "-"], TINY_EVENTS).success();
    assert!(run.stdout.starts_with("accepted 11, duplicates 0, rejected 0\n"), "{}", run.stdout);
    let stdout = sandbox.stdout_of(&["score", "--db", "store.db", "--model", "tiny.toml", "--as-of", AS_OF]);
    assert_eq!(stdout, TINY_SCORES_CSV);
}

#[test]
fn the_store_scores_byte_for_byte_like_the_file_it_was_fed() {
    let sandbox = Sandbox::new();
    sandbox.generate(200, 7);
    sandbox.stdout_of(&["ingest", "--db", "store.db", "events.ndjson"]);
    sandbox.stdout_of(&["model", "activate", "--db", "store.db", "model.toml"]);
    for format in ["csv", "json"] {
        let from_store = sandbox.stdout_of(&["score", "--db", "store.db", "--as-of", AS_OF, "--format", format]);
        let from_file = sandbox.stdout_of(&[
            "score",
            "--events",
            "events.ndjson",
            "--model",
            "model.toml",
            "--as-of",
            AS_OF,
            "--format",
            format,
        ]);
        assert!(from_file.lines().count() > 200, "{format}: every lead and visitor");
        assert!(from_file.contains("anon:") && from_file.contains("true"), "{format}: visitors and MQLs");
        assert!(from_store == from_file, "{format}: the store and the file disagree");
    }
}

#[test]
fn activating_a_bad_model_is_refused_and_the_active_one_stays() {
    let sandbox = tiny_sandbox();
    sandbox.write("broken.toml", BROKEN_MODEL);
    sandbox.stdout_of(&["ingest", "--db", "store.db", "tiny.ndjson"]);
    let activated = sandbox.stdout_of(&["model", "activate", "--db", "store.db", "tiny.toml"]);
    assert!(activated.contains("version 1"), "{activated}");

    let run = sandbox.run(&["model", "activate", "--db", "store.db", "broken.toml"]).failure();
    assert!(run.stderr.contains("not activated") && run.stderr.contains("rule \"rich\""), "{}", run.stderr);

    assert_eq!(sandbox.stdout_of(&["model", "show", "--db", "store.db"]), TINY_MODEL);
    let list = sandbox.stdout_of(&["model", "list", "--db", "store.db"]);
    assert!(list.contains("tiny") && !list.contains("broken"), "{list}");
    assert_eq!(sandbox.stdout_of(&["score", "--db", "store.db", "--as-of", AS_OF]), TINY_SCORES_CSV);
}

#[test]
fn model_list_shows_every_version_with_only_the_latest_active() {
    let sandbox = tiny_sandbox();
    sandbox.generate(10, 1);
    sandbox.stdout_of(&["model", "activate", "--db", "store.db", "tiny.toml"]);
    sandbox.stdout_of(&["model", "activate", "--db", "store.db", "model.toml"]);
    let list = sandbox.stdout_of(&["model", "list", "--db", "store.db"]);
    let row = |name: &str| {
        list.lines().find(|line| line.contains(name)).unwrap_or_else(|| panic!("no {name} in\n{list}")).to_owned()
    };
    let (tiny, jewelry) = (row("tiny"), row("fine-jewelry"));
    assert!(tiny.contains(" 1 ") && !tiny.contains("active"), "{tiny}");
    assert!(jewelry.contains(" 2 ") && jewelry.contains("active"), "{jewelry}");
    assert_eq!(list.matches("active").count() - 1, 1, "the header and one active version:\n{list}");
    assert_eq!(sandbox.stdout_of(&["model", "show", "1", "--db", "store.db"]), TINY_MODEL);
    assert_eq!(sandbox.stdout_of(&["model", "show", "--db", "store.db"]).into_bytes(), sandbox.read("model.toml"));
}

#[test]
fn qualify_db_is_honoured_when_db_is_absent() {
    let sandbox = tiny_sandbox();
    for args in [&["ingest", "tiny.ndjson"][..], &["model", "activate", "tiny.toml"]] {
        sandbox.run_with_env(args, "QUALIFY_DB", "from-env.db").success();
    }
    let scores = sandbox.run_with_env(&["score", "--as-of", AS_OF], "QUALIFY_DB", "from-env.db").success();
    assert_eq!(scores.stdout, TINY_SCORES_CSV);
    assert!(sandbox.path("from-env.db").exists());
    assert!(!sandbox.path("qualify.db").exists());
    // --db still wins over the variable.
    let run = sandbox.run_with_env(&["leads", "--db", "elsewhere.db"], "QUALIFY_DB", "from-env.db").failure();
    assert!(run.stderr.contains("elsewhere.db"), "{}", run.stderr);
}

#[test]
fn without_db_or_qualify_db_the_store_is_qualify_db_in_the_working_directory() {
    let sandbox = tiny_sandbox();
    sandbox.stdout_of(&["ingest", "tiny.ndjson"]);
    assert!(sandbox.path("qualify.db").exists());
    assert_eq!(sandbox.stdout_of(&["score", "--model", "tiny.toml", "--as-of", AS_OF]), TINY_SCORES_CSV);
}

// --- Incremental updates -------------------------------------------------------------

/// The anonymousIds seen only without a userId in `first` and linked to a
/// userId (same message, or alias) in `second`.
fn identified_later(first: &[&str], second: &[&str]) -> BTreeSet<String> {
    let messages = |lines: &[&str]| -> Vec<Value> {
        json_lines(&lines.join("\n"))
            .into_iter()
            .flat_map(|line| match line.get("batch") {
                Some(Value::Array(items)) => items.clone(),
                _ => vec![line],
            })
            .collect()
    };
    let text = |message: &Value, key: &str| message.get(key).and_then(Value::as_str).map(str::to_owned);
    let linked = |messages: &[Value]| -> BTreeSet<String> {
        messages
            .iter()
            .filter(|message| text(message, "userId").is_some())
            .flat_map(|message| [text(message, "anonymousId"), text(message, "previousId")])
            .flatten()
            .collect()
    };
    let (first, second) = (messages(first), messages(second));
    let anonymous_first: BTreeSet<String> = first.iter().filter_map(|message| text(message, "anonymousId")).collect();
    let linked_first = linked(&first);
    linked(&second).into_iter().filter(|id| anonymous_first.contains(id) && !linked_first.contains(id)).collect()
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"))
}

#[test]
fn incremental_ingest_leaves_every_lead_as_a_full_score_would() {
    let sandbox = Sandbox::new();
    sandbox.generate(200, 7);
    let events = String::from_utf8(sandbox.read("events.ndjson")).expect("UTF-8");
    let lines: Vec<&str> = events.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let identified = identified_later(first, second);
    assert!(!identified.is_empty(), "the split should leave a visitor to identify later");
    sandbox.write("first.ndjson", first.join("\n") + "\n");
    sandbox.write("second.ndjson", second.join("\n") + "\n");

    sandbox.stdout_of(&["ingest", "--db", "store.db", "first.ndjson"]);
    sandbox.stdout_of(&["model", "activate", "--db", "store.db", "model.toml"]);
    let leads_args = ["leads", "--db", "store.db", "--format", "json", "--anonymous", "--sort", "lead-id"];
    let before: BTreeSet<String> = json_lines(&sandbox.stdout_of(&leads_args))
        .iter()
        .map(|lead| lead["lead_id"].as_str().unwrap().to_owned())
        .collect();
    for anonymous in &identified {
        assert!(before.contains(&format!("anon:{anonymous}")), "anon:{anonymous} is a visitor after the first part");
    }

    sandbox.stdout_of(&["ingest", "--db", "store.db", "second.ndjson"]);
    let leads = json_lines(&sandbox.stdout_of(&leads_args));

    // The identified visitors are now part of leads, not rows of their own.
    for anonymous in &identified {
        assert!(leads.iter().all(|lead| lead["lead_id"] != format!("anon:{anonymous}")), "anon:{anonymous} is gone");
        let owners = leads.iter().filter(|lead| lead["anonymous_ids"].as_array().unwrap().contains(&json!(anonymous)));
        assert_eq!(owners.count(), 1, "{anonymous} belongs to one lead");
    }

    // Each lead was scored as of its scored_at: scoring the whole stored log
    // as of that time must give the same numbers.
    let mut by_scored_at: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for lead in &leads {
        by_scored_at.entry(lead["scored_at"].as_str().unwrap().to_owned()).or_default().push(lead);
    }
    let mut latest_lead_ids = BTreeSet::new();
    for (scored_at, stored) in &by_scored_at {
        let fresh =
            json_lines(&sandbox.stdout_of(&["score", "--db", "store.db", "--as-of", scored_at, "--format", "json"]));
        let fresh: BTreeMap<&str, &Value> = fresh.iter().map(|row| (row["lead_id"].as_str().unwrap(), row)).collect();
        latest_lead_ids = fresh.keys().map(|id| id.to_string()).collect();
        for lead in stored {
            let id = lead["lead_id"].as_str().unwrap();
            let row = fresh.get(id).unwrap_or_else(|| panic!("{id} is stored but not scored as of {scored_at}"));
            let engagement = (number(&lead["engagement"]), number(&row["engagement"]));
            assert!((engagement.0 - engagement.1).abs() <= 0.01 + 1e-9, "{id}: engagement {engagement:?}");
            for field in ["fit", "grade", "mql", "mql_at", "persona"] {
                assert_eq!(lead[field], row[field], "{id}: {field} as of {scored_at}");
            }
        }
    }
    // No stale rows and none missing: the store holds exactly the leads and
    // visitors that a full score finds.
    let stored_ids: BTreeSet<String> = leads.iter().map(|lead| lead["lead_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(stored_ids, latest_lead_ids);
    assert!(leads.iter().any(|lead| lead["mql"] == json!(true)), "the data set has MQLs");

    // A full re-score (activating the model again) agrees with the
    // incremental state; only decay over the seconds in between may move
    // engagement.
    let incremental = csv_rows(&sandbox.stdout_of(&[
        "leads",
        "--db",
        "store.db",
        "--format",
        "csv",
        "--anonymous",
        "--sort",
        "lead-id",
    ]));
    sandbox.stdout_of(&["model", "activate", "--db", "store.db", "model.toml"]);
    let full = csv_rows(&sandbox.stdout_of(&[
        "leads",
        "--db",
        "store.db",
        "--format",
        "csv",
        "--anonymous",
        "--sort",
        "lead-id",
    ]));
    assert_eq!(incremental.len(), full.len());
    for (incremental, full) in incremental.iter().zip(&full) {
        assert_eq!(incremental["lead_id"], full["lead_id"]);
        for field in ["fit", "grade", "mql_at"] {
            assert_eq!(incremental[field], full[field], "{}: {field}", full["lead_id"]);
        }
        let engagement: (f64, f64) = (incremental["engagement"].parse().unwrap(), full["engagement"].parse().unwrap());
        // Both are rounded to cents, so a decay of a hair can cross a
        // rounding boundary: one cent apart (and its float dust) is allowed.
        assert!((engagement.0 - engagement.1).abs() <= 0.01 + 1e-9, "{}: engagement {engagement:?}", full["lead_id"]);
    }
}

// --- qualify leads ---------------------------------------------------------------------

fn leads_json(sandbox: &Sandbox, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["leads", "--db", "store.db", "--format", "json"];
    args.extend_from_slice(extra);
    json_lines(&sandbox.stdout_of(&args))
}

fn ids(leads: &[Value]) -> Vec<&str> {
    leads.iter().map(|lead| lead["lead_id"].as_str().unwrap()).collect()
}

#[test]
fn leads_filters_by_status_and_grade_sorts_and_limits() {
    let sandbox = Sandbox::new();
    sandbox.generate(200, 7);
    sandbox.stdout_of(&["ingest", "--db", "store.db", "events.ndjson"]);
    sandbox.stdout_of(&["model", "activate", "--db", "store.db", "model.toml"]);

    // The default: known leads only, highest engagement first.
    let all = leads_json(&sandbox, &[]);
    assert!(all.len() > 100 && ids(&all).iter().all(|id| !id.starts_with("anon:")));
    let engagement: Vec<f64> = all.iter().map(|lead| number(&lead["engagement"])).collect();
    assert!(engagement.windows(2).all(|pair| pair[0] >= pair[1]), "{engagement:?}");
    assert_eq!(leads_json(&sandbox, &["--sort", "engagement"]), all);
    let with_anonymous = leads_json(&sandbox, &["--anonymous"]);
    assert!(ids(&with_anonymous).iter().any(|id| id.starts_with("anon:")));

    let keep =
        |test: &dyn Fn(&Value) -> bool| -> Vec<Value> { all.iter().filter(|lead| test(lead)).cloned().collect() };
    let mqls = leads_json(&sandbox, &["--status", "mql"]);
    assert!(!mqls.is_empty());
    // The status is the lifecycle stage: an MQL stays one when its score decays.
    assert_eq!(mqls, keep(&|lead| lead["stage"] == json!("mql")));
    assert_eq!(leads_json(&sandbox, &["--status", "lead"]), keep(&|lead| lead["stage"] == json!("lead")));
    assert_eq!(leads_json(&sandbox, &["--status", "won"]), Vec::<Value>::new());
    let grade_a = leads_json(&sandbox, &["--grade", "A"]);
    assert!(!grade_a.is_empty() && grade_a.len() < all.len());
    assert_eq!(grade_a, keep(&|lead| lead["grade"] == json!("A")));
    assert_eq!(
        leads_json(&sandbox, &["--grade", "a", "--grade", "B"]),
        keep(&|lead| lead["grade"] == json!("A") || lead["grade"] == json!("B"))
    );
    assert_eq!(leads_json(&sandbox, &["--limit", "5"]), all[..5]);
    assert_eq!(
        leads_json(&sandbox, &["--status", "mql", "--grade", "A", "--limit", "2"]),
        keep(&|lead| lead["stage"] == json!("mql") && lead["grade"] == json!("A"))[..2]
    );

    let by_fit = leads_json(&sandbox, &["--sort", "fit"]);
    let fit_then_engagement: Vec<(i64, f64)> =
        by_fit.iter().map(|lead| (lead["fit"].as_i64().unwrap(), number(&lead["engagement"]))).collect();
    assert!(fit_then_engagement.windows(2).all(|pair| pair[0] >= pair[1]), "{fit_then_engagement:?}");
    assert_eq!(ids(&by_fit).into_iter().collect::<BTreeSet<_>>(), ids(&all).into_iter().collect());
    let by_id = leads_json(&sandbox, &["--sort", "lead-id"]);
    assert!(ids(&by_id).windows(2).all(|pair| pair[0] < pair[1]));

    // CSV has the same leads, in the same order, with the same values.
    let csv = csv_rows(&sandbox.stdout_of(&["leads", "--db", "store.db", "--format", "csv", "--status", "mql"]));
    assert_eq!(csv.iter().map(|row| row["lead_id"].as_str()).collect::<Vec<_>>(), ids(&mqls));
    for (row, lead) in csv.iter().zip(&mqls) {
        assert_eq!(row["grade"], lead["grade"].as_str().unwrap());
        assert_eq!(row["fit"], lead["fit"].to_string());
        assert_eq!(row["mql_at"], lead["mql_at"].as_str().unwrap());
    }
    // Without --format, standard output is not a terminal here: CSV.
    let default = sandbox.stdout_of(&["leads", "--db", "store.db", "--status", "mql"]);
    assert_eq!(csv_rows(&default), csv);
}

#[test]
fn leads_prints_a_table_when_asked() {
    let sandbox = tiny_sandbox();
    sandbox.stdout_of(&["ingest", "--db", "store.db", "tiny.ndjson"]);
    sandbox.stdout_of(&["model", "activate", "--db", "store.db", "tiny.toml"]);
    let table = sandbox.stdout_of(&["leads", "--db", "store.db", "--format", "table", "--anonymous"]);
    let header = table.lines().find(|line| line.contains("lead_id")).unwrap_or_else(|| panic!("{table}"));
    for column in ["engagement", "fit", "grade", "persona", "mql_at"] {
        assert!(header.contains(column), "{header}");
    }
    let u2 = table.lines().find(|line| line.contains(" u2 ")).unwrap_or_else(|| panic!("{table}"));
    assert!(u2.contains("buyer") && u2.contains("2026-11-10T08:30:15Z"), "{u2}");
    assert!(table.contains("anon:v1"), "{table}");
    assert!(table.trim_end().ends_with("4 lead(s)"), "{table}");
}

// --- qualify explain -----------------------------------------------------------------------

#[test]
fn explain_names_every_rule_held_or_missed_and_the_mql_moment() {
    let sandbox = tiny_sandbox();
    let text =
        sandbox.stdout_of(&["explain", "u2", "--events", "tiny.ndjson", "--model", "tiny.toml", "--as-of", AS_OF]);
    let line = |needle: &str| -> &str {
        text.lines().find(|line| line.contains(needle)).unwrap_or_else(|| panic!("no {needle:?} in\n{text}"))
    };
    assert!(line("catalog ").contains("20.00"), "{text}");
    assert!(line("product-page").contains("1.50"), "{text}");
    assert!(line("/products/ring").contains("1.50"), "{text}");
    assert!(line("rich").contains("held") && line("rich").contains("150000"), "{text}");
    assert!(line("adult").contains("held"), "{text}");
    assert!(line("city-paris").contains("missed"), "{text}");
    assert!(line("Became an MQL at").contains("2026-11-10T08:30:15Z"), "{text}");

    let u10 =
        sandbox.stdout_of(&["explain", "u10", "--events", "tiny.ndjson", "--model", "tiny.toml", "--as-of", AS_OF]);
    assert!(u10.lines().any(|line| line.contains("missed") && line.contains("rich")), "{u10}");
    assert!(u10.contains("anonymous ids: v2") && u10.contains("not an MQL"), "{u10}");
    assert!(!u10.contains("Became an MQL"), "{u10}");
}

#[test]
fn explain_as_json_has_rules_personas_and_the_mql_crossing() {
    let sandbox = tiny_sandbox();
    let args =
        ["explain", "u2", "--events", "tiny.ndjson", "--model", "tiny.toml", "--as-of", AS_OF, "--format", "json"];
    let explanation: Value = serde_json::from_str(&sandbox.stdout_of(&args)).expect("JSON");
    let rules: Vec<(&str, f64)> = explanation["engagement_rules"]
        .as_array()
        .expect("engagement_rules")
        .iter()
        .map(|rule| (rule["id"].as_str().unwrap(), number(&rule["total"])))
        .collect();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0], ("catalog", 20.0));
    assert_eq!(rules[1].0, "product-page");
    assert!((rules[1].1 - 1.5).abs() < 1e-9, "{rules:?}");
    let personas: Vec<(&str, i64)> = explanation["personas"]
        .as_array()
        .expect("personas")
        .iter()
        .map(|persona| (persona["id"].as_str().unwrap(), persona["fit"].as_i64().unwrap()))
        .collect();
    assert_eq!(personas, [("buyer", 80), ("local", 0)]);
    let crossing = &explanation["mql_crossing"];
    assert_eq!(crossing["at"], "2026-11-10T08:30:15Z");
    assert_eq!(crossing["rule_totals"], json!([["catalog", 20.0]]));
    assert_eq!(crossing["fit_rules_held"], json!(["rich", "adult"]));
}

#[test]
fn explain_against_the_store_gives_the_same_json_as_against_the_file() {
    let sandbox = Sandbox::new();
    sandbox.generate(200, 7);
    sandbox.stdout_of(&["ingest", "--db", "store.db", "events.ndjson"]);
    sandbox.stdout_of(&["model", "activate", "--db", "store.db", "model.toml"]);
    let scores = csv_rows(&sandbox.stdout_of(&["score", "--db", "store.db", "--as-of", AS_OF]));
    let mql = scores.iter().find(|row| row["mql"] == "true").expect("an MQL");
    let visitor = scores
        .iter()
        .find(|row| row["lead_id"].starts_with("anon:") && row["engagement"] != "0.00")
        .expect("a visitor");
    for lead in [&mql["lead_id"], &visitor["lead_id"]] {
        let from_file = sandbox.stdout_of(&[
            "explain",
            lead,
            "--events",
            "events.ndjson",
            "--model",
            "model.toml",
            "--as-of",
            AS_OF,
            "--format",
            "json",
        ]);
        let from_store =
            sandbox.stdout_of(&["explain", lead, "--db", "store.db", "--as-of", AS_OF, "--format", "json"]);
        assert_eq!(from_store, from_file, "{lead}");
        let explanation: Value = serde_json::from_str(&from_file).expect("JSON");
        assert_eq!(explanation["lead_id"], json!(lead));
    }
}

#[test]
fn explain_of_an_unknown_lead_fails_with_a_clear_message() {
    let sandbox = tiny_sandbox();
    let args = ["explain", "nobody", "--events", "tiny.ndjson", "--model", "tiny.toml", "--as-of", AS_OF];
    let run = sandbox.run(&args).failure();
    assert!(run.stderr.contains("no lead \"nobody\""), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    // A lead whose events all come later does not exist yet either.
    let args = ["explain", "u9-future", "--events", "tiny.ndjson", "--model", "tiny.toml", "--as-of", AS_OF];
    let run = sandbox.run(&args).failure();
    assert!(run.stderr.contains("no lead \"u9-future\""), "{}", run.stderr);
}

// --- qualify demo -----------------------------------------------------------------------------

#[test]
fn demo_builds_a_database_and_prints_its_top_mqls() {
    let sandbox = Sandbox::new();
    let stdout = sandbox.stdout_of(&["demo", "--db", "demo.db", "--leads", "300", "--seed", "3"]);
    assert!(sandbox.path("demo.db").exists());
    let mqls: usize = stdout
        .lines()
        .find(|line| line.contains(" MQLs now."))
        .and_then(|line| line.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no MQL count in\n{stdout}"));
    // "MQLs now": the leads that meet the MQL condition now (the `mql` column).
    let stored: Vec<_> = csv_rows(&sandbox.stdout_of(&["leads", "--db", "demo.db", "--format", "csv"]))
        .into_iter()
        .filter(|row| row["mql"] == "true")
        .collect();
    assert!(mqls > 0);
    assert_eq!(stored.len(), mqls, "{stdout}");
    let shown = stdout.lines().filter(|line| line.contains("MQL since")).count();
    assert_eq!(shown, mqls.min(10), "{stdout}");
    assert!(stdout.contains(&format!("  {} ", stored[0]["lead_id"])), "the top MQL is shown first:\n{stdout}");
    assert!(stdout.contains("carried by:"), "{stdout}");
}

#[test]
fn demo_generation_is_deterministic_for_a_seed() {
    let sandbox = Sandbox::new();
    for (file, seed) in [("a.ndjson", "5"), ("b.ndjson", "5"), ("c.ndjson", "6")] {
        sandbox.run(&["demo", "--generate", file, "--leads", "100", "--seed", seed]).success();
    }
    let (a, b, c) = (sandbox.read("a.ndjson"), sandbox.read("b.ndjson"), sandbox.read("c.ndjson"));
    assert!(a.len() > 10_000);
    assert!(a == b, "the same seed gives the same bytes");
    assert!(a != c, "another seed gives other data");
}

#[test]
fn keys_are_printed_once_listed_by_prefix_and_revoked_by_id() {
    let sandbox = Sandbox::new();
    let created =
        sandbox.run(&["keys", "create", "--db", "keys.db", "--role", "read", "--name", "sales-dashboard"]).success();
    let key = created.stdout.lines().last().expect("the key on the last line").to_owned();
    assert!(key.starts_with("qk_") && key.len() > 40, "{key}");
    assert!(created.stderr.contains("shown once"), "{}", created.stderr);

    let listed = sandbox.stdout_of(&["keys", "list", "--db", "keys.db"]);
    assert!(listed.contains("sales-dashboard") && listed.contains("read"), "{listed}");
    assert!(listed.contains(&key[..10]), "the list shows the key's first characters:\n{listed}");
    assert!(!listed.contains(&key), "the list never shows a whole key:\n{listed}");
    let database = std::fs::read(sandbox.path("keys.db")).expect("the database file");
    assert!(!database.windows(key.len()).any(|window| window == key.as_bytes()), "only a hash of the key is stored");

    sandbox.run(&["keys", "revoke", "--db", "keys.db", "1"]).success();
    let listed = sandbox.stdout_of(&["keys", "list", "--db", "keys.db"]);
    let row = listed.lines().find(|line| line.contains("sales-dashboard")).expect("the key's row");
    assert!(row.matches("T").count() >= 2 && row.contains('Z'), "a revocation time is listed: {row}");
    sandbox.run(&["keys", "revoke", "--db", "keys.db", "99"]).failure();
}

#[test]
fn serve_logs_one_json_line_per_request_with_log_format_json() {
    use std::io::{BufRead, BufReader, Read, Write};
    let sandbox = Sandbox::new();
    let mut server = std::process::Command::new(assert_cmd::cargo::cargo_bin("qualify"))
        .args(["serve", "--db", "serve.db", "--addr", "127.0.0.1:0", "--log-format", "json"])
        .current_dir(sandbox.path("."))
        .env_remove("QUALIFY_DB")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("qualify serve starts");
    let mut stderr = BufReader::new(server.stderr.take().expect("stderr"));
    let mut address = None;
    let mut line = String::new();
    while address.is_none() {
        line.clear();
        assert!(stderr.read_line(&mut line).expect("stderr is readable") > 0, "serve stopped before listening");
        address = line.split("http://").nth(1).map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned());
    }
    let address = address.expect("the address");
    let mut connection = std::net::TcpStream::connect(&address).expect("the server accepts connections");
    write!(connection, "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let killed = std::process::Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(server.wait().unwrap().success(), "serve exits 0 on SIGTERM");
    let request_lines: Vec<serde_json::Value> = rest
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry.to_string().contains("/healthz"))
        .collect();
    assert!(!request_lines.is_empty(), "a JSON log line for the request:\n{rest}");
    assert!(request_lines.iter().all(|entry| entry["level"] == "INFO"), "{request_lines:?}");
}
