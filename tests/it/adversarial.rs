//! Personal data in places an adversarial review found the rules did not reach: device ids,
//! properties under a vendor's less common names, addresses inside text and keys. Each test
//! failed before its fix.

use serde_json::Value;

use crate::support::{self, start_consented_proxy, Behavior, FakeVendor};

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn post_segment(proxy: &support::TestProxy, event: &Value) -> support::Response {
    let body = serde_json::to_vec(event).unwrap();
    let json = [("content-type", "application/json")];
    support::send_raw(proxy.addr(), "POST", "/segment/v1/t", &json, body).await
}

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

/// Segment's (and RudderStack's) mobile `context.device.id` / `advertisingId`, and Snowplow's
/// `mobile_context` IDFA/IDFV, are device identifiers like Amplitude's `device_id` / `idfa`.
#[tokio::test]
async fn mobile_device_and_advertising_ids_are_pseudonymized() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let idfa = "38400000-8cf0-11bd-b23e-10b96e40000d";
    let body = serde_json::json!({
        "type": "track", "event": "Opened", "userId": "u1",
        "context": {"device": {"id": "device-jane-7", "advertisingId": idfa, "model": "iPhone14,2"}}
    });
    let resp = post_segment(&proxy, &body).await;
    assert_eq!(resp.status, 200);
    let co = serde_json::json!({"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
        "data": [{"schema": "iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3",
                  "data": {"osType": "ios", "osVersion": "17", "deviceManufacturer": "Apple",
                           "deviceModel": "iPhone", "appleIdfa": idfa}}]});
    let sp = serde_json::json!({"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
        "data": [{"e": "pv", "eid": "1", "tv": "ios-5", "co": co.to_string()}]});
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/snowplow/com.snowplowanalytics.snowplow/tp2",
        &[("content-type", "application/json")],
        serde_json::to_vec(&sp).unwrap(),
    )
    .await;
    assert_eq!(resp.status, 200);
    let got = vendor.requests();
    let segment = String::from_utf8_lossy(&got[0].body).into_owned();
    let snowplow = String::from_utf8_lossy(&got[1].body).into_owned();
    assert!(
        !segment.contains("device-jane-7") && !segment.contains(idfa),
        "Segment device ids forwarded as sent: {segment}"
    );
    assert!(
        !snowplow.contains(idfa),
        "Snowplow IDFA forwarded as sent: {snowplow}"
    );
}

/// Plausible's server reads props from `m`, `meta`, `p` or `props` (wire-formats.md section 9).
#[tokio::test]
async fn plausible_meta_props_get_the_deny_list() {
    let vendor = FakeVendor::start(Behavior::status(202)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let props = serde_json::json!({"first_name": support::planted::value("first_name"),
        "birthday": support::planted::value("birthday"), "postal_code": support::planted::value("postal_code")});
    for body in [
        serde_json::json!({"n": "pageview", "u": "https://shop.example/", "d": "shop.example", "meta": props}),
        serde_json::json!({"n": "pageview", "u": "https://shop.example/", "d": "shop.example", "meta": props.to_string()}),
    ] {
        let resp = support::send_raw(
            proxy.addr(),
            "POST",
            "/plausible/api/event",
            &[("content-type", "text/plain"), ("user-agent", UA)],
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
        assert_eq!(resp.status, 202);
    }
    for up in vendor.requests() {
        assert!(
            up.planted().is_empty(),
            "planted values reached the vendor: {:?}\n{}",
            up.planted(),
            String::from_utf8_lossy(&up.body)
        );
    }
}

/// An address joined to text by punctuation other than spaces and brackets: a copied
/// `Forwarded` header (`for=...`), `client_ip=...`, `ip:...`, a URL's host, a CIDR.
#[tokio::test]
async fn ipv4_joined_to_text_by_punctuation_is_truncated() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let ip = support::planted::value("ipv4");
    for text in [
        format!("for={ip};proto=https"),
        format!("client_ip={ip}"),
        format!("ip:{ip}"),
        format!("http://{ip}/admin"),
        format!("{ip}/32"),
    ] {
        let body = serde_json::json!({"type": "track", "event": "e", "userId": "u1",
            "properties": {"debug": text}});
        let resp = post_segment(&proxy, &body).await;
        assert_eq!(resp.status, 200);
    }
    let leaked: Vec<String> = vendor
        .requests()
        .iter()
        .filter_map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            let d = v["properties"]["debug"].as_str().unwrap().to_owned();
            d.contains(ip).then_some(d)
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "untruncated addresses forwarded: {leaked:?}"
    );
}

/// RudderStack's pixel API takes dot-separated parameters (`context.userAgent`,
/// `context.page.referrer`, `properties.<key>`) that its gateway nests into a Segment payload:
/// each gets the rule of the place it will have.
#[tokio::test]
async fn rudderstack_pixel_dotted_params_get_the_rules_of_their_place() {
    let vendor = FakeVendor::start(Behavior::ok("OK")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let target = format!(
        "/rudderstack/pixel/v1/track?writeKey=wk&anonymousId=anon-7&event=Signup\
         &context.traits.userId={}&properties.first_name={}&context.traits.name={}\
         &context.userAgent={}&properties.birthday={}&properties.plan=pro",
        enc(support::planted::value("user_id")),
        enc(support::planted::value("first_name")),
        enc(support::planted::value("name")),
        enc(UA),
        enc(support::planted::value("birthday")),
    );
    let resp = support::send_raw(proxy.addr(), "GET", &target, &[], Vec::new()).await;
    assert_eq!(resp.status, 200);
    let up = vendor.requests().pop().expect("forwarded");
    assert!(
        up.planted().is_empty(),
        "planted values reached the vendor: {:?}\n{}",
        up.planted(),
        up.target
    );
    for kept in [
        "properties.plan=pro",
        "context.ip=127.0.0.0",
        "event=Signup",
    ] {
        assert!(up.target.contains(kept), "{kept} in {}", up.target);
    }
    assert!(
        up.target.contains("context.userAgent=Mozilla%2F5.0"),
        "{}",
        up.target
    );
    assert!(!up.target.contains("context.traits.name"), "{}", up.target);
}

/// An IP address, a phone or a card number used as a key goes with its member, as an e-mail
/// address does; the other keys of the object stay.
#[tokio::test]
async fn ip_phone_and_card_numbers_as_keys_go() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let mut seen = serde_json::Map::new();
    for name in ["ipv4", "phone", "credit_card"] {
        seen.insert(support::planted::value(name).to_owned(), Value::Bool(true));
    }
    seen.insert("plain_key".into(), Value::Bool(true));
    let body = serde_json::json!({"type": "track", "event": "e", "userId": "u1",
        "properties": {"seen": seen}});
    let resp = post_segment(&proxy, &body).await;
    assert_eq!(resp.status, 200);
    let up = vendor.requests().pop().unwrap();
    let text = String::from_utf8_lossy(&up.body).into_owned();
    let leaked: Vec<&str> = ["ipv4", "phone", "credit_card"]
        .into_iter()
        .filter(|n| text.contains(support::planted::value(n)))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?} forwarded as keys: {text}");
    assert!(text.contains(r#"{"plain_key":true}"#), "{text}");
}

/// PostHog's documented single-event capture body starts with `api_key`, as its batches do:
/// it is one event (identifiers pseudonymized, the key kept), not a batch without `batch`.
#[tokio::test]
async fn posthog_single_event_that_starts_with_its_api_key_is_one_event() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"status":1}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = br#"{"api_key":"phc_x","event":"signed_up","distinct_id":"u-1","properties":{"plan":"pro","email":"jane.doe@example.com"}}"#;
    let json = [("content-type", "application/json")];
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/posthog/i/v0/e/",
        &json,
        body.to_vec(),
    )
    .await;
    assert_eq!(
        resp.status,
        200,
        "{:?} {}",
        resp.header("scrubproxy-error"),
        resp.text()
    );
    let up = vendor.requests().pop().expect("forwarded");
    let event: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(event["api_key"], "phc_x");
    assert_eq!(event["properties"]["plan"], "pro");
    assert!(event["properties"].get("email").is_none(), "{event}");
    let id = event["distinct_id"].as_str().unwrap();
    assert!(id != "u-1" && id.len() == 32, "{event}");
}

/// Members a client puts beside the batch go upstream too: they get the key rules, and ids
/// their pseudonyms, as inside an event.
#[tokio::test]
async fn members_beside_a_batch_get_the_rules() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"status":1}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let json = [("content-type", "application/json")];
    let segment = br#"{"writeKey":"wk","email":"x","first_name":"Jane","batch":[{"type":"track","event":"e","userId":"u1"}],"properties":{"last_name":"Doe"}}"#;
    let posthog = br#"{"api_key":"phc_x","batch":[{"event":"e","properties":{"distinct_id":"d1"}}],"distinct_id":"jane-7","properties":{"first_name":"Jane"}}"#;
    for (path, body) in [
        ("/segment/v1/batch", &segment[..]),
        ("/posthog/batch/", &posthog[..]),
    ] {
        let resp = support::send_raw(proxy.addr(), "POST", path, &json, body.to_vec()).await;
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
    }
    for up in vendor.requests() {
        let text = String::from_utf8_lossy(&up.body).into_owned();
        for gone in ["Jane", "Doe", "\"email\"", "jane-7"] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        assert!(text.contains("wk") || text.contains("phc_x"), "{text}");
    }
}

/// Matomo `_cvar` pairs carry numbers too: a card number as a float in exponent form and a
/// phone number as an integer got past the pair handler, which read strings only.
#[tokio::test]
async fn matomo_pair_numbers_meet_the_number_rules() {
    let vendor = FakeVendor::start(Behavior::status(204)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    // A Maestro card (Luhn-valid) written 6.7595... e15, and a Dutch mobile as an integer.
    let card = "6759649826438453";
    let cvar = format!(
        r#"{{"1":["ref",{}.{}E15],"2":["gsm",31612345678],"3":["qty",12]}}"#,
        &card[..1],
        &card[1..]
    );
    let target = format!(
        "/matomo/matomo.php?idsite=1&rec=1&_id=0123456789abcdef&_cvar={}",
        enc(&cvar)
    );
    let resp = support::send_raw(proxy.addr(), "GET", &target, &[], Vec::new()).await;
    assert!(resp.status < 300, "{}", resp.text());
    let got = vendor.requests();
    let sent = percent_decoded(&got[0].target);
    assert!(
        !sent.contains("6759649826438453") && !sent.contains("6.759649826438453"),
        "{sent}"
    );
    assert!(!sent.contains("31612345678"), "{sent}");
    assert!(sent.contains(r#"["qty",12]"#), "{sent}");
}

fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Forwarded header values that take their header's shape still meet the detectors: a
/// bearer token that is base64 of an address, an IBAN as a media-type parameter.
#[tokio::test]
async fn header_values_in_shape_that_carry_personal_data_are_not_forwarded() {
    use base64::Engine as _;
    let vendor = FakeVendor::start(Behavior::json(r#"{"status":1}"#)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"login":"r.vermeulen@bedrijf.be"}"#);
    let bearer = format!("Bearer {token}");
    let body = br#"{"api_key":"phc_x","batch":[{"event":"e","distinct_id":"d1","properties":{}}]}"#;
    let headers = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
        ("accept", "application/json; acct=BE71096123456769"),
    ];
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/posthog/batch/",
        &headers,
        body.to_vec(),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let got = vendor.requests();
    for (name, value) in &got[0].headers {
        assert!(
            !value.contains(&token) && !value.contains("BE71096123456769"),
            "{name}: {value}"
        );
    }
}

/// Base64 of an address as a URL path segment, gzip of JSON as base64 in a property, and a
/// name under a key that says whose it is (`accountHolderName`, `nameOnCard`).
#[tokio::test]
async fn encoded_path_segments_gzip_words_and_qualified_name_keys_are_read() {
    use base64::Engine as _;
    use std::io::Write as _;
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let segment =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("ilse.peeters@voorbeeld.be");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"contact":"ilse.peeters@voorbeeld.be","note":"callback"}"#)
        .unwrap();
    let blob = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let event = serde_json::json!({
        "type": "track", "event": "Checkout", "userId": "u1",
        "properties": {
            "link": format!("https://shop.example/confirm/{segment}/done"),
            "blob": blob,
            "accountHolderName": "Ilse Peeters",
            "nameOnCard": "Ilse Peeters",
            "emergency_contact_name": "Ilse Peeters",
            "os_name": "Windows"
        }
    });
    let resp = post_segment(&proxy, &event).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let got = vendor.requests();
    let sent: Value = serde_json::from_slice(&got[0].body).unwrap();
    let props = &sent["properties"];
    let text = props.to_string();
    assert!(!text.contains(&segment) && !text.contains("Ilse"), "{text}");
    assert!(
        props["link"]
            .as_str()
            .unwrap()
            .starts_with("https://shop.example/confirm/"),
        "{text}"
    );
    assert_eq!(props["os_name"], "Windows");
    // The gzip word is still gzip of JSON, now without the address.
    let raw = base64::engine::general_purpose::STANDARD
        .decode(props["blob"].as_str().unwrap())
        .unwrap();
    let mut gunzip = scrubproxy::decode::GzipDecoder::new(1 << 16);
    let inflated = scrubproxy::decode::transform_all(&mut gunzip, &raw).unwrap();
    let inflated = String::from_utf8(inflated).unwrap();
    assert!(
        !inflated.contains("ilse") && inflated.contains("callback"),
        "{inflated}"
    );
}
