//! The real Segment and RudderStack SDKs against the real `qualify serve`.
//!
//! For each SDK: a temporary database with the demo model active, a write
//! key and a read key made with `qualify keys create`, the `qualify serve`
//! binary on `127.0.0.1:0` (its port read from its stderr line `Qualify
//! listening on http://ADDR`), then the SDK, from PyPI or npm and used as a
//! website would use it, sends `tests/sdk/journey.json` (an anonymous
//! product page, identify with traits, a product page, two tracks) and
//! flushes. The lead is then read back through `GET /api/leads/{id}` with
//! the read key, and the server is stopped with SIGTERM and must exit 0.
//!
//! The SDKs come from `tests/sdk/`: scripts/test makes `.venv-sdk/` from its
//! requirements.txt and runs `npm ci` there. Without them these tests fail
//! (never skip) and say to run scripts/test. `QUALIFY_SDK_PYTHON` and
//! `QUALIFY_SDK_NODE` name another interpreter.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const QUALIFY: &str = env!("CARGO_BIN_EXE_qualify");
/// How long an SDK script may take to send six messages and flush.
const SDK_TIMEOUT: Duration = Duration::from_secs(90);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

fn sdk_dir() -> PathBuf {
    repo_root().join("tests/sdk")
}

fn journey() -> Value {
    let text = std::fs::read_to_string(sdk_dir().join("journey.json")).expect("tests/sdk/journey.json is readable");
    serde_json::from_str(&text).expect("tests/sdk/journey.json is JSON")
}

/// The Python of the SDK venv; fails (never skips) when it is missing.
fn python() -> PathBuf {
    let python = std::env::var_os("QUALIFY_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-sdk/bin/python"));
    assert!(
        python.exists(),
        "no Python with the SDKs at {} (QUALIFY_SDK_PYTHON, default .venv-sdk/bin/python): run scripts/test, \
         which creates .venv-sdk/ from tests/sdk/requirements.txt",
        python.display()
    );
    python
}

/// `node`, with tests/sdk/node_modules installed; fails when either is missing.
fn node() -> PathBuf {
    let modules = sdk_dir().join("node_modules");
    assert!(
        modules.join("@segment/analytics-node").exists() && modules.join("@rudderstack/rudder-sdk-node").exists(),
        "the Node SDKs are not installed in {}: run scripts/test (it runs `npm ci` in tests/sdk/)",
        modules.display()
    );
    let node = std::env::var_os("QUALIFY_SDK_NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from);
    let version = Command::new(&node).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|output| output.status.success()),
        "cannot run {} (QUALIFY_SDK_NODE, default `node` on PATH): install Node.js 20 or later, then run scripts/test",
        node.display()
    );
    node
}

/// Runs a command to its end within `limit`, or kills it and fails.
fn output_within(mut command: Command, what: &str, limit: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(limit) {
        Ok(output) => output.unwrap_or_else(|error| panic!("{what} failed to run: {error}")),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{what} did not finish within {limit:?} (killed)");
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A temporary database with the demo model active, and a write and a read key.
struct Setup {
    dir: TempDir,
    write_key: String,
    read_key: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let model = dir.path().join("model.toml");
        std::fs::write(&model, qualify_generator::JEWELRY_MODEL).expect("the model is written");
        let setup = Setup { dir, write_key: String::new(), read_key: String::new() };
        setup.qualify(&["model", "activate", "--db", "qualify.db", "model.toml"]);
        let write_key = setup.key("write");
        let read_key = setup.key("read");
        Setup { write_key, read_key, ..setup }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("qualify.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(QUALIFY);
        command.current_dir(self.dir.path()).args(args);
        for variable in ["QUALIFY_DB", "QUALIFY_ADDR", "QUALIFY_CONFIG", "QUALIFY_LOG_FORMAT"] {
            command.env_remove(variable);
        }
        command
    }

    /// Runs `qualify ARGS`, which must succeed; returns its stdout.
    fn qualify(&self, args: &[&str]) -> String {
        let what = format!("`qualify {}`", args.join(" "));
        let output = output_within(self.command(args), &what, Duration::from_secs(60));
        assert!(
            output.status.success(),
            "{what} failed\nstdout:\n{}\nstderr:\n{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// `qualify keys create`: the key is alone on the last line of stdout.
    fn key(&self, role: &str) -> String {
        let stdout = self.qualify(&["keys", "create", "--db", "qualify.db", "--role", role, "--name", "sdk-test"]);
        let key = stdout.lines().last().unwrap_or_default().trim().to_owned();
        assert!(!key.is_empty() && !key.contains(' '), "no key on the last line of `qualify keys create`:\n{stdout}");
        key
    }

    /// Starts `qualify serve` on a free loopback port.
    fn serve(&self) -> Server {
        let db = self.db();
        let mut child = self
            .command(&["serve", "--db", db.to_str().expect("a UTF-8 path"), "--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("qualify serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (sender, receiver) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("Qualify listening on http://") {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = sender.send(addr);
                }
                let mut log = lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut server = Server { child, addr: String::new(), log };
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => server.addr = addr,
            Err(_) => panic!("`qualify serve` did not say where it listens within 30 s; stderr:\n{}", server.log()),
        }
        server
    }
}

/// A running `qualify serve`; killed if a test fails before stopping it.
struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// `GET path` with `Authorization: Bearer key`: the status and the body.
    fn get(&self, path: &str, key: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("the server accepts connections");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a read timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nAccept: application/json\r\n\
             Connection: close\r\n\r\n",
            self.addr
        )
        .expect("the request is sent");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("the response is read");
        let split = raw.windows(4).position(|window| window == b"\r\n\r\n").expect("an HTTP response");
        let head = text(&raw[..split]);
        let mut body = raw[split + 4..].to_vec();
        let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).expect("a status line");
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        (status, text(&body))
    }

    /// SIGTERM, then the server must finish and exit 0.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success(), "could not send SIGTERM to qualify serve ({pid})");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status: ExitStatus = loop {
            if let Some(status) = self.child.try_wait().expect("the server's status") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "qualify serve did not stop within 30 s of SIGTERM; stderr:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "qualify serve exited with {status} after SIGTERM; stderr:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = body.windows(2).position(|window| window == b"\r\n") else { return out };
        let size = usize::from_str_radix(text(&body[..end]).split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 2 + size + 2..];
    }
}

/// What an SDK script reported: every request it made, what was answered.
struct Report {
    value: Value,
}

impl Report {
    fn requests(&self) -> &[Value] {
        self.value["requests"].as_array().map_or(&[], Vec::as_slice)
    }

    /// The same value of `field` in every request.
    fn each(&self, field: &str) -> Vec<&Value> {
        self.requests().iter().map(|request| &request[field]).collect()
    }

    fn messages(&self) -> u64 {
        self.requests().iter().map(|request| request["messages"].as_u64().unwrap_or(0)).sum()
    }
}

/// Runs an SDK script; it must succeed and print its report last.
fn run_sdk(mut command: Command, sdk: &str, server: &Server, setup: &Setup, user: &str, anonymous: &str) -> Report {
    command.current_dir(sdk_dir()).args([sdk, &server.url(), &setup.write_key, user, anonymous]);
    let what = format!("the {sdk} SDK script ({command:?})");
    let output = output_within(command, &what, SDK_TIMEOUT);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    let context = || format!("\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}", server.log());
    assert!(
        output.status.success(),
        "{what} failed ({}); if an SDK is missing, run scripts/test{}",
        output.status,
        context()
    );
    let line =
        stdout.lines().rev().find(|line| line.starts_with('{')).unwrap_or_else(|| panic!("no report{}", context()));
    let value: Value = serde_json::from_str(line).unwrap_or_else(|error| panic!("a bad report ({error}){}", context()));
    let report = Report { value };
    assert!(!report.requests().is_empty(), "the SDK made no request{}", context());
    assert!(report.value["errors"].as_array().is_some_and(Vec::is_empty), "the SDK reported errors{}", context());
    for request in report.requests() {
        assert_eq!(
            request["status"],
            200,
            "every answer must be exactly 200 (rudder-sdk-python needs it){}",
            context()
        );
        assert_eq!(request["authorization"], "Basic", "the SDK sends its write key by HTTP Basic{}", context());
        assert!(
            request["url"].as_str().is_some_and(|url| url.ends_with("/v1/batch")),
            "posted to /v1/batch{}",
            context()
        );
    }
    // journey.json: an anonymous page, identify, then its pages and tracks.
    let journey = journey();
    let expected =
        2 + journey["pages"].as_array().map_or(0, Vec::len) + journey["tracks"].as_array().map_or(0, Vec::len);
    assert_eq!(report.messages(), expected as u64, "every message of journey.json was sent{}", context());
    report
}

/// The lead as the API shows it: journey.json's traits and the demo model's
/// scores, with the anonymous page linked by identify.
fn check_lead(server: &Server, setup: &Setup, user: &str, anonymous: &str) {
    let (status, body) = server.get(&format!("/api/leads/{user}"), &setup.read_key);
    assert_eq!(status, 200, "GET /api/leads/{user}: {body}\nserver log:\n{}", server.log());
    let lead: Value = serde_json::from_str(&body).expect("the lead is JSON");
    assert_eq!(lead["lead_id"], user, "{lead:#}");
    let journey = journey();
    let traits = journey["traits"].as_object().expect("journey.json has traits");
    for (name, value) in traits {
        assert_eq!(&lead["traits"][name], value, "trait {name} as sent, unchanged (untrusted text included): {lead:#}");
    }
    // Demo model: two /products/ pages 2 × 3, one visit 5, catalog 20,
    // appointment 40 = 71 (decay over the test's seconds is invisible at two
    // decimals). Fit: the affluent-socialite persona, all four rules, 100 (A).
    let engagement = lead["engagement"].as_f64().expect("a numeric engagement");
    assert!((engagement - 71.0).abs() < 0.05, "engagement {engagement}, expected 71: {lead:#}");
    assert_eq!(lead["fit"], 100, "{lead:#}");
    assert_eq!(lead["grade"], "A", "{lead:#}");
    assert_eq!(lead["persona"], "affluent-socialite", "{lead:#}");
    assert_eq!(lead["stage"], "mql", "{lead:#}");
    assert_eq!(lead["mql"], true, "{lead:#}");
    assert!(lead["mql_at"].is_string(), "an MQL has its time: {lead:#}");
    assert!(
        lead["anonymous_ids"].as_array().is_some_and(|ids| ids.iter().any(|id| id == anonymous)),
        "identify linked the anonymous id {anonymous}: {lead:#}"
    );

    let (status, body) = server.get(&format!("/api/leads/{user}/timeline"), &setup.read_key);
    assert_eq!(status, 200, "GET /api/leads/{user}/timeline: {body}");
    let timeline: Value = serde_json::from_str(&body).expect("the timeline is JSON");
    let events = timeline["events"].as_array().expect("timeline events");
    assert_eq!(events.len(), 5, "the five messages are the lead's, the anonymous page included: {timeline:#}");

    // A write key may only ingest: the SDK's key cannot read the lead back.
    let (status, _) = server.get(&format!("/api/leads/{user}"), &setup.write_key);
    assert_eq!(status, 403, "a write key must not read leads");
}

/// One SDK end to end: set up, serve, send, read back, stop.
fn sdk_end_to_end(interpreter: Command, sdk: &str, check: impl FnOnce(&Report)) {
    let setup = Setup::new();
    let server = setup.serve();
    let user = format!("sdk-{sdk}-user");
    let anonymous = format!("sdk-{sdk}-anonymous");
    let report = run_sdk(interpreter, sdk, &server, &setup, &user, &anonymous);
    check(&report);
    check_lead(&server, &setup, &user, &anonymous);
    server.stop();
}

fn python_script() -> Command {
    let mut command = Command::new(python());
    command.arg(sdk_dir().join("python_sdk.py")).env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

fn node_script() -> Command {
    let mut command = Command::new(node());
    command.arg(sdk_dir().join("node_sdk.js"));
    command
}

#[test]
fn segment_analytics_python_sends_plain_json_with_the_key_in_the_body_and_the_lead_is_scored() {
    sdk_end_to_end(python_script(), "segment", |report| {
        assert_eq!(report.value["sdk"], "segment-python");
        assert!(report.each("content_encoding").iter().all(|value| value.is_null()), "no gzip by default");
        assert!(report.each("body_write_key").iter().all(|value| **value == true), "writeKey in the body too");
    });
}

#[test]
fn rudder_sdk_python_sends_gzip_by_default_and_the_lead_is_scored() {
    sdk_end_to_end(python_script(), "rudder", |report| {
        assert_eq!(report.value["sdk"], "rudder-python");
        // Its default, untouched: every body gzipped, and the server answered 200.
        assert!(report.each("content_encoding").iter().all(|value| *value == "gzip"), "gzip by default");
        assert!(report.each("body_write_key").iter().all(|value| **value == false), "the key only in Basic auth");
    });
}

#[test]
fn segment_analytics_node_sends_plain_json_and_the_lead_is_scored() {
    sdk_end_to_end(node_script(), "segment", |report| {
        assert_eq!(report.value["sdk"], "segment-node");
        assert!(report.each("content_encoding").iter().all(|value| value.is_null()), "no gzip");
        assert!(report.each("body_write_key").iter().all(|value| **value == true), "writeKey in the body too");
    });
}

#[test]
fn rudder_sdk_node_sends_gzip_as_a_form_with_original_timestamps_and_the_lead_is_scored() {
    sdk_end_to_end(node_script(), "rudder", |report| {
        assert_eq!(report.value["sdk"], "rudder-node");
        assert!(report.each("content_encoding").iter().all(|value| *value == "gzip"), "gzip by default");
        assert!(
            report
                .each("content_type")
                .iter()
                .all(|value| value.as_str().is_some_and(|t| t.contains("x-www-form-urlencoded"))),
            "a gzipped body goes out as a form, JSON all the same"
        );
    });
}
