//! Scrubs a generated batch with the shipped rules and counts, per kind of planted value
//! (from the generator's manifest), how many survive in the output.
//!
//!     cargo run --release --example leak_check -- target/bench-payloads/segment-large

use std::collections::BTreeMap;
use std::path::PathBuf;

use scrubproxy::rules;
use scrubproxy::scrub::{JsonScrubber, ScrubEnv};

fn main() {
    let stem = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/bench-payloads/segment-large".into());
    let body = std::fs::read(format!("{stem}.json")).expect("payload");
    #[allow(clippy::disallowed_types)] // the generator's manifest of what it planted
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{stem}.manifest.json")).expect("manifest"))
            .expect("json");
    let mut file = rules::read(Some(&PathBuf::from("rules.toml"))).expect("rules");
    file.identifiers.key_env = None;
    let set = rules::compile(file).expect("rules compile");
    let plan = set.route("/segment/v1/batch").expect("route").0.plans[1].clone();
    let env = ScrubEnv {
        truncation: set.truncation,
        client_ip: Some("198.51.100.0".into()),
        pseudonym_key: set.pseudonym_key.clone(),
        max_depth: 32,
        max_string_bytes: scrubproxy::scrub::DEFAULT_MAX_STRING_BYTES,
        privacy: Default::default(),
    };
    let mut s = JsonScrubber::new(plan, env, Default::default());
    let mut out = Vec::new();
    s.push(&body, &mut out).expect("scrubs");
    s.finish(&mut out).expect("scrubs");
    let text = String::from_utf8(out).expect("utf-8");
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for p in manifest["planted"].as_array().expect("planted list") {
        let kind = format!(
            "{}/{}",
            p["kind"].as_str().unwrap_or("?"),
            p["where"].as_str().unwrap_or("?")
        );
        let value = p["value"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| p["value"].to_string());
        let entry = counts.entry(kind).or_default();
        entry.0 += 1;
        if text.contains(&value) {
            entry.1 += 1;
        }
    }
    println!("{:<14} {:>8} {:>8}", "kind", "planted", "survived");
    for (kind, (planted, survived)) in counts {
        println!("{kind:<14} {planted:>8} {survived:>8}");
    }
}
