//! The core alone, beside a naive `serde_json::Value` parse-modify-serialize applying the same
//! rules, and serde_json's bare tokenizer (the ceiling for any scanner that reads every byte),
//! on Segment batches of 50 and 1000 events. Payloads come from the shared generator:
//!
//!     python3 ../shared/bench/gen_payloads.py --out target/bench-payloads --sizes typical,large
//!     cargo bench --bench scrub
// The naive baseline is a whole batch as a `serde_json::Value` tree, on purpose.
#![allow(clippy::disallowed_types)]

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scrubproxy::rules::{self, RuleSet};
use scrubproxy::scrub::keys::KeySet;
use scrubproxy::scrub::{BodyPlan, JsonScrubber, PseudonymKey, Report, ScrubEnv, ValueRules};
use serde_json::Value;

fn payload(name: &str) -> Vec<u8> {
    let dir = std::env::var("SCRUBPROXY_BENCH_PAYLOADS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-payloads")
        });
    let path = dir.join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run python3 ../shared/bench/gen_payloads.py --out target/bench-payloads",
            path.display()
        )
    })
}

fn shipped_rules(text_detectors: bool) -> RuleSet {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules.toml");
    let mut file = rules::read(Some(&path)).expect("shipped rules");
    file.identifiers.key_env = None;
    if !text_detectors {
        // The key, identifier, IP and URL rules only: what the detectors cost is the difference.
        for detector in [
            &mut file.values.email,
            &mut file.values.phone,
            &mut file.values.card,
            &mut file.values.street_address,
            &mut file.values.iban,
            &mut file.values.ssn,
            &mut file.values.token,
            &mut file.values.coordinates,
        ] {
            *detector = "keep".into();
        }
    }
    rules::compile(file).expect("shipped rules compile")
}

fn env(set: &RuleSet) -> ScrubEnv {
    ScrubEnv {
        truncation: set.truncation,
        client_ip: Some("198.51.100.0".into()),
        pseudonym_key: set.pseudonym_key.clone(),
        max_depth: set.limits.core.max_depth,
        max_string_bytes: set.limits.core.max_string_bytes,
        privacy: Default::default(),
    }
}

fn streaming_core(plan: &Arc<BodyPlan>, env: &ScrubEnv, body: &[u8]) -> usize {
    let mut scrubber = JsonScrubber::new(plan.clone(), env.clone(), Default::default());
    let mut out = Vec::with_capacity(64 << 10);
    let mut written = 0;
    for chunk in body.chunks(64 << 10) {
        scrubber.push(chunk, &mut out).expect("scrubs");
        written += out.len();
        out.clear();
    }
    scrubber.finish(&mut out).expect("scrubs");
    written + out.len()
}

/// What a hand-written scrubber does: parse the batch to `Value`, walk it, serialize it.
struct Naive {
    deny: KeySet,
    values: ValueRules,
    key: PseudonymKey,
}

impl Naive {
    fn new(set: &RuleSet) -> Self {
        let deny: Vec<&str> = rules::DEFAULT_DENY
            .iter()
            .copied()
            .filter(|d| !d.contains('.'))
            .collect();
        Naive {
            deny: KeySet::new(deny),
            values: ValueRules::every_rule(set.truncation),
            key: set.pseudonym_key.clone(),
        }
    }

    fn run(&self, body: &[u8]) -> usize {
        let mut v: Value = serde_json::from_slice(body).expect("json");
        if let Some(batch) = v.get_mut("batch").and_then(Value::as_array_mut) {
            for event in batch {
                self.event(event);
            }
        }
        serde_json::to_vec(&v).expect("serializes").len()
    }

    fn event(&self, event: &mut Value) {
        let Some(obj) = event.as_object_mut() else {
            return;
        };
        for id in ["userId", "anonymousId"] {
            if let Some(Value::String(s)) = obj.get_mut(id) {
                let mut out = Vec::new();
                self.key.pseudonym_into(s.as_bytes(), &mut out);
                *s = String::from_utf8(out).expect("hex");
            }
        }
        if let Some(ctx) = obj.get_mut("context").and_then(Value::as_object_mut) {
            ctx.remove("location");
            ctx.insert("ip".into(), Value::String("198.51.100.0".into()));
        }
        for container in ["properties", "traits", "context"] {
            if let Some(c) = obj.get_mut(container) {
                self.walk(c);
            }
        }
    }

    fn walk(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.retain(|k, _| !self.deny.matches_key(k.as_bytes()));
                map.values_mut().for_each(|v| self.walk(v));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.walk(v)),
            Value::String(s) => {
                let (mut out, mut tmp, mut report) = (Vec::new(), Vec::new(), Report::default());
                if self
                    .values
                    .scrub(s.as_bytes(), &mut out, &mut tmp, &mut report)
                {
                    *s = String::from_utf8(out).expect("utf-8");
                }
            }
            _ => {}
        }
    }
}

fn bench(c: &mut Criterion) {
    let set = shipped_rules(true);
    let (route, _) = set.route("/segment/v1/batch").expect("segment route");
    let plan = route.plans[1].clone();
    let env = env(&set);
    let plain_set = shipped_rules(false);
    let plain_plan = plain_set
        .route("/segment/v1/batch")
        .expect("segment route")
        .0
        .plans[1]
        .clone();
    // What a request gets with the shipped rules and no consent signal: the consent gate
    // (Segment's event reader on every event, anonymized events) and the visitor's place.
    let endpoint = route
        .vendor
        .protocol()
        .endpoint(&http::Method::POST, "/v1/batch")
        .expect("batch endpoint");
    let client = "8.8.8.8".parse().expect("address");
    let headers = http::HeaderMap::new();
    let prepared = scrubproxy::request::prepare(&set, route, endpoint, client, "", &headers)
        .expect("prepared");
    let gated_env = prepared.spec.env.clone();
    let naive = Naive::new(&set);
    let mut group = c.benchmark_group("segment_batch");
    for name in ["segment-typical", "segment-large"] {
        let body = payload(name);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("scrubproxy_core", name),
            &body,
            |b, body| b.iter(|| streaming_core(&plan, &env, body)),
        );
        group.bench_with_input(
            BenchmarkId::new("scrubproxy_core_shipped_consent_and_geo", name),
            &body,
            |b, body| b.iter(|| streaming_core(&plan, &gated_env, body)),
        );
        group.bench_with_input(
            BenchmarkId::new("scrubproxy_core_no_text_detectors", name),
            &body,
            |b, body| b.iter(|| streaming_core(&plain_plan, &env, body)),
        );
        group.bench_with_input(
            BenchmarkId::new("naive_value_round_trip", name),
            &body,
            |b, body| b.iter(|| naive.run(body)),
        );
        // The naive scrubber's floor: a Value round trip that changes nothing.
        group.bench_with_input(
            BenchmarkId::new("serde_value_round_trip_no_rules", name),
            &body,
            |b, body| {
                b.iter(|| {
                    let v: Value = serde_json::from_slice(body).expect("json");
                    serde_json::to_vec(&v).expect("serializes").len()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("serde_ignored_any_ceiling", name),
            &body,
            |b, body| {
                b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(body).expect("json"))
            },
        );
    }
    group.finish();
}

/// Everything a single-event request costs outside I/O: preparing it (route, geo lookup,
/// consent signals, query) and its body through the pipeline. With the shipped rules (no
/// consent signal: gate, anonymized), and with events forwarded whatever their consent.
fn bench_request(c: &mut Criterion) {
    let body = br#"{"type":"track","event":"Signup","userId":"user-42","anonymousId":"a-1","properties":{"plan":"pro","email":"jane@example.com"},"context":{"ip":"203.0.113.42","page":{"url":"https://shop.example/?utm_source=x"},"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"}}"#;
    let shipped = shipped_rules(true);
    let forwarding = {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules.toml");
        let mut file = rules::read(Some(&path)).expect("shipped rules");
        file.identifiers.key_env = None;
        file.consent.unknown = "forward".into();
        rules::compile(file).expect("rules compile")
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().expect("header"));
    let client = "8.8.8.8".parse().expect("address");
    let mut group = c.benchmark_group("single_event_request");
    for (name, set) in [("shipped", &shipped), ("consent_forwarded", &forwarding)] {
        let (route, _) = set.route("/segment/v1/t").expect("segment route");
        let endpoint = route
            .vendor
            .protocol()
            .endpoint(&http::Method::POST, "/v1/t")
            .expect("endpoint");
        group.bench_function(name, |b| {
            b.iter(|| {
                let prepared =
                    scrubproxy::request::prepare(set, route, endpoint, client, "", &headers)
                        .expect("prepared");
                let mut pipeline =
                    scrubproxy::pipeline::BodyPipeline::new(prepared.spec).expect("pipeline");
                let out = pipeline.push(body).expect("scrubs");
                let last = pipeline.finish().expect("scrubs");
                out.as_bytes().len() + last.as_bytes().len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_request);
criterion_main!(benches);
