//! Decode before detect (issue 19, item 2): personal data in a value's other encodings
//! (percent, base64 and base64url, HTML entities, JSON carried in a string) is found and
//! scrubbed in that encoding, through the shipped rules and real vendor shapes; values that
//! only look encoded pass unchanged.

use base64::Engine as _;
use scrubproxy::rules::{self, RuleSet};
use scrubproxy::vendor::VendorKind;
use serde_json::{json, Value};

fn shipped() -> RuleSet {
    let mut file = rules::read(Some(&crate::support::proxy::shipped_rules_path())).unwrap();
    file.identifiers.key_env = Some("SCRUBPROXY_TEST_KEY_THAT_IS_NEVER_SET".into());
    rules::compile(file).unwrap()
}

fn send(set: &RuleSet, vendor: VendorKind, path: &str, body: &Value) -> Value {
    let offline = scrubproxy::check::scrub_request(
        set,
        vendor,
        "POST",
        path,
        "",
        &http::HeaderMap::new(),
        body.to_string().as_bytes(),
    )
    .unwrap();
    serde_json::from_slice(&offline.body.expect("forwarded")).unwrap()
}

/// A Segment track event with these properties, as the vendor gets its properties.
fn segment_properties(set: &RuleSet, properties: Value) -> Value {
    let body = json!({"type": "track", "event": "Checkout", "anonymousId": "a-1",
        "properties": properties});
    send(set, VendorKind::Segment, "/v1/t", &body)["properties"].clone()
}

/// An Amplitude event with these event properties.
fn amplitude_properties(set: &RuleSet, properties: Value) -> Value {
    let body = json!({"api_key": "fakeAmplitudeApiKey0123456789abcd", "events": [{
        "device_id": "d-1", "event_type": "Checkout", "event_properties": properties}]});
    send(set, VendorKind::Amplitude, "/2/httpapi", &body)["events"][0]["event_properties"].clone()
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn b64url(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn unb64(text: &str) -> String {
    let engine = if text.contains(['-', '_']) || !text.ends_with('=') {
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        &base64::engine::general_purpose::STANDARD
    };
    String::from_utf8(engine.decode(text).unwrap()).unwrap()
}

#[test]
fn percent_encoded_phones_in_allowed_parameters_are_scrubbed_in_place() {
    let set = shipped();
    let got = segment_properties(
        &set,
        json!({
            "landing": "https://shop.example/l?utm_content=%2B33%207%2098%2076%2054%2032&utm_source=ads",
            "form": "https://shop.example/l?utm_campaign=%2B48+601+234+567&utm_source=ads",
            "twice": "https://shop.example/l?gclid=%252B43%2520664%25201234567",
            "sale": "https://shop.example/sale?utm_term=summer%2050%25%20off",
        }),
    );
    assert_eq!(
        got["landing"],
        "https://shop.example/l?utm_content=[phone]&utm_source=ads"
    );
    assert_eq!(
        got["form"],
        "https://shop.example/l?utm_campaign=[phone]&utm_source=ads"
    );
    assert_eq!(got["twice"], "https://shop.example/l?gclid=[phone]");
    assert_eq!(
        got["sale"],
        "https://shop.example/sale?utm_term=summer%2050%25%20off"
    );
}

#[test]
fn base64_text_is_scrubbed_and_written_back_in_its_own_alphabet() {
    let set = shipped();
    let padded = b64("Jürgen S <j.schneider@beispiel.at>");
    let url = b64url(r#"{"contact":{"email":"lars.e@exempel.se"},"n":1}"#);
    let got = amplitude_properties(&set, json!({"ctx": padded, "blob": url}));
    let ctx = got["ctx"].as_str().unwrap();
    assert!(padded.ends_with('=') && ctx.ends_with("=="), "{ctx}");
    assert_eq!(unb64(ctx), "Jürgen S <[email]>");
    let blob = got["blob"].as_str().unwrap();
    assert!(!blob.contains(['=', '+', '/']), "{blob}");
    // JSON: its `email` member goes by the key rules, the rest stays.
    let blob: Value = serde_json::from_str(&unb64(blob)).unwrap();
    assert_eq!(blob, json!({"contact": {}, "n": 1}));
}

#[test]
fn json_in_a_string_meets_the_key_rules_at_every_level() {
    let set = shipped();
    let inner = json!({"customer": {"first_name": "Carmen", "last_name": "Ruiz Ortega",
        "email": "carmen.ruiz@ejemplo.es"}, "step": 2})
    .to_string();
    let envelope = json!({"data": inner}).to_string();
    let based = b64url(&json!({"name": "Pieter van Dijk", "tier": "gold"}).to_string());
    let got = segment_properties(&set, json!({"envelope": envelope, "ctx": based}));
    let text = got.to_string();
    for planted in ["Ruiz Ortega", "carmen.ruiz@ejemplo.es", "Pieter van Dijk"] {
        assert!(!text.contains(planted), "{planted} in {text}");
    }
    // Still JSON in a string, with what carries no person kept.
    let envelope: Value = serde_json::from_str(got["envelope"].as_str().unwrap()).unwrap();
    let data: Value = serde_json::from_str(envelope["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["step"], 2);
    let ctx: Value = serde_json::from_str(&unb64(got["ctx"].as_str().unwrap())).unwrap();
    assert_eq!(ctx["tier"], "gold");
}

#[test]
fn html_entities_and_hidden_characters_do_not_hide_an_address() {
    let set = shipped();
    let got = segment_properties(
        &set,
        json!({
            "a": "harriet&#x0040;example.org.uk",
            "b": "francesca&commat;esempio.it",
            "c": "lars.e&#64;exempel.se &amp; co",
            "d": "harriet.w\u{0}@example.org.uk",
            "e": "agnieszka.k\t@przyklad.pl",
            "f": "lars@exem\u{b}pel.se",
            "g": "\"carmen ruiz\"@ejemplo.es",
            "h": "harriet.w@[IPv6:2001:db8::99]",
            "i": "\"amelie dubois\"@[198.51.100.23]",
        }),
    );
    for key in ["a", "b", "d", "e", "f", "g", "h", "i"] {
        assert_eq!(got[key], "[email]", "{key}: {}", got[key]);
    }
    assert_eq!(got["c"], "[email] &amp; co");
}

#[test]
fn values_that_only_look_encoded_pass_unchanged() {
    let set = shipped();
    let near_misses = json!({
        "hash": "d41d8cd98f00b204e9800998ecf8427e",
        "sha": "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
        "token": "X9fK2mQ7vLp3Zr8TqW4nY6bH",
        "id": "38ea376a-3524-4e23-99db-d130931989e3",
        "nonce": "SGVsbG8gd29ybGQh",
        "caption": "Tom &amp; Jerry &#8211; Season 2",
        "and": "Tom & Jerry",
        "sale": "50% off",
        "template": "{name} says hi",
        "brackets": "[not json",
        "quote": "\"best buy\" @ the mall",
        "handle": "@shop_example on social",
        "product": "ProductViewedCheckoutPage",
    });
    let got = segment_properties(&set, near_misses.clone());
    assert_eq!(got, near_misses);
}
