//! Table tests of the core. Every case also runs split at every byte (and byte by byte) and
//! must give the same output, so chunk boundaries can never change what is scrubbed.

use super::*;

fn segment_like_plan(mode: PropertyMode) -> Arc<BodyPlan> {
    let mut b = EventPlanBuilder::default();
    b.container("properties")
        .container("traits")
        .container("context")
        .field("userId", FieldAction::Hash)
        .field("anonymousId", FieldAction::Hash)
        .field("context.ip", FieldAction::VendorIp)
        .field(
            "context.location",
            FieldAction::Drop(RuleKind::PreciseLocation),
        )
        .field("writeKey", FieldAction::Keep)
        .ensure("context.ip", Ensured::ClientIp);
    let props = PropertyRules {
        mode,
        deny_keys: vec!["*email*".into(), "phone".into(), "first_name".into()],
        deny_paths: vec!["properties.name".into()],
        allow_keys: vec!["plan".into(), "page".into(), "url".into()],
        allow_paths: vec![],
        drop_events: vec![],
    };
    let event = b.build(&props, value_rules(), Some("0.0.0.0"));
    let mut e = EventPlanBuilder::default();
    e.container("context")
        .field("context.ip", FieldAction::VendorIp);
    let envelope_members = e.build(&props, value_rules(), None);
    Arc::new(BodyPlan {
        envelope: Envelope::Batch { key: "batch" },
        event,
        envelope_members,
    })
}

fn value_rules() -> ValueRules {
    ValueRules::every_rule(Some(Truncation::default()))
}

fn env() -> ScrubEnv {
    ScrubEnv {
        truncation: Some(Truncation::default()),
        client_ip: Some("198.51.100.0".into()),
        pseudonym_key: PseudonymKey::new(b"test-key"),
        max_depth: 8,
        max_string_bytes: 1 << 20,
        privacy: Default::default(),
    }
}

fn run(plan: &Arc<BodyPlan>, env: &ScrubEnv, chunks: &[&[u8]]) -> Result<String, ScrubError> {
    let mut s = JsonScrubber::new(
        plan.clone(),
        env.clone(),
        CoreLimits {
            max_event_bytes: 4096,
            max_depth: 8,
            max_string_bytes: 1 << 20,
        },
    );
    let mut out = Vec::new();
    for c in chunks {
        s.push(c, &mut out)?;
    }
    s.finish(&mut out)?;
    Ok(String::from_utf8(out).expect("output is UTF-8"))
}

/// Scrubs `input` whole, at every two-way split and byte by byte; all must agree.
fn check_with(plan: &Arc<BodyPlan>, input: &str) -> Result<String, ScrubError> {
    let bytes = input.as_bytes();
    let whole = run(plan, &env(), &[bytes]);
    for cut in 0..=bytes.len() {
        let split = run(plan, &env(), &[&bytes[..cut], &bytes[cut..]]);
        assert_eq!(split, whole, "split at {cut} differs for {input}");
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(
        run(plan, &env(), &singles),
        whole,
        "byte-by-byte differs for {input}"
    );
    whole
}

fn check(input: &str, want: Result<&str, ScrubError>) {
    let plan = segment_like_plan(PropertyMode::Deny);
    let got = check_with(&plan, input);
    if let Ok(out) = &got {
        #[allow(clippy::disallowed_types)] // a test: one small event
        serde_json::from_str::<serde_json::Value>(out).expect("output parses as JSON");
    }
    assert_eq!(got.as_deref().map_err(Clone::clone), want, "input {input}");
}

fn pseudonym(id: &str) -> String {
    let mut out = Vec::new();
    PseudonymKey::new(b"test-key").pseudonym_into(id.as_bytes(), &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn drops_denied_properties_without_stray_commas() {
    check(
        r#"{"batch":[{"properties":{"email":"a@b.co","plan":"pro","phone":"1"},"context":{"ip":"1.2.3.4"}}]}"#,
        Ok(r#"{"batch":[{"properties":{"plan":"pro"},"context":{"ip":"1.2.3.0"}}]}"#),
    );
    check(
        r#"{"batch":[{"properties":{"email":"x","phone":"1"},"context":{}}]}"#,
        Ok(r#"{"batch":[{"properties":{},"context":{"ip":"198.51.100.0"}}]}"#),
    );
    check(
        r#"{"batch":[ { "properties" : { "a" : 1 , "Email" : "x" } , "context":{"ip":"::ffff:203.0.113.42"} } ]}"#,
        Ok(r#"{"batch":[{ "properties" : { "a" : 1 } , "context":{"ip":"203.0.113.0"} }]}"#),
    );
}

#[test]
fn addresses_used_as_keys_are_dropped() {
    check(
        r#"{"batch":[{"properties":{"jane@example.com":true,"ok":1},"context":{"ip":"1.2.3.4"}}]}"#,
        Ok(r#"{"batch":[{"properties":{"ok":1},"context":{"ip":"1.2.3.0"}}]}"#),
    );
}

#[test]
fn card_numbers_written_as_numbers_are_redacted() {
    check(
        r#"{"batch":[{"properties":{"n":4111111111111111,"t":1795342958448,"p":12.5,"o":1234567890123456,"a":[5500000000000004]}}]}"#,
        Ok(
            r#"{"batch":[{"properties":{"n":"[card]","t":1795342958448,"p":12.5,"o":1234567890123456,"a":["[card]"]},"context":{"ip":"198.51.100.0"}}]}"#,
        ),
    );
}

#[test]
fn escaped_keys_and_values_are_matched_unescaped() {
    check(
        r#"{"batch":[{"properties":{"em\u0061il":"x","note":"mail a\u0040b.co"},"context":{"ip":"1.2.3.4"}}]}"#,
        Ok(r#"{"batch":[{"properties":{"note":"mail [email]"},"context":{"ip":"1.2.3.0"}}]}"#),
    );
}

#[test]
fn identifiers_are_pseudonymized_and_ip_injected() {
    let want = format!(
        r#"{{"batch":[{{"userId":"{}","anonymousId":null,"context":{{"ip":"198.51.100.0"}}}}],"writeKey":"wk"}}"#,
        pseudonym("user-jane-doe-42")
    );
    check(
        r#"{"batch":[{"userId":"user-jane-doe-42","anonymousId":null}],"writeKey":"wk"}"#,
        Ok(&want),
    );
}

#[test]
fn envelope_members_are_scrubbed_and_dropped_cleanly() {
    check(
        r#"{"context":{"ip":"203.0.113.42","email":"j@x.io"},"batch":[],"sentAt":"t"}"#,
        Ok(r#"{"context":{"ip":"203.0.113.0"},"batch":[],"sentAt":"t"}"#),
    );
}

#[test]
fn location_urls_and_nested_values() {
    check(
        r#"{"batch":[{"context":{"location":{"latitude":37.7749},"page":{"url":"https://s.example/c?email=j%40x.io&utm_source=n"},"ip":"x"},"properties":{"list":[{"phone":"1","ok":"203.0.113.42"}]}}]}"#,
        Ok(
            r#"{"batch":[{"context":{"page":{"url":"https://s.example/c?utm_source=n"},"ip":"198.51.100.0"},"properties":{"list":[{"ok":"203.0.113.0"}]}}]}"#,
        ),
    );
}

#[test]
fn malformed_input_fails_closed() {
    let cases: &[(&str, ScrubError)] = &[
        ("", ScrubError::EmptyBody),
        (r#"{"batch":[{"a":1}"#, ScrubError::Truncated),
        (r#"{"batch":[{"a":1,}]}"#, ScrubError::MalformedJson),
        (r#"{"batch":[{"a":tru}]}"#, ScrubError::MalformedJson),
        (r#"{"batch":[{"a":"x"]}]}"#, ScrubError::MalformedJson),
        (r#"[{"a":1}]"#, ScrubError::UnexpectedShape),
        (r#"{"events":[]}"#, ScrubError::UnexpectedShape),
        (r#"{"batch":[1]}"#, ScrubError::MalformedJson),
        (
            r#"{"batch":[{"a":[[[[[[[[[1]]]]]]]]]}]}"#,
            ScrubError::TooDeep { limit: 8 },
        ),
        (r#"{"batch":[{"a":"\ud800"}]}"#, ScrubError::MalformedJson),
        (r#"{"batch":[]} {"batch":[]}"#, ScrubError::MalformedJson),
        (r#"{"batch":[],"batch":[]}"#, ScrubError::UnexpectedShape),
        (
            r#"{"batch":[],"b\u0061tch":[{"a":1}]}"#,
            ScrubError::UnexpectedShape,
        ),
        (
            r#"{"batch":[],"BATCH":[{"a":1}]}"#,
            ScrubError::UnexpectedShape,
        ),
        (
            r#"{"batch":[{"a":"tab	in string"}]}"#,
            ScrubError::MalformedJson,
        ),
    ];
    for (input, want) in cases {
        check(input, Err(want.clone()));
    }
}

#[test]
fn oversized_event_is_rejected_before_it_is_buffered_whole() {
    let big = format!(r#"{{"batch":[{{"a":"{}"}}]}}"#, "x".repeat(5000));
    let plan = segment_like_plan(PropertyMode::Deny);
    let mut s = JsonScrubber::new(
        plan,
        env(),
        CoreLimits {
            max_event_bytes: 4096,
            max_depth: 8,
            max_string_bytes: 1 << 20,
        },
    );
    let mut out = Vec::new();
    let mut err = None;
    for chunk in big.as_bytes().chunks(1000) {
        if let Err(e) = s.push(chunk, &mut out) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(ScrubError::EventTooLarge { limit: 4096 }));
}

#[test]
fn invalid_utf8_is_rejected() {
    let plan = segment_like_plan(PropertyMode::Deny);
    let body = b"{\"batch\":[{\"a\":\"\xff\"}]}";
    assert_eq!(run(&plan, &env(), &[body]), Err(ScrubError::InvalidUtf8));
}

#[test]
fn allow_mode_keeps_only_listed_keys() {
    let plan = segment_like_plan(PropertyMode::Allow);
    let out = check_with(
        &plan,
        r#"{"batch":[{"type":"track","properties":{"plan":"pro","secret":"s","page":{"url":"https://a.example/","title":"t"}},"context":{"ip":"1.2.3.4","locale":"en"}}]}"#,
    );
    assert_eq!(
        out.as_deref(),
        Ok(
            r#"{"batch":[{"type":"track","properties":{"plan":"pro","page":{"url":"https://a.example/"}},"context":{"ip":"1.2.3.0"}}]}"#
        )
    );
}

#[test]
fn single_and_ndjson_envelopes() {
    let mut b = EventPlanBuilder::default();
    b.container("properties")
        .field("properties.distinct_id", FieldAction::Hash);
    let event = b.build(&PropertyRules::default(), value_rules(), None);
    let envelope_members =
        EventPlanBuilder::default().build(&PropertyRules::default(), value_rules(), None);
    let plan = Arc::new(BodyPlan {
        envelope: Envelope::Events,
        event,
        envelope_members,
    });
    let id = pseudonym("u1");
    assert_eq!(
        check_with(
            &plan,
            "{\"properties\":{\"distinct_id\":\"u1\"}}\n{\"properties\":{}}\n"
        ),
        Ok(format!(
            "{{\"properties\":{{\"distinct_id\":\"{id}\"}}}}\n{{\"properties\":{{}}}}"
        ))
    );
    assert_eq!(
        check_with(
            &plan,
            r#"[{"properties":{"distinct_id":"u1"}}, {"properties":{}}]"#
        ),
        Ok(format!(
            r#"[{{"properties":{{"distinct_id":"{id}"}}}},{{"properties":{{}}}}]"#
        ))
    );
    assert_eq!(check_with(&plan, "[]"), Ok("[]".to_string()));
}

#[test]
fn events_named_on_the_drop_list_go_whole_without_stray_separators() {
    let mut b = EventPlanBuilder::default();
    b.container("properties")
        .field("event", FieldAction::EventName);
    let props = PropertyRules {
        drop_events: vec!["noise".into()],
        ..PropertyRules::default()
    };
    let event = b.build(&props, value_rules(), None);
    let envelope_members = EventPlanBuilder::default().build(&props, value_rules(), None);
    let plan = Arc::new(BodyPlan {
        envelope: Envelope::Batch { key: "batch" },
        event,
        envelope_members,
    });
    let cases = [
        (
            r#"{"batch":[{"event":"noise"},{"event":"a"},{"event":"noise"},{"event":"b"},{"event":"noise"}]}"#,
            r#"{"batch":[{"event":"a"},{"event":"b"}]}"#,
        ),
        (
            r#"{"batch":[{"event":"noise"}],"sentAt":"t"}"#,
            r#"{"batch":[],"sentAt":"t"}"#,
        ),
        (
            r#"{"batch":[{"event":"no\u0069se"},{"event":"Noise"}]}"#,
            r#"{"batch":[{"event":"Noise"}]}"#,
        ),
    ];
    for (input, want) in cases {
        assert_eq!(check_with(&plan, input).as_deref(), Ok(want), "{input}");
    }
    let mut s = JsonScrubber::new(plan, env(), CoreLimits::default());
    let mut out = Vec::new();
    s.push(cases[0].0.as_bytes(), &mut out).unwrap();
    s.finish(&mut out).unwrap();
    assert_eq!((s.report().events, s.report().events_dropped), (2, 3));
}

#[test]
fn cached_key_verdicts_never_cross_plans() {
    // One thread, one key cache: the same keys under two plans (think: a reload that turned
    // allow mode on) must each get their own plan's verdict, in either order, repeatedly.
    let deny = segment_like_plan(PropertyMode::Deny);
    let allow = segment_like_plan(PropertyMode::Allow);
    let input = r#"{"batch":[{"type":"track","properties":{"plan":"pro","secret":"s"}}]}"#;
    for _ in 0..3 {
        assert_eq!(
            check_with(&deny, input).as_deref(),
            Ok(
                r#"{"batch":[{"type":"track","properties":{"plan":"pro","secret":"s"},"context":{"ip":"198.51.100.0"}}]}"#
            )
        );
        assert_eq!(
            check_with(&allow, input).as_deref(),
            Ok(
                r#"{"batch":[{"type":"track","properties":{"plan":"pro"},"context":{"ip":"198.51.100.0"}}]}"#
            )
        );
    }
}

#[test]
fn a_detector_that_drops_takes_the_member_or_nulls_the_element() {
    let mut values = value_rules();
    values.email_marker = Some(Replacement::Drop);
    let props = PropertyRules::default();
    let mut b = EventPlanBuilder::default();
    b.container("properties")
        .field("properties.blob", FieldAction::JsonString);
    let plan = Arc::new(BodyPlan {
        envelope: Envelope::Batch { key: "batch" },
        event: b.build(&props, values, None),
        envelope_members: EventPlanBuilder::default().build(&props, value_rules(), None),
    });
    let cases = [
        // First member, middle member, last member: no stray commas.
        (
            r#"{"batch":[{"properties":{"note":"mail jane@example.com","plan":"pro"}}]}"#,
            r#"{"batch":[{"properties":{"plan":"pro"}}]}"#,
        ),
        (
            r#"{"batch":[{"properties":{"a":1,"note":"jane@example.com","b":2}}]}"#,
            r#"{"batch":[{"properties":{"a":1,"b":2}}]}"#,
        ),
        (
            r#"{"batch":[{"properties":{"a":1,"note":"jane@example.com"}}]}"#,
            r#"{"batch":[{"properties":{"a":1}}]}"#,
        ),
        // An element has no member: it becomes null, and the array keeps its length.
        (
            r#"{"batch":[{"properties":{"to":["ops","jane@example.com"]}}]}"#,
            r#"{"batch":[{"properties":{"to":["ops",null]}}]}"#,
        ),
        // A JSON string holding one bare value: the member holding it goes.
        (
            r#"{"batch":[{"properties":{"blob":"\"jane@example.com\"","x":1}}]}"#,
            r#"{"batch":[{"properties":{"x":1}}]}"#,
        ),
    ];
    for (input, want) in cases {
        let got = check_with(&plan, input).unwrap();
        assert_eq!(got, want, "input {input}");
    }
}

/// A reader for the test plan's consent field: `"yes"` grants analytics, `"no"` denies it.
fn yes_no_reader(
    _: u8,
    value: &[u8],
    _: &crate::consent::Categories,
) -> Result<crate::consent::Consent, crate::consent::wire::Unreadable> {
    use crate::consent::{Consent, State};
    let analytics = match value {
        b"\"yes\"" => State::Granted,
        b"\"no\"" => State::Denied,
        _ => return Err(crate::consent::wire::Unreadable),
    };
    Ok(Consent {
        analytics,
        ads: State::Unknown,
    })
}

#[test]
fn each_events_consent_decides_its_fate_for_every_split() {
    let mut b = EventPlanBuilder::default();
    b.container("context")
        .field("userId", FieldAction::Hash)
        .field("context.ip", FieldAction::VendorIp)
        .field("context.consent", FieldAction::ConsentSignal(0))
        .ensure("context.ip", Ensured::ClientIp);
    let props = PropertyRules::default();
    let plan = Arc::new(BodyPlan {
        envelope: Envelope::Batch { key: "batch" },
        event: b.build(&props, value_rules(), Some("0.0.0.0")),
        envelope_members: EventPlanBuilder::default().build(&props, value_rules(), None),
    });
    let day_key = PseudonymKey::new(b"the day's key");
    let anonymized = Anonymized {
        plan: None,
        env: ScrubEnv {
            truncation: None,
            client_ip: None,
            pseudonym_key: day_key.clone(),
            ..env()
        },
    };
    let mut gated = env();
    gated.privacy.consent = Some(ConsentGate {
        policy: ConsentPolicy {
            purposes: Purposes::Analytics,
            denied: ConsentAction::Drop,
            unknown: ConsentAction::Anonymize,
        },
        request: Default::default(),
        event_reader: Some(yes_no_reader),
        categories: Default::default(),
        anonymous_requested: false,
        anonymized: Arc::new(anonymized),
    });
    // Granted after its id (walked again as consented), denied under an escaped key,
    // silent (anonymized).
    let input = r#"{"batch":[{"userId":"a","context":{"ip":"1.2.3.4","consent":"yes"}},{"userId":"b","context":{"c\u006fnsent":"no"}},{"userId":"c","context":{"ip":"1.2.3.4"}}]}"#;
    let day = |id: &str| {
        let mut out = Vec::new();
        day_key.pseudonym_into(id.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    };
    let want = format!(
        r#"{{"batch":[{{"userId":"{}","context":{{"ip":"1.2.3.0","consent":"yes"}}}},{{"userId":"{}","context":{{"ip":"0.0.0.0"}}}}]}}"#,
        pseudonym("a"),
        day("c")
    );
    let bytes = input.as_bytes();
    for cut in 0..=bytes.len() {
        let got = run(&plan, &gated, &[&bytes[..cut], &bytes[cut..]]);
        assert_eq!(got.as_deref(), Ok(want.as_str()), "split at {cut}");
    }
    let mut s = JsonScrubber::new(plan.clone(), gated.clone(), CoreLimits::default());
    let mut out = Vec::new();
    s.push(bytes, &mut out).unwrap();
    s.finish(&mut out).unwrap();
    let r = s.report();
    assert_eq!(
        (r.events, r.events_anonymized, r.events_dropped_consent),
        (2, 1, 1)
    );
    // A consent field the vendor's reader cannot read refuses the request.
    let unreadable = r#"{"batch":[{"userId":"a","context":{"consent":42}}]}"#;
    assert_eq!(
        run(&plan, &gated, &[unreadable.as_bytes()]),
        Err(ScrubError::UnexpectedShape)
    );
}
