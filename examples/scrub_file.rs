//! Scrubs a Segment batch file with the shipped rules, many times: a target for profilers.
//!
//!     cargo run --release --example scrub_file -- target/bench-payloads/segment-large.json 200
//!
//! A third argument sets the size of the chunks pushed (default 64 KiB); the proxy gets
//! whatever the connection delivers, often much less. A fourth names a file the last
//! round's output is written to (pseudonyms then made with a fixed key), so a change can be
//! checked to leave the bytes as they were.

use std::path::PathBuf;

use scrubproxy::rules;
use scrubproxy::scrub::{JsonScrubber, PseudonymKey, ScrubEnv};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "target/bench-payloads/segment-large.json".into());
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(100);
    let chunk_size: usize = args.next().and_then(|c| c.parse().ok()).unwrap_or(64 << 10);
    let output_path = args.next().map(PathBuf::from);
    let body = std::fs::read(&path).expect("payload file");
    let mut file = rules::read(Some(&PathBuf::from("rules.toml"))).expect("rules");
    file.identifiers.key_env = None;
    let set = rules::compile(file).expect("rules compile");
    let plan = set.route("/segment/v1/batch").expect("route").0.plans[1].clone();
    let env = ScrubEnv {
        truncation: set.truncation,
        client_ip: Some("198.51.100.0".into()),
        // A kept output is compared across builds: its pseudonyms need a fixed key.
        pseudonym_key: match output_path {
            Some(_) => PseudonymKey::new(b"scrub_file: a fixed key, comparable output"),
            None => set.pseudonym_key.clone(),
        },
        max_depth: 32,
        max_string_bytes: scrubproxy::scrub::DEFAULT_MAX_STRING_BYTES,
        privacy: Default::default(),
    };
    let started = std::time::Instant::now();
    let mut total = 0;
    let mut last_round = Vec::new();
    for _ in 0..rounds {
        let mut s = JsonScrubber::new(plan.clone(), env.clone(), Default::default());
        let mut out = Vec::new();
        last_round.clear();
        for chunk in body.chunks(chunk_size) {
            s.push(chunk, &mut out).expect("scrubs");
            total += out.len();
            if output_path.is_some() {
                last_round.extend_from_slice(&out);
            }
            out.clear();
        }
        s.finish(&mut out).expect("scrubs");
        total += out.len();
        if output_path.is_some() {
            last_round.extend_from_slice(&out);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{rounds} rounds, {:.0} MB/s in, {total} bytes out",
        (body.len() * rounds) as f64 / secs / 1e6
    );
    if let Some(path) = output_path {
        std::fs::write(&path, &last_round).expect("output file");
    }
}
