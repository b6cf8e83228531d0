//! What the CLI's black-box tests share: running the real `qualify` binary
//! in a temporary directory (never the caller's `QUALIFY_DB`).

#![allow(dead_code)] // each test file uses a part

use assert_cmd::Command;
use tempfile::TempDir;

/// What a run printed, and whether it succeeded.
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `qualify ARGS` in `dir`.
pub fn qualify(dir: &TempDir, args: &[&str]) -> Output {
    let output = Command::cargo_bin("qualify")
        .expect("the qualify binary is built")
        .current_dir(dir.path())
        .env_remove("QUALIFY_DB")
        .args(args)
        .output()
        .unwrap();
    Output {
        success: output.status.success(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs `qualify ARGS` in `dir` and insists that it succeeds.
pub fn run(dir: &TempDir, args: &[&str]) -> Output {
    let output = qualify(dir, args);
    assert!(output.success, "{args:?} failed\nstdout:\n{}\nstderr:\n{}", output.stdout, output.stderr);
    output
}

/// Runs `qualify ARGS` in `dir` and insists that it fails; its stderr.
pub fn fails(dir: &TempDir, args: &[&str]) -> String {
    let output = qualify(dir, args);
    assert!(!output.success, "{args:?} succeeded\nstdout:\n{}", output.stdout);
    output.stderr
}
