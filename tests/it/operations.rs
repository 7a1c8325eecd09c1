//! What an operator sees of the running proxy: the admin port through a drain and behind
//! its token, the shipped defaults a vendor's counts depend on, and the metrics' labels.

use std::time::{Duration, Instant};

use crate::support::proxy::{start_proxy, start_proxy_from_file};
use crate::support::{self, Behavior, FakeVendor};

/// Polls `probe` every 20 ms until it returns `Some`, for at most `limit`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// On SIGTERM the trackers' port drains, but the admin port keeps answering until the
/// process ends: `/readyz` says 503 `not_ready` (a load balancer takes the pod out instead
/// of seeing refused connections) and `/metrics` shows the request still in flight.
#[tokio::test]
async fn the_admin_port_answers_through_the_drain() {
    let vendor = FakeVendor::start(Behavior::Hang).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.limits.shutdown_drain_seconds = 2.0;
    })
    .await;
    let (addr, admin) = (proxy.addr(), proxy.admin());
    let event = br#"{"type":"track","event":"e"}"#.to_vec();
    let in_flight = tokio::spawn(support::try_send_raw(
        addr,
        "POST",
        "/segment/v1/t",
        &[],
        event,
    ));
    let metrics = || async move {
        support::try_send_raw(admin, "GET", "/metrics", &[], Vec::new())
            .await
            .ok()
            .map(|r| r.text())
    };
    eventually(Duration::from_secs(10), "the request in flight", || async {
        metrics()
            .await
            .filter(|m| m.contains("scrubproxy_in_flight_requests 1"))
    })
    .await;

    let shutdown = tokio::spawn(proxy.running.shutdown());
    let readyz = eventually(Duration::from_secs(10), "/readyz to say 503", || async {
        let resp = support::try_send_raw(admin, "GET", "/readyz", &[], Vec::new()).await;
        match resp {
            Ok(r) if r.status == 503 => Some(r),
            Ok(r) if r.status == 200 => None,
            other => panic!("/readyz during the drain: {:?}", other.map(|r| r.status)),
        }
    })
    .await;
    assert_eq!(readyz.header("scrubproxy-error"), Some("not_ready"));
    let body: serde_json::Value = serde_json::from_slice(&readyz.body).unwrap();
    assert_eq!(body["error"], "not_ready");
    let during = metrics().await.expect("/metrics answers during the drain");
    assert!(
        during.contains("scrubproxy_in_flight_requests 1"),
        "the drain is visible"
    );

    shutdown.await.unwrap();
    let _ = in_flight.await;
    assert!(
        support::try_send_raw(admin, "GET", "/healthz", &[], Vec::new())
            .await
            .is_err(),
        "the admin port closes once the process is done"
    );
}

/// With a token configured, `/admin/*` answers only `Authorization: Bearer <token>`, even
/// from loopback; the probes and `/metrics` stay open. The token file reloads with the
/// rules, so a rotated token takes effect without a restart.
#[tokio::test]
async fn admin_endpoints_need_the_bearer_token_and_the_probes_do_not() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let dir = std::env::temp_dir().join(format!("scrubproxy-admin-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("admin-token");
    let token = "s3cR7-adm1n-T0ken-9fQ2xLw";
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let proxy = start_proxy_from_file(&vendor.base_url(), &dir.join("rules.toml"), |f| {
        f.admin.token_file = Some(token_file.display().to_string());
    })
    .await;
    let admin = proxy.admin();
    let call = |method: &'static str, path: &'static str, auth: Option<String>| async move {
        let header = auth.map(|a| ("authorization", a));
        let headers: Vec<(&str, &str)> = header.iter().map(|(n, v)| (*n, v.as_str())).collect();
        support::send_raw(admin, method, path, &headers, Vec::new()).await
    };
    for (method, path) in [
        ("GET", "/admin/rules"),
        ("POST", "/admin/reload"),
        ("GET", "/admin/unknown"),
    ] {
        for auth in [
            None,
            Some("Bearer wrong-token-of-some-length".to_owned()),
            Some(format!("Basic {token}")),
            Some(format!("Bearer {token}x")),
            Some("Bearer ".to_owned()),
        ] {
            let resp = call(method, path, auth.clone()).await;
            assert_eq!(
                (resp.status, resp.header("scrubproxy-error")),
                (401, Some("unauthorized")),
                "{method} {path} with {auth:?}"
            );
            assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
            assert!(!resp.text().contains(token));
        }
    }
    let rules = call("GET", "/admin/rules", Some(format!("Bearer {token}"))).await;
    assert_eq!(rules.status, 200, "{}", rules.text());
    assert!(!rules.text().contains(token), "the token is never shown");
    let reload = call("POST", "/admin/reload", Some(format!("bearer {token}"))).await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    // With the token: a wrong method or an unknown path is refused by its own kind.
    for (method, path, status, kind) in [
        ("GET", "/admin/reload", 405, "method_not_allowed"),
        ("POST", "/admin/rules", 405, "method_not_allowed"),
        ("GET", "/admin/unknown", 404, "unknown_admin_path"),
    ] {
        let resp = call(method, path, Some(format!("Bearer {token}"))).await;
        assert_eq!(
            (resp.status, resp.header("scrubproxy-error")),
            (status, Some(kind)),
            "{method} {path}"
        );
    }
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(
            call("GET", path, None).await.status,
            200,
            "{path} stays open"
        );
    }

    // Rotated: the old token stops working after the reload that reads the new one.
    let rotated = "n3w-R0tated-adm1n-T0ken-7Kp";
    std::fs::write(&token_file, rotated).unwrap();
    let reload = call("POST", "/admin/reload", Some(format!("Bearer {token}"))).await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    let old = call("GET", "/admin/rules", Some(format!("Bearer {token}"))).await;
    assert_eq!(old.status, 401);
    let new = call("GET", "/admin/rules", Some(format!("Bearer {rotated}"))).await;
    assert_eq!(new.status, 200);
    proxy.running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A token nobody should use is refused like a weak HMAC key: the proxy does not start.
#[test]
fn a_placeholder_or_short_admin_token_is_refused() {
    let dir = std::env::temp_dir().join(format!("scrubproxy-weak-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (token, reason) in [
        ("CHANGE-ME-placeholder-admin-token", "placeholder"),
        ("short", "at least 16 bytes"),
        ("aaaaaaaaaaaaaaaaaaaaaaaa", "repeats"),
        ("a token with spaces in it 9x", "printable ASCII"),
    ] {
        let file = dir.join("token");
        std::fs::write(&file, token).unwrap();
        let mut rules = scrubproxy::rules::RulesFile::default();
        rules.admin.token_file = Some(file.display().to_string());
        rules.routes = scrubproxy::rules::read(Some(&crate::support::proxy::shipped_rules_path()))
            .unwrap()
            .routes;
        let errors = scrubproxy::rules::compile(rules).expect_err(token);
        assert!(
            errors
                .iter()
                .any(|e| e.path == "admin.token_file" && e.message.contains(reason)),
            "{token}: {errors:?}"
        );
        assert!(errors.iter().all(|e| !e.message.contains(token)));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Under the shipped rules (events without consent are anonymized), Plausible used to get
/// `X-Plausible-IP: 0.0.0.0` for every visitor, so its unique-visitor count collapsed to
/// one. By default each visitor now gets their own daily stand-in address.
#[tokio::test]
async fn plausible_visitors_stay_apart_under_the_shipped_defaults() {
    let vendor = FakeVendor::start(Behavior::Reply {
        status: 202,
        headers: vec![],
        body: b"ok".to_vec(),
    })
    .await;
    // The shipped rules as they are, but for the test's trusted loopback proxy.
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.client_ip.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let event = br#"{"n":"pageview","u":"https://shop.example/","d":"shop.example"}"#.to_vec();
    let visitors = [
        "203.0.113.42",
        "203.0.113.42",
        "203.0.113.43",
        "198.51.100.7",
        "2001:db8::1",
    ];
    for client in visitors {
        let resp = support::send_raw(
            proxy.addr(),
            "POST",
            "/plausible/api/event",
            &[("x-forwarded-for", client), ("user-agent", "Mozilla/5.0")],
            event.clone(),
        )
        .await;
        assert_eq!(resp.status, 202);
    }
    let ips: Vec<String> = vendor
        .requests()
        .iter()
        .map(|r| r.header("x-plausible-ip").unwrap_or_default().to_string())
        .collect();
    assert_eq!(ips.len(), visitors.len());
    assert_eq!(ips[0], ips[1], "one visitor, one address");
    let distinct: std::collections::HashSet<&String> = ips.iter().collect();
    assert_eq!(distinct.len(), 4, "four visitors stay four: {ips:?}");
    for (ip, client) in ips.iter().zip(visitors) {
        let parsed: std::net::Ipv6Addr = ip.parse().expect("an IPv6 stand-in");
        assert_eq!(parsed.octets()[0], 0xfd, "unique-local, never placed: {ip}");
        assert!(!ip.contains(client));
    }
}

/// A preflight is counted under its vendor with `endpoint="preflight"` (the labels were
/// swapped), and its answer says `Vary: Origin` once.
#[tokio::test]
async fn preflights_are_counted_under_their_vendor_and_vary_once() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |_| {}).await;
    for (path, name) in [
        ("/mixpanel/track", "mixpanel"),
        ("/segment/v1/t", "segment"),
    ] {
        let pre = support::send_raw(
            proxy.addr(),
            "OPTIONS",
            path,
            &[
                ("origin", "https://shop.example"),
                ("access-control-request-method", "POST"),
            ],
            Vec::new(),
        )
        .await;
        assert_eq!(pre.status, 204, "{name}");
        let vary: Vec<&str> = pre
            .headers
            .iter()
            .filter(|(n, _)| n == "vary")
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| v.eq_ignore_ascii_case("origin"))
            .collect();
        assert_eq!(vary.len(), 1, "{name}: {:?}", pre.headers);
    }
    let metrics = proxy.metrics().await;
    for name in ["mixpanel", "segment"] {
        let vendor = format!("vendor=\"{name}\"");
        let counted = metrics.lines().any(|l| {
            l.starts_with("scrubproxy_requests_total{")
                && l.contains("endpoint=\"preflight\"")
                && l.contains(&vendor)
        });
        assert!(counted, "{name}'s preflight in:\n{metrics}");
    }
    assert!(!metrics.contains("vendor=\"preflight\""), "{metrics}");
}
