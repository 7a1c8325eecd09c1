//! The command line as operators use it: `check` runs the rules' own cases, `scrub` runs one
//! request offline. The real binary, real files.

use std::io::Write;
use std::process::Stdio;

use crate::support::proxy::binary;

fn shipped() -> std::path::PathBuf {
    crate::support::proxy::shipped_rules_path()
}

#[test]
fn check_runs_the_shipped_cases_and_fails_on_a_broken_one() {
    let ok = binary().arg("check").arg(shipped()).output().unwrap();
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{text}");
    assert!(text.contains("3 tests, 0 failed"), "{text}");

    let broken = std::env::temp_dir().join(format!("scrubproxy-check-{}.toml", std::process::id()));
    let mut rules = std::fs::read_to_string(shipped()).unwrap();
    rules.push_str("\n[[test]]\nname = \"plan must go\"\nvendor = \"segment\"\npath = \"/v1/t\"\nbody = '{\"type\":\"track\",\"properties\":{\"plan\":\"pro\"}}'\nabsent = [\"pro\"]\n");
    std::fs::write(&broken, rules).unwrap();
    let failed = binary().arg("check").arg(&broken).output().unwrap();
    let text = String::from_utf8_lossy(&failed.stdout);
    assert!(!failed.status.success());
    assert!(
        text.contains("test \"plan must go\": FAILED") && text.contains("4 tests, 1 failed"),
        "{text}"
    );
    let _ = std::fs::remove_file(&broken);
}

#[test]
fn scrub_shows_the_request_as_sent_and_counts_what_the_rules_did() {
    let mut child = binary()
        .args(["scrub", "--vendor", "segment", "--path", "/v1/t", "--rules"])
        .arg(shipped())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"type":"track","event":"e","properties":{"email":"jane.doe@example.com","plan":"pro"}}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("POST /v1/t\n"), "{stdout}");
    assert!(
        stdout.contains(r#""plan":"pro""#) && !stdout.contains("jane.doe"),
        "{stdout}"
    );
    assert!(
        stderr.contains("events: 1 forwarded") && stderr.contains("property_deny"),
        "{stderr}"
    );
    assert!(!stderr.contains("jane"), "the summary never shows values");
}
