//! Precision and recall of the value detectors on a labelled corpus (2,100 strings:
//! `tests/fixtures/pii-corpus/`), each string sent as a property value through the shipped
//! rules. Prints the table and holds the floors the detectors are meant to meet.

use scrubproxy::rules;
use serde_json::Value;

struct Row {
    text: String,
    kind: Option<String>,
    value: Option<String>,
}

fn corpus() -> Vec<Row> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pii-corpus/corpus.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            Row {
                text: v["text"].as_str().unwrap().to_string(),
                kind: v["kind"].as_str().map(str::to_string),
                value: v["value"].as_str().map(str::to_string),
            }
        })
        .collect()
}

/// Whether the detector for `kind` fired on `row`, judged from the scrubbed text.
fn fired(kind: &str, row: &Row, scrubbed: &str) -> bool {
    match kind {
        "email" => scrubbed.contains("[email]"),
        "phone" => scrubbed.contains("[phone]"),
        "credit_card" => scrubbed.contains("[card]"),
        "iban" => scrubbed.contains("[iban]"),
        // Addresses are truncated in place: the full one is gone, the text changed.
        "ip" => {
            scrubbed != row.text
                && row.value.as_deref().is_none_or(|v| !scrubbed.contains(v))
                && !scrubbed.contains('[')
        }
        _ => false,
    }
}

#[test]
fn detector_precision_and_recall_on_the_labelled_corpus() {
    let mut file = rules::read(Some(&crate::support::proxy::shipped_rules_path())).unwrap();
    file.identifiers.key_env = Some("SCRUBPROXY_TEST_KEY_THAT_IS_NEVER_SET".into());
    let set = rules::compile(file).unwrap();
    let rows = corpus();
    let kinds = ["email", "phone", "credit_card", "iban", "ip"];
    let mut table = Vec::new();
    // The corpus holds no coordinates: any pair found in it is a false positive.
    let mut coordinates_fired = Vec::new();
    for kind in kinds {
        let (mut tp, mut fp_, mut fn_) = (0, 0, 0);
        for row in &rows {
            let body = serde_json::json!({"type": "track", "event": "e", "properties": {"note": row.text}});
            let offline = scrubproxy::check::scrub_request(
                &set,
                scrubproxy::vendor::VendorKind::Segment,
                "POST",
                "/v1/t",
                "",
                &http::HeaderMap::new(),
                body.to_string().as_bytes(),
            )
            .unwrap();
            let sent: Value = serde_json::from_slice(&offline.body.unwrap()).unwrap();
            let scrubbed = sent["properties"]["note"].as_str().unwrap_or("");
            if kind == "email" && scrubbed.contains("[location]") {
                coordinates_fired.push(row.text.clone());
            }
            let positive = row.kind.as_deref() == Some(kind);
            match (positive, fired(kind, row, scrubbed)) {
                (true, true) => tp += 1,
                (true, false) => fn_ += 1,
                (false, true) => fp_ += 1,
                (false, false) => {}
            }
        }
        let precision = f64::from(tp) / f64::from((tp + fp_).max(1));
        let recall = f64::from(tp) / f64::from((tp + fn_).max(1));
        table.push((kind, tp, fp_, fn_, precision, recall));
    }
    println!("detector      tp   fp   fn  precision  recall");
    for (kind, tp, fp_, fn_, p, r) in &table {
        println!("{kind:<12} {tp:>4} {fp_:>4} {fn_:>4}  {p:>9.3}  {r:>6.3}");
    }
    println!("coordinates fired on {} strings", coordinates_fired.len());
    assert!(
        coordinates_fired.is_empty(),
        "coordinates detector fired on {coordinates_fired:?}"
    );
    for (kind, _, _, _, precision, recall) in &table {
        if matches!(*kind, "email" | "credit_card" | "iban" | "ip") {
            assert!(
                *precision >= 0.98 && *recall >= 0.99,
                "{kind}: precision {precision:.3}, recall {recall:.3}"
            );
        }
    }
}
