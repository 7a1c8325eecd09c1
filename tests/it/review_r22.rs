//! Review r22: an adversarial review of main, looking where `tests/adversarial/` does not
//! (identifiers, IP and location, consent, transport). Each test shows one finding on the
//! real proxy with a fake vendor, failed on the code it was written against, and is ignored
//! so that the suite stays green: `cargo test --test it review_r22 -- --ignored` runs them.

use serde_json::{json, Value};

use crate::support::tcf_encoder::{encode, Vendors};
use crate::support::{self, start_consented_proxy, start_proxy, Behavior, FakeVendor, TestProxy};

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];

async fn post(proxy: &TestProxy, target: &str, body: &Value) -> support::Response {
    let body = serde_json::to_vec(body).unwrap();
    let resp = support::send_raw(proxy.addr(), "POST", target, JSON, body).await;
    assert!(
        resp.status < 300,
        "{} {:?}",
        resp.status,
        resp.header("scrubproxy-error")
    );
    resp
}

/// Everything the vendor received, targets and bodies, as text.
fn received(vendor: &FakeVendor) -> String {
    vendor
        .requests()
        .iter()
        .map(|up| format!("{}\n{}\n", up.target, String::from_utf8_lossy(&up.body)))
        .collect()
}

/// `needles` found in what the vendor received.
fn found<'a>(vendor: &FakeVendor, needles: &[&'a str]) -> Vec<&'a str> {
    let text = received(vendor);
    needles
        .iter()
        .copied()
        .filter(|n| text.contains(n))
        .collect()
}

/// A TCF v2 string granting `purposes` (analytics needs 1 and 8).
fn tcf(purposes: &[u8]) -> String {
    encode(
        purposes,
        &[],
        Vendors::Field(0, &[]),
        Vendors::Field(0, &[]),
    )
}

/// IPv4 joined to text by `=`, `:` or a prefix length is truncated (adversarial.rs); the same
/// joins around an IPv6 address leave it whole: `ip=2001:db8:85a3::8a2e:370:7334`,
/// `2001:db8:...:7334/64`.
#[tokio::test]
async fn ipv6_joined_to_text_by_punctuation_is_truncated() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let ip = support::planted::value("ipv6");
    for text in [
        format!("ip={ip}"),
        format!("client_ip={ip}"),
        format!("for={ip}"),
        format!("host={ip}&port=443"),
        format!("addr:{ip}"),
        format!("{ip}/64"),
        format!("{ip}/128"),
    ] {
        let body = json!({"type": "track", "event": "e", "userId": "u1",
            "properties": {"debug": text}});
        post(&proxy, "/segment/v1/t", &body).await;
    }
    let leaked: Vec<String> = vendor
        .requests()
        .iter()
        .map(|up| String::from_utf8_lossy(&up.body).into_owned())
        .filter(|body| body.contains("8a2e:370:7334"))
        .collect();
    assert!(leaked.is_empty(), "untruncated IPv6 forwarded: {leaked:#?}");
}

/// Reverse-DNS and wildcard-DNS host names spell the address with dashes or before a domain
/// (`c-203-0-113-42.hsd1.ca.comcast.net`, `ec2-203-0-113-42.compute-1.amazonaws.com`,
/// `203.0.113.42.nip.io`): the whole visitor address reaches the vendor.
#[tokio::test]
async fn ipv4_spelled_in_host_names_is_truncated() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = json!({"type": "track", "event": "e", "userId": "u1", "properties": {
        "isp_host": "c-203-0-113-42.hsd1.ca.comcast.net",
        "origin": "https://ec2-203-0-113-42.compute-1.amazonaws.com/health",
        "preview": "http://203.0.113.42.nip.io:8080/"}});
    post(&proxy, "/segment/v1/t", &body).await;
    let leaked = found(&vendor, &["203-0-113-42", "203.0.113.42"]);
    assert!(leaked.is_empty(), "{leaked:?}\n{}", received(&vendor));
}

/// The proxy reads a duplicated consent member as the stricter (two `consent` objects: the
/// event is dropped), but a category named twice inside `categoryPreferences` as the last:
/// `{"Analytics": false, "Analytics": true}` is forwarded as consented under the shipped
/// policy (denied: drop), identifiers and address included.
#[tokio::test]
async fn a_category_denied_and_granted_in_one_event_is_denied() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_proxy(&vendor.base_url(), |_| {}).await;
    let body = br#"{"type":"track","event":"Viewed","userId":"user-jane-42","context":{"ip":"198.51.100.77","consent":{"categoryPreferences":{"Analytics":false,"Analytics":true}}}}"#;
    let resp = support::send_raw(proxy.addr(), "POST", "/segment/v1/t", JSON, body.to_vec()).await;
    assert_eq!(resp.status, 200);
    assert!(
        vendor.requests().is_empty(),
        "an event that denies analytics was forwarded: {}",
        received(&vendor)
    );
}

/// Every `euconsent-v2` cookie is read and the stricter wins, but only the first
/// `gdpr_consent` query parameter is: a granting string first hides a denying one.
#[tokio::test]
async fn every_gdpr_consent_parameter_is_read() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_proxy(&vendor.base_url(), |_| {}).await;
    let (granted, denied) = (tcf(&[1, 8]), tcf(&[1]));
    let event = json!({"type": "track", "event": "Viewed", "userId": "user-jane-42"});
    // The denying string alone drops the event: the parameter is read.
    post(
        &proxy,
        &format!("/segment/v1/t?gdpr_consent={denied}"),
        &event,
    )
    .await;
    assert!(vendor.requests().is_empty(), "{}", received(&vendor));
    let target = format!("/segment/v1/t?gdpr_consent={granted}&gdpr_consent={denied}");
    post(&proxy, &target, &event).await;
    assert!(
        vendor.requests().is_empty(),
        "a request that denies analytics was forwarded: {}",
        received(&vendor)
    );
}

/// Snowplow's tracker protocol has `mac` (MAC address) and `fp` (user fingerprint) beside
/// `duid`; its `mobile_context` has `appSetId` (Android App Set ID) beside the IDFA. All are
/// forwarded as sent.
#[tokio::test]
async fn snowplow_mac_fingerprint_and_app_set_id_are_pseudonymized() {
    let vendor = FakeVendor::start(Behavior::ok("ok")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let co = json!({"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
        "data": [{"schema": "iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3",
                  "data": {"osType": "android", "osVersion": "14", "deviceManufacturer": "Google",
                           "deviceModel": "Pixel 8", "appSetId": "7c4e2f10-jane-app-set-id",
                           "appSetIdScope": "app"}}]});
    let body = json!({"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
        "data": [{"e": "pv", "eid": "1", "tv": "andr-5", "duid": "d1",
                  "mac": "3c:22:fb:12:34:56", "fp": "2913843726",
                  "co": co.to_string()}]});
    post(
        &proxy,
        "/snowplow/com.snowplowanalytics.snowplow/tp2",
        &body,
    )
    .await;
    let leaked = found(
        &vendor,
        &[
            "3c:22:fb:12:34:56",
            "2913843726",
            "7c4e2f10-jane-app-set-id",
        ],
    );
    assert!(leaked.is_empty(), "{leaked:?}\n{}", received(&vendor));
}

/// Amplitude's HTTP API takes `android_app_set_id` beside `adid` and `idfv`, which are
/// pseudonymized; it is forwarded as sent.
#[tokio::test]
async fn amplitude_android_app_set_id_is_pseudonymized() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"code":200}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = json!({"api_key": "k", "events": [{"event_type": "Opened", "device_id": "d1",
        "adid": "adid-jane-1", "android_app_set_id": "appset-jane-7c4e2f10",
        "platform": "Android"}]});
    post(&proxy, "/amplitude/2/httpapi", &body).await;
    let leaked = found(&vendor, &["adid-jane-1", "appset-jane-7c4e2f10"]);
    assert!(leaked.is_empty(), "{leaked:?}\n{}", received(&vendor));
}

/// Segment's spec names `traits.id` (and `context.traits.id`, where analytics.js copies the
/// user's traits) the user's id in the customer's database: `userId` is pseudonymized and
/// the same id travels beside it in the clear.
#[tokio::test]
async fn segment_trait_ids_are_pseudonymized_like_user_id() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let id = support::planted::value("user_id");
    let body = json!({"type": "identify", "userId": id, "traits": {"id": id, "plan": "pro"},
        "context": {"traits": {"id": id}}});
    post(&proxy, "/segment/v1/i", &body).await;
    let leaked = found(&vendor, &[id]);
    assert!(leaked.is_empty(), "{}", received(&vendor));
}

/// A Snowplow POST's query string goes upstream (the collector keeps it with the events it
/// stores), but not the tracker-protocol identifiers in it (`uid`, `duid`, `nuid`), which
/// the same names in the body would have pseudonymized: no tracker puts them there, so
/// they are removed.
#[tokio::test]
async fn snowplow_post_query_identifiers_do_not_go_as_sent() {
    let vendor = FakeVendor::start(Behavior::ok("ok")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = json!({"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
        "data": [{"e": "pv", "eid": "1", "tv": "js-4"}]});
    let target = "/snowplow/com.snowplowanalytics.snowplow/tp2?uid=user-jane-doe-42&duid=duid-jane-7&nuid=nuid-jane-9";
    post(&proxy, target, &body).await;
    let leaked = found(&vendor, &["user-jane-doe-42", "duid-jane-7", "nuid-jane-9"]);
    assert!(leaked.is_empty(), "{leaked:?}\n{}", received(&vendor));
}

/// A batch key written with a JSON escape (`"b\u0061tch"`) is read as `batch` and its events
/// scrubbed, and the vendor gets them under `batch` (it was written back with its backslash
/// escaped, `"b\\u0061tch"`, a key the vendor does not read).
#[tokio::test]
async fn an_escaped_batch_key_reaches_the_vendor_as_batch() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = br#"{"b\u0061tch":[{"type":"track","event":"Viewed","userId":"u1"}]}"#;
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        JSON,
        body.to_vec(),
    )
    .await;
    assert_eq!(resp.status, 200);
    let up = vendor.requests().pop().expect("forwarded");
    let sent: Value = serde_json::from_slice(&up.body).unwrap();
    assert!(
        sent["batch"].is_array(),
        "the vendor got no batch: {}",
        String::from_utf8_lossy(&up.body)
    );
}

/// Every vendor's batch member, however its name is spelled (an escape, capitals), reaches
/// the vendor under the name the vendor reads.
#[tokio::test]
async fn every_batch_key_reaches_the_vendor_in_the_vendors_spelling() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "/rudderstack/v1/batch",
            br#"{"b\u0061tch":[{"type":"track","event":"E","anonymousId":"a1"}]}"#,
            "batch",
        ),
        (
            "/segment/v1/batch",
            br#"{"BATCH":[{"type":"track","event":"E","userId":"u1"}]}"#,
            "batch",
        ),
        (
            "/snowplow/com.snowplowanalytics.snowplow/tp2",
            br#"{"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","\u0064ata":[{"e":"pv","p":"web","tv":"js-3","aid":"a"}]}"#,
            "data",
        ),
        (
            "/segment/v1/batch",
            br#"{"\u0062\u0061\u0074\u0063\u0068":[{"type":"track","event":"E","userId":"u1"}]}"#,
            "batch",
        ),
    ];
    for (target, body, key) in cases {
        let before = vendor.requests().len();
        let resp = support::send_raw(proxy.addr(), "POST", target, JSON, body.to_vec()).await;
        assert!(resp.status < 300, "{target}: {resp:?}");
        let requests = vendor.requests();
        assert_eq!(requests.len(), before + 1, "{target}: forwarded once");
        let up = requests.last().expect("forwarded");
        let sent: Value = serde_json::from_slice(&up.body).unwrap();
        assert!(
            sent[key].is_array(),
            "{target}: the vendor got no {key}: {}",
            String::from_utf8_lossy(&up.body)
        );
    }
}

/// The consent cookies' readers take the first mention of a category: a OneTrust cookie
/// naming C0002 granted and then denied, a second `groups` list, a Cookiebot cookie with
/// `statistics` twice, each forward the event whole under the shipped policy (the reverse
/// orders drop it). Stricter-wins holds between signals, not within one.
#[tokio::test]
async fn a_category_named_twice_in_a_consent_cookie_is_read_as_the_stricter() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_proxy(&vendor.base_url(), |_| {}).await;
    let event = json!({"type": "track", "event": "Viewed", "userId": "user-jane-42"});
    let mut forwarded = Vec::new();
    for cookie in [
        "OptanonConsent=groups=C0001%3A1%2CC0002%3A1%2CC0002%3A0",
        "OptanonConsent=groups=C0001%3A1%2CC0002%3A1&groups=C0001%3A1%2CC0002%3A0",
        "CookieConsent={necessary:true,statistics:true,marketing:false,statistics:false}",
    ] {
        vendor.clear();
        let body = serde_json::to_vec(&event).unwrap();
        let headers = [("content-type", "application/json"), ("cookie", cookie)];
        let resp = support::send_raw(proxy.addr(), "POST", "/segment/v1/t", &headers, body).await;
        assert_eq!(resp.status, 200);
        if !vendor.requests().is_empty() {
            forwarded.push((cookie, received(&vendor)));
        }
    }
    assert!(
        forwarded.is_empty(),
        "events of visitors who denied analytics were forwarded: {forwarded:#?}"
    );
}

/// A gtag POST carries shared parameters in the query and one event a line in the body. When
/// an `[events] drop` rule removes the event the query names, the body's events must not go
/// with it under the vendor's success: the tracker hears a refusal and nothing is forwarded.
/// Removed alone (no body), the query event gets the vendor's success, as every removed
/// event does; and a body without an event in the query goes through.
#[tokio::test]
async fn a_dropped_event_in_a_gtag_query_does_not_take_the_body_events_with_it() {
    let vendor = FakeVendor::start(Behavior::status(204)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |f| {
        f.events.drop = vec!["page_view".into()];
    })
    .await;
    let shared = "/ga4/g/collect?v=2&tid=G-TEST123&cid=123.456";
    let lines = b"en=purchase&epn.value=10\nen=add_to_cart".to_vec();
    let form = [("content-type", "text/plain;charset=UTF-8")];

    let target = format!("{shared}&en=page_view");
    let resp = support::send_raw(proxy.addr(), "POST", &target, &form, lines.clone()).await;
    assert_eq!(resp.status, 400, "{resp:?}");
    assert_eq!(
        resp.header("scrubproxy-error"),
        Some("query_event_removed_with_body")
    );
    assert_eq!(vendor.requests().len(), 0, "nothing may go upstream");

    let resp = support::send_raw(proxy.addr(), "POST", &target, &form, Vec::new()).await;
    assert_eq!(
        resp.status, 204,
        "a removed event alone gets the vendor's success"
    );
    assert_eq!(vendor.requests().len(), 0);

    let resp = support::send_raw(proxy.addr(), "POST", shared, &form, lines).await;
    assert_eq!(resp.status, 204);
    let text = received(&vendor);
    assert!(
        text.contains("en=purchase") && text.contains("en=add_to_cart"),
        "the vendor got: {text:?}"
    );
}

/// The URL rules keep a URL's scheme, host and path and filter its query and fragment, but
/// keep its userinfo: `https://jane.doe:hunter2@localhost:3000/` reaches the vendor whole
/// (a password beside a host that looks like a domain is redacted only because the e-mail
/// detector takes `hunter2@shop.example` for an address, and the user name stays).
#[tokio::test]
async fn user_names_and_passwords_in_urls_are_removed() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = json!({"type": "page", "userId": "u1", "properties": {
            "url": "https://jane.doe:hunter2@localhost:3000/account",
            "admin": "https://jdoe:S3cret-pw@203.0.113.42:8080/admin",
            "shop": "https://jane.doe:pa55word@shop.example/"},
        "context": {"page": {"url": "https://jane.doe:hunter2@staging.shop.example/checkout"}}});
    post(&proxy, "/segment/v1/p", &body).await;
    let leaked = found(&vendor, &["hunter2", "S3cret-pw", "jane.doe:", "jdoe:"]);
    assert!(leaked.is_empty(), "{leaked:?}\n{}", received(&vendor));
}

/// Matomo refuses a forced visitor id (`cid`) that is not exactly 16 characters
/// (core/Tracker/Request.php, `getVisitorId`: "Visitor ID (cid) ... must be 16 characters
/// long"); the proxy replaces it with a 32-character pseudonym, so every hit that carries
/// one is refused by the vendor because of the proxy.
#[tokio::test]
async fn matomo_forced_visitor_id_keeps_its_sixteen_hex_digits() {
    let vendor = FakeVendor::start(Behavior::status(204)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let target =
        "/matomo/matomo.php?idsite=1&rec=1&cid=0123456789abcdef&url=https%3A%2F%2Fshop.example%2F";
    let resp = support::send_raw(proxy.addr(), "GET", target, &[], Vec::new()).await;
    assert_eq!(resp.status, 204);
    let up = vendor.requests().pop().expect("forwarded");
    let cid = up
        .query()
        .split('&')
        .find_map(|p| p.strip_prefix("cid="))
        .expect("a cid");
    assert_ne!(cid, "0123456789abcdef", "pseudonymized");
    assert!(
        cid.len() == 16 && cid.bytes().all(|c| c.is_ascii_hexdigit()),
        "Matomo refuses this cid: {cid}"
    );
}

/// A member the proxy ensures (`context.ip`) is recognized under an escaped name
/// (`"cont\u0065xt"`, whose `ip` is truncated) and not written a second time: two `context`
/// members would make a parser that keeps the last (JavaScript's, Go's) lose the tracker's
/// whole context (page, consent, user agent) for the proxy's `{"ip": ...}`.
#[tokio::test]
async fn an_escaped_member_name_is_not_written_twice() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = br#"{"type":"track","event":"Viewed","userId":"u1","cont\u0065xt":{"ip":"203.0.113.42","page":{"path":"/pricing"}}}"#;
    let resp = support::send_raw(proxy.addr(), "POST", "/segment/v1/t", JSON, body.to_vec()).await;
    assert_eq!(resp.status, 200);
    let up = vendor.requests().pop().expect("forwarded");
    let sent: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(
        sent["context"]["page"]["path"],
        "/pricing",
        "the context the vendor keeps: {}",
        String::from_utf8_lossy(&up.body)
    );
}

/// The Matomo route reads `consent=1` as a grant and anything else as silence: a hit marked
/// `consent=0` (the shared captures' `006-consent-opt-out-request`, from matomo-tracker) is
/// forwarded, anonymized, under the shipped policy, where a refusal would drop it.
///
/// Decision (f22a): `consent=0` is a denial. Matomo's JavaScript tracker never sends it (it
/// queues hits until `setConsentGiven`, then marks them `consent=1`), so only a sender that
/// means "refused" writes it; reading it as silence would forward the visitor anonymized.
#[tokio::test]
async fn a_matomo_hit_marked_consent_0_is_not_forwarded() {
    let vendor = FakeVendor::start(Behavior::status(204)).await;
    let proxy = start_proxy(&vendor.base_url(), |_| {}).await;
    let target = "/matomo/matomo.php?url=https%3A%2F%2Fshop.example.com%2Fprivacy&action_name=Privacy&consent=0&_id=0123456789abcdef&send_image=0&idsite=1&rec=1";
    let resp = support::send_raw(proxy.addr(), "GET", target, &[], Vec::new()).await;
    assert_eq!(resp.status, 204);
    assert!(
        vendor.requests().is_empty(),
        "an opted-out hit was forwarded: {}",
        received(&vendor)
    );
}

/// adversarial.rs holds that members beside a batch get "the key rules, and ids their
/// pseudonyms, as inside an event" for Segment and PostHog. Amplitude's and Snowplow's
/// envelopes get the key rules (an `email` goes) but not the identifier rule: `user_id`,
/// `device_id` beside Amplitude's `events`, `uid` beside Snowplow's `data`, and PostHog's
/// `$user_id` beside `batch` go upstream as sent.
#[tokio::test]
async fn identifiers_beside_every_vendors_batch_are_pseudonymized() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"code":200}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    // Written out: PostHog refuses a body whose first member is not its envelope's.
    let requests: [(&str, &[u8]); 3] = [
        (
            "/amplitude/2/httpapi",
            br#"{"api_key":"k","user_id":"jane-amp-uid","device_id":"jane-amp-dev","events":[{"event_type":"e","user_id":"u1"}]}"#,
        ),
        (
            "/snowplow/com.snowplowanalytics.snowplow/tp2",
            br#"{"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","uid":"jane-sp-uid","data":[{"e":"pv"}]}"#,
        ),
        (
            "/posthog/batch/",
            br#"{"api_key":"phc_x","batch":[{"event":"e","distinct_id":"d1"}],"$user_id":"jane-ph-uid"}"#,
        ),
    ];
    for (target, body) in requests {
        let resp = support::send_raw(proxy.addr(), "POST", target, JSON, body.to_vec()).await;
        assert_eq!(resp.status, 200, "{target}: {}", resp.text());
    }
    let leaked = found(
        &vendor,
        &["jane-amp-uid", "jane-amp-dev", "jane-sp-uid", "jane-ph-uid"],
    );
    assert!(leaked.is_empty(), "{leaked:?}\n{}", received(&vendor));
}

/// A tracker that records `document.cookie` as a property (a debugging plugin, a custom
/// `cookie` property) sends the vendors' own identifier cookies: Segment's `ajs_user_id`,
/// PostHog's `ph_<token>_posthog` JSON with its `distinct_id`, Snowplow's `_sp_id` (the
/// domain user id). The ids the proxy pseudonymizes in `userId` reach the vendor as sent.
#[tokio::test]
async fn identifier_cookies_recorded_as_properties_are_pseudonymized() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let id = support::planted::value("user_id");
    let cookie = format!(
        "ajs_user_id=%22{id}%22; ajs_anonymous_id=%22anon-jane-7%22; \
         ph_phc_x_posthog=%7B%22distinct_id%22%3A%22{id}%22%7D; \
         _sp_id.1fff=duid-jane-9.1700000000.1.1700000000..s1....0"
    );
    let body = json!({"type": "track", "event": "Viewed", "userId": id,
        "anonymousId": "anon-jane-7", "properties": {"cookie": cookie}});
    post(&proxy, "/segment/v1/t", &body).await;
    let leaked = found(&vendor, &[id, "anon-jane-7", "duid-jane-9"]);
    assert!(leaked.is_empty(), "{leaked:?}\n{}", received(&vendor));
}

/// Segment's spec (and RudderStack's) has `context.device.token`, the device's push
/// notification token, beside `context.device.id` and `advertisingId`, which are
/// pseudonymized; the token, which reaches that one device, is forwarded as sent.
#[tokio::test]
async fn mobile_push_tokens_are_not_forwarded_as_sent() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let apns = "3f9a6c2e8b7d4f1a0c5e9b2d7f4a1c8e6b3d0f7a4c1e8b5d2f9a6c3e0b7d4f1a";
    let body = json!({"type": "track", "event": "Opened", "userId": "u1",
        "context": {"device": {"id": "d1", "token": apns, "type": "ios"}}});
    post(&proxy, "/segment/v1/t", &body).await;
    post(&proxy, "/rudderstack/v1/track", &body).await;
    let leaked = found(&vendor, &[apns]);
    assert!(leaked.is_empty(), "{}", received(&vendor));
}
