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
    assert!(stderr.starts_with("POST /v1/t\n"), "{stderr}");
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

/// One route, the least a rules file needs.
const ONE_ROUTE: &str =
    "\n[[route]]\nprefix = \"/segment\"\nvendor = \"segment\"\nupstream = \"https://api.segment.io\"\n";

/// A rules file in the temp directory, unique to this test process and `name`.
fn temp_rules(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("scrubproxy-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits for `child` to exit, at most `limit`; kills it and returns `None` if it does not.
fn exit_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `run` on ephemeral loopback ports with `rules` (extra TOML), its stdout read line by line.
struct Served {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// The rules file it runs with.
    rules: std::path::PathBuf,
}

impl Served {
    fn start(name: &str, rules: &str, env: &[(&str, &str)]) -> Served {
        let text = format!(
            "[listen]\naddress = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nworkers = 1\n{rules}{ONE_ROUTE}"
        );
        let path = temp_rules(name, &text);
        let mut cmd = binary();
        cmd.args(["run", "--config"])
            .arg(&path)
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Served {
            child,
            lines,
            rules: path,
        }
    }

    /// Every line up to and including the first that contains `text` (20 s at most).
    fn lines_until(&self, text: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {text:?} in:\n{}", seen.join("\n"));
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mistyped `--config` (a ConfigMap mounted elsewhere) must stop the start, not serve the
/// embedded rules; the same path fails `check` and `scrub` alike, and every command takes
/// `--config`.
#[test]
fn an_explicit_config_that_cannot_be_read_stops_every_command() {
    let missing = std::env::temp_dir().join(format!("scrubproxy-typo-{}.toml", std::process::id()));
    let mut run = binary()
        .args(["run", "--config"])
        .arg(&missing)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = exit_within(&mut run, std::time::Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| !s.success()),
        "run with an unreadable --config must exit non-zero, not serve: {status:?}"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut run.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("cannot read the rules file") && stderr.contains("scrubproxy-typo-"),
        "{stderr}"
    );
    let dir = std::env::temp_dir();
    for (args, what) in [
        (vec!["check", "--config"], "check"),
        (
            vec![
                "scrub", "--vendor", "segment", "--path", "/v1/t", "--config",
            ],
            "scrub",
        ),
    ] {
        for path in [&missing, &dir] {
            let out = binary()
                .args(&args)
                .arg(path)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{what} {path:?}");
            assert!(
                stderr.contains("cannot read the rules file"),
                "{what}: {stderr}"
            );
        }
    }
    // The one spelling works for each command on a good file.
    let ok = binary()
        .args(["check", "--config"])
        .arg(shipped())
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let out = scrub_with(
        &["--config"],
        &shipped(),
        br#"{"type":"track","event":"e"}"#,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `scrub` with `flag` naming the rules.
fn scrub_with(flag: &[&str], rules: &std::path::Path, body: &[u8]) -> std::process::Output {
    let mut child = binary()
        .args(["scrub", "--vendor", "segment", "--path", "/v1/t"])
        .args(flag)
        .arg(rules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    child.wait_with_output().unwrap()
}

/// stdout is the body as it would be sent and nothing else, so `scrub | jq` works; the
/// request line and the report go to stderr.
#[test]
fn scrub_writes_only_the_body_to_stdout() {
    let body = br#"{"type":"track","event":"e","properties":{"email":"jane.doe@example.com","plan":"pro"}}"#;
    let out = scrub_with(&["--config"], &shipped(), body);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not the JSON body ({e}): {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(sent["properties"]["plan"], "pro");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("POST /v1/t\n"), "{stderr}");

    // Everything dropped: nothing on stdout, the reason on stderr.
    let rules = temp_rules(
        "drop-all",
        &format!("[events]\ndrop = [\"e\"]\n{ONE_ROUTE}"),
    );
    let out = scrub_with(&["--config"], &rules, br#"{"type":"track","event":"e"}"#);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing sent"));
    let _ = std::fs::remove_file(&rules);
}

/// The example Secret's placeholder key, and keys anyone could guess, are refused by `run`
/// (it does not start) and by `check` (with the setting's path), from a file or the
/// environment; a random key passes both.
#[test]
fn placeholder_and_weak_hmac_keys_are_refused_by_run_and_check() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let secret =
        std::fs::read_to_string(root.join("deploy/kubernetes/standalone/secret.yaml")).unwrap();
    let placeholder = secret
        .lines()
        .find_map(|l| l.trim().strip_prefix("hmac-key:"))
        .map(|v| v.trim().trim_matches('"').to_owned());
    let mut weak = vec![
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned(),
        "0123456789abcdef0123".to_owned(),
        "changeme-please-1234567".to_owned(),
    ];
    // The shipped example is a placeholder until someone replaces it; then it must pass.
    if let Some(p) = placeholder.filter(|p| p.to_lowercase().contains("change")) {
        weak.push(p);
    }
    let rules = temp_rules(
        "weak-key",
        &format!("[listen]\naddress = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n{ONE_ROUTE}"),
    );
    for key in &weak {
        let out = binary()
            .args(["check", "--config"])
            .arg(&rules)
            .env("SCRUBPROXY_HMAC_KEY", key)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "check passed {key:?}");
        assert!(stderr.contains("identifiers.key_env: the key"), "{stderr}");
        assert!(
            !stderr.contains(key.as_str()),
            "the key itself is never printed"
        );
        let mut run = binary()
            .args(["run", "--config"])
            .arg(&rules)
            .env("SCRUBPROXY_HMAC_KEY", key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = exit_within(&mut run, std::time::Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| !s.success()),
            "run started with {key:?}"
        );
    }
    let key_file = std::env::temp_dir().join(format!("scrubproxy-weak-key-{}", std::process::id()));
    std::fs::write(&key_file, "CHANGE-ME-placeholder-hmac-key-not-secret\n").unwrap();
    let with_file = temp_rules(
        "weak-key-file",
        &format!(
            "[identifiers]\nkey_file = {:?}\n",
            key_file.display().to_string()
        ),
    );
    let out = binary()
        .args(["check", "--config"])
        .arg(&with_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("identifiers.key_file: the key is a placeholder"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = binary()
        .args(["check", "--config"])
        .arg(&rules)
        .env("SCRUBPROXY_HMAC_KEY", "q3V9xK2mR7pT1wZ8bN4cJ6fH0dL5sA")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for path in [rules, with_file, key_file] {
        let _ = std::fs::remove_file(path);
    }
}

/// `[log] format = "json"`: every line one JSON object with level, target and message;
/// text written to a pipe carries no colour codes (colour is for terminals only).
#[test]
fn logs_are_json_or_plain_text_and_uncoloured_off_a_terminal() {
    let served = Served::start("log-json", "[log]\nformat = \"json\"\n", &[]);
    let lines = served.lines_until("listening");
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["target"].is_string(),
            "{line}"
        );
        assert!(value["timestamp"].is_string(), "{line}");
    }
    let listening: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(listening["message"], "listening");
    assert!(listening["addr"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));
    drop(served);

    // The environment sets it too (SCRUBPROXY_LOG__FORMAT), as any setting.
    let served = Served::start("log-env", "", &[("SCRUBPROXY_LOG__FORMAT", "json")]);
    let lines = served.lines_until("listening");
    assert!(lines.iter().all(|l| l.starts_with('{')), "{lines:?}");
    drop(served);

    let served = Served::start("log-text", "", &[]);
    let lines = served.lines_until("listening");
    assert!(
        lines.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes written to a pipe: {lines:?}"
    );
    assert!(lines.last().unwrap().contains("INFO"), "{lines:?}");
}

/// The status line of a plain HTTP/1.1 request to `addr`, blocking.
fn status_of(addr: &str, method: &str, path: &str, auth: Option<&str>) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = auth.map_or(String::new(), |a| format!("authorization: Bearer {a}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: x\r\n{auth}connection: close\r\ncontent-length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

/// `SCRUBPROXY_ADMIN_TOKEN` locks `/admin/*` of the real binary, loopback included.
#[test]
fn the_admin_token_from_the_environment_locks_the_admin_endpoints() {
    let token = "Env-admin-T0ken-q7Zx2Lp9";
    let served = Served::start(
        "admin-env",
        "[log]\nformat = \"json\"\n",
        &[("SCRUBPROXY_ADMIN_TOKEN", token)],
    );
    let lines = served.lines_until("listening");
    let listening: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let admin = listening["admin_addr"].as_str().unwrap().to_owned();
    assert!(status_of(&admin, "GET", "/admin/rules", None).contains(" 401 "));
    assert!(status_of(
        &admin,
        "POST",
        "/admin/reload",
        Some("not-the-token-at-all")
    )
    .contains(" 401 "));
    assert!(status_of(&admin, "GET", "/admin/rules", Some(token)).contains(" 200 "));
    assert!(status_of(&admin, "GET", "/metrics", None).contains(" 200 "));
    assert!(status_of(&admin, "GET", "/readyz", None).contains(" 200 "));
}

/// SIGHUP with a broken file: the log names each error with its TOML path (the reload's
/// only report when nobody called `/admin/reload`), and quotes no value from the file.
#[test]
fn a_reload_refused_on_sighup_logs_each_error_with_its_path() {
    let served = Served::start("sighup", "[log]\nformat = \"json\"\n", &[]);
    served.lines_until("listening");
    let good = std::fs::read_to_string(&served.rules).unwrap();
    let bad = format!("{good}\n[ip]\nmode = \"marker-8123-mode\"\nipv4_prefix = 40\n");
    std::fs::write(&served.rules, bad).unwrap();
    let hangup = std::process::Command::new("kill")
        .args(["-HUP", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hangup.success());
    let mut lines = served.lines_until("SIGHUP");
    // The errors come one line each, in the compiler's order.
    for path in ["\"ip.mode\"", "\"ip.ipv4_prefix\""] {
        if !lines.iter().any(|l| l.contains(path)) {
            lines.extend(served.lines_until(path));
        }
    }
    let refusals: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "rules reload refused: error")
        .collect();
    let paths: Vec<&str> = refusals.iter().filter_map(|v| v["path"].as_str()).collect();
    assert!(
        paths.contains(&"ip.mode") && paths.contains(&"ip.ipv4_prefix"),
        "{lines:?}"
    );
    assert!(refusals.iter().all(|v| v["reason"].is_string()));
    assert!(
        !lines.iter().any(|l| l.contains("marker-8123")),
        "{lines:?}"
    );
}

/// `scrub --vendor` takes the vendors' names from their table: its help lists every one, and
/// any other name is refused before the rules are read.
#[test]
fn scrub_names_every_vendor_and_refuses_any_other() {
    let help = binary().args(["scrub", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for name in scrubproxy::vendor::VendorKind::NAMES {
        assert!(help.contains(name), "{name} missing from:\n{help}");
    }
    let out = binary()
        .args(["scrub", "--vendor", "Segment", "--path", "/v1/t"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("possible values"), "{stderr}");
}
