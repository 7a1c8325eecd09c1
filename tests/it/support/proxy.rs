//! Starts the real proxy (real listeners on 127.0.0.1:0) with the shipped rules, its routes
//! pointed at fake vendors.

use std::net::SocketAddr;

use scrubproxy::listen::{self, Running};
use scrubproxy::rules::{self, RulesFile};

pub struct TestProxy {
    pub running: Running,
}

impl TestProxy {
    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    pub fn admin(&self) -> SocketAddr {
        self.running.admin_addr
    }

    /// The admin `/metrics` text.
    pub async fn metrics(&self) -> String {
        crate::support::send_raw(self.admin(), "GET", "/metrics", &[], Vec::new())
            .await
            .text()
    }
}

/// The environment in-process test proxies read their secrets from, instead of the
/// process's (which tests never change): a Matomo token for routes that name it.
pub const MATOMO_TOKEN_ENV: &str = "SCRUBPROXY_TEST_MATOMO_TOKEN";
const TEST_ENV: &[(&str, &str)] = &[(MATOMO_TOKEN_ENV, "proxy-token")];

/// The shipped rules with every route sent to `upstream` (base URL), listeners on loopback
/// ephemeral ports and no HMAC key (a random one), then `edit` for the test's own changes.
pub async fn start_proxy(upstream: &str, edit: impl FnOnce(&mut RulesFile)) -> TestProxy {
    let set =
        rules::compile_with(test_rules(upstream, edit), &TEST_ENV).expect("test rules compile");
    TestProxy {
        running: listen::start(set, None).await.expect("proxy starts"),
    }
}

/// `start_proxy`, with the rules written to `path` first and read from there, so that
/// `POST /admin/reload` and the watcher reload them (and the files they name).
pub async fn start_proxy_from_file(
    upstream: &str,
    path: &std::path::Path,
    edit: impl FnOnce(&mut RulesFile),
) -> TestProxy {
    let file = test_rules(upstream, edit);
    std::fs::write(path, toml::to_string(&file).expect("rules serialize")).unwrap();
    let set = rules::load(Some(path)).expect("test rules load");
    TestProxy {
        running: listen::start(set, Some(path.to_owned()))
            .await
            .expect("proxy starts"),
    }
}

fn test_rules(upstream: &str, edit: impl FnOnce(&mut RulesFile)) -> RulesFile {
    crate::support::logs::init();
    let mut file = rules::read(Some(&shipped_rules_path())).expect("shipped rules parse");
    file.listen.address = "127.0.0.1:0".into();
    file.listen.admin = "127.0.0.1:0".into();
    file.identifiers.key_env = Some("SCRUBPROXY_TEST_KEY_THAT_IS_NEVER_SET".into());
    for route in &mut file.routes {
        route.upstream = upstream.to_string();
    }
    edit(&mut file);
    file
}

/// `start_proxy` with events forwarded whatever their consent (`[consent] unknown =
/// "forward"`): for tests of what consented events become (truncated IPs, stable
/// pseudonyms). Without it the shipped rules anonymize events that carry no consent signal.
pub async fn start_consented_proxy(upstream: &str, edit: impl FnOnce(&mut RulesFile)) -> TestProxy {
    start_proxy(upstream, |f| {
        f.consent.unknown = "forward".into();
        edit(f);
    })
    .await
}

/// Lifts every route's vendor-published limits (events, decoded bytes, bytes per event) to
/// the global `[limits]`, for tests of those global limits themselves.
pub fn without_vendor_limits(file: &mut RulesFile) {
    for route in &mut file.routes {
        route.limits = Some(rules::file::RouteLimitsFile {
            max_events: Some(u64::MAX),
            max_batch_bytes: Some(u64::MAX),
            max_event_bytes: Some(usize::MAX),
        });
    }
}

/// The built `scrubproxy` binary, without the HMAC key this shell may hold (tests choose).
pub fn binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scrubproxy"));
    cmd.env_remove("SCRUBPROXY_HMAC_KEY");
    cmd
}

pub fn shipped_rules_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules.toml")
}
