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
    assert!(text.contains("6 tests, 0 failed"), "{text}");

    let broken = std::env::temp_dir().join(format!("scrubproxy-check-{}.toml", std::process::id()));
    let mut rules = std::fs::read_to_string(shipped()).unwrap();
    rules.push_str("\n[[test]]\nname = \"plan must go\"\nvendor = \"segment\"\npath = \"/v1/t\"\nbody = '{\"type\":\"track\",\"properties\":{\"plan\":\"pro\"}}'\nabsent = [\"pro\"]\n");
    std::fs::write(&broken, rules).unwrap();
    let failed = binary().arg("check").arg(&broken).output().unwrap();
    let text = String::from_utf8_lossy(&failed.stdout);
    assert!(!failed.status.success());
    assert!(
        text.contains("test \"plan must go\": FAILED") && text.contains("7 tests, 1 failed"),
        "{text}"
    );
    let _ = std::fs::remove_file(&broken);
}

#[test]
fn check_tests_fields_by_path_and_names_each_failed_expectation() {
    let path = std::env::temp_dir().join(format!("scrubproxy-fields-{}.toml", std::process::id()));
    let mut rules = std::fs::read_to_string(shipped()).unwrap();
    rules.push_str(concat!(
        "\n[[test]]\nname = \"wrong on purpose\"\nvendor = \"segment\"\npath = \"/v1/batch\"\n",
        "body = '{\"batch\":[{\"type\":\"track\",\"properties\":{\"plan\":\"pro\",\"email\":\"a@b.example\"}}]}'\n",
        "fields_absent = [\"body.batch.0.properties.plan\"]\n",
        "fields_present = [\"body.batch.*.properties.email\"]\n",
        "equal = { \"body.batch.0.properties.plan\" = \"basic\", \"body.batch.0.type\" = \"track\" }\n",
    ));
    std::fs::write(&path, rules).unwrap();
    let out = binary().arg("check").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    for reason in [
        "field body.batch.0.properties.plan is still sent",
        "field body.batch.*.properties.email is not sent",
        "field body.batch.0.properties.plan is not \"basic\"",
    ] {
        assert!(text.contains(reason), "missing {reason:?} in:\n{text}");
    }
    assert!(
        !text.contains("body.batch.0.type"),
        "a met expectation is quiet:\n{text}"
    );
    assert!(
        !text.contains("a@b.example"),
        "no payload value in the report"
    );
    let _ = std::fs::remove_file(&path);
}

/// `scrubproxy scrub` of one Segment track request with the rules at `rules`.
fn scrub_segment(rules: &std::path::Path, body: &[u8]) -> std::process::Output {
    let mut child = binary()
        .args(["scrub", "--vendor", "segment", "--path", "/v1/t", "--rules"])
        .arg(rules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn scrub_shows_the_request_as_sent_and_counts_what_the_rules_did() {
    let out = scrub_segment(
        &shipped(),
        br#"{"type":"track","event":"e","properties":{"email":"jane.doe@example.com","plan":"pro"}}"#,
    );
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

/// The ```toml blocks of a Markdown file.
fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_rules_example_in_the_docs_passes_check() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for doc in ["README.md", "deploy/README.md"] {
        let Ok(text) = std::fs::read_to_string(root.join(doc)) else {
            continue;
        };
        for (i, block) in toml_blocks(&text).into_iter().enumerate() {
            let path = std::env::temp_dir().join(format!(
                "scrubproxy-doc-{}-{}-{i}.toml",
                std::process::id(),
                doc.replace('/', "-")
            ));
            std::fs::write(&path, &block).unwrap();
            let out = binary().arg("check").arg(&path).output().unwrap();
            assert!(
                out.status.success(),
                "{doc}, toml example {i} fails check:\n{}{}\n{block}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
            let _ = std::fs::remove_file(&path);
        }
    }
    assert!(checked >= 2, "the README's examples were found");
}

#[test]
fn operator_detectors_scrub_values_and_bad_ones_are_refused_with_their_path() {
    let path = std::env::temp_dir().join(format!("scrubproxy-custom-{}.toml", std::process::id()));
    // Consented events: anonymized ones would redact where these hash.
    let rules = r#"
[consent]
unknown = "forward"

[[values.custom]]
name = "employee_id"
pattern = '\bEMP-[0-9]{6}\b'

[[values.custom]]
name = "codename"
literals = ["Project Falcon"]
action = "hash"

[[route]]
prefix = "/segment"
vendor = "segment"
upstream = "https://api.segment.io"
"#;
    std::fs::write(&path, rules).unwrap();
    let out = scrub_segment(
        &path,
        br#"{"type":"track","event":"e","properties":{"note":"EMP-123456 on project falcon"}}"#,
    );
    let sent = String::from_utf8_lossy(&out.stdout);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{sent}{summary}");
    assert!(sent.contains("[employee_id] on "), "{sent}");
    assert!(
        !sent.contains("EMP-123456") && !sent.to_lowercase().contains("falcon"),
        "{sent}"
    );
    assert!(
        summary.contains("custom_value") && summary.contains("hash"),
        "{summary}"
    );

    std::fs::write(&path, rules.replace(r"\bEMP-[0-9]{6}\b", "(EMP")).unwrap();
    let out = binary().arg("check").arg(&path).output().unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        errors.contains("values.custom[0]: not a valid regular expression"),
        "{errors}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_route_can_override_the_value_rules_and_a_wrong_override_is_refused() {
    let path =
        std::env::temp_dir().join(format!("scrubproxy-override-{}.toml", std::process::id()));
    let rules = r#"
[[route]]
prefix = "/segment"
vendor = "segment"
upstream = "https://api.segment.io"

[[route]]
prefix = "/amplitude"
vendor = "amplitude"
upstream = "https://api2.amplitude.com"
values = { email = "keep", phone = "mask", iban_marker = "<IBAN>" }

[[test]]
name = "Segment: the [values] table"
vendor = "segment"
path = "/v1/t"
body = '{"type":"track","properties":{"note":"jane@example.com +1 415 555 0100"}}'
equal = { "body.properties.note" = "[email] [phone]" }

[[test]]
name = "Amplitude: its own values"
vendor = "amplitude"
path = "/2/httpapi"
body = '{"api_key":"k","events":[{"event_type":"e","event_properties":{"note":"jane@example.com +1 415 555 0100","bank":"GB82 WEST 1234 5698 7654 32"}}]}'
equal = { "body.events.0.event_properties.note" = "jane@example.com ***********0100", "body.events.0.event_properties.bank" = "<IBAN>" }
"#;
    std::fs::write(&path, rules).unwrap();
    let out = binary().arg("check").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("2 tests, 0 failed"), "{text}");

    std::fs::write(&path, rules.replace("phone = \"mask\"", "phone = \"blur\"")).unwrap();
    let out = binary().arg("check").arg(&path).output().unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        errors.contains("route[1].values.phone: must be"),
        "{errors}"
    );
    std::fs::write(
        &path,
        rules.replace("phone = \"mask\"", "telephone = \"mask\""),
    )
    .unwrap();
    let out = binary().arg("check").arg(&path).output().unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        errors.contains("route[1].values: unknown field `telephone`"),
        "{errors}"
    );
    let _ = std::fs::remove_file(&path);
}
