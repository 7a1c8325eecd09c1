//! Consent enforced on the server: every signal a request or an event carries, read into one
//! state per purpose, the stricter winning, and the route's policy applied per event
//! (forward, anonymize, drop). Dropped events are answered with the vendor's own success
//! and counted; nothing of them reaches the vendor.

use serde_json::{json, Value};

use crate::support::tcf_encoder::{encode, Vendors};
use crate::support::{self, start_proxy, start_proxy_from_file, Behavior, FakeVendor, TestProxy};
use scrubproxy::rules::RulesFile;

/// What became of the one event a test sent.
#[derive(Debug, PartialEq, Eq)]
enum Fate {
    /// Forwarded as consented: truncated IP, the stable pseudonym.
    Forwarded,
    /// No IP, a pseudonym other than the stable one.
    Anonymized,
    /// Nothing sent; the tracker got Segment's success.
    Dropped,
}

const CLIENT_IP: &str = "198.51.100.77";

fn tcf(purposes: &[u8]) -> String {
    encode(
        purposes,
        &[],
        Vendors::Field(0, &[]),
        Vendors::Field(0, &[]),
    )
}

/// A Segment track event, with `consent` as its `context.consent` when given.
fn event(consent: Option<Value>) -> Vec<u8> {
    let mut e = json!({"type": "track", "event": "Viewed", "userId": "user-jane-42",
        "context": {"ip": CLIENT_IP}});
    if let Some(c) = consent {
        e["context"]["consent"] = c;
    }
    e.to_string().into_bytes()
}

fn preferences(analytics: bool) -> Option<Value> {
    Some(json!({"categoryPreferences": {"Analytics": analytics, "Advertising": false}}))
}

/// One proxy per rules edit, a fake Segment, and the stable pseudonym of the test's user.
struct Bench {
    vendor: FakeVendor,
    proxy: TestProxy,
    stable: String,
}

impl Bench {
    async fn new(edit: impl FnOnce(&mut RulesFile)) -> Bench {
        let vendor = FakeVendor::start(Behavior::ok(r#"{"success":true}"#)).await;
        let proxy = start_proxy(&vendor.base_url(), edit).await;
        let mut bench = Bench {
            vendor,
            proxy,
            stable: String::new(),
        };
        // A granted event shows the stable pseudonym (the key is random per proxy).
        let granted = [("cookie", "OptanonConsent=groups=C0002%3A1%2CC0004%3A1")];
        let up = bench.send("/segment/v1/t", &granted, event(None)).await;
        let up = up.expect("a granted event is forwarded");
        bench.stable = up["userId"].as_str().unwrap().to_owned();
        bench
    }

    /// Sends a request; the event the vendor got, if any.
    async fn send(&self, target: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Option<Value> {
        self.vendor.clear();
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        let resp = support::send_raw(self.proxy.addr(), "POST", target, &all, body).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let got = self.vendor.requests();
        match got.as_slice() {
            [] => {
                assert_eq!(resp.text(), r#"{"success":true}"#, "Segment's own success");
                None
            }
            [up] => Some(serde_json::from_slice(&up.body).unwrap()),
            more => panic!("{} upstream requests", more.len()),
        }
    }

    async fn fate(&self, headers: &[(&str, &str)], body: Vec<u8>) -> Fate {
        self.fate_at("/segment/v1/t", headers, body).await
    }

    async fn fate_at(&self, target: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Fate {
        let Some(up) = self.send(target, headers, body).await else {
            return Fate::Dropped;
        };
        let (ip, id) = (up["context"]["ip"].as_str(), up["userId"].as_str());
        let id = id.expect("the vendor still gets an id");
        assert!(!id.contains("jane"), "{up}");
        match ip {
            Some("198.51.100.0") => {
                assert_eq!(
                    id, self.stable,
                    "consented events keep the stable pseudonym"
                );
                Fate::Forwarded
            }
            Some("0.0.0.0") => {
                assert_ne!(id, self.stable, "anonymized events get the day's pseudonym");
                assert_eq!(id.len(), 32, "{id}");
                Fate::Anonymized
            }
            other => panic!("unexpected IP {other:?}: {up}"),
        }
    }
}

/// A case: its name, the request's headers, the event's own consent, what must happen.
type Row<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<Value>, Fate);

/// The README's signal table, row by row, with the shipped policy (denied: drop, unknown:
/// anonymize) and the shipped signal settings.
#[tokio::test]
async fn each_signal_is_read_and_the_stricter_wins() {
    use Fate::*;
    let bench = Bench::new(|_| {}).await;
    let granted_tcf = format!("euconsent-v2={}", tcf(&[1, 8]));
    let storage_only_tcf = format!("euconsent-v2={}", tcf(&[1]));
    let rows: Vec<Row> = vec![
        ("no signal at all", vec![], None, Anonymized),
        (
            "OneTrust grants analytics (C0002)",
            vec![(
                "cookie",
                "OptanonConsent=isGpcEnabled=0&groups=C0001%3A1%2CC0002%3A1",
            )],
            None,
            Forwarded,
        ),
        (
            "OneTrust refuses analytics",
            vec![("cookie", "OptanonConsent=groups=C0001%3A1%2CC0002%3A0")],
            None,
            Dropped,
        ),
        (
            "Cookiebot grants statistics",
            vec![(
                "cookie",
                "CookieConsent={stamp:'x',necessary:true,statistics:true,marketing:false}",
            )],
            None,
            Forwarded,
        ),
        (
            "Cookiebot refuses statistics",
            vec![("cookie", "CookieConsent={necessary:true,statistics:false}")],
            None,
            Dropped,
        ),
        (
            "TCF purposes 1 and 8",
            vec![("cookie", &granted_tcf)],
            None,
            Forwarded,
        ),
        (
            "TCF purpose 1 only",
            vec![("cookie", &storage_only_tcf)],
            None,
            Dropped,
        ),
        (
            "an unreadable TCF string says nothing",
            vec![("cookie", "euconsent-v2=garbage")],
            None,
            Anonymized,
        ),
        (
            "GPC alone says nothing of analytics",
            vec![("sec-gpc", "1")],
            None,
            Anonymized,
        ),
        (
            "GPC beside a grant of analytics",
            vec![
                ("sec-gpc", "1"),
                ("cookie", "OptanonConsent=groups=C0002%3A1"),
            ],
            None,
            Forwarded,
        ),
        (
            "DNT is not read by default",
            vec![("dnt", "1")],
            None,
            Anonymized,
        ),
        (
            "Segment's own consent grants",
            vec![],
            preferences(true),
            Forwarded,
        ),
        (
            "Segment's own consent refuses",
            vec![],
            preferences(false),
            Dropped,
        ),
        (
            "the event refuses what the cookie grants",
            vec![("cookie", "OptanonConsent=groups=C0002%3A1")],
            preferences(false),
            Dropped,
        ),
        (
            "the cookie refuses what the event grants",
            vec![("cookie", "OptanonConsent=groups=C0002%3A0")],
            preferences(true),
            Dropped,
        ),
    ];
    for (name, headers, consent, want) in rows {
        let got = bench.fate(&headers, event(consent)).await;
        assert_eq!(got, want, "{name}");
    }
    // The TCF string in the query, as publishers' tags pass it on.
    let target = format!("/segment/v1/t?gdpr_consent={}", tcf(&[1, 8]));
    assert_eq!(bench.fate_at(&target, &[], event(None)).await, Forwarded);
    let target = format!("/segment/v1/t?gdpr_consent={}", tcf(&[1, 3, 4]));
    assert_eq!(bench.fate_at(&target, &[], event(None)).await, Dropped);
}

#[tokio::test]
async fn the_policy_and_the_signals_read_follow_the_rules() {
    use Fate::*;
    // Purposes: with advertising required too, GPC's objection drops the event.
    let both = Bench::new(|f| f.consent.purposes = "analytics+ads".into()).await;
    let gpc_and_grant = [
        ("sec-gpc", "1"),
        ("cookie", "OptanonConsent=groups=C0002%3A1%2CC0004%3A1"),
    ];
    assert_eq!(both.fate(&gpc_and_grant, event(None)).await, Dropped);
    let grant_both = [("cookie", "OptanonConsent=groups=C0002%3A1%2CC0004%3A1")];
    assert_eq!(both.fate(&grant_both, event(None)).await, Forwarded);
    let grant_analytics = [("cookie", "OptanonConsent=groups=C0002%3A1")];
    assert_eq!(both.fate(&grant_analytics, event(None)).await, Anonymized);

    // DNT switched on; GPC switched off.
    let signals = Bench::new(|f| {
        f.consent.dnt = true;
        f.consent.gpc = false;
        f.consent.purposes = "ads".into();
    })
    .await;
    let grant_ads = ("cookie", "OptanonConsent=groups=C0002%3A1%2CC0004%3A1");
    assert_eq!(
        signals.fate(&[("dnt", "1"), grant_ads], event(None)).await,
        Dropped
    );
    assert_eq!(
        signals
            .fate(&[("sec-gpc", "1"), grant_ads], event(None))
            .await,
        Forwarded
    );

    // The site's own cookie: a list is the grant, a JSON object says each category.
    let own = Bench::new(|f| f.consent.cookie = Some("site_consent".into())).await;
    let cookie = |v: &'static str| [("cookie", v)];
    assert_eq!(
        own.fate(&cookie("site_consent=necessary,analytics"), event(None))
            .await,
        Forwarded
    );
    assert_eq!(
        own.fate(&cookie("site_consent=necessary"), event(None))
            .await,
        Dropped
    );
    assert_eq!(
        own.fate(
            &cookie("site_consent=%7B%22analytics%22%3Afalse%7D"),
            event(None)
        )
        .await,
        Dropped
    );

    // The other actions, globally and per route.
    let lenient = Bench::new(|f| {
        f.consent.unknown = "drop".into();
        f.consent.denied = "anonymize".into();
    })
    .await;
    assert_eq!(lenient.fate(&[], event(None)).await, Dropped);
    assert_eq!(
        lenient.fate(&[], event(preferences(false))).await,
        Anonymized
    );
    let per_route = Bench::new(|f| {
        let segment = f
            .routes
            .iter_mut()
            .find(|r| r.prefix == "/segment")
            .unwrap();
        segment.consent = Some(scrubproxy::rules::file::RouteConsentFile {
            unknown: Some("forward".into()),
            ..Default::default()
        });
    })
    .await;
    assert_eq!(per_route.fate(&[], event(None)).await, Forwarded);
    assert_eq!(
        per_route.fate(&[], event(preferences(false))).await,
        Dropped,
        "denied stays"
    );
}

#[tokio::test]
async fn a_batch_is_judged_event_by_event_and_counted_by_reason() {
    let bench = Bench::new(|_| {}).await;
    let batch = json!({"batch": [
        {"type": "track", "event": "a", "userId": "u1", "context": {"consent": {"categoryPreferences": {"Analytics": true}}}},
        {"type": "track", "event": "b", "userId": "u2", "context": {"consent": {"categoryPreferences": {"Analytics": false}}}},
        {"type": "track", "event": "c", "userId": "u3"},
    ]});
    let up = bench
        .send("/segment/v1/batch", &[], batch.to_string().into_bytes())
        .await
        .expect("two events go on");
    let events = up["batch"].as_array().unwrap();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(
        events[0]["context"]["ip"], "127.0.0.0",
        "consented: truncated"
    );
    assert_eq!(
        events[1]["context"]["ip"], "0.0.0.0",
        "anonymized: no address"
    );
    let metrics = bench.proxy.metrics().await;
    for (action, n) in [("forwarded", 2), ("anonymized", 1), ("dropped_consent", 1)] {
        let line = format!("scrubproxy_events_total{{action=\"{action}\",vendor=\"segment\"}} {n}");
        assert!(metrics.contains(&line), "{line}\n{metrics}");
    }
}

/// The vendors' own consent fields and switches, each on its own wire format.
#[tokio::test]
async fn vendor_signals_on_the_wire_decide_their_events() {
    let vendor = FakeVendor::start(Behavior::ok("ok")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        let matomo = f.routes.iter_mut().find(|r| r.prefix == "/matomo").unwrap();
        matomo.token_env = Some(support::proxy::MATOMO_TOKEN_ENV.into());
    })
    .await;
    let sent = |method: &'static str,
                target: String,
                body: Vec<u8>,
                headers: Vec<(&'static str, &'static str)>| {
        let (vendor, addr) = (&vendor, proxy.addr());
        async move {
            vendor.clear();
            let resp = support::send_raw(addr, method, &target, &headers, body).await;
            assert!(
                (200..300).contains(&resp.status),
                "{target}: {}",
                resp.status
            );
            vendor.requests()
        }
    };

    // RudderStack: the consent manager's ids.
    let rudder = |denied: &str| {
        json!({"type": "track", "event": "e", "anonymousId": "a1", "context": {"consentManagement": {
            "allowedConsentIds": ["C0001"], "deniedConsentIds": [denied]}}})
        .to_string()
        .into_bytes()
    };
    assert!(sent(
        "POST",
        "/rudderstack/v1/track".into(),
        rudder("C0002"),
        vec![]
    )
    .await
    .is_empty());
    let up = sent(
        "POST",
        "/rudderstack/v1/track".into(),
        rudder("C0004"),
        vec![],
    )
    .await;
    assert_eq!(
        up.len(),
        1,
        "advertising refused, analytics unknown: anonymized, sent"
    );

    // GA4 gtag hits: Consent Mode's gcs (G1 + ad storage + analytics storage).
    let hit = |gcs: &str| format!("/ga4/g/collect?v=2&tid=G-TEST&cid=1.2&en=page_view&gcs={gcs}");
    assert!(
        sent("GET", hit("G110"), vec![], vec![]).await.is_empty(),
        "analytics refused"
    );
    let up = sent("GET", hit("G111"), vec![], vec![]).await;
    assert_eq!(up.len(), 1);
    assert!(
        up[0].query().contains("_uip=127.0.0.0"),
        "granted: {}",
        up[0].query()
    );

    // GA4 Measurement Protocol: its consent object speaks of advertising only.
    let mp = json!({"client_id": "1.2", "consent": {"ad_user_data": "DENIED"},
        "events": [{"name": "purchase", "params": {}}]});
    let up = sent(
        "POST",
        "/ga4/mp/collect?api_secret=s&measurement_id=G-TEST".into(),
        mp.to_string().into_bytes(),
        vec![],
    )
    .await;
    assert_eq!(up.len(), 1, "analytics unknown: anonymized");
    let body: Value = serde_json::from_slice(&up[0].body).unwrap();
    assert!(body.get("ip_override").is_none(), "anonymized: {body}");

    // Matomo: consent=1 is the tracker's own grant; the visitor address goes with it.
    let up = sent(
        "GET",
        "/matomo/matomo.php?idsite=1&rec=1&uid=jane&consent=1".into(),
        vec![],
        vec![],
    )
    .await;
    assert!(up[0].query().contains("cip=127.0.0.0"), "{}", up[0].query());
    let up = sent(
        "GET",
        "/matomo/matomo.php?idsite=1&rec=1&uid=jane".into(),
        vec![],
        vec![],
    )
    .await;
    assert!(up[0].query().contains("cip=0.0.0.0"), "{}", up[0].query());

    // Snowplow: a tracker in anonymous mode stays anonymous, whatever consent says.
    let sp = json!({"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
        "data": [{"e": "pv", "duid": "d-1", "p": "web", "tv": "js-4"}]});
    let granted = ("cookie", "OptanonConsent=groups=C0002%3A1");
    let up = sent(
        "POST",
        "/snowplow/com.snowplowanalytics.snowplow/tp2".into(),
        sp.to_string().into_bytes(),
        vec![
            ("content-type", "application/json"),
            ("sp-anonymous", "*"),
            granted,
        ],
    )
    .await;
    let body: Value = serde_json::from_slice(&up[0].body).unwrap();
    assert!(body["data"][0].get("ip").is_none(), "{body}");
    assert_eq!(up[0].header("sp-anonymous"), Some("*"));
    let up = sent(
        "POST",
        "/snowplow/com.snowplowanalytics.snowplow/tp2".into(),
        sp.to_string().into_bytes(),
        vec![("content-type", "application/json"), granted],
    )
    .await;
    let body: Value = serde_json::from_slice(&up[0].body).unwrap();
    assert_eq!(body["data"][0]["ip"], "127.0.0.0", "{body}");
}

/// Every captured request of every vendor, from a visitor behind a trusted load balancer.
/// Refused: the tracker gets its vendor's success and the vendor nothing of the events.
/// Silent: anonymized, still sent whole, but without the visitor's address anywhere.
/// Granted: sent with the truncated address (which shows the silent check can fail).
#[tokio::test]
async fn real_sdk_traffic_is_dropped_when_refused_and_anonymized_when_silent() {
    let vendor = FakeVendor::start(Behavior::ok("ok")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.client_ip.trusted_proxies = vec!["127.0.0.1/32".into()];
        // Plausible's header carries the truncated address (the shipped default is a
        // per-visitor stand-in), so its granted events show the address too.
        f.ip.header = "truncate".into();
        // Matomo takes an address only with the proxy's token.
        let matomo = f.routes.iter_mut().find(|r| r.prefix == "/matomo").unwrap();
        matomo.token_env = Some(support::proxy::MATOMO_TOKEN_ENV.into());
    })
    .await;
    const VISITOR: (&str, &str) = ("x-forwarded-for", "198.51.100.77");
    const SILENT: &[(&str, &str)] = &[VISITOR];
    const REFUSED: &[(&str, &str)] = &[VISITOR, ("cookie", "OptanonConsent=groups=C0002%3A0")];
    const GRANTED: &[(&str, &str)] = &[VISITOR, ("cookie", "OptanonConsent=groups=C0002%3A1")];
    let names = [
        "segment",
        "mixpanel",
        "amplitude",
        "posthog",
        "snowplow",
        "matomo",
        "plausible",
    ];
    for name in names {
        let (mut dropped, mut addressed) = (0, 0);
        for f in support::load(name).iter().filter(|f| f.method != "OPTIONS") {
            let mut routed = f.clone();
            routed.raw_target = format!("/{name}{}", f.raw_target);
            let send = |headers: &'static [(&'static str, &'static str)]| {
                let (vendor, addr, routed) = (&vendor, proxy.addr(), &routed);
                async move {
                    vendor.clear();
                    let resp = support::send(addr, routed, headers).await;
                    (resp.status, vendor.requests())
                }
            };
            let (status, sent) = send(REFUSED).await;
            if status == 404 {
                continue; // paths the vendor's route refuses (session replay)
            }
            assert!((200..300).contains(&status), "{}: {status}", f.name);
            // Only requests without events (flags, remote configuration) may still go on.
            if sent.is_empty() {
                dropped += 1;
            }
            for up in &sent {
                assert!(
                    f.body.is_empty() && !f.raw_target.contains("data="),
                    "{}: refused events reached the vendor: {}",
                    f.name,
                    up.target
                );
            }

            let (status, sent) = send(SILENT).await;
            assert!((200..300).contains(&status), "{}: {status}", f.name);
            // Segment's consent wrapper grants analytics in some captures: those go on as
            // consented.
            let body = crate::vendors::decompressed(f);
            let granted_in_event = String::from_utf8_lossy(&body)
                .replace(' ', "")
                .contains(r#""Analytics":true"#);
            for up in sent.iter().filter(|_| !granted_in_event) {
                assert!(
                    !visible(up).contains("198.51.100"),
                    "{}: anonymized events name no address",
                    f.name
                );
                assert!(
                    up.planted().is_empty(),
                    "{} leaked {:?}",
                    f.name,
                    up.planted()
                );
            }

            let (_, sent) = send(GRANTED).await;
            addressed += sent
                .iter()
                .filter(|up| visible(up).contains("198.51.100.0"))
                .count();
        }
        assert!(dropped > 0, "{name}: refused events are dropped");
        assert!(
            addressed > 0,
            "{name}: consented events carry the truncated address"
        );
        let metrics = proxy.metrics().await;
        for action in ["dropped_consent", "anonymized"] {
            let series =
                format!("scrubproxy_events_total{{action=\"{action}\",vendor=\"{name}\"}}");
            assert!(metrics.contains(&series), "{name}: {action} is counted");
        }
    }
}

/// Everything the vendor sees of a request: target, headers and body.
fn visible(up: &support::Recorded) -> String {
    let headers: Vec<String> = up
        .headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}"))
        .collect();
    format!(
        "{}\n{}\n{}",
        up.target,
        headers.join("\n"),
        String::from_utf8_lossy(&up.body)
    )
}

/// People who asked to be forgotten: their pseudonyms in a file, their events dropped, the
/// list reloaded when the file changes.
#[tokio::test]
async fn the_opt_out_list_drops_its_people_and_reloads() {
    let dir = std::env::temp_dir().join(format!("scrubproxy-optout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("key");
    std::fs::write(&key_file, "an opt-out test key of some length").unwrap();
    let list = dir.join("opt-out.txt");
    let pseudonym = |id: &str| {
        let key = scrubproxy::scrub::PseudonymKey::new(b"an opt-out test key of some length");
        let mut out = Vec::new();
        key.pseudonym_into(id.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    };
    std::fs::write(&list, format!("# forgotten\n{}\n", pseudonym("user-gone"))).unwrap();
    let vendor = FakeVendor::start(Behavior::ok(r#"{"success":true}"#)).await;
    let rules = dir.join("rules.toml");
    let proxy = start_proxy_from_file(&vendor.base_url(), &rules, |f| {
        f.identifiers.key_file = Some(key_file.display().to_string());
        f.consent.unknown = "forward".into();
        f.consent.opt_out_file = Some(list.display().to_string());
    })
    .await;
    let track = |user: &str| {
        json!({"type": "track", "event": "e", "userId": user})
            .to_string()
            .into_bytes()
    };
    let send = |user: &'static str| {
        let (vendor, addr, body) = (&vendor, proxy.addr(), track(user));
        async move {
            vendor.clear();
            let resp = support::send_raw(
                addr,
                "POST",
                "/segment/v1/t",
                &[("content-type", "application/json")],
                body,
            )
            .await;
            assert_eq!(resp.status, 200);
            vendor.requests().len()
        }
    };
    assert_eq!(send("user-gone").await, 0, "on the list: dropped");
    assert_eq!(send("user-stays").await, 1);
    // The pseudonym the vendor saw is what an operator adds to the list.
    std::fs::write(
        &list,
        format!("{}\n{}\n", pseudonym("user-gone"), pseudonym("user-stays")),
    )
    .unwrap();
    let resp = support::send_raw(proxy.admin(), "POST", "/admin/reload", &[], vec![]).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        send("user-stays").await,
        0,
        "added: dropped after the reload"
    );
    let metrics = proxy.metrics().await;
    assert!(
        metrics
            .contains("scrubproxy_events_total{action=\"dropped_opt_out\",vendor=\"segment\"} 2"),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A batch's shared `context` (Segment merges it into every event) speaks for the events
/// after it; once events have gone by, consent there comes too late and the request is
/// refused rather than guessed.
#[tokio::test]
async fn consent_in_a_batchs_shared_context_applies_to_its_events() {
    let bench = Bench::new(|_| {}).await;
    let batch = |context_first: bool| {
        let events = r#""batch":[{"type":"track","event":"a","userId":"u1"}]"#;
        let context = r#""context":{"consent":{"categoryPreferences":{"Analytics":false}}}"#;
        let body = if context_first {
            format!("{{{context},{events}}}")
        } else {
            format!("{{{events},{context}}}")
        };
        body.into_bytes()
    };
    assert!(
        bench
            .send("/segment/v1/batch", &[], batch(true))
            .await
            .is_none(),
        "refused: dropped"
    );
    bench.vendor.clear();
    let headers = [("content-type", "application/json")];
    let resp = support::send_raw(
        bench.proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &headers,
        batch(false),
    )
    .await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(bench.vendor.requests().is_empty());
}

/// What anonymization removes beyond the vendor's IP field: addresses inside text, rounded
/// coordinates, and identifiers a vendor takes in a header (RudderStack's `AnonymousId`).
#[tokio::test]
async fn anonymized_events_lose_addresses_in_text_coordinates_and_header_ids() {
    use base64::Engine;
    let vendor = FakeVendor::start(Behavior::ok("OK")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.geo.coordinates = "round".into();
    })
    .await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let event = json!({"type": "track", "event": "e", "anonymousId": "anon-1",
        "properties": {"note": "seen from 203.0.113.42:8080"},
        "context": {"location": {"latitude": 51.539, "longitude": -0.1426}}})
    .to_string()
    .into_bytes();
    let send = |cookie: &'static str| {
        let (vendor, addr, body, id) = (&vendor, proxy.addr(), event.clone(), b64("anon-1"));
        async move {
            vendor.clear();
            let headers = [
                ("content-type", "application/json"),
                ("anonymousid", id.as_str()),
                ("cookie", cookie),
            ];
            let resp =
                support::send_raw(addr, "POST", "/rudderstack/v1/track", &headers, body).await;
            assert_eq!(resp.status, 200);
            let up = vendor.requests().remove(0);
            let body: Value = serde_json::from_slice(&up.body).unwrap();
            (body, up.header("anonymousid").map(str::to_owned))
        }
    };
    let (consented, consented_header) = send("OptanonConsent=groups=C0002%3A1").await;
    assert_eq!(
        consented["properties"]["note"],
        "seen from 203.0.113.0:8080"
    );
    assert_eq!(
        consented["context"]["location"],
        json!({"latitude": 51.5, "longitude": -0.1})
    );
    let (anonymized, anonymized_header) = send("").await;
    assert_eq!(anonymized["properties"]["note"], "seen from 0.0.0.0:8080");
    assert_eq!(anonymized["context"]["location"], json!({}), "{anonymized}");
    // The header carries the same day's pseudonym as the body, never the stable one.
    let decoded = |h: Option<String>| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(h.unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        decoded(consented_header),
        consented["anonymousId"].as_str().unwrap()
    );
    assert_eq!(
        decoded(anonymized_header),
        anonymized["anonymousId"].as_str().unwrap()
    );
    assert_ne!(consented["anonymousId"], anonymized["anonymousId"]);
}

/// What a batch shares with its events is anonymized with them: its own consent field is
/// read before the member is written, and ids in it are pseudonyms too.
#[tokio::test]
async fn a_batchs_shared_context_is_anonymized_with_its_events() {
    let vendor = FakeVendor::start(Behavior::ok(r#"{"success":true}"#)).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.consent.denied = "anonymize".into()
    })
    .await;
    // (Written by hand: the shared context must come before the batch.)
    let body = r#"{"context":{"ip":"203.0.113.42","traits":{"userId":"user-jane-42"},"consent":{"categoryPreferences":{"Analytics":false}}},"batch":[{"type":"track","event":"a","userId":"user-jane-42"}]}"#;
    let granted = [
        ("content-type", "application/json"),
        ("cookie", "OptanonConsent=groups=C0002%3A1"),
    ];
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &granted,
        body.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(resp.status, 200);
    let up: Value = serde_json::from_slice(&vendor.requests()[0].body).unwrap();
    assert_eq!(up["context"]["ip"], "0.0.0.0", "{up}");
    let shared_id = up["context"]["traits"]["userId"].as_str().unwrap();
    assert_eq!(
        shared_id,
        up["batch"][0]["userId"].as_str().unwrap(),
        "the day's pseudonym in both"
    );
    assert!(!shared_id.contains("jane"));
}

/// Anonymized events never carry a lasting pseudonym, nor an address in text, whatever the
/// value rules say for consented ones.
#[tokio::test]
async fn anonymized_text_is_redacted_where_consented_text_is_hashed() {
    let vendor = FakeVendor::start(Behavior::ok(r#"{"success":true}"#)).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.values.email = "hash".into();
        f.ip.scan_values = false;
    })
    .await;
    let event = json!({"type": "track", "event": "e", "properties": {"note": "mail jane@example.com from 203.0.113.42"}});
    let send = |cookie: &'static str| {
        let (vendor, addr, body) = (&vendor, proxy.addr(), event.to_string().into_bytes());
        async move {
            vendor.clear();
            let headers = [("content-type", "application/json"), ("cookie", cookie)];
            support::send_raw(addr, "POST", "/segment/v1/t", &headers, body).await;
            let up: Value = serde_json::from_slice(&vendor.requests()[0].body).unwrap();
            up["properties"]["note"].as_str().unwrap().to_owned()
        }
    };
    let consented = send("OptanonConsent=groups=C0002%3A1").await;
    assert!(
        !consented.contains("jane@") && consented.contains("203.0.113.42"),
        "{consented}"
    );
    let anonymized = send("").await;
    assert_eq!(anonymized, "mail [email] from 0.0.0.0");
}

/// A case: its name, the target, the request's headers, the body.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, Vec<u8>);

/// One signal said twice, granting and refusing, in every place a signal is read: a JSON
/// member written twice, a query parameter sent twice, a cookie's category named twice, a
/// header sent twice. Whichever comes first, the refusal wins (shipped policy: drop).
#[tokio::test]
async fn a_signal_said_twice_is_read_as_the_stricter() {
    let bench = Bench::new(|_| {}).await;
    let raw_preferences = |first: bool, second: bool| {
        format!(
            r#"{{"type":"track","event":"Viewed","userId":"user-jane-42","context":{{"ip":"{CLIENT_IP}","consent":{{"categoryPreferences":{{"Analytics":{first},"Advertising":false,"analytics":{second}}}}}}}}}"#
        )
        .into_bytes()
    };
    let (granted, denied) = (tcf(&[1, 8]), tcf(&[1]));
    let both = |a: &str, b: &str| format!("/segment/v1/t?gdpr_consent={a}&x=1&gdpr_consent={b}");
    let cases: Vec<Case> = vec![
        (
            "member twice, grant last",
            "/segment/v1/t".into(),
            vec![],
            raw_preferences(false, true),
        ),
        (
            "member twice, grant first",
            "/segment/v1/t".into(),
            vec![],
            raw_preferences(true, false),
        ),
        (
            "gdpr_consent, denial last",
            both(&granted, &denied),
            vec![],
            event(None),
        ),
        (
            "gdpr_consent, denial first",
            both(&denied, &granted),
            vec![],
            event(None),
        ),
        (
            "OneTrust group twice, spaced",
            "/segment/v1/t".into(),
            vec![("cookie", "OptanonConsent=groups=C0002%3A1%2C%20C0002%3A0")],
            event(None),
        ),
        (
            "OneTrust groups list twice",
            "/segment/v1/t".into(),
            vec![(
                "cookie",
                "OptanonConsent=groups=C0002%3A0&isGpcEnabled=0&groups=C0002%3A1",
            )],
            event(None),
        ),
        (
            "OneTrust cookie in two Cookie headers",
            "/segment/v1/t".into(),
            vec![
                ("cookie", "OptanonConsent=groups=C0002%3A1"),
                ("cookie", "OptanonConsent=groups=C0002%3A0"),
            ],
            event(None),
        ),
        (
            "Cookiebot flag twice, encoded",
            "/segment/v1/t".into(),
            vec![(
                "cookie",
                "CookieConsent=%7Bstatistics%3Afalse%2Cstatistics%3Atrue%7D",
            )],
            event(None),
        ),
        (
            "event grants, cookie refuses",
            "/segment/v1/t".into(),
            vec![("cookie", "OptanonConsent=groups=C0002%3A0")],
            event(preferences(true)),
        ),
    ];
    for (name, target, headers, body) in cases {
        assert_eq!(
            bench.fate_at(&target, &headers, body).await,
            Fate::Dropped,
            "{name}"
        );
    }
    // Said twice the same way, a grant stays a grant: the check above can fail.
    let body = raw_preferences(true, true);
    assert_eq!(bench.fate(&[], body).await, Fate::Forwarded);
}

/// The same in query-string hits: GA4's `gcs` twice, Matomo's `consent` twice (and
/// `consent=0`, a refusal), in a GET and in a bulk request's hits.
#[tokio::test]
async fn a_hit_parameter_said_twice_is_read_as_the_stricter() {
    let vendor = FakeVendor::start(Behavior::status(204)).await;
    let proxy = start_proxy(&vendor.base_url(), |_| {}).await;
    let forwarded = |method: &'static str, target: &str, body: &str| {
        let (vendor, addr) = (&vendor, proxy.addr());
        let (target, body) = (target.to_owned(), body.as_bytes().to_vec());
        async move {
            vendor.clear();
            let resp = support::send_raw(addr, method, &target, &[], body).await;
            assert!(
                (200..300).contains(&resp.status),
                "{target}: {}",
                resp.status
            );
            vendor.requests()
        }
    };
    let gtag = "/ga4/g/collect?v=2&tid=G-TEST&cid=1.2&en=page_view";
    for gcs in [
        "gcs=G111&gcs=G110",
        "gcs=G110&gcs=G111",
        "gcs=G111&npa=0&gcs=G100",
    ] {
        let up = forwarded("GET", &format!("{gtag}&{gcs}"), "").await;
        assert!(up.is_empty(), "{gcs}: {}", up[0].target);
    }
    assert_eq!(
        forwarded("GET", &format!("{gtag}&gcs=G111&gcs=G111"), "")
            .await
            .len(),
        1
    );

    let hit = "/matomo/matomo.php?idsite=1&rec=1&uid=jane";
    for consent in ["consent=0", "consent=1&consent=0", "consent=0&consent=1"] {
        let up = forwarded("GET", &format!("{hit}&{consent}"), "").await;
        assert!(up.is_empty(), "{consent}: {}", up[0].target);
    }
    assert_eq!(
        forwarded("GET", &format!("{hit}&consent=1"), "")
            .await
            .len(),
        1
    );
    // A bulk request: each hit by its own flags.
    let bulk = r#"{"requests":["?idsite=1&rec=1&uid=ann&consent=1","?idsite=1&rec=1&uid=bob&consent=1&consent=0","?idsite=1&rec=1&uid=cy&consent=0"]}"#;
    let up = forwarded("POST", "/matomo/matomo.php", bulk).await;
    let sent: Value = serde_json::from_slice(&up[0].body).unwrap();
    assert_eq!(sent["requests"].as_array().unwrap().len(), 1, "{sent}");
}
