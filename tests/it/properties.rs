//! Property tests of the core under the shipped rules: random Segment batches with planted
//! values at random places, cut at random points. Nothing planted escapes, and the output is
//! the same for every split.

use std::sync::Arc;

use proptest::prelude::*;
use scrubproxy::rules;
use scrubproxy::scrub::{BodyPlan, JsonScrubber, PseudonymKey, ScrubEnv};

use crate::support::planted;

fn segment_batch_plan() -> (Arc<BodyPlan>, rules::RuleSet) {
    let mut file = rules::read(Some(&crate::support::proxy::shipped_rules_path())).unwrap();
    file.identifiers.key_env = Some("SCRUBPROXY_TEST_KEY_THAT_IS_NEVER_SET".into());
    let set = rules::compile(file).unwrap();
    let route = set.route("/segment/v1/batch").unwrap().0;
    (route.plans[1].clone(), set)
}

/// A JSON string literal.
fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A member that carries a planted value somewhere the shipped rules must catch it.
fn planted_member() -> impl Strategy<Value = String> {
    let email = planted::value("email");
    let ip = planted::value("ipv4");
    let url = planted::value("url_with_email");
    prop_oneof![
        Just(format!("{}:{}", js("email"), js(email))),
        Just(format!(
            "{}:{}",
            js("Phone_Number"),
            js(planted::value("phone"))
        )),
        Just(format!(
            "{}:{}",
            js("$first_name"),
            js(planted::value("first_name"))
        )),
        Just(format!(
            "{}:{}",
            js("address"),
            js(planted::value("address"))
        )),
        Just(format!(
            "{}:{}",
            js("credit_card"),
            js(planted::value("credit_card"))
        )),
        Just(format!(
            "{}:{}",
            js("birthday"),
            js(planted::value("birthday"))
        )),
        Just(format!("{}:{}", js("latitude"), planted::value("lat"))),
        Just(format!(
            "{}:{}",
            js("note"),
            js(&format!("write to {email} soon"))
        )),
        Just(format!("{}:{}", js("last_ip"), js(ip))),
        Just(format!("{}:{}", js("landing"), js(url))),
        Just(format!("\"em\\u0061il\":{}", js(email))),
        Just(format!("{}:\"jane.doe\\u0040example.com\"", js("comment"))),
    ]
}

fn safe_member() -> impl Strategy<Value = String> {
    ("[a-z]{1,8}", "[ -~&&[^\"\\\\]]{0,20}", any::<i32>()).prop_flat_map(|(k, v, n)| {
        prop_oneof![
            // Prefixed, so that no random value can equal a short planted one ("CA", "Doe").
            Just(format!(
                "{}:{}",
                js(&format!("k_{k}")),
                js(&format!("s:{v}"))
            )),
            Just(format!("{}:{n}", js(&format!("n_{k}")))),
            Just(format!("{}:[{n},true,null]", js(&format!("l_{k}")))),
        ]
    })
}

fn properties() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![3 => safe_member(), 2 => planted_member()], 0..8)
        .prop_flat_map(|members| {
            let flat = format!("{{{}}}", members.join(","));
            prop_oneof![
                Just(flat.clone()),
                Just(format!(r#"{{"nested":{flat},"k":1}}"#))
            ]
        })
}

fn event() -> impl Strategy<Value = String> {
    (properties(), properties(), any::<bool>()).prop_map(|(props, traits, identify)| {
        let user = js(planted::value("user_id"));
        let kind = if identify { "identify" } else { "track" };
        format!(
            r#"{{"type":"{kind}","userId":{user},"anonymousId":"a-1","properties":{props},"traits":{traits},"context":{{"ip":{},"page":{{"url":{}}}}}}}"#,
            js(planted::value("ipv4")),
            js(planted::value("url_with_email"))
        )
    })
}

fn batch() -> impl Strategy<Value = String> {
    prop::collection::vec(event(), 1..6)
        .prop_map(|events| format!(r#"{{"batch":[{}],"writeKey":"wk"}}"#, events.join(",")))
}

fn scrub(plan: &Arc<BodyPlan>, key: &PseudonymKey, body: &[u8], cuts: &[usize]) -> Vec<u8> {
    let env = ScrubEnv {
        truncation: Some(Default::default()),
        client_ip: Some("198.51.100.0".into()),
        pseudonym_key: key.clone(),
        max_depth: 32,
        max_string_bytes: scrubproxy::scrub::DEFAULT_MAX_STRING_BYTES,
        privacy: Default::default(),
    };
    let mut s = JsonScrubber::new(plan.clone(), env, Default::default());
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        let cut = cut.clamp(start, body.len());
        s.push(&body[start..cut], &mut out).unwrap();
        start = cut;
    }
    s.push(&body[start..], &mut out).unwrap();
    s.finish(&mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn nothing_planted_escapes_and_splits_never_change_the_output(
        body in batch(),
        mut cuts in prop::collection::vec(0usize..4000, 0..12),
    ) {
        let (plan, _set) = segment_batch_plan();
        let key = PseudonymKey::new(b"property-test-key");
        prop_assert!(!planted::planted_in(body.as_bytes()).is_empty(), "the input does carry PII");
        let whole = scrub(&plan, &key, body.as_bytes(), &[]);
        cuts.sort();
        let split = scrub(&plan, &key, body.as_bytes(), &cuts);
        prop_assert_eq!(&whole, &split);
        let leaked = planted::planted_in(&whole);
        prop_assert!(leaked.is_empty(), "leaked {:?} from {}", leaked, body);
        let v: serde_json::Value = serde_json::from_slice(&whole).unwrap();
        let original: serde_json::Value = serde_json::from_str(&body).unwrap();
        prop_assert_eq!(v["batch"].as_array().unwrap().len(), original["batch"].as_array().unwrap().len());
    }
}
