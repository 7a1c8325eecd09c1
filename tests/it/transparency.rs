//! What trackers and vendors see besides the scrubbing: vendor answers relayed unchanged,
//! CORS for browsers, header hygiene toward the vendor, the client IP chosen on purpose.

use serde_json::Value;

use crate::support::{self, start_consented_proxy, Behavior, FakeVendor};

const EVENT: &[u8] = br#"{"type":"track","event":"Signup","context":{"ip":"198.51.100.77"}}"#;

#[tokio::test]
async fn vendor_answer_is_relayed_unchanged() {
    let vendor = FakeVendor::start(Behavior::Reply {
        status: 200,
        headers: vec![
            ("x-vendor-flag".into(), "on".into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: br#"{"status":1,"error":null}"#.to_vec(),
    })
    .await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let form = b"data=%7B%22event%22%3A%22e%22%2C%22properties%22%3A%7B%7D%7D&verbose=1".to_vec();
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/mixpanel/track/?verbose=1&ip=1",
        &[("content-type", "text/plain;charset=UTF-8")],
        form,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), r#"{"status":1,"error":null}"#);
    assert_eq!(resp.header("x-vendor-flag"), Some("on"));
    let up = &vendor.requests()[0];
    // `ip=0`: with the shipped country precision Mixpanel must not place the visitor itself.
    assert_eq!(up.query(), "verbose=1&ip=0");
    assert_eq!(
        up.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(std::str::from_utf8(&up.body)
        .unwrap()
        .ends_with("&verbose=1"));
}

#[tokio::test]
async fn cors_echoes_the_origin_with_credentials_and_answers_preflights() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let origin = ("origin", "https://shop.example");
    let pre = support::send_raw(
        proxy.addr(),
        "OPTIONS",
        "/segment/v1/t",
        &[
            origin,
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization,x-retry-count",
            ),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(pre.header("access-control-allow-credentials"), Some("true"));
    let allowed = pre
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["content-type", "authorization", "x-retry-count"] {
        assert!(allowed.contains(h), "{h} allowed");
    }
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t",
        &[origin],
        EVENT.to_vec(),
    )
    .await;
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert!(
        vendor.requests().len() == 1,
        "the preflight itself was not forwarded"
    );
}

#[tokio::test]
async fn listed_origins_only_when_restricted() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |f| {
        f.cors.allowed_origins = vec!["https://shop.example".into()]
    })
    .await;
    let other = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t",
        &[("origin", "https://evil.example")],
        EVENT.to_vec(),
    )
    .await;
    assert_eq!(
        (other.status, other.header("scrubproxy-error")),
        (403, Some("origin_not_allowed"))
    );
    let ours = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t",
        &[("origin", "https://shop.example")],
        EVENT.to_vec(),
    )
    .await;
    assert_eq!(ours.status, 200);
    assert_eq!(vendor.requests().len(), 1);
}

#[tokio::test]
async fn identifying_headers_never_reach_the_vendor() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let headers = [
        ("cookie", "mp_session=abc"),
        ("x-forwarded-for", "203.0.113.42"),
        ("forwarded", "for=203.0.113.42"),
        ("x-real-ip", "203.0.113.42"),
        ("cf-connecting-ip", "203.0.113.42"),
        ("true-client-ip", "203.0.113.42"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        ),
        (
            "referer",
            "https://shop.example/checkout?email=jane.doe@example.com",
        ),
        ("authorization", "Basic d3JpdGVrZXk6"),
        ("content-length", "999"),
    ];
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t",
        &headers[..9],
        EVENT.to_vec(),
    )
    .await;
    assert_eq!(resp.status, 200);
    let up = &vendor.requests()[0];
    for (name, _) in &headers[..8] {
        assert!(up.header(name).is_none(), "{name} was forwarded");
    }
    assert_eq!(up.header("authorization"), Some("Basic d3JpdGVrZXk6"));
    assert_eq!(
        up.header("content-length"),
        Some(up.body.len().to_string().as_str())
    );
    assert_eq!(up.header("content-type"), Some("application/json"));
}

fn upstream_ip(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["context"]["ip"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn client_ip_comes_from_forwarding_headers_only_behind_trusted_proxies() {
    let body = br#"{"type":"track","event":"e"}"#.to_vec();
    let xff = [("x-forwarded-for", "203.0.113.42")];

    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let untrusted = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    support::send_raw(
        untrusted.addr(),
        "POST",
        "/segment/v1/t",
        &xff,
        body.clone(),
    )
    .await;
    assert_eq!(
        upstream_ip(&vendor.requests()[0].body),
        "127.0.0.0",
        "peer, truncated"
    );

    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let trusted = start_consented_proxy(&vendor.base_url(), |f| {
        f.client_ip.trusted_proxies = vec!["127.0.0.1".into()]
    })
    .await;
    support::send_raw(trusted.addr(), "POST", "/segment/v1/t", &xff, body).await;
    assert_eq!(
        upstream_ip(&vendor.requests()[0].body),
        "203.0.113.0",
        "client, truncated"
    );
}

#[tokio::test]
async fn payload_ips_are_truncated_and_ipv6_keeps_48_bits() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = br#"{"type":"track","context":{"ip":"2001:db8:85a3::8a2e:370:7334"},"properties":{"seen_from":"::ffff:203.0.113.42"}}"#;
    support::send_raw(proxy.addr(), "POST", "/segment/v1/t", &[], body.to_vec()).await;
    let v: Value = serde_json::from_slice(&vendor.requests()[0].body).unwrap();
    assert_eq!(v["context"]["ip"], "2001:db8:85a3::");
    assert_eq!(v["properties"]["seen_from"], "203.0.113.0");
}

#[tokio::test]
async fn with_ips_removed_vendors_are_told_not_to_use_the_request_address() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |f| f.ip.mode = "none".into()).await;
    support::send_raw(proxy.addr(), "POST", "/segment/v1/t", &[], EVENT.to_vec()).await;
    assert_eq!(upstream_ip(&vendor.requests()[0].body), "0.0.0.0");

    vendor.clear();
    let form = b"data=%5B%7B%22event%22%3A%22e%22%2C%22properties%22%3A%7B%22ip%22%3A%22203.0.113.42%22%7D%7D%5D";
    support::send_raw(
        proxy.addr(),
        "POST",
        "/mixpanel/track/?ip=1&verbose=1",
        &[],
        form.to_vec(),
    )
    .await;
    let up = &vendor.requests()[0];
    assert_eq!(up.query(), "verbose=1&ip=0");

    // PostHog is told not to geolocate the request address (the proxy's).
    vendor.clear();
    let ph = br#"{"api_key":"k","batch":[{"event":"e","properties":{"$ip":"203.0.113.42"}}]}"#;
    support::send_raw(proxy.addr(), "POST", "/posthog/batch/", &[], ph.to_vec()).await;
    let v: Value = serde_json::from_slice(&vendor.requests()[0].body).unwrap();
    assert_eq!(v["batch"][0]["properties"]["$geoip_disable"], true);
    assert!(v["batch"][0]["properties"].get("$ip").is_none());

    // Snowplow's collector is told to drop the address itself.
    vendor.clear();
    support::send_raw(
        proxy.addr(),
        "GET",
        "/snowplow/i?e=pv&ip=203.0.113.42",
        &[],
        Vec::new(),
    )
    .await;
    let pixel = &vendor.requests()[0];
    assert_eq!(pixel.header("sp-anonymous"), Some("*"));
    assert!(!pixel.query().contains("ip="), "{}", pixel.query());
    let body = String::from_utf8(up.body.clone()).unwrap();
    assert!(!body.contains("203.0.113"), "{body}");
}

#[tokio::test]
async fn query_strings_are_scrubbed_too() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let target = "/segment/v1/t?email=jane.doe%40example.com&note=write+to+jane.doe%40example.com&from=203.0.113.42&v=2";
    support::send_raw(proxy.addr(), "POST", target, &[], EVENT.to_vec()).await;
    assert_eq!(
        vendor.requests()[0].query(),
        "note=write%20to%20%5Bemail%5D&from=203.0.113.0&v=2"
    );

    vendor.clear();
    // Mixpanel reads `data` from the query as well: a payload there is scrubbed like a body.
    use base64::Engine;
    let payload = base64::engine::general_purpose::STANDARD
        .encode(br#"[{"event":"e","properties":{"distinct_id":"user-jane-doe-42","$email":"jane.doe@example.com"}}]"#);
    let target = format!(
        "/mixpanel/track?data={}",
        payload.replace('+', "%2B").replace('=', "%3D")
    );
    let resp = support::send_raw(proxy.addr(), "POST", &target, &[], b"data=%5B%5D".to_vec()).await;
    assert_eq!(resp.status, 200);
    assert!(
        vendor.requests()[0].planted().is_empty(),
        "{:?}",
        vendor.requests()[0].planted()
    );
}

#[tokio::test]
async fn form_fields_beside_data_get_the_rules_too() {
    // Found by fuzzing: fields other than `data` used to go upstream verbatim.
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = b"data=%5B%5D&verbose=1&note=mail+jane.doe%40example.com&email=x%40y.example&props.phone=1&ip=1";
    let resp = support::send_raw(proxy.addr(), "POST", "/mixpanel/track", &[], body.to_vec()).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        std::str::from_utf8(&vendor.requests()[0].body).unwrap(),
        "data=%5B%5D&verbose=1&note=mail%20%5Bemail%5D&ip=1"
    );
}

#[tokio::test]
async fn a_second_data_field_in_disguise_is_refused() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = b"data=%5B%5D&d%61ta=%5B%7B%22event%22%3A%22e%22%7D%5D".to_vec();
    let resp = support::send_raw(proxy.addr(), "POST", "/mixpanel/track", &[], body).await;
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (400, Some("unexpected_shape"))
    );
    assert!(vendor.all_requests().is_empty());
}

/// Plausible counts visitors by the address it is given: with `ip.header = "pseudonym"` each
/// visitor gets a stable stand-in that locates nobody, instead of a shared truncated network.
#[tokio::test]
async fn plausible_can_get_a_daily_visitor_pseudonym_instead_of_a_network() {
    let vendor = FakeVendor::start(Behavior::Reply {
        status: 202,
        headers: vec![],
        body: b"ok".to_vec(),
    })
    .await;
    let proxy = start_consented_proxy(&vendor.base_url(), |f| {
        f.ip.header = "pseudonym".into();
        f.client_ip.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let event = br#"{"n":"pageview","u":"https://shop.example/","d":"shop.example"}"#.to_vec();
    for client in ["203.0.113.42", "203.0.113.42", "203.0.113.43"] {
        support::send_raw(
            proxy.addr(),
            "POST",
            "/plausible/api/event",
            &[("x-forwarded-for", client)],
            event.clone(),
        )
        .await;
    }
    let ips: Vec<String> = vendor
        .requests()
        .iter()
        .map(|r| r.header("x-plausible-ip").unwrap().to_string())
        .collect();
    assert_eq!(ips[0], ips[1], "one visitor, one address");
    assert_ne!(ips[0], ips[2], "two visitors of one network stay apart");
    for ip in &ips {
        assert!(ip.starts_with("fd"), "unique-local, never geolocated: {ip}");
        assert!(!ip.contains("203.0.113"));
    }
}

#[tokio::test]
async fn admin_shows_the_rules_in_force() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |f| f.ip.ipv4_prefix = 16).await;
    let resp = support::send_raw(proxy.admin(), "GET", "/admin/rules", &[], Vec::new()).await;
    assert_eq!(resp.status, 200);
    let rules: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(rules["ip"]["ipv4_prefix"], 16);
    assert_eq!(rules["route"].as_array().unwrap().len(), 9);
    assert!(rules.get("test").is_none());
}

/// User agents are coarsened (browser family, major version, OS family), not passed whole.
#[tokio::test]
async fn user_agents_keep_browser_and_os_but_lose_the_fingerprint() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro Build/UD1A.230803.041) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36";
    let body = format!(
        r#"{{"type":"track","event":"e","context":{{"userAgent":"{ua}","userAgentData":{{"model":"Pixel 8 Pro","platform":"Android"}}}}}}"#
    );
    support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t",
        &[],
        body.into_bytes(),
    )
    .await;
    let v: Value = serde_json::from_slice(&vendor.requests()[0].body).unwrap();
    let sent = v["context"]["userAgent"].as_str().unwrap();
    assert!(
        sent.contains("Chrome/119.0.0.0") && sent.contains("Android"),
        "{sent}"
    );
    assert!(!sent.contains("Pixel") && !sent.contains("6045"), "{sent}");
    // Client hints keep the OS family, never the model.
    assert_eq!(
        v["context"]["userAgentData"],
        serde_json::json!({"platform": "Android"})
    );
}
