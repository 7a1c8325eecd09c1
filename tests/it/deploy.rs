//! `deploy/` as operators use it: the Kubernetes manifests against the Kubernetes schemas
//! (`kubernetes-validate`) and the prometheus-operator ones (`tests/deploy/check.mjs`), the
//! kustomizations rendered when `kubectl` is here, the alert rules and their unit tests with
//! `promtool`, the dashboard's queries, the deploy rules files through
//! `deploy/kubernetes/check-rules.sh` (`scrubproxy check`), and the live `/metrics` of a real
//! proxy run with the sidecar's rules: promtool accepts it, and it has every metric the
//! alerts and the dashboard use.
//!
//! Needs `promtool` (Debian's `prometheus`), `kubernetes-validate` (PyPI), node and `npm ci`
//! in `tests/deploy/`. Without one of them the test that needs it prints `SKIPPED` and
//! passes, unless `SCRUBPROXY_REQUIRE_DEPLOY_TOOLS=1`, which makes the absence a failure.
//! `kubectl` is optional everywhere: without it each resource file is validated as written.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use scrubproxy::listen;

use crate::support::{self, Behavior, FakeVendor};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn deploy() -> PathBuf {
    repo().join("deploy")
}

/// The kustomization folders under deploy/kubernetes.
fn overlays() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(deploy().join("kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("kustomization.yaml").exists())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 3, "sidecar, standalone, monitoring: {dirs:?}");
    dirs
}

/// The overlays that run the proxy: those with their own rules.toml.
fn proxy_overlays() -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = overlays()
        .into_iter()
        .filter(|d| d.join("rules.toml").exists())
        .collect();
    assert!(dirs.len() >= 2, "sidecar and standalone: {dirs:?}");
    dirs
}

/// A fresh scratch folder for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scrubproxy-deploy-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Whether the deploy tools must be there (CI) or may be missing (a developer's machine).
fn tools_required() -> bool {
    std::env::var("SCRUBPROXY_REQUIRE_DEPLOY_TOOLS").as_deref() == Ok("1")
}

/// `name` from PATH; when it is missing the test says so loudly and passes, or fails when
/// the tools are required.
fn tool(name: &str, install: &str) -> Option<PathBuf> {
    let found = on_path(name);
    if found.is_none() {
        assert!(
            !tools_required(),
            "SCRUBPROXY_REQUIRE_DEPLOY_TOOLS=1 but {name} is not on PATH ({install})"
        );
        eprintln!("SKIPPED: {name} is not on PATH ({install})");
    }
    found
}

/// node with the packages of tests/deploy installed.
fn node() -> Option<PathBuf> {
    let node = tool("node", "install Node.js")?;
    let models = repo().join("tests/deploy/node_modules/@kubernetes-models/prometheus-operator");
    if !models.exists() {
        assert!(
            !tools_required(),
            "SCRUBPROXY_REQUIRE_DEPLOY_TOOLS=1 but tests/deploy/node_modules is missing (npm ci there)"
        );
        eprintln!("SKIPPED: run `npm ci` in tests/deploy");
        return None;
    }
    Some(node)
}

/// Runs `cmd`; panics with its whole output unless it succeeded.
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every overlay rendered by `kubectl kustomize` into `dir`, or nothing without kubectl
/// (kubectl is not a Debian package; the files are then checked as written).
fn render_overlays(dir: &Path) -> Vec<PathBuf> {
    let Some(kubectl) = on_path("kubectl") else {
        eprintln!("note: no kubectl; the kustomizations are checked file by file, not rendered");
        return Vec::new();
    };
    overlays()
        .iter()
        .map(|overlay| {
            let out = run_ok(Command::new(&kubectl).arg("kustomize").arg(overlay));
            let name = overlay.file_name().unwrap().to_string_lossy();
            let path = dir.join(format!("{name}.rendered.yaml"));
            std::fs::write(&path, &out.stdout).unwrap();
            path
        })
        .collect()
}

/// The manifests as written: every YAML file a kustomization applies (not the
/// kustomization.yaml files themselves).
fn manifest_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in overlays() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".yaml") && name != "kustomization.yaml" {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Kinds kubernetes-validate has no schema for: only the prometheus-operator ones, which
/// check.mjs validates.
const CUSTOM_KINDS: [&str; 3] = ["ServiceMonitor", "PodMonitor", "PrometheusRule"];

fn kubernetes_validate(validator: &Path, version: Option<&str>, files: &[PathBuf]) {
    let mut cmd = Command::new(validator);
    cmd.arg("--strict");
    if let Some(v) = version {
        cmd.args(["--kubernetes-version", v]);
    }
    let out = run_ok(cmd.args(files));
    let said = text(&out);
    for line in said.lines().filter(|l| l.contains("Couldn't find schema")) {
        assert!(
            CUSTOM_KINDS
                .iter()
                .any(|k| line.contains(&format!("for kind {k} "))),
            "a kind nothing validates: {line}"
        );
    }
    eprintln!("{said}");
}

#[test]
fn kubernetes_manifests_pass_the_kubernetes_schemas() {
    let Some(validator) = tool("kubernetes-validate", "pip install kubernetes-validate") else {
        return;
    };
    let scratch = scratch("schemas");
    let mut files = manifest_files();
    files.extend(render_overlays(&scratch));
    // The newest schemas, and 1.30, the oldest release the manifests are written for (the
    // preStop sleep action).
    kubernetes_validate(&validator, None, &files);
    kubernetes_validate(&validator, Some("1.30.0"), &files);
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn custom_resources_kustomizations_and_the_prometheus_rule_check() {
    let Some(node) = node() else {
        return;
    };
    let scratch = scratch("custom");
    let rendered = render_overlays(&scratch);
    let out = run_ok(
        Command::new(node)
            .arg(repo().join("tests/deploy/check.mjs"))
            .args(&rendered),
    );
    eprintln!("{}", text(&out));
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let Some(promtool) = tool("promtool", "apt-get install prometheus") else {
        return;
    };
    let dir = deploy().join("prometheus");
    let check = run_ok(
        Command::new(&promtool)
            .args(["check", "rules"])
            .arg(dir.join("alerts.yml")),
    );
    let tests = run_ok(
        Command::new(&promtool)
            .args(["test", "rules"])
            .arg(dir.join("alerts.test.yml")),
    );
    eprintln!("{}{}", text(&check), text(&tests));
}

fn dashboard() -> serde_json::Value {
    let path = deploy().join("grafana/scrubproxy-dashboard.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("dashboard is JSON")
}

/// The panels and their queries, row panels left out.
fn dashboard_queries(dash: &serde_json::Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        for target in panel["targets"].as_array().unwrap() {
            let id = format!("{} {}", panel["id"], target["refId"].as_str().unwrap());
            queries.push((id, target["expr"].as_str().unwrap().to_string()));
        }
    }
    queries
}

/// Metrics the issue asks the dashboard to show.
const DASHBOARD_MUST_SHOW: [&str; 12] = [
    "scrubproxy_requests_total",
    "scrubproxy_request_duration_seconds_bucket",
    "scrubproxy_upstream_duration_seconds_bucket",
    "scrubproxy_upstream_errors_total",
    "scrubproxy_events_total",
    "scrubproxy_fields_scrubbed_total",
    "scrubproxy_rejected_requests_total",
    "scrubproxy_in_flight_requests",
    "scrubproxy_rules_reloads_total",
    "scrubproxy_rules_last_success_timestamp_seconds",
    "scrubproxy_request_bytes_in_total",
    "scrubproxy_request_bytes_out_total",
];

#[test]
fn dashboard_uses_its_datasource_input_and_valid_queries() {
    let dash = dashboard();
    let ds = serde_json::json!({"type": "prometheus", "uid": "${DS_PROMETHEUS}"});
    assert!(
        dash["__inputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "an import input for the datasource"
    );
    assert!(
        dash["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "DS_PROMETHEUS" && v["type"] == "datasource"),
        "a datasource variable, for provisioning (which has no import inputs)"
    );
    let mut ids = BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate panel id"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"], ds, "panel {}", panel["title"]);
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"], ds, "panel {}", panel["title"]);
        }
    }
    // Nothing anywhere (panels, variables) names another datasource.
    fn datasources<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
        match v {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    if key == "datasource" {
                        out.push(value);
                    }
                    datasources(value, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| datasources(i, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    datasources(&dash, &mut all);
    for found in all {
        assert_eq!(*found, ds, "a datasource other than the input");
    }
    let queries = dashboard_queries(&dash);
    for metric in DASHBOARD_MUST_SHOW {
        assert!(
            queries.iter().any(|(_, q)| q.contains(metric)),
            "no panel shows {metric}"
        );
    }

    // promtool parses each query as a recording rule, Grafana's variables filled in.
    let Some(promtool) = tool("promtool", "apt-get install prometheus") else {
        return;
    };
    let scratch = scratch("dashboard");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (id, query) in &queries {
        let expr = query
            .replace("$__rate_interval", "5m")
            .replace("$instance", ".*")
            .replace("$vendor", ".*");
        assert!(
            !expr.contains('$'),
            "an unknown variable in panel {id}: {query}"
        );
        let record = format!("dashboard:panel_{}", id.replace(' ', "_"));
        // JSON strings are YAML double-quoted scalars.
        rules.push_str(&format!(
            "      - record: {record}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let file = scratch.join("dashboard-queries.yml");
    std::fs::write(&file, rules).unwrap();
    let out = run_ok(Command::new(promtool).args(["check", "rules"]).arg(&file));
    eprintln!("{}", text(&out));
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Secret values for the rules' key and token files, as the mounted Secret provides them.
const TEST_HMAC_KEY: &str = "deploy-test-hmac-key-0123456789";
const TEST_MATOMO_TOKEN: &str = "deploy-test-matomo-token";
const TEST_ADMIN_TOKEN: &str = "deploy-test-admin-token-4Zq8";

/// A deploy rules file made runnable here: the Secret's mount point becomes `secrets` (with
/// a key and a token in it), and `edit` changes each line as it likes.
fn runnable_rules(overlay: &Path, secrets: &Path, edit: impl Fn(&str) -> String) -> String {
    std::fs::create_dir_all(secrets).unwrap();
    std::fs::write(secrets.join("hmac-key"), TEST_HMAC_KEY).unwrap();
    std::fs::write(secrets.join("matomo-token"), TEST_MATOMO_TOKEN).unwrap();
    std::fs::write(secrets.join("admin-token"), TEST_ADMIN_TOKEN).unwrap();
    let text = std::fs::read_to_string(overlay.join("rules.toml")).unwrap();
    let mount = secrets.to_str().unwrap();
    text.lines()
        .map(|line| edit(&line.replace("/var/run/secrets/scrubproxy", mount)) + "\n")
        .collect()
}

/// What the proxy itself takes beside its requests: it idles at 15-20 MB RSS.
const PROCESS_BYTES: u64 = 32 << 20;

/// The first `memory:` under a `limits:` in a manifest, in bytes (`256Mi`, `1Gi`).
fn memory_limit_bytes(manifest: &str) -> u64 {
    let mut lines = manifest.lines().map(str::trim);
    lines.find(|l| *l == "limits:").expect("a limits: block");
    let value = lines
        .find_map(|l| l.strip_prefix("memory:"))
        .expect("a memory limit")
        .trim();
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit()).unwrap());
    let number: u64 = number.parse().unwrap();
    number
        * match unit {
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            other => panic!("unit {other:?}"),
        }
}

/// A number after `key:` in a manifest (line-based: the manifests have no YAML parser here).
fn yaml_number(manifest: &str, key: &str) -> f64 {
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in the manifest"));
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn deploy_rules_files_pass_check_and_fit_their_pods() {
    let script = deploy().join("kubernetes/check-rules.sh");
    for overlay in proxy_overlays() {
        let name = overlay.file_name().unwrap().to_string_lossy().into_owned();
        let path = overlay.join("rules.toml");

        // What an operator runs before shipping (the Secret's files stood in for): every
        // setting valid, every [[test]] passes.
        let out = Command::new("bash")
            .arg(&script)
            .arg(&path)
            .env("SCRUBPROXY_BIN", env!("CARGO_BIN_EXE_scrubproxy"))
            .env_remove("SCRUBPROXY_HMAC_KEY")
            .output()
            .unwrap();
        let said = text(&out);
        assert!(out.status.success(), "{name}/rules.toml: {said}");
        assert!(
            said.contains(" 0 failed"),
            "{name}/rules.toml runs its cases: {said}"
        );
        assert!(!said.contains("warning"), "{name}/rules.toml: {said}");

        // The settings the pod depends on.
        let file = scrubproxy::rules::read(Some(&path)).unwrap();
        // A sidecar is reached by the app on the pod's loopback only.
        let tracker_port = if name == "sidecar" {
            "127.0.0.1:8080"
        } else {
            "0.0.0.0:8080"
        };
        assert_eq!(file.listen.address, tracker_port, "{name}: the `http` port");
        assert_eq!(
            file.listen.admin, "0.0.0.0:9090",
            "{name}: probes and scrapes"
        );
        let key_file = file.identifiers.key_file.as_deref().unwrap_or_default();
        assert_eq!(
            key_file, "/var/run/secrets/scrubproxy/hmac-key",
            "{name}: the key from the Secret's mount"
        );
        // The admin port is on the pod network: /admin/* needs the Secret's token.
        assert_eq!(
            file.admin.token_file.as_deref(),
            Some("/var/run/secrets/scrubproxy/admin-token"),
            "{name}: the admin token from the Secret's mount"
        );
        assert!(
            !file.client_ip.trusted_proxies.is_empty(),
            "{name}: the ingress may name the visitor"
        );
        for cidr in &file.client_ip.trusted_proxies {
            let net: ipnet::IpNet = cidr
                .parse()
                .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .unwrap();
            let narrow = match net {
                ipnet::IpNet::V4(v4) => v4.prefix_len() >= 16,
                ipnet::IpNet::V6(v6) => v6.prefix_len() >= 48,
            };
            assert!(
                narrow,
                "{name}: trusted_proxies {cidr} lets too many pods name a visitor"
            );
        }

        let deployment = std::fs::read_to_string(overlay.join("deployment.yaml")).unwrap();
        // The container's memory limit holds the process, every request's read buffer and
        // the request data all of them hold together (the memory budget).
        let limit = memory_limit_bytes(&deployment);
        let read_buffers =
            file.limits.max_concurrent_requests as u64 * file.limits.read_buffer_bytes as u64;
        let needed = PROCESS_BYTES + read_buffers + file.limits.memory_budget_bytes;
        assert!(
            needed <= limit,
            "{name}: {} requests at once may take {} MiB, over the {} MiB limit",
            file.limits.max_concurrent_requests,
            needed >> 20,
            limit >> 20
        );
        let grace = yaml_number(&deployment, "terminationGracePeriodSeconds");
        let pre_stop = yaml_number(&deployment, "seconds");
        assert!(
            grace > file.limits.shutdown_drain_seconds + pre_stop,
            "{name}: {grace} s of grace must cover the preStop pause and the drain"
        );
        for needed in [
            r#"args: ["run", "--config", "/etc/scrubproxy/rules.toml"]"#,
            "mountPath: /etc/scrubproxy\n",
            "mountPath: /var/run/secrets/scrubproxy\n",
            "readOnlyRootFilesystem: true",
            "runAsNonRoot: true",
            "allowPrivilegeEscalation: false",
            r#"drop: ["ALL"]"#,
            "type: RuntimeDefault",
            "path: /healthz",
            "path: /readyz",
        ] {
            assert!(deployment.contains(needed), "{name}: no {needed:?}");
        }
        // A subPath mount never sees ConfigMap updates: the live reload would never happen.
        assert!(
            !deployment
                .lines()
                .any(|l| l.trim_start().starts_with("subPath:")),
            "{name}: mount the rules folder whole"
        );
    }
}

/// Metric names in `text`, without the histogram series suffixes.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("scrubproxy_") {
        let start = i + at;
        let mut end = start + "scrubproxy_".len();
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &text[start..end];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        // A word that merely starts like one (a folder name, say) is not a metric.
        let preceded_by_word = start > 0 && (bytes[start - 1].is_ascii_alphanumeric());
        if !preceded_by_word && base.len() > "scrubproxy_".len() {
            names.insert(base.to_string());
        }
        i = end;
    }
    names
}

async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> u16 {
    let headers = [("content-type", "application/json")];
    support::send_raw(addr, "POST", path, &headers, body.to_vec())
        .await
        .status
}

/// `POST /admin/reload` with the Secret's admin token, as an operator calls it.
async fn reload(admin: SocketAddr) -> u16 {
    let bearer = format!("Bearer {TEST_ADMIN_TOKEN}");
    let headers = [("authorization", bearer.as_str())];
    support::send_raw(admin, "POST", "/admin/reload", &headers, Vec::new())
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_metrics_pass_promtool_and_have_what_alerts_and_dashboard_use() {
    support::logs::init();
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let scratch = scratch("metrics");
    let sidecar = deploy().join("kubernetes/sidecar");
    // The sidecar's own rules, on loopback, every vendor at the fake one except Mixpanel,
    // which nothing answers (upstream errors).
    let upstream = vendor.base_url();
    let rules_text = runnable_rules(&sidecar, &scratch.join("secrets"), |line| {
        if line.starts_with("address = ") || line.starts_with("admin = ") {
            format!("{} = \"127.0.0.1:0\"", line.split(' ').next().unwrap())
        } else if line == r#"upstream = "https://api-js.mixpanel.com""# {
            r#"upstream = "http://127.0.0.1:9""#.to_string()
        } else if line.starts_with("upstream = ") {
            format!("upstream = \"{upstream}\"")
        } else if line == r#"prefix = "/amplitude""# {
            // A dry-run route, for the shadow series.
            format!("{line}\nshadow = true")
        } else {
            line.to_string()
        }
    });
    assert!(
        rules_text.contains("127.0.0.1:9\""),
        "the Mixpanel route was found"
    );
    let path = scratch.join("rules.toml");
    std::fs::write(&path, &rules_text).unwrap();
    let set = scrubproxy::rules::load(Some(&path)).expect("the sidecar rules compile");
    let running = listen::start(set, Some(path.clone())).await.unwrap();
    let (addr, admin) = (running.addr, running.admin_addr);

    // Traffic that makes every series: forwarded and scrubbed, failed upstream, refused.
    let track = br#"{"type":"track","event":"e","properties":{"email":"someone@example.org","plan":"pro"}}"#;
    for _ in 0..3 {
        assert_eq!(post(addr, "/segment/v1/t", track).await, 200);
    }
    assert_eq!(
        post(
            addr,
            "/mixpanel/track/",
            br#"[{"event":"e","properties":{}}]"#
        )
        .await,
        502
    );
    assert_eq!(post(addr, "/segment/v1/t", b"{\"type\":").await, 400);
    let amplitude = br#"{"api_key":"k","events":[{"event_type":"e","user_id":"u-1"}]}"#;
    assert_eq!(post(addr, "/amplitude/2/httpapi", amplitude).await, 200);
    // A reload that works and one that is refused.
    assert_eq!(reload(admin).await, 200);
    std::fs::write(&path, format!("{rules_text}\n[listen\n")).unwrap();
    assert_eq!(reload(admin).await, 422);

    let metrics = support::send_raw(admin, "GET", "/metrics", &[], Vec::new())
        .await
        .text();
    running.shutdown().await;

    // Every metric the alerts and the dashboard use is exported.
    let exported = metric_names(
        &metrics
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let mut used = BTreeSet::new();
    for file in [
        "prometheus/alerts.yml",
        "kubernetes/monitoring/prometheusrule.yaml",
        "grafana/scrubproxy-dashboard.json",
    ] {
        used.extend(metric_names(
            &std::fs::read_to_string(deploy().join(file)).unwrap(),
        ));
    }
    let missing: Vec<&String> = used.iter().filter(|m| !exported.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "used but not exported: {missing:?}\nexported: {exported:?}\n{metrics}"
    );
    // The exposition passes promtool's parser and lint.
    if let Some(promtool) = tool("promtool", "apt-get install prometheus") {
        use std::io::Write;
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(metrics.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics:\n{}\n{metrics}",
            text(&out)
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The image builds the same way every time and reuses its dependencies: each base image
/// pinned (a digest, or an exact version), Cargo.lock enforced, and the dependencies built
/// in a layer of their own before the sources are copied.
#[test]
fn the_dockerfile_pins_its_bases_and_caches_the_dependencies() {
    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    let froms: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("FROM "))
        .collect();
    assert!(froms.len() >= 2, "a build stage and a runtime stage");
    for from in &froms {
        let image = from.split_whitespace().next().unwrap();
        let digest = image
            .split_once("@sha256:")
            .is_some_and(|(_, d)| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()));
        // An exact version: the tag starts with x.y.z (`1.95.0-slim-bookworm`).
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        let exact = tag.split('-').next().is_some_and(|v| {
            v.split('.').count() == 3 && v.split('.').all(|p| p.parse::<u32>().is_ok())
        });
        assert!(digest || exact, "base image not pinned: {from}");
    }
    let position = |needle: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no line starting with {needle:?}"))
    };
    let manifests = position("COPY Cargo.toml Cargo.lock");
    let sources = position("COPY . .");
    let dependency_build = lines[manifests..sources]
        .iter()
        .any(|l| l.contains("cargo build --release --locked"));
    assert!(
        manifests < sources && dependency_build,
        "the dependencies are built from the manifests before the sources are copied"
    );
    assert!(
        lines[sources..]
            .iter()
            .any(|l| l.contains("cargo build --release --locked")),
        "the proxy is built with Cargo.lock"
    );
    // Every target Cargo.toml names must exist in the dependency layer, or cargo refuses
    // the manifest there: the stand-ins cover the benches it declares.
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    for declared in cargo
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name = \""))
        .filter_map(|n| n.strip_suffix('"'))
        .filter(|n| *n != "scrubproxy")
    {
        assert!(
            dockerfile.contains(&format!("benches/{declared}.rs")),
            "the dependency layer has no stand-in for the bench {declared}"
        );
    }
}
