//! Rules change while traffic flows: `POST /admin/reload` and the file watcher swap in a
//! new rules file, a bad file is refused with every error and the rules in force stay.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use scrubproxy::listen;

use crate::support::{self, Behavior, FakeVendor};

/// The shipped rules, pointed at `upstream`, on loopback ports, with `deny` as the deny list.
pub(crate) fn rules_text(upstream: &str, deny: &str) -> String {
    let shipped = std::fs::read_to_string(crate::support::proxy::shipped_rules_path()).unwrap();
    let mut out = String::new();
    let mut in_deny = false;
    for line in shipped.lines() {
        let line = if line.starts_with("upstream = ") {
            format!("upstream = \"{upstream}\"")
        } else if line.starts_with("address = ") || line.starts_with("admin = ") {
            format!("{} = \"127.0.0.1:0\"", line.split(' ').next().unwrap())
        } else if line.starts_with("key_env = ") {
            "key_env = \"SCRUBPROXY_TEST_KEY_THAT_IS_NEVER_SET\"".to_string()
        } else if line.starts_with("deny = [") {
            in_deny = true;
            format!("deny = [{deny}]")
        } else if in_deny {
            in_deny = !line.starts_with(']');
            continue;
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

async fn send_plan(addr: std::net::SocketAddr) {
    let event = br#"{"type":"track","event":"e","properties":{"plan":"pro","email":"jane.doe@example.com"}}"#;
    let resp = support::send_raw(addr, "POST", "/segment/v1/t", &[], event.to_vec()).await;
    assert_eq!(resp.status, 200);
}

fn last_properties(vendor: &FakeVendor) -> serde_json::Value {
    let got = vendor.requests();
    let v: serde_json::Value = serde_json::from_slice(&got.last().unwrap().body).unwrap();
    v["properties"].clone()
}

#[tokio::test]
async fn rules_reload_live_and_a_bad_file_keeps_the_rules_in_force() {
    support::logs::init();
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let dir = std::env::temp_dir().join(format!("scrubproxy-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("rules.toml");
    std::fs::write(&path, rules_text(&vendor.base_url(), r#""*email*""#)).unwrap();
    let set = scrubproxy::rules::load(Some(&path)).unwrap();
    let running = listen::start(set, Some(path.clone())).await.unwrap();
    let admin = running.admin_addr;

    send_plan(running.addr).await;
    assert_eq!(last_properties(&vendor), serde_json::json!({"plan": "pro"}));

    // 1. Reload on request.
    std::fs::write(
        &path,
        rules_text(&vendor.base_url(), r#""*email*", "plan""#),
    )
    .unwrap();
    let resp = support::send_raw(admin, "POST", "/admin/reload", &[], Vec::new()).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    send_plan(running.addr).await;
    assert_eq!(last_properties(&vendor), serde_json::json!({}));

    // 2. A bad file: every error listed with its path, and the rules in force stay.
    let bad = rules_text(&vendor.base_url(), r#""plan""#)
        .replace("mode = \"truncate\"", "mode = \"fuzzy\"")
        .replace("ipv4_prefix = 24", "ipv4_prefix = 40");
    std::fs::write(&path, bad).unwrap();
    let resp = support::send_raw(admin, "POST", "/admin/reload", &[], Vec::new()).await;
    assert_eq!(resp.status, 422);
    let errors: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    let paths: Vec<&str> = errors["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"ip.mode") && paths.contains(&"ip.ipv4_prefix"),
        "{paths:?}"
    );
    send_plan(running.addr).await;
    assert_eq!(
        last_properties(&vendor),
        serde_json::json!({}),
        "old rules still in force"
    );

    // 3. The watcher picks up a corrected file by itself.
    std::fs::write(&path, rules_text(&vendor.base_url(), r#""*email*""#)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        send_plan(running.addr).await;
        if last_properties(&vendor) == serde_json::json!({"plan": "pro"}) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher did not reload the file"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let metrics = support::send_raw(admin, "GET", "/metrics", &[], Vec::new())
        .await
        .text();
    assert!(
        metrics.contains(r#"scrubproxy_rules_reloads_total{result="failure"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"scrubproxy_rules_reloads_total{result="success"} 2"#));
    assert!(metrics.contains("scrubproxy_rules_last_success_timestamp_seconds"));
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `text` as a kubelet writes a ConfigMap volume: into a new timestamped folder,
/// then `..data` is swapped to it by an atomic rename of a symlink. `rules.toml` itself is a
/// symlink through `..data` that never changes.
#[cfg(unix)]
fn kubelet_write(dir: &std::path::Path, generation: u32, text: &str) {
    use std::os::unix::fs::symlink;
    let version = format!("..2026_11_23_{generation}");
    std::fs::create_dir_all(dir.join(&version)).unwrap();
    std::fs::write(dir.join(&version).join("rules.toml"), text).unwrap();
    let staged = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&staged);
    symlink(&version, &staged).unwrap();
    std::fs::rename(&staged, dir.join("..data")).unwrap();
    if !dir.join("rules.toml").exists() {
        symlink("..data/rules.toml", dir.join("rules.toml")).unwrap();
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_configmap_update_by_symlink_swap_is_picked_up() {
    support::logs::init();
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let dir = std::env::temp_dir().join(format!("scrubproxy-configmap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    kubelet_write(&dir, 1, &rules_text(&vendor.base_url(), r#""*email*""#));
    let path = dir.join("rules.toml");
    let set = scrubproxy::rules::load(Some(&path)).unwrap();
    let running = listen::start(set, Some(path)).await.unwrap();
    send_plan(running.addr).await;
    assert_eq!(last_properties(&vendor), serde_json::json!({"plan": "pro"}));

    kubelet_write(
        &dir,
        2,
        &rules_text(&vendor.base_url(), r#""*email*", "plan""#),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        send_plan(running.addr).await;
        if last_properties(&vendor) == serde_json::json!({}) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the swapped ConfigMap was not loaded"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reload refused by the watcher (or SIGHUP, the same path) is no longer silent: the log
/// names every error with its TOML path and reason, and quotes no value from the file.
#[tokio::test]
async fn a_refused_reload_logs_each_error_with_its_path_and_no_value() {
    support::logs::init();
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let dir = std::env::temp_dir().join(format!("scrubproxy-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("rules.toml");
    let good = rules_text(&vendor.base_url(), r#""*email*""#);
    std::fs::write(&path, &good).unwrap();
    let set = scrubproxy::rules::load(Some(&path)).unwrap();
    let running = listen::start(set, Some(path.clone())).await.unwrap();

    // Two errors compile finds, and, once those are fixed, one the file's reader finds;
    // each value is a marker that must never reach the log.
    let compile_errors = good
        .replace(
            "header = \"x-forwarded-for\"",
            "header = \"x-marker-4711-client\"",
        )
        .replace(
            "precision = \"country\"",
            "precision = \"marker-4711-precision\"",
        );
    assert_ne!(compile_errors, good, "the shipped rules hold both settings");
    let reader_error = good.replace("tls_verify = true", "tls_verify = \"marker-4711-verify\"");
    assert_ne!(reader_error, good);
    for (text, paths) in [
        (compile_errors, &["client_ip.header", "geo.precision"][..]),
        (reader_error, &["upstream.tls_verify"][..]),
    ] {
        std::fs::write(&path, text).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let logs = support::logs::captured();
            let logged = |p: &&str| {
                logs.lines()
                    .any(|l| l.contains("rules reload refused") && l.contains(&format!("path={p}")))
            };
            if paths.iter().all(logged) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the watcher's refusal did not log {paths:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let logs = support::logs::captured();
    assert!(
        !logs.contains("marker-4711"),
        "a value from the file was logged"
    );
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
