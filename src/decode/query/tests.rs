//! The query codec's cases and its round trips.

use super::*;
use proptest::prelude::*;

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn decoded(pairs: &[(String, String)]) -> Vec<Param> {
    pairs
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn nested_json(pairs: &[(&str, &str)]) -> Result<String, QueryError> {
    let whole = |name: &[u8]| name.contains(&b'@');
    let json = nested_object(decoded(&owned(pairs)), whole, 32)?;
    Ok(String::from_utf8(json).unwrap())
}

#[test]
fn dotted_names_nest_and_flatten_back() {
    let params = [
        ("event", "Signup"),
        ("context.page.url", "https://a.example/"),
        ("context.ip", "1.2.3.4"),
        ("properties.plan", "pro"),
        ("a..b", "whole"),
        ("jane.doe@example.com", ""),
        ("properties.jane.doe@example.com", "1"),
    ];
    let json = nested_json(&params).unwrap();
    assert_eq!(
        json,
        r#"{"event":"Signup","context":{"page":{"url":"https://a.example/"},"ip":"1.2.3.4"},"properties":{"plan":"pro"},"a..b":"whole","jane.doe@example.com":"","properties.jane.doe@example.com":"1"}"#
    );
    // Back as they came: nothing lost, renamed or reordered within a parent.
    assert_eq!(dotted_pairs(json.as_bytes()).unwrap(), owned(&params));
}

#[test]
fn repeated_names_stay_in_order_and_deep_ones_are_refused() {
    let json = nested_json(&[("p.tag", "a"), ("p.tag", "b"), ("n", "1")]).unwrap();
    let want = owned(&[("p.tag", "a"), ("p.tag", "b"), ("n", "1")]);
    assert_eq!(dotted_pairs(json.as_bytes()).unwrap(), want);
    let flattened = dotted_pairs(br#"{"a":{"b":[1,"x"],"c":null,"d":1.5,"e":true}}"#);
    let want = owned(&[
        ("a.b", r#"[1,"x"]"#),
        ("a.c", "null"),
        ("a.d", "1.5"),
        ("a.e", "true"),
    ]);
    assert_eq!(flattened.unwrap(), want);
    let deep = "a.".repeat(40) + "b";
    assert_eq!(
        nested_json(&[(&deep, "1")]),
        Err(QueryError::TooDeep { limit: 32 })
    );
}

#[test]
fn a_name_both_value_and_parent_is_refused() {
    for query in [
        &[("context", "x"), ("context.ip", "1.2.3.4")][..],
        &[("context.ip", "1.2.3.4"), ("context", "x")][..],
        &[("a.b", "1"), ("a.b.c", "2")][..],
        &[("a.b.c", "2"), ("a.b", "1")][..],
    ] {
        assert_eq!(
            nested_json(query),
            Err(QueryError::ValueAndParent),
            "{query:?}"
        );
    }
}

#[test]
fn parameters_decode_and_values_must_be_text() {
    let got = params("e=pv&&url=https%3A%2F%2Fa.example%2F&q=a+b&flag&d%61ta=1").unwrap();
    let want: Vec<Param> = [
        ("e", "pv"),
        ("url", "https://a.example/"),
        ("q", "a b"),
        ("flag", ""),
        ("data", "1"),
    ]
    .iter()
    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(params("a=%ff"), Err(QueryError::NotText));
    // A name is the reader's to judge: it goes on as bytes.
    assert_eq!(params("%ff=a").unwrap(), vec![(vec![0xff], b"a".to_vec())]);
    assert_eq!(
        params("a=%zz"),
        Err(QueryError::Escape(DecodeError::BadPercentEscape))
    );
    assert_eq!(
        params("a%2G=1"),
        Err(QueryError::Escape(DecodeError::BadPercentEscape))
    );
    assert_eq!(
        params("a=1%"),
        Err(QueryError::Escape(DecodeError::TruncatedPercentEscape))
    );
}

#[test]
fn flat_objects_keep_order_repeats_and_odd_bytes() {
    let params = decoded(&owned(&[
        ("b", "1"),
        ("a", "\"quoted\"\n\t\\"),
        ("b", "2"),
        ("", ""),
    ]));
    let json = flat_object(params);
    assert_eq!(
        String::from_utf8(json.clone()).unwrap(),
        r#"{"b":"1","a":"\"quoted\"\n\t\\","b":"2","":""}"#
    );
    let want = owned(&[("b", "1"), ("a", "\"quoted\"\n\t\\"), ("b", "2"), ("", "")]);
    assert_eq!(flat_pairs(&json).unwrap(), want);
    // What a scrubber may write among the strings comes back as its JSON text.
    let written = flat_pairs(br#"{"n":1.5e3,"t":true,"z":null,"o":{"a":[1]}}"#).unwrap();
    let want = owned(&[
        ("n", "1500.0"),
        ("t", "true"),
        ("z", "null"),
        ("o", r#"{"a":[1]}"#),
    ]);
    assert_eq!(written, want);
    for not_an_object in [&b"[1]"[..], b"\"a\"", b"{\"a\":1", b"", b"{} {}"] {
        assert!(flat_pairs(not_an_object).is_err(), "{not_an_object:?}");
        assert!(dotted_pairs(not_an_object).is_err(), "{not_an_object:?}");
    }
}

#[test]
fn json_strings_are_written_as_the_scrubber_writes_them() {
    for byte in 0..=255u8 {
        let text = [b'a', byte, b'z'];
        let (mut ours, mut scrubbers) = (Vec::new(), Vec::new());
        write_json_string(&text, &mut ours);
        crate::scrub::write_json_string(&text, &mut scrubbers);
        assert_eq!(ours, scrubbers, "byte {byte:#04x}");
    }
}

/// Names from a few letters and dots, so that parents, repeats, empty parts and
/// value-and-parent clashes are common; values with the bytes a query must escape.
fn pairs(dotted: bool) -> impl Strategy<Value = Vec<(String, String)>> {
    let name = if dotted {
        "[ab.]{0,5}"
    } else {
        "[ab.=&%+ é]{0,5}"
    };
    let value = "[a%&=+ #?\"\\\\\n\u{1}é€😀]{0,8}";
    proptest::collection::vec((name, value), 0..8)
}

proptest! {
    /// Pairs written as a query and read back as a flat object are the pairs again.
    #[test]
    fn flat_round_trip(pairs in pairs(false)) {
        let query = query_string(&pairs).unwrap();
        let object = flat_object(params(&query).unwrap());
        prop_assert_eq!(flat_pairs(&object).unwrap(), pairs);
    }

    /// Nested and flattened again, pairs are refused as a clash or come back whole: the
    /// same pairs, each name's values in their order, grouped under their parents (and
    /// grouped already, a second round trip changes nothing).
    #[test]
    fn dotted_round_trip(pairs in pairs(true), whole in any::<bool>()) {
        let query = query_string(&pairs).unwrap();
        let keep_whole = |name: &[u8]| whole && name.starts_with(b"a.");
        let object = match nested_object(params(&query).unwrap(), keep_whole, 32) {
            Err(QueryError::ValueAndParent) => return Ok(()),
            other => other.unwrap(),
        };
        let back = dotted_pairs(&object).unwrap();
        let (mut sorted, mut want) = (back.clone(), pairs.clone());
        sorted.sort();
        want.sort();
        prop_assert_eq!(sorted, want);
        for (name, _) in &pairs {
            let values = |of: &[(String, String)]| -> Vec<String> {
                of.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone()).collect()
            };
            prop_assert_eq!(values(&back), values(&pairs));
        }
        let again = nested_object(decoded(&back), keep_whole, 32).unwrap();
        prop_assert_eq!(dotted_pairs(&again).unwrap(), back);
    }

    /// Any query string that reads reads the same once written back: nothing in between
    /// (escapes, `+`, bare names, empty parameters) changes what a parameter says.
    #[test]
    fn queries_read_the_same_written_back(query in "[ab=&%+2Fé]{0,16}") {
        let Ok(read) = params(&query) else { return Ok(()) };
        let pairs = flat_pairs(&flat_object(read.clone())).unwrap_or_default();
        if pairs.len() == read.len() {
            prop_assert_eq!(params(&query_string(&pairs).unwrap()).unwrap(), read);
        } else {
            // A name that is not UTF-8 is not JSON text: the reader refuses the object.
            prop_assert!(read.iter().any(|(n, _)| std::str::from_utf8(n).is_err()));
        }
    }
}
