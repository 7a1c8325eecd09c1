//! Every Segment and Mixpanel request captured from real SDKs goes through the proxy under
//! the shipped rules: it is forwarded, still parses in the vendor's format, keeps its event
//! count, and carries none of the planted personal data, in any encoding.

use base64::Engine;
use serde_json::Value;

use crate::support::{self, start_consented_proxy, Behavior, FakeVendor, Fixture};

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn form_field(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| String::from_utf8(percent_decode(v)).unwrap())
    })
}

/// A Mixpanel `data` value: JSON, or base64 of JSON (`+` may have become a space).
fn mixpanel_data(value: &str) -> Value {
    let trimmed = value.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str(value).unwrap();
    }
    let b64 = value.replace(' ', "+");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(
            b64.trim_end_matches('=').to_string()
                + &"=".repeat((4 - b64.trim_end_matches('=').len() % 4) % 4),
        )
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The payload of a Mixpanel request: from the query (GET), a form body, or raw JSON/NDJSON.
fn mixpanel_payload(method: &str, query: &str, body: &[u8]) -> Vec<Value> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let value = if method == "GET" {
        mixpanel_data(&form_field(query, "data").expect("GET carries data"))
    } else if text.trim_start().starts_with(['{', '[']) {
        let lines: Vec<Value> = serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .map(Result::unwrap)
            .collect();
        if lines.len() == 1 {
            lines.into_iter().next().unwrap()
        } else {
            Value::Array(lines)
        }
    } else {
        mixpanel_data(&form_field(&text, "data").expect("form carries data"))
    };
    match value {
        Value::Array(items) => items,
        other => vec![other],
    }
}

fn segment_events(path: &str, body: &[u8]) -> Vec<Value> {
    let value: Value = serde_json::from_slice(body).expect("Segment body is JSON");
    if path.ends_with("/b") || path.ends_with("/batch") {
        value["batch"].as_array().expect("batch array").clone()
    } else {
        vec![value]
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "a test reading a captured fixture of known size"
)]
pub(crate) fn decompressed(f: &Fixture) -> Vec<u8> {
    use std::io::Read;
    if f.body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&f.body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else if f.header("content-encoding") == Some("deflate") {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&f.body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        f.body.clone()
    }
}

/// Paths the proxy refuses on purpose (session replay carries whole pages).
const REFUSED: &[&str] = &["/record", "/s/"];

/// Captures whose own consent fields deny analytics (gtag's `gcs=G100`): the tracker hears
/// its vendor's success and nothing is forwarded.
const REFUSED_BY_THEIR_CONSENT: &[&str] = &[
    "ga4/browser-ga4mp/065-beacon-06-optout-consent",
    // `consent=0`: a refusal (README's consent table).
    "matomo/node-matomo-tracker/006-consent-opt-out-request",
];

async fn replay_vendor(
    vendor_name: &str,
    prefix: &str,
    reply: Behavior,
    count_events: impl Fn(&str, &str, &str, &[u8], bool, bool) -> usize,
) {
    let vendor = FakeVendor::start(reply).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let fixtures = support::load(vendor_name);
    let mut forwarded = 0;
    for f in &fixtures {
        vendor.clear();
        let mut routed = f.clone();
        routed.raw_target = format!("{prefix}{}", f.raw_target);
        let resp = support::send(proxy.addr(), &routed, &[]).await;
        let refused = REFUSED.iter().any(|p| f.path.starts_with(p));
        if f.method == "OPTIONS" || refused {
            let want = if refused { 404 } else { 204 };
            assert_eq!(resp.status, want, "{}", f.name);
            assert!(
                vendor.all_requests().is_empty(),
                "{} must not be forwarded",
                f.name
            );
            continue;
        }
        assert!(
            (200..300).contains(&resp.status),
            "{}: {} {}",
            f.name,
            resp.status,
            resp.text()
        );
        let got = vendor.requests();
        if REFUSED_BY_THEIR_CONSENT
            .iter()
            .any(|n| f.name.starts_with(n))
        {
            assert!(got.is_empty(), "{} must not be forwarded", f.name);
            forwarded += 1;
            continue;
        }
        assert_eq!(got.len(), 1, "{} forwarded once", f.name);
        let up = &got[0];
        assert_eq!(up.path(), format!("{}", f.path), "{}", f.name);
        assert!(
            up.planted().is_empty(),
            "{} leaked {:?}",
            f.name,
            up.planted()
        );
        assert!(
            up.planted_in_headers().is_empty(),
            "{} leaked in headers",
            f.name
        );
        // The SDKs' own credentials and media types take the shapes the proxy checks.
        for h in ["authorization", "accept"] {
            assert_eq!(up.header(h), f.header(h), "{}: {h} as sent", f.name);
        }
        for h in [
            "cookie",
            "x-forwarded-for",
            "origin",
            "referer",
            "user-agent",
        ] {
            // Plausible needs the User-Agent for its visitor hash and bot filter.
            if !(h == "user-agent" && vendor_name == "plausible") {
                assert!(up.header(h).is_none(), "{} forwarded {h}", f.name);
            }
        }
        if vendor_name == "plausible" {
            // The User-Agent it needs is coarsened like the payload's, or dropped.
            let mut coarse = Vec::new();
            let want = f.header("user-agent").and_then(|ua| {
                scrubproxy::scrub::user_agent::coarsen(ua.as_bytes(), &mut coarse)
                    .then(|| String::from_utf8(coarse.clone()).unwrap())
            });
            assert_eq!(up.header("user-agent"), want.as_deref(), "{}", f.name);
            // The shipped `ip.header = "pseudonym"`: a per-visitor stand-in in fd00::/8,
            // never the client's address or network.
            let ip = up.header("x-plausible-ip").unwrap_or_default();
            assert!(
                ip.starts_with("fd") && !ip.contains("127.0.0"),
                "{}: the visitor's pseudonym address, got {ip:?}",
                f.name
            );
        }
        let original = count_events(
            &f.method,
            &f.path,
            &f.query_string,
            &decompressed(f),
            false,
            false,
        );
        // The tracker asked for anonymous tracking itself: the IP goes whatever consent says.
        let anonymous = up.header("sp-anonymous").is_some();
        let scrubbed = count_events(&up.method, up.path(), up.query(), &up.body, true, anonymous);
        assert_eq!(scrubbed, original, "{} event count", f.name);
        forwarded += 1;
    }
    let expected = fixtures
        .iter()
        .filter(|f| f.method != "OPTIONS" && !REFUSED.iter().any(|p| f.path.starts_with(p)))
        .count();
    assert!(expected > 5, "{vendor_name}: too few fixtures");
    assert_eq!(
        forwarded, expected,
        "{vendor_name}: every ingest request replayed"
    );
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn every_segment_request_is_forwarded_scrubbed_and_whole() {
    replay_vendor(
        "segment",
        "/segment",
        Behavior::json(r#"{"success":true}"#),
        |_, path, _, body, upstream, _| {
            let events = segment_events(path, body);
            for e in events.iter().filter(|_| upstream) {
                assert!(
                    e["context"]["ip"].is_string(),
                    "every event names its (truncated) IP"
                );
            }
            events.len()
        },
    )
    .await;
}

#[tokio::test]
async fn every_amplitude_request_is_forwarded_scrubbed_and_whole() {
    replay_vendor(
        "amplitude",
        "/amplitude",
        Behavior::json(r#"{"code":200,"events_ingested":1}"#),
        |_, _, _, body, upstream, _| {
            let v: Value = serde_json::from_slice(body).expect("Amplitude body is JSON");
            let events = v["events"].as_array().expect("events array");
            for e in events.iter().filter(|_| upstream) {
                let ip = e["ip"]
                    .as_str()
                    .expect("every event names its (truncated) IP");
                assert_ne!(ip, "$remote", "the proxy's own address must not be used");
            }
            events.len()
        },
    )
    .await;
}

#[tokio::test]
async fn every_plausible_request_is_forwarded_scrubbed_and_whole() {
    replay_vendor(
        "plausible",
        "/plausible",
        Behavior::Reply {
            status: 202,
            headers: vec![],
            body: b"ok".to_vec(),
        },
        |_, _, _, body, upstream, _| {
            let v: Value = serde_json::from_slice(body).expect("Plausible body is JSON");
            if upstream {
                if let Some(p) = v["p"].as_str() {
                    serde_json::from_str::<Value>(p).expect("props stay a JSON string");
                }
            }
            1
        },
    )
    .await;
}

#[tokio::test]
async fn every_rudderstack_request_is_forwarded_scrubbed_and_whole() {
    replay_vendor(
        "rudderstack",
        "/rudderstack",
        Behavior::ok("OK"),
        |_, _, _, body, upstream, _| {
            let v: Value = serde_json::from_slice(body).expect("RudderStack body is JSON");
            let events = match v.get("batch") {
                Some(batch) => batch.as_array().expect("batch array").clone(),
                None => vec![v],
            };
            for e in events.iter().filter(|_| upstream) {
                let ip = e["request_ip"]
                    .as_str()
                    .expect("every event names its (truncated) IP");
                assert!(ip.ends_with(".0"), "truncated: {ip}");
            }
            events.len()
        },
    )
    .await;
}

/// A gtag hit is one event in its query plus one per body line; a Measurement Protocol body
/// holds `events` (an array, or one object when the library postpones a send).
#[tokio::test]
async fn every_ga4_request_is_forwarded_scrubbed_and_whole() {
    replay_vendor(
        "ga4",
        "/ga4",
        Behavior::status(204),
        |_, path, query, body, upstream, _| {
            if path.ends_with("/g/collect") {
                if upstream {
                    let names: Vec<&str> = query
                        .split('&')
                        .map(|p| p.split('=').next().unwrap_or(p))
                        .collect();
                    assert!(names.contains(&"en") && names.contains(&"tid"), "{query}");
                    assert!(!names.contains(&"nm"), "unknown parameters go: {query}");
                }
                return 1 + body
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count();
            }
            let v: Value = serde_json::from_slice(body).expect("Measurement Protocol JSON");
            if upstream {
                assert!(v["ip_override"].is_string(), "the truncated IP is named");
            }
            match &v["events"] {
                Value::Array(events) => events.len(),
                Value::Object(_) => 1,
                other => panic!("events: {other}"),
            }
        },
    )
    .await;
}

/// A PostHog payload: plain JSON, a `data=` base64 form, or whole-body base64; an envelope,
/// an array or one event.
fn posthog_events(body: &[u8]) -> usize {
    if body.is_empty() {
        return 0;
    }
    let text = String::from_utf8(body.to_vec()).unwrap();
    let value: Value = if text.starts_with('{') || text.starts_with('[') {
        serde_json::from_str(&text).unwrap()
    } else {
        mixpanel_data(&form_field(&text, "data").unwrap_or(text.clone()))
    };
    match &value {
        Value::Array(items) => items.len(),
        Value::Object(map) => map
            .get("batch")
            .and_then(Value::as_array)
            .map_or(1, Vec::len),
        _ => panic!("unexpected PostHog payload"),
    }
}

#[tokio::test]
async fn every_posthog_request_is_forwarded_scrubbed_and_whole() {
    replay_vendor(
        "posthog",
        "/posthog",
        Behavior::json(r#"{"status":1}"#),
        |_, path, _, body, upstream, _| {
            let n = posthog_events(body);
            if upstream && !body.is_empty() {
                let v: Value = serde_json::from_slice(body).expect("PostHog gets plain JSON");
                let events = v
                    .get("batch")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_else(|| vec![v.clone()]);
                if !path.starts_with("/flags") && !path.starts_with("/decide") {
                    for e in &events {
                        assert!(
                            e["properties"]["$ip"].is_string(),
                            "every event names its (truncated) IP: {path} {e}"
                        );
                    }
                }
            }
            n
        },
    )
    .await;
}

#[tokio::test]
async fn every_mixpanel_request_is_forwarded_scrubbed_and_whole() {
    replay_vendor(
        "mixpanel",
        "/mixpanel",
        Behavior::ok("1"),
        |method, _, query, body, _, _| mixpanel_payload(method, query, body).len(),
    )
    .await;
}

/// The control: with the property and value rules switched off, the same replay leaks. This
/// is what proves the assertions above can fail.
#[tokio::test]
async fn without_the_rules_the_same_traffic_leaks() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |f| {
        f.properties.deny.clear();
        f.values.email = "keep".into();
        f.values.phone = "keep".into();
        f.values.card = "keep".into();
        f.values.street_address = "keep".into();
        f.values.scrub_urls = false;
        f.identifiers.action = "keep".into();
    })
    .await;
    let mut f = support::fixture::load_one(
        "segment/browser-analytics-next/007-standard-03-identify-pii__POST_v1-i.json",
    );
    f.raw_target = format!("/segment{}", f.raw_target);
    assert_eq!(support::send(proxy.addr(), &f, &[]).await.status, 200);
    let leaked = vendor.requests()[0].planted();
    for name in ["email", "phone", "user_id", "credit_card"] {
        assert!(
            leaked.iter().any(|l| l == name),
            "{name} should leak without rules: {leaked:?}"
        );
    }
}

#[tokio::test]
async fn every_snowplow_request_is_forwarded_scrubbed_and_whole() {
    replay_vendor(
        "snowplow",
        "/snowplow",
        Behavior::ok("ok"),
        |method, _, query, body, upstream, anonymous| {
            if method == "GET" {
                let param = |name: &str| {
                    query
                        .split('&')
                        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
                };
                if upstream {
                    let Some(ip) = param("ip") else {
                        assert!(anonymous, "only anonymous trackers lose the IP");
                        return 1;
                    };
                    assert!(
                        ip.ends_with(".0") || ip.ends_with("%3A%3A"),
                        "truncated: {ip}"
                    );
                }
                return 1;
            }
            let v: Value = serde_json::from_slice(body).expect("Snowplow body is JSON");
            let events = v["data"].as_array().expect("payload_data array");
            for e in events.iter().filter(|_| upstream) {
                // Trackers in anonymous mode (`SP-Anonymous`) are anonymized: no IP at all.
                // Every other event names its truncated one.
                let Some(ip) = e["ip"].as_str() else {
                    assert!(anonymous, "only anonymous trackers lose the IP");
                    continue;
                };
                assert!(ip.ends_with(".0") || ip.ends_with("::"), "truncated: {ip}");
                if let Some(cx) = e["cx"].as_str() {
                    use base64::Engine;
                    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(cx)
                        .expect("cx stays base64url");
                    serde_json::from_slice::<Value>(&json).expect("cx stays JSON");
                }
            }
            events.len()
        },
    )
    .await;
}

#[tokio::test]
async fn every_matomo_request_is_forwarded_scrubbed_and_whole() {
    replay_vendor(
        "matomo",
        "/matomo",
        Behavior::status(204),
        |_, _, query, body, upstream, _| {
            if upstream {
                assert!(
                    !query.contains("token_auth"),
                    "the sender's token never goes on"
                );
            }
            if body.is_empty() {
                return usize::from(!query.is_empty());
            }
            let v: Value = serde_json::from_slice(body).expect("bulk JSON");
            if upstream {
                assert!(
                    v.get("token_auth").is_none(),
                    "the sender's token never goes on"
                );
            }
            v["requests"].as_array().expect("requests").len()
        },
    )
    .await;
}

/// With a credential on the route, each hit carries the visitor's truncated address in `cip`
/// and the proxy's own token, in GET hits, form hits and every hit of a bulk.
#[tokio::test]
async fn matomo_hits_get_the_proxy_token_and_the_truncated_visitor_address() {
    let token =
        std::env::temp_dir().join(format!("scrubproxy-matomo-token-{}", std::process::id()));
    std::fs::write(&token, "proxy-token-123\n").unwrap();
    let vendor = FakeVendor::start(Behavior::status(204)).await;
    let path = token.to_string_lossy().into_owned();
    let proxy = start_consented_proxy(&vendor.base_url(), |f| {
        for r in f.routes.iter_mut().filter(|r| r.prefix == "/matomo") {
            r.token_file = Some(path.clone());
        }
    })
    .await;
    let get = "/matomo/matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2F%3Femail%3Dj%40x.io&cip=203.0.113.42&token_auth=client-token&uid=jane";
    assert_eq!(
        support::send_raw(proxy.addr(), "GET", get, &[], Vec::new())
            .await
            .status,
        204
    );
    let bulk = r#"{"requests":["?idsite=1&rec=1&uid=jane","?idsite=1&rec=1&_id=0123456789abcdef"],"token_auth":"client-token"}"#;
    assert_eq!(
        support::send_raw(
            proxy.addr(),
            "POST",
            "/matomo/matomo.php",
            &[],
            bulk.as_bytes().to_vec()
        )
        .await
        .status,
        204
    );
    let form = b"idsite=1&rec=1&action_name=Hi&lat=37.7749&long=-122.4194".to_vec();
    assert_eq!(
        support::send_raw(
            proxy.addr(),
            "POST",
            "/matomo/matomo.php",
            &[("content-type", "application/x-www-form-urlencoded")],
            form
        )
        .await
        .status,
        204
    );
    let got = vendor.requests();
    let q = got[0].query();
    assert!(
        q.contains("cip=127.0.0.0") && q.contains("token_auth=proxy-token-123"),
        "{q}"
    );
    assert!(
        !q.contains("client-token") && !q.contains("203.0.113.42") && !q.contains("uid=jane"),
        "{q}"
    );
    let v: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(v["token_auth"], "proxy-token-123");
    for r in v["requests"].as_array().unwrap() {
        assert!(r.as_str().unwrap().contains("cip=127.0.0.0"), "{r}");
    }
    let body = String::from_utf8(got[2].body.clone()).unwrap();
    assert!(
        body.contains("cip=127.0.0.0") && !body.contains("37.7749"),
        "{body}"
    );
    assert_eq!(
        got[2].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let _ = std::fs::remove_file(&token);
}

/// RudderStack (no captures in the corpus): requests shaped as its browser SDK sends them
/// (wire-formats.md section 3.8), with the planted values.
#[tokio::test]
async fn rudderstack_requests_are_scrubbed_including_the_anonymous_id_header() {
    use base64::Engine;
    let vendor = FakeVendor::start(Behavior::ok("OK")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let email = support::planted::value("email");
    let user = support::planted::value("user_id");
    let event = format!(
        r#"{{"type":"identify","anonymousId":"anon-7","userId":"{user}","context":{{"traits":{{"email":"{email}","phone":"+1 415 555 0100"}},"consentManagement":{{"allowedConsentIds":["C0001"]}},"page":{{"url":"{}"}}}},"traits":{{"name":"Jane Doe","address":{{"street":"1 Market St, Apt 4B"}}}}}}"#,
        support::planted::value("url_with_email")
    );
    let anon_header = base64::engine::general_purpose::STANDARD.encode("anon-7");
    let headers = [
        ("content-type", "application/json;charset=UTF-8"),
        ("anonymousid", anon_header.as_str()),
        ("origin", "https://shop.example"),
    ];
    let single = support::send_raw(
        proxy.addr(),
        "POST",
        "/rudderstack/v1/identify",
        &headers,
        event.clone().into_bytes(),
    )
    .await;
    assert_eq!(single.status, 200);
    let beacon = format!(r#"{{"batch":[{event},{event}],"sentAt":"2026-11-22T10:00:00Z"}}"#);
    let batch = support::send_raw(
        proxy.addr(),
        "POST",
        "/rudderstack/beacon/v1/batch?writeKey=wk",
        &[("content-type", "text/plain")],
        beacon.into_bytes(),
    )
    .await;
    assert_eq!(batch.status, 200);
    let got = vendor.requests();
    assert_eq!(got.len(), 2);
    for up in &got {
        assert!(up.planted().is_empty(), "{:?}", up.planted());
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        let events = v
            .get("batch")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_else(|| vec![v.clone()]);
        for e in events {
            assert_eq!(
                e["request_ip"], "127.0.0.0",
                "the gateway gets the client's truncated IP"
            );
            assert!(e["context"]["consentManagement"]["allowedConsentIds"].is_array());
        }
    }
    let forwarded_id = got[0]
        .header("anonymousid")
        .expect("the header goes on, pseudonymized");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(forwarded_id)
        .unwrap();
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        decoded,
        body["anonymousId"].as_str().unwrap().as_bytes(),
        "header and body agree"
    );
    assert_eq!(got[1].query(), "writeKey=wk");

    let pixel = format!(
        "/rudderstack/pixel/v1/track?writeKey=wk&anonymousId=anon-7&event=Signup&properties.email={}",
        email.replace('@', "%40")
    );
    assert_eq!(
        support::send_raw(proxy.addr(), "GET", &pixel, &[], Vec::new())
            .await
            .status,
        200
    );
    let last = vendor.requests().pop().unwrap();
    assert!(last.planted().is_empty(), "{:?}", last.planted());
    let query = last.query();
    assert!(
        query.contains("request_ip=127.0.0.0") && !query.contains("anon-7"),
        "{query}"
    );

    let pre = support::send_raw(
        proxy.addr(),
        "OPTIONS",
        "/rudderstack/v1/track",
        &[
            ("origin", "https://shop.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "anonymousid,rsa-retry-attempt,sentat",
            ),
        ],
        Vec::new(),
    )
    .await;
    let allowed = pre
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["anonymousid", "rsa-retry-attempt", "sentat"] {
        assert!(allowed.contains(h), "{h} allowed in {allowed}");
    }
}

/// GA4 (no captures in the corpus): a Measurement Protocol request and gtag hits shaped as
/// wire-formats.md section 6 describes, with the planted values.
#[tokio::test]
async fn ga4_measurement_protocol_and_gtag_hits_are_scrubbed() {
    let vendor = FakeVendor::start(Behavior::status(204)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let email = support::planted::value("email");
    let url = support::planted::value("url_with_email");
    let mp = format!(
        r#"{{"client_id":"123456789.1706540400","user_id":"{}","ip_override":"203.0.113.42","user_agent":"{}","user_location":{{"city":"San Francisco","country_id":"US"}},"user_data":{{"sha256_email_address":"abc"}},"user_properties":{{"email":{{"value":"{email}"}},"plan":{{"value":"pro"}}}},"events":[{{"name":"purchase","params":{{"page_location":"{url}","page_title":"Order for Jane Doe","phone":"+1 415 555 0100","value":42}}}}]}}"#,
        support::planted::value("user_id"),
        support::planted::value("user_agent"),
    );
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/ga4/mp/collect?measurement_id=G-TEST&api_secret=s3cret",
        &[("content-type", "application/json")],
        mp.into_bytes(),
    )
    .await;
    assert_eq!(resp.status, 204);

    let enc = |s: &str| {
        s.replace('%', "%25")
            .replace('@', "%40")
            .replace(' ', "%20")
            .replace('&', "%26")
            .replace('?', "%3F")
            .replace('=', "%3D")
            .replace(':', "%3A")
            .replace('/', "%2F")
            .replace('+', "%2B")
    };
    let gtag = format!(
        "/ga4/g/collect?v=2&tid=G-TEST&cid=123.456&uid={}&dl={}&dr={}&dt=Order%20for%20Jane%20Doe&en=page_view&ep.email={}&up.name={}&_uip=203.0.113.42&uamb=0&uap=macOS&uapv=14.4.1&uam=Pixel%208&uaa=arm&uab=64",
        enc(support::planted::value("user_id")),
        enc(url),
        enc(support::planted::value("referrer_with_email")),
        enc(email),
        enc("Jane Doe"),
    );
    assert_eq!(
        support::send_raw(proxy.addr(), "GET", &gtag, &[], Vec::new())
            .await
            .status,
        204
    );
    let lines = format!(
        "en=sign_up&ep.phone={}\nen=login&up.email={}&epn.value=3",
        enc("+1 415 555 0100"),
        enc(email)
    );
    let batched = "/ga4/g/collect?v=2&tid=G-TEST&cid=123.456";
    assert_eq!(
        support::send_raw(
            proxy.addr(),
            "POST",
            batched,
            &[("content-type", "text/plain")],
            lines.into_bytes()
        )
        .await
        .status,
        204
    );

    let got = vendor.requests();
    assert_eq!(got.len(), 3);
    for up in &got {
        assert!(
            up.planted().is_empty(),
            "{} leaked {:?}",
            up.target,
            up.planted()
        );
    }
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(v["ip_override"], "203.0.113.0");
    assert_eq!(v["user_properties"]["plan"]["value"], "pro");
    assert_eq!(v["events"][0]["params"]["value"], 42);
    assert!(
        got[0].query().contains("api_secret=s3cret"),
        "the vendor's own parameters pass"
    );
    // Client hints: mobile and platform stay; model, OS version and CPU go.
    let hints = got[1].query();
    assert!(
        hints.contains("uamb=0") && hints.contains("uap=macOS"),
        "{hints}"
    );
    for gone in ["uapv=", "uam=", "uaa=", "uab="] {
        assert!(!hints.contains(gone), "{gone} in {hints}");
    }
    assert!(
        got[1].query().contains("_uip=203.0.113.0"),
        "{}",
        got[1].query()
    );
    let body = String::from_utf8(got[2].body.clone()).unwrap();
    assert_eq!(body.lines().count(), 2, "one hit per line: {body}");
    assert!(body.contains("epn.value=3"));
}

/// Encodings of older posthog-js releases that the captures lack (wire-formats.md 5.1):
/// lz64 (built with the real lz-string library), `compression=gzip-js` with the legacy query
/// flags, `compression=base64` forms and `/decide/` with a base64 form.
#[tokio::test]
async fn legacy_posthog_encodings_are_decoded_scrubbed_and_sent_as_json() {
    use base64::Engine;
    use std::io::Write;
    let vendor = FakeVendor::start(Behavior::json(r#"{"status":1}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/extra/posthog-legacy-lz64.json");
    let fixture: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let json = fixture["json"].as_str().unwrap();
    let lz64 = fixture["lz64"].as_str().unwrap();
    let form = |payload: &str| {
        format!(
            "data={}",
            payload
                .replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        )
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("/posthog/e/?ip=1&_=1706540400000&ver=1.130.0&compression=lz64", form(lz64).into_bytes()),
        ("/posthog/e/?ip=1&_=1706540400000&ver=1.130.0&compression=gzip-js", gz.finish().unwrap()),
        ("/posthog/e/?ip=1&_=1706540400000&ver=1.130.0&compression=base64&beacon=1", form(&b64).into_bytes()),
        ("/posthog/decide/?v=3", form(&base64::engine::general_purpose::STANDARD.encode(r#"{"token":"phc_legacy","distinct_id":"user-jane-doe-42","person_properties":{"email":"jane.doe@example.com"}}"#)).into_bytes()),
    ];
    for (target, body) in cases {
        let resp = support::send_raw(
            proxy.addr(),
            "POST",
            target,
            &[("content-type", "application/x-www-form-urlencoded")],
            body,
        )
        .await;
        assert_eq!(resp.status, 200, "{target}: {}", resp.text());
    }
    let got = vendor.requests();
    assert_eq!(got.len(), 4);
    for up in &got {
        assert!(
            up.planted().is_empty(),
            "{} leaked {:?}",
            up.target,
            up.planted()
        );
        assert!(
            !up.query().contains("compression") && !up.query().contains("ip="),
            "{}",
            up.query()
        );
        assert_eq!(up.header("content-type"), Some("application/json"));
        let v: Value = serde_json::from_slice(&up.body).expect("plain JSON upstream");
        if !up.path().starts_with("/decide") {
            assert_eq!(v[0]["properties"]["$ip"], "203.0.113.0", "{}", up.target);
        }
    }
}

/// Snowplow collectors accept custom paths: an alias on the route makes the proxy treat one
/// like the standard path it stands for, and the request keeps its own path upstream.
#[tokio::test]
async fn custom_tracker_paths_are_scrubbed_like_the_standard_ones() {
    let vendor = FakeVendor::start(Behavior::ok("ok")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |f| {
        for r in f.routes.iter_mut().filter(|r| r.prefix == "/snowplow") {
            r.aliases.insert(
                "/acme/t".into(),
                "/com.snowplowanalytics.snowplow/tp2".into(),
            );
            r.aliases.insert("/acme/pixel".into(), "/i".into());
        }
    })
    .await;
    let email = support::planted::value("email");
    let body = format!(r#"{{"schema":"s","data":[{{"e":"se","se_la":"{email}","uid":"u-1"}}]}}"#);
    assert_eq!(
        support::send_raw(
            proxy.addr(),
            "POST",
            "/snowplow/acme/t",
            &[],
            body.into_bytes()
        )
        .await
        .status,
        200
    );
    assert_eq!(
        support::send_raw(
            proxy.addr(),
            "GET",
            "/snowplow/acme/pixel?e=se&se_la=jane.doe%40example.com",
            &[],
            Vec::new()
        )
        .await
        .status,
        200
    );
    let got = vendor.requests();
    assert_eq!((got[0].path(), got[1].path()), ("/acme/t", "/acme/pixel"));
    for up in &got {
        assert!(up.planted().is_empty(), "{:?}", up.planted());
    }
    let unknown = support::send_raw(
        proxy.addr(),
        "POST",
        "/snowplow/acme/other",
        &[],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(unknown.status, 404);
}

/// A user on the opt-out list is known by `traits.id` as by `userId`: Segment's identify
/// calls name the user there, and an event whose `userId` is absent or another id is still
/// that person's.
#[tokio::test]
async fn the_opt_out_list_sees_segment_trait_ids() {
    let dir = std::env::temp_dir().join(format!("scrubproxy-traits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = "a traits opt-out test key of some length";
    let key_file = dir.join("key");
    std::fs::write(&key_file, secret).unwrap();
    let mut pseudonym = Vec::new();
    scrubproxy::scrub::PseudonymKey::new(secret.as_bytes())
        .pseudonym_into(b"user-gone", &mut pseudonym);
    let list = dir.join("opt-out.txt");
    std::fs::write(&list, [&pseudonym[..], b"\n"].concat()).unwrap();
    let vendor = FakeVendor::start(Behavior::ok(r#"{"success":true}"#)).await;
    let proxy = support::start_proxy_from_file(&vendor.base_url(), &dir.join("rules.toml"), |f| {
        f.identifiers.key_file = Some(key_file.display().to_string());
        f.consent.unknown = "forward".into();
        f.consent.opt_out_file = Some(list.display().to_string());
    })
    .await;
    let mut forwarded = Vec::new();
    for traits in [
        serde_json::json!({"traits": {"id": "user-gone"}}),
        serde_json::json!({"context": {"traits": {"id": "user-gone"}}}),
        serde_json::json!({"traits": {"id": "user-stays"}}),
    ] {
        vendor.clear();
        let mut body = serde_json::json!({"type": "identify", "anonymousId": "a1"});
        body.as_object_mut()
            .unwrap()
            .extend(traits.as_object().unwrap().clone());
        let resp = support::send_raw(
            proxy.addr(),
            "POST",
            "/segment/v1/i",
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
        assert_eq!(resp.status, 200);
        forwarded.push(vendor.requests().len());
    }
    assert_eq!(forwarded, [0, 0, 1], "events forwarded per request");
    std::fs::remove_dir_all(&dir).ok();
}

/// A cookie jar recorded as a property, or a vendor's identifier cookie under its own name,
/// goes wherever it is, in any spelling of its name; members whose names only contain
/// `cookie` stay.
#[tokio::test]
async fn recorded_cookies_and_identifier_cookies_are_removed_wherever_they_are() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = serde_json::json!({"type": "track", "event": "Viewed", "userId": "u1",
        "properties": {"Cookies": {"sid": "jar-jane-1"}, "debug": {"document.cookie": "a=jar-jane-2"},
            "ajsUserId": "jar-jane-3", "ph_phc_Abc123_posthog": "{\"distinct_id\":\"jar-jane-4\"}",
            "mp_0a1b_mixpanel": "jar-jane-5", "_pk_id.1.1fff": "jar-jane-6.1700000000",
            "cookie_count": 3, "cookie_flavour": "oat"},
        "context": {"traits": {"_sp_id.1fff": "jar-jane-7.1700000000.1", "FPID": "jar-jane-8"}}});
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t",
        &[("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(resp.status, 200);
    let sent = String::from_utf8(vendor.requests()[0].body.clone()).unwrap();
    assert!(!sent.contains("jar-jane"), "{sent}");
    let sent: Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(sent["properties"]["cookie_count"], 3);
    assert_eq!(sent["properties"]["cookie_flavour"], "oat");
    // Snowplow's and Matomo's `cookie` parameter is the browser's cookies-enabled flag.
    for target in [
        "/snowplow/i?e=pv&cookie=1",
        "/matomo/matomo.php?idsite=1&rec=1&cookie=1",
    ] {
        vendor.clear();
        let resp = support::send_raw(proxy.addr(), "GET", target, &[], Vec::new()).await;
        assert!(resp.status < 300, "{target}: {}", resp.status);
        let query = vendor.requests()[0].query().to_owned();
        assert!(
            query.split('&').any(|p| p == "cookie=1"),
            "{target}: {query}"
        );
    }
}

/// Whether `text` is a version 4 UUID (`8-4-4-4-12` lower-case hex, version 4, RFC variant).
fn is_uuid_v4(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && text
            .bytes()
            .all(|c| c == b'-' || matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        && groups[2].starts_with('4')
        && groups[3].starts_with(['8', '9', 'a', 'b'])
}

/// Snowplow's domain and network user ids are UUIDs (the trackers' and the collector's
/// cookies) and so are the ids of its client session and mobile contexts: their pseudonyms
/// are UUIDs, changed from what was sent, the same id the same pseudonym, in the query of a
/// pixel and in a posted body alike.
#[tokio::test]
async fn snowplow_uuid_identifiers_are_pseudonymized_as_uuids() {
    let vendor = FakeVendor::start(Behavior::ok("ok")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let duid = "5b1e9d4a-3c2f-4e8b-9a71-0d6c2e4f8a13";
    let idfa = "6d92078a-8246-4ba4-ae5b-76104861e7dc";
    let co = serde_json::json!({"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
        "data": [{"schema": "iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3",
                  "data": {"osType": "ios", "appleIdfa": idfa, "appleIdfv": idfa}}]});
    let body = serde_json::json!({"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
        "data": [{"e": "pv", "duid": duid, "tnuid": duid, "uid": "user-jane", "co": co.to_string()}]});
    let posted = support::send_raw(
        proxy.addr(),
        "POST",
        "/snowplow/com.snowplowanalytics.snowplow/tp2",
        &[("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(posted.status, 200);
    let pixel = support::send_raw(
        proxy.addr(),
        "GET",
        &format!("/snowplow/i?e=pv&duid={duid}&nuid={duid}"),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(pixel.status, 200);
    let requests = vendor.requests();
    let sent: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let event = &sent["data"][0];
    let context: Value = serde_json::from_str(event["co"].as_str().unwrap()).unwrap();
    let mobile = &context["data"][0]["data"];
    let query = requests[1].query();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    let uuids = [
        event["duid"].as_str().map(str::to_owned),
        event["tnuid"].as_str().map(str::to_owned),
        mobile["appleIdfa"].as_str().map(str::to_owned),
        param("duid"),
        param("nuid"),
    ];
    for uuid in &uuids {
        let uuid = uuid.as_deref().expect("the id is sent");
        assert!(is_uuid_v4(uuid), "{uuid}");
        assert_ne!(uuid, duid);
        assert_ne!(uuid, idfa);
    }
    // One id, one pseudonym, wherever it is sent; the free-text user id keeps the usual form.
    assert!(uuids[..2].iter().chain(&uuids[3..]).all(|u| *u == uuids[0]));
    assert_eq!(mobile["appleIdfa"], mobile["appleIdfv"]);
    let uid = event["uid"].as_str().unwrap();
    assert!(
        uid.len() == 32 && uid.bytes().all(|c| c.is_ascii_hexdigit()),
        "{uid}"
    );
}

/// Inside Snowplow contexts, the client session context's cookie user id is an identifier.
#[tokio::test]
async fn snowplow_context_identifiers_are_pseudonymized_inside_base64() {
    use base64::Engine;
    let vendor = FakeVendor::start(Behavior::ok("ok")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let contexts = r#"{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0","data":[{"schema":"iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2","data":{"userId":"d6f2f6b4-cookie-user","sessionId":"s-1","sessionIndex":3}},{"schema":"iglu:com.snowplowanalytics.snowplow/geolocation_context/jsonschema/1-1-0","data":{"latitude":37.7749,"longitude":-122.4194}}]}"#;
    let cx = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(contexts);
    let body = format!(r#"{{"schema":"s","data":[{{"e":"pv","cx":"{cx}"}}]}}"#);
    assert_eq!(
        support::send_raw(
            proxy.addr(),
            "POST",
            "/snowplow/com.snowplowanalytics.snowplow/tp2",
            &[],
            body.into_bytes()
        )
        .await
        .status,
        200
    );
    let v: Value = serde_json::from_slice(&vendor.requests()[0].body).unwrap();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v["data"][0]["cx"].as_str().unwrap())
        .unwrap();
    let contexts: Value = serde_json::from_slice(&decoded).unwrap();
    let session = &contexts["data"][0]["data"];
    assert_ne!(session["userId"], "d6f2f6b4-cookie-user");
    assert_eq!(session["sessionIndex"], 3);
    assert!(contexts["data"][1]["data"].get("latitude").is_none());
}

#[tokio::test]
async fn client_hints_keep_brands_and_platform_and_lose_model_and_versions() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let hints = r#"{"brands":[{"brand":"Chromium","version":"118"}],"fullVersionList":[{"brand":"Chromium","version":"118.0.5993.70"}],"mobile":true,"model":"Pixel 7 Pro","platform":"Android","platformVersion":"14.0.0"}"#;

    // Segment: `context.userAgentData` is an object.
    let event = format!(r#"{{"type":"page","context":{{"userAgentData":{hints}}}}}"#);
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/p",
        &[],
        event.into_bytes(),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent: Value = serde_json::from_slice(&vendor.requests()[0].body).unwrap();
    assert_eq!(
        sent["context"]["userAgentData"],
        serde_json::json!({
            "brands": [{"brand":"Chromium","version":"118"}],
            "fullVersionList": [{"brand":"Chromium","version":"118"}],
            "mobile": true,
            "platform": "Android",
        })
    );

    // Matomo: `uadata` is JSON in a query parameter.
    let query: String = url_encode(hints);
    let target = format!("/matomo/matomo.php?idsite=1&rec=1&uadata={query}");
    let resp = support::send_raw(proxy.addr(), "GET", &target, &[], Vec::new()).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let forwarded = vendor.requests()[1].query().to_string();
    let uadata = percent_decode(
        forwarded
            .split('&')
            .find_map(|p| p.strip_prefix("uadata="))
            .expect("uadata is forwarded"),
    );
    let uadata = String::from_utf8(uadata).unwrap();
    assert!(
        uadata.contains("Android") && uadata.contains(r#""version":"118""#),
        "{uadata}"
    );
    assert!(
        !uadata.contains("Pixel") && !uadata.contains("5993") && !uadata.contains("14.0"),
        "{uadata}"
    );
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A vendor, method, path, query, body and the referrer fields in what it sends.
type ReferrerCase = (
    scrubproxy::vendor::VendorKind,
    &'static str,
    &'static str,
    String,
    String,
    Vec<&'static str>,
);

/// Each vendor's referrer fields, offline through the shipped rules: the origin only, with
/// no user name or password; with `referrer = "full"`, the URL stays, under the URL rules.
#[test]
fn every_vendor_trims_referrers_to_their_origin() {
    use scrubproxy::vendor::VendorKind;
    let referrer = "https://jane:secret@www.google.com/search?q=jane+doe&utm_source=news#top";
    let encoded = url_encode(referrer);
    let cases: Vec<ReferrerCase> = vec![
        (
            VendorKind::Segment,
            "POST",
            "/v1/p",
            String::new(),
            format!(
                r#"{{"type":"page","context":{{"page":{{"referrer":"{referrer}"}}}},"properties":{{"referrer":"{referrer}"}}}}"#
            ),
            vec!["body.context.page.referrer", "body.properties.referrer"],
        ),
        (
            VendorKind::PostHog,
            "POST",
            "/e/",
            String::new(),
            format!(
                r#"{{"event":"$pageview","api_key":"k","properties":{{"distinct_id":"d","$referrer":"{referrer}","$initial_referrer":"{referrer}","$session_entry_referrer":"{referrer}"}}}}"#
            ),
            vec![
                "body.properties.$referrer",
                "body.properties.$initial_referrer",
                "body.properties.$session_entry_referrer",
            ],
        ),
        (
            VendorKind::Mixpanel,
            "POST",
            "/track/",
            String::new(),
            format!(
                r#"[{{"event":"e","properties":{{"token":"t","$referrer":"{referrer}","$initial_referrer":"{referrer}"}}}}]"#
            ),
            vec![
                "body.0.properties.$referrer",
                "body.0.properties.$initial_referrer",
            ],
        ),
        (
            VendorKind::Amplitude,
            "POST",
            "/2/httpapi",
            String::new(),
            format!(
                r#"{{"api_key":"k","events":[{{"event_type":"e","user_properties":{{"$set":{{"referrer":"{referrer}"}},"$setOnce":{{"initial_referrer":"{referrer}"}}}}}}]}}"#
            ),
            vec![
                "body.events.0.user_properties.$set.referrer",
                "body.events.0.user_properties.$setOnce.initial_referrer",
            ],
        ),
        (
            VendorKind::Plausible,
            "POST",
            "/api/event",
            String::new(),
            format!(
                r#"{{"n":"pageview","u":"https://shop.example/","d":"shop.example","r":"{referrer}"}}"#
            ),
            vec!["body.r"],
        ),
        (
            VendorKind::Matomo,
            "GET",
            "/matomo.php",
            format!("idsite=1&rec=1&urlref={encoded}"),
            String::new(),
            vec!["query.urlref"],
        ),
        (
            VendorKind::Snowplow,
            "GET",
            "/i",
            format!("e=pv&aid=shop&refr={encoded}"),
            String::new(),
            vec!["query.refr"],
        ),
        (
            VendorKind::Ga4,
            "POST",
            "/g/collect",
            format!("v=2&tid=G-TEST&cid=1.2&en=page_view&dr={encoded}"),
            String::new(),
            vec!["query.dr"],
        ),
    ];
    let rules = |referrer: &str| offline_rules(|f| f.values.referrer = referrer.into());
    let (origin_rules, full_rules) = (rules("origin"), rules("full"));
    for (vendor, method, path, query, body, fields) in &cases {
        let headers = http::HeaderMap::new();
        let run = |set| {
            let sent = scrubproxy::check::scrub_request(
                set,
                *vendor,
                method,
                path,
                query,
                &headers,
                body.as_bytes(),
            )
            .unwrap_or_else(|e| panic!("{vendor:?}: {e}"));
            scrubproxy::check::sent_document(&sent)
        };
        let (trimmed, full) = (run(&origin_rules), run(&full_rules));
        for field in fields {
            let found = scrubproxy::check::lookup(&trimmed, field);
            assert_eq!(
                found,
                vec![&Value::from("https://www.google.com/")],
                "{vendor:?} {field}: {trimmed}"
            );
            let kept = scrubproxy::check::lookup(&full, field);
            let kept = kept.first().and_then(|v| v.as_str()).unwrap_or_default();
            assert!(
                kept.contains("/search") && kept.contains("utm_source=news"),
                "{vendor:?} {field}: {kept}"
            );
            assert!(
                !kept.contains("q=jane"),
                "{vendor:?} {field}: the URL rules still apply: {kept}"
            );
        }
    }
}

#[test]
fn a_referrer_that_is_not_a_plain_url_gets_the_value_rules() {
    let set = offline_rules(|_| {});
    for referrer in [
        "https://shop.example;email=jane.doe%40gmail.com",
        "https://jane.doe%40gmail.com",
        "https://shop.example\\u00a0mail jane.doe@gmail.com",
    ] {
        let body = format!(r#"{{"type":"page","context":{{"page":{{"referrer":"{referrer}"}}}}}}"#);
        let sent = scrubproxy::check::scrub_request(
            &set,
            scrubproxy::vendor::VendorKind::Segment,
            "POST",
            "/v1/p",
            "",
            &http::HeaderMap::new(),
            body.as_bytes(),
        )
        .unwrap();
        let text = String::from_utf8(sent.body.unwrap()).unwrap();
        assert!(!text.contains("jane.doe"), "{referrer}: {text}");
    }
}

#[test]
fn a_drop_detector_takes_named_pairs_and_query_parameters_whole() {
    let set = offline_rules(|f| f.values.email = "drop".into());
    let headers = http::HeaderMap::new();
    // Matomo custom variables: a pair whose value holds an address goes whole.
    let cvar = url_encode(r#"{"1":["note","mail jane.doe@example.com"],"2":["plan","pro"]}"#);
    let query = format!("idsite=1&rec=1&_cvar={cvar}");
    let sent = scrubproxy::check::scrub_request(
        &set,
        scrubproxy::vendor::VendorKind::Matomo,
        "GET",
        "/matomo.php",
        &query,
        &headers,
        b"",
    )
    .unwrap();
    let doc = scrubproxy::check::sent_document(&sent);
    let cvar = doc["query"]["_cvar"].clone();
    assert_eq!(cvar, serde_json::json!({"2": ["plan", "pro"]}), "{doc}");
    // A parameter of the request's own query string goes whole too.
    let sent = scrubproxy::check::scrub_request(
        &set,
        scrubproxy::vendor::VendorKind::Segment,
        "POST",
        "/v1/t",
        "note=mail%20jane.doe%40example.com&plan=pro",
        &headers,
        br#"{"type":"track","event":"e"}"#,
    )
    .unwrap();
    assert_eq!(sent.query, "plan=pro");
}

/// The shipped rules for offline runs (`check::scrub_request`), with `edit` applied.
fn offline_rules(
    edit: impl FnOnce(&mut scrubproxy::rules::RulesFile),
) -> scrubproxy::rules::RuleSet {
    let mut file = scrubproxy::rules::read(Some(&support::proxy::shipped_rules_path())).unwrap();
    file.identifiers.key_env = Some("SCRUBPROXY_TEST_KEY_THAT_IS_NEVER_SET".into());
    edit(&mut file);
    scrubproxy::rules::compile(file).unwrap()
}
