//! Fingerprints what the proxy would send for every captured real-client request and every
//! bench payload, under a handful of rule variants: one `sha256` line per (variant, file), so
//! a refactoring that must not change behaviour can be checked byte for byte.
//!
//!     cargo run --release --example fingerprint > before.txt
//!     (change the code)
//!     cargo run --release --example fingerprint > after.txt && diff before.txt after.txt
//!
//! Arguments (optional): the fixture directory (default `tests/fixtures/real-clients`) and
//! the bench payload directory (default `target/bench-payloads`; make it with
//! `python3 ../shared/bench/gen_payloads.py --out target/bench-payloads`). What is hashed:
//! the query sent, the headers the proxy sets, the synthetic reply, the body format and
//! parameters, the body sent and both reports, or the refusal. `FINGERPRINT_SHOW=<text>`
//! also prints, on stderr, what is hashed for the files whose names contain `<text>`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use scrubproxy::pipeline::{BodyPipeline, Scrubbed};
use scrubproxy::request;
use scrubproxy::rules::{self, file::RulesFile, RuleSet};
use sha2::{Digest, Sha256};

/// A fixed environment: the HMAC key and a Matomo credential.
const ENV: &[(&str, &str)] = &[
    ("SCRUBPROXY_HMAC_KEY", "fingerprint-key-0123456789abcdef"),
    ("FINGERPRINT_MATOMO_TOKEN", "matomo-token-0123"),
];

/// A change to the shipped rules.
type Edit = fn(&mut RulesFile);

/// Rule variants, each an edit of the shipped rules: together they take every branch that
/// depends on the vendor's settings (IP removed or truncated, anonymized or not, identifier
/// headers hashed, kept or dropped, the user agent coarse or dropped, a route credential).
const VARIANTS: &[(&str, Edit)] = &[
    ("shipped", |_| {}),
    ("forward", |f| {
        f.consent.denied = "forward".into();
        f.consent.unknown = "forward".into();
    }),
    ("ip-none", |f| {
        f.ip.mode = "none".into();
        f.consent.unknown = "forward".into();
        f.identifiers.action = "drop".into();
    }),
    ("truncate-header-keep-ids", |f| {
        f.ip.header = "truncate".into();
        f.identifiers.action = "keep".into();
        f.consent.unknown = "forward".into();
        f.values.user_agent = "drop".into();
        f.headers.forward.push("user-agent".into());
    }),
    ("keep-ids-anonymized", |f| {
        f.identifiers.action = "keep".into();
        f.values.user_agent = "keep".into();
    }),
    // Anonymized requests with the truncated address in a header: the vendor's placeholder.
    ("truncate-header-anonymized", |f| {
        f.ip.header = "truncate".into();
    }),
    // The bench payloads are larger than some vendors take: scrubbed whole here.
    ("unlimited", |f| {
        f.consent.unknown = "forward".into();
        f.limits.max_decoded_bytes = u64::MAX;
        f.limits.max_event_bytes = usize::MAX;
        f.limits.max_events_per_request = u64::MAX;
        for route in &mut f.routes {
            route.limits = Some(rules::file::RouteLimitsFile {
                max_events: Some(u64::MAX),
                max_batch_bytes: Some(u64::MAX),
                max_event_bytes: Some(usize::MAX),
            });
        }
    }),
];

/// Headers added to each request in the second pass: the vendors' own header signals.
const EXTRA_HEADERS: &[(&str, &str)] = &[
    ("sp-anonymous", "*"),
    // base64 of `anon-id-42`.
    ("anonymousid", "YW5vbi1pZC00Mg=="),
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36",
    ),
    ("x-retry-count", "2"),
];

const CLIENTS: &[&str] = &["8.8.8.8", "2001:4860:4860::8888"];

struct Request {
    name: String,
    vendor: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let fixtures = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "tests/fixtures/real-clients".into()),
    );
    let payloads = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/bench-payloads".into()),
    );
    let mut requests = fixture_requests(&fixtures);
    requests.extend(bench_requests(&payloads));
    let show = std::env::var("FINGERPRINT_SHOW").ok();
    for &(variant, edit) in VARIANTS {
        let mut file = rules::read(Some(Path::new("rules.toml"))).expect("rules.toml");
        edit(&mut file);
        for route in &mut file.routes {
            route.token_env = Some("FINGERPRINT_MATOMO_TOKEN".into());
        }
        let set = rules::compile_with(file, &ENV).expect("rules compile");
        for request in &requests {
            let mut hash = Sha256::new();
            for client in CLIENTS {
                let client: IpAddr = client.parse().expect("address");
                for extra in [&[][..], EXTRA_HEADERS] {
                    let text = outcome(&set, request, client, extra);
                    if show
                        .as_ref()
                        .is_some_and(|s| request.name.contains(s.as_str()))
                    {
                        eprintln!("== {variant} {} {client}\n{text}", request.name);
                    }
                    hash.update(text);
                }
            }
            println!("{variant} {} {:x}", request.name, hash.finalize());
        }
    }
}

/// Everything the proxy would do with `request`, as text.
fn outcome(set: &RuleSet, r: &Request, client: IpAddr, extra: &[(&str, &str)]) -> String {
    let Some(route) = set
        .routes
        .iter()
        .find(|route| route.vendor.as_str() == r.vendor)
    else {
        return "no route".into();
    };
    let Ok(method) = http::Method::from_bytes(r.method.as_bytes()) else {
        return "bad method".into();
    };
    let Some(endpoint) = route
        .vendor
        .protocol()
        .endpoint(&method, route.standard_path(&r.path))
    else {
        return "no endpoint".into();
    };
    let mut headers = http::HeaderMap::new();
    let all = r.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    for (name, value) in all.chain(extra.iter().copied()) {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    let prepared = match request::prepare(set, route, endpoint, client, &r.query, &headers) {
        Ok(p) => p,
        Err(e) => return format!("refused before the body: {e:?}"),
    };
    let mut reply = prepared.dropped_reply.clone();
    if reply
        .body
        .starts_with(br#"{"code":200,"events_ingested":0"#)
    {
        // Amplitude's reply holds the time.
        reply.body.truncate(32);
    }
    let ends = prepared.ends_here(!r.body.is_empty());
    let ends_text = match &ends {
        Ok(nothing_left) => nothing_left.to_string(),
        Err(refused) => refused.kind().to_owned(),
    };
    let mut text = format!(
        "query {:?}\nquery report {:?}\nheaders {:?}\nreply {:?}\nnothing left {}\n\
         format {:?} lz64 {} params {:?} {:?} encoding {:?}\nbuffer {}\n",
        prepared.query,
        prepared.query_report,
        prepared.extra_headers,
        reply,
        ends_text,
        prepared.spec.format,
        prepared.spec.lz64,
        prepared.spec.event_params,
        prepared.spec.envelope_params,
        prepared.spec.content_encoding,
        prepared.buffer_body(Some(r.body.len() as u64), 262_144),
    );
    if ends != Ok(false) {
        return text;
    }
    let body = BodyPipeline::new(prepared.spec).and_then(|mut p| {
        let parts = vec![p.push(&r.body)?, p.finish()?];
        Ok((Scrubbed::concat(parts).as_bytes().to_vec(), p.report()))
    });
    match body {
        Ok((sent, report)) => {
            text.push_str(&format!("report {report:?}\nbody "));
            text.push_str(&String::from_utf8_lossy(&sent));
        }
        Err(e) => text.push_str(&format!("refused: {e:?}")),
    }
    text
}

/// Every captured request under `root` (`<vendor>/<sdk>/<file>.json`), sorted by name.
fn fixture_requests(root: &Path) -> Vec<Request> {
    let mut files = Vec::new();
    for vendor in read_dir(root).into_iter().filter(|p| p.is_dir()) {
        for sdk in read_dir(&vendor).into_iter().filter(|p| p.is_dir()) {
            files.extend(
                read_dir(&sdk)
                    .into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "json")),
            );
        }
    }
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("fixture");
            #[allow(clippy::disallowed_types)] // one capture's description, a few KB
            let v: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
            let field = |name: &str| v[name].as_str().unwrap_or_default().to_owned();
            let headers = v["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|pair| {
                    Some((
                        pair.get(0)?.as_str()?.to_owned(),
                        pair.get(1)?.as_str()?.to_owned(),
                    ))
                })
                .collect();
            Request {
                name: path
                    .strip_prefix(root)
                    .unwrap_or(path)
                    .display()
                    .to_string(),
                vendor: field("vendor"),
                method: field("method"),
                path: field("path"),
                query: field("query_string"),
                headers,
                body: base64::engine::general_purpose::STANDARD
                    .decode(field("body_base64"))
                    .expect("fixture body"),
            }
        })
        .collect()
}

/// The bench payloads (`<vendor>-<size>.json`), each posted to its vendor's batch endpoint.
fn bench_requests(dir: &Path) -> Vec<Request> {
    let mut files: Vec<PathBuf> = read_dir(dir)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.ends_with(".json") && !name.contains("manifest")
        })
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            let vendor = name.split('-').next()?.to_owned();
            let target = match vendor.as_str() {
                "segment" => "/v1/batch",
                "mixpanel" => "/track",
                "amplitude" => "/2/httpapi",
                _ => return None,
            };
            Some(Request {
                name: format!("bench/{name}"),
                vendor,
                method: "POST".into(),
                path: target.into(),
                query: String::new(),
                headers: vec![("content-type".into(), "application/json".into())],
                body: std::fs::read(path).ok()?,
            })
        })
        .collect()
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default()
}
