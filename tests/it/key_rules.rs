//! Key rules as an adversary tries them: deny-listed names spelled with invisible or
//! compatibility characters, at the top level of an event, and inside longer keys as words;
//! and keys that only look like a denied word, which must stay. Through the real proxy.

use serde_json::Value;

use crate::support::{self, start_consented_proxy, Behavior, FakeVendor};

/// Spellings of `email` (and of the rule's other words) a sender can produce without
/// meaning harm: a copy-paste from a document, a full-width keyboard, an editor's joiners.
const EMAIL_SPELLINGS: &[&str] = &[
    "e\u{200B}mail",
    "em\u{200C}ail",
    "ema\u{200D}il",
    "\u{FEFF}email",
    "e\u{00AD}mail",
    "e\u{00A0}mail",
    "e\tmail",
    "e\u{2060}mail",
    "e\u{180E}mail",
    "ｅｍａｉｌ",
    "ＥＭＡＩＬ",
    "e\u{2010}mail",
    "billing\u{3000}Email",
];

async fn segment(proxy: &support::TestProxy, event: &Value) -> Value {
    let body = serde_json::to_vec(event).unwrap();
    let json = [("content-type", "application/json")];
    let resp = support::send_raw(proxy.addr(), "POST", "/segment/v1/t", &json, body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    Value::Null
}

fn last_body(vendor: &FakeVendor) -> Value {
    let got = vendor.requests();
    serde_json::from_slice(&got.last().expect("forwarded").body).unwrap()
}

#[tokio::test]
async fn denied_keys_with_invisible_or_compatibility_characters_are_removed() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let email = support::planted::value("email");
    for spelling in EMAIL_SPELLINGS {
        // The value is a name-like token no value detector recognizes: only the key rule
        // can catch it.
        let event = serde_json::json!({
            "type": "track", "event": "Signup", "userId": "u1",
            "properties": {spelling.to_string(): "jane-doe-token", "plan": "pro"},
            "traits": {spelling.to_string(): email},
        });
        segment(&proxy, &event).await;
        let sent = last_body(&vendor);
        assert_eq!(
            sent["properties"].as_object().unwrap().len(),
            1,
            "{spelling:?}: {sent}"
        );
        assert_eq!(sent["properties"]["plan"], "pro");
        assert!(
            sent["traits"].as_object().unwrap().is_empty(),
            "{spelling:?}: {sent}"
        );
    }
    // Invisible characters inside a word rule's key and a first name's full-width spelling.
    let event = serde_json::json!({
        "type": "track", "event": "Signup", "userId": "u1",
        "properties": {"billing\u{200B}Street": "Gran Vía", "ＦｉｒｓｔＮａｍｅ": "Jane",
                       "first\u{2011}name": "Jane", "\u{FB01}rst_name": "Jane", "plan": "pro"},
    });
    segment(&proxy, &event).await;
    let sent = last_body(&vendor);
    assert_eq!(
        sent["properties"],
        serde_json::json!({"plan": "pro"}),
        "{sent}"
    );
}

/// A deny-listed key outside the vendor's property containers: at the top of the event,
/// under an object no vendor map names, in an array. The vendor's own fields stay.
#[tokio::test]
async fn deny_rules_hold_at_the_top_level_and_at_any_depth() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let event = serde_json::json!({
        "type": "track", "event": "Signup", "userId": "u1", "messageId": "m-1",
        "email": "jane-doe-token", "first_name": "Jane",
        "extra": {"customer": {"lastName": "Doe", "tier": "gold"}},
        "rows": [{"street": "Gran Vía 28", "qty": 1}],
        "properties": {"plan": "pro"},
    });
    segment(&proxy, &event).await;
    let sent = last_body(&vendor);
    let top = sent.as_object().unwrap();
    for gone in ["email", "first_name"] {
        assert!(!top.contains_key(gone), "{gone} at the top: {sent}");
    }
    assert_eq!(
        sent["extra"],
        serde_json::json!({"customer": {"tier": "gold"}})
    );
    assert_eq!(sent["rows"], serde_json::json!([{"qty": 1}]));
    assert_eq!(sent["event"], "Signup");
    assert_eq!(sent["messageId"], "m-1");
    assert_eq!(sent["type"], "track");
    assert!(
        sent["userId"].is_string(),
        "the id is a pseudonym, not gone"
    );

    // Amplitude and PostHog events: the vendors' own fields beside a denied top-level key.
    let amplitude = serde_json::json!({"api_key": "k", "events": [{
        "event_type": "Signup", "user_id": "u1", "device_id": "d1",
        "Email\u{200B}": "jane-doe-token", "event_properties": {"plan": "pro"}}]});
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/amplitude/2/httpapi",
        &[("content-type", "application/json")],
        serde_json::to_vec(&amplitude).unwrap(),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent = last_body(&vendor);
    let e = &sent["events"][0];
    assert!(e.get("Email\u{200B}").is_none(), "{sent}");
    assert_eq!(e["event_type"], "Signup");
    assert_eq!(sent["api_key"], "k");

    let posthog = serde_json::json!({"api_key": "phc", "event": "$pageview",
        "distinct_id": "u1", "$set": {"plan": "pro"}, "full_name": "Jane Doe",
        "properties": {"$current_url": "https://shop.example/"}});
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/posthog/e/",
        &[("content-type", "application/json")],
        serde_json::to_vec(&posthog).unwrap(),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent = last_body(&vendor);
    assert!(sent.get("full_name").is_none(), "{sent}");
    assert_eq!(sent["event"], "$pageview");
    assert!(
        support::planted::planted_in(&serde_json::to_vec(&sent).unwrap()).is_empty(),
        "{sent}"
    );
}

/// The shipped rules' word entries: keys that hold a denied word go, keys that only look
/// like one stay.
#[tokio::test]
async fn word_rules_take_keys_holding_the_word_and_spare_look_alikes() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let gone = [
        "Billing Street",
        "billingStreet",
        "street_line_1",
        "shipping_city",
        "cityName",
        "customerFirstName",
        "billing_firstname",
        "LAST_NAME_2",
        "ZIPCode",
        "shipping_zip",
        "user_dob",
        "dateOfBirth",
        "geoLatitude",
        "card_number_masked",
        "cardCVV",
        "customer_iban",
        "Surname",
        "nachname",
        "Straße",
        "lieferStrasse",
    ];
    let kept = [
        "streetwise_score",
        "cityscape",
        "velocity",
        "named_range",
        "rename_count",
        "gzip_ratio",
        "zipper_color",
        "adobe_id",
        "latency_ms",
        "flat_fee",
        "scorecard",
        "dashboard",
        "os_name",
    ];
    let mut props = serde_json::Map::new();
    for key in gone.iter().chain(&kept) {
        props.insert(key.to_string(), Value::from("x"));
    }
    let event = serde_json::json!({"type": "track", "event": "E", "userId": "u1",
        "properties": props});
    segment(&proxy, &event).await;
    let sent = last_body(&vendor);
    let sent_props = sent["properties"].as_object().unwrap();
    for key in gone {
        assert!(!sent_props.contains_key(key), "{key} must go: {sent}");
    }
    for key in kept {
        assert!(sent_props.contains_key(key), "{key} must stay: {sent}");
    }
}

#[test]
fn a_word_rule_with_glob_or_path_syntax_is_refused() {
    for bad in ["word:*street", "word:first.name", "word:", "word:$_-"] {
        let mut file = scrubproxy::rules::RulesFile::default();
        file.properties.deny = vec![bad.to_string()];
        let errors = scrubproxy::rules::compile(file)
            .err()
            .unwrap_or_else(|| panic!("{bad} compiled"));
        let text = format!("{errors:?}");
        assert!(text.contains("word rule"), "{bad}: {text}");
    }
}

/// gtag hits: the protocol's parameters are known; anything else goes, whatever it holds.
#[tokio::test]
async fn gtag_parameters_outside_the_protocol_are_removed() {
    let vendor = FakeVendor::start(Behavior::status(204)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let hit = "/ga4/g/collect?v=2&tid=G-TEST&cid=123.456&sid=9&sct=1&seg=1&_s=2&ul=en-us\
        &sr=1280x720&en=purchase&cu=EUR&nm=Jane%20Doe&xname=Jane%20Doe&_custom=Jane%20Doe\
        &ep.plan=pro&ep.billing%E2%80%8BStreet=Gran%20V%C3%ADa&epn.value=12&up.tier=gold\
        &up.Last_Name=Doe&pr1=idSKU-1~qt1&prx=Jane%20Doe&ep.=Jane%20Doe";
    let resp = support::send_raw(proxy.addr(), "GET", hit, &[], Vec::new()).await;
    assert_eq!(resp.status, 204, "{}", resp.text());
    let got = vendor.requests();
    let query = got[0].query().to_string();
    let names: Vec<&str> = query
        .split('&')
        .map(|p| p.split('=').next().unwrap())
        .collect();
    for kept in [
        "v",
        "tid",
        "cid",
        "sid",
        "sct",
        "seg",
        "_s",
        "ul",
        "sr",
        "en",
        "cu",
        "ep.plan",
        "epn.value",
        "up.tier",
        "pr1",
        "_uip",
    ] {
        assert!(names.contains(&kept), "{kept} kept: {query}");
    }
    assert!(
        !query.contains("Jane") && !query.contains("Doe") && !query.contains("V%C3%ADa"),
        "{query}"
    );
    assert_eq!(names.len(), 16, "nothing else: {query}");
}

/// gtag items: custom item parameters are judged by their names (the pair goes with a
/// denied name), item fields by the GA4 parameter their code stands for, values by the value
/// rules.
#[tokio::test]
async fn gtag_item_fields_get_the_property_and_value_rules() {
    let vendor = FakeVendor::start(Behavior::status(204)).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |file| {
        file.properties.deny.push("item_brand".into());
    })
    .await;
    let item = "idSKU-1~nmGift%20box~brAcme~qt1~k0buyerLastName~v0Jane%20Doe~k1color~v1red\
        ~k2Buyer%E2%80%8BEmail~v2x-token-9~k3note~v3call%20jane.doe%40example.com";
    let hit = format!("/ga4/g/collect?v=2&tid=G-TEST&cid=1.2&en=purchase&pr1={item}");
    let resp = support::send_raw(proxy.addr(), "GET", &hit, &[], Vec::new()).await;
    assert_eq!(resp.status, 204, "{}", resp.text());
    let got = vendor.requests();
    let query = got[0].query();
    let pr1 = query
        .split('&')
        .find_map(|p| p.strip_prefix("pr1="))
        .expect("the item goes on");
    let decoded = percent_decode(pr1);
    assert!(
        decoded.starts_with("idSKU-1~nmGift box~qt1~k1color~v1red~k3note~v3call "),
        "{decoded}"
    );
    for gone in [
        "Jane",
        "buyerLastName",
        "x-token-9",
        "Acme",
        "jane.doe@example.com",
    ] {
        assert!(!decoded.contains(gone), "{gone} in {decoded}");
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
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
    String::from_utf8(out).unwrap()
}
