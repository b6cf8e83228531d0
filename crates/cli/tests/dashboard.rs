//! The dashboard in a real browser, end to end.
//!
//! `qualify demo --serve` builds the demo database (3,000 generated leads)
//! in a temporary directory, makes an admin key and serves on
//! `127.0.0.1:0`; its stdout says where and with which key. Then
//! `node tests/e2e/dashboard.mjs URL KEY DIR` drives headless Debian
//! chromium through it with playwright-core (sign in, work the queue, KPIs,
//! a lead, the model editor: see that script) and must exit 0. Screenshots
//! of every page land in `tests/e2e/screenshots/` (git-ignored).
//!
//! scripts/test installs chromium (apt) and tests/e2e/node_modules (npm
//! ci). Without them this test fails and says so; it never skips.
//! `QUALIFY_CHROMIUM` names another browser binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const QUALIFY: &str = env!("CARGO_BIN_EXE_qualify");
/// The demo database is built before the server listens (debug builds are slow).
const START_TIMEOUT: Duration = Duration::from_secs(240);
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

/// `qualify demo --serve`, killed if the test fails before stopping it.
struct DemoServer {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl DemoServer {
    fn output(&self) -> String {
        self.output.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// SIGTERM; the server must finish and exit 0.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs").success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("the server's status") {
                break status;
            }
            assert!(Instant::now() < deadline, "qualify did not stop within 30 s of SIGTERM:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "qualify demo --serve exited with {status}:\n{}", self.output());
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `qualify demo --serve` and returns it with its URL and admin key,
/// read from its stdout: `The dashboard: URL`, then the key alone on a line.
fn start_demo(dir: &Path) -> (DemoServer, String, String) {
    let mut child = Command::new(QUALIFY)
        .current_dir(dir)
        .args(["demo", "--db", "demo.db", "--serve", "--addr", "127.0.0.1:0"])
        .env_remove("QUALIFY_DB")
        .env_remove("QUALIFY_ADDR")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qualify demo --serve starts");
    let output = Arc::new(Mutex::new(String::new()));
    let (sender, receiver) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout is piped");
    let lines = Arc::clone(&output);
    std::thread::spawn(move || {
        let mut url = None;
        let mut after_url = 0;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push_str(&format!("{line}\n"));
            if let Some(rest) = line.strip_prefix("The dashboard: ") {
                url = Some(rest.trim().trim_end_matches('/').to_owned());
            } else if url.is_some() {
                after_url += 1;
                // The line after the URL explains; the next is the key.
                if after_url == 2 {
                    let _ = sender.send((url.clone().unwrap_or_default(), line.trim().to_owned()));
                }
            }
        }
    });
    let stderr = child.stderr.take().expect("stderr is piped");
    let errors = Arc::clone(&output);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            errors.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push_str(&format!("{line}\n"));
        }
    });
    let server = DemoServer { child, output };
    match receiver.recv_timeout(START_TIMEOUT) {
        Ok((url, key)) => {
            assert!(key.starts_with("qk_"), "no admin key after the URL:\n{}", server.output());
            (server, url, key)
        }
        Err(_) => panic!(
            "`qualify demo --serve` did not print its URL and key within {START_TIMEOUT:?}:\n{}",
            server.output()
        ),
    }
}

#[test]
fn the_dashboard_works_in_headless_chromium_from_sign_in_to_activating_a_model() {
    let e2e = repo_root().join("tests/e2e");
    let chromium =
        std::env::var_os("QUALIFY_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "no browser at {}: run scripts/test, which installs Debian's chromium (or set QUALIFY_CHROMIUM)",
        chromium.display()
    );
    assert!(
        e2e.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed in {}: run scripts/test (it runs `npm ci` in tests/e2e/)",
        e2e.join("node_modules").display()
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (server, url, key) = start_demo(dir.path());
    let screenshots = e2e.join("screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);

    let started = Instant::now();
    let child = Command::new(std::env::var_os("QUALIFY_SDK_NODE").unwrap_or_else(|| "node".into()))
        .arg(e2e.join("dashboard.mjs"))
        .args([url.as_str(), key.as_str()])
        .arg(&screenshots)
        .env("QUALIFY_CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (install Node.js 20 or later)");
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let output = match receiver.recv_timeout(BROWSER_TIMEOUT) {
        Ok(output) => output.expect("the browser test ran"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("the browser test did not finish within {BROWSER_TIMEOUT:?}; server output:\n{}", server.output());
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed ({}) after {:.1} s\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver:\n{}",
        output.status,
        started.elapsed().as_secs_f64(),
        server.output()
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    for name in ["02-queue", "04-kpis", "06-lead", "08-model-invalid", "09-model-backtest", "11-queue-phone"] {
        assert!(screenshots.join(format!("{name}.png")).exists(), "no screenshot {name}.png");
    }
    eprintln!("browser test: {:.1} s; screenshots in {}", started.elapsed().as_secs_f64(), screenshots.display());
    server.stop();
}
