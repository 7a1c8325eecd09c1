//! `scrubproxy check` and `scrubproxy scrub`: the rules' own `[[test]]` cases, and one request
//! run offline, both through exactly what the proxy runs (`request::scrub_offline`). Operators
//! see what a rule change does before it ships.
// What one request sent is read as a document, for its cases' field paths: one request,
// offline, never a batch in flight.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::net::IpAddr;

use crate::request::{self, Offline};
use crate::rules::file::TestFile;
use crate::rules::RuleSet;
use crate::scrub::Report;
use crate::vendor::VendorKind;

/// The client address offline runs pretend to come from (TEST-NET-1, documentation only).
pub const OFFLINE_CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

/// Why an offline run could not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("no route in the rules speaks {0}")]
    NoRoute(&'static str),
    #[error("{vendor} has no ingest endpoint for {method} {path}")]
    NoEndpoint {
        vendor: &'static str,
        method: String,
        path: String,
    },
    #[error("the request is refused: {0}")]
    Refused(#[from] crate::pipeline::PipelineError),
}

/// Runs one request for `vendor` through the rules, offline, from `OFFLINE_CLIENT`.
pub fn scrub_request(
    rules: &RuleSet,
    vendor: VendorKind,
    method: &str,
    path: &str,
    query: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Offline, OfflineError> {
    let request = OfflineRequest {
        vendor,
        method,
        path,
        query,
        headers,
        body,
    };
    scrub_request_from(rules, OFFLINE_CLIENT, &request)
}

/// A request as a tracker sends it, for offline runs.
pub struct OfflineRequest<'a> {
    pub vendor: VendorKind,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// Runs one request through the rules, offline, as if it came from `client`.
pub fn scrub_request_from(
    rules: &RuleSet,
    client: IpAddr,
    request: &OfflineRequest<'_>,
) -> Result<Offline, OfflineError> {
    let OfflineRequest {
        vendor,
        method,
        path,
        query,
        headers,
        body,
    } = *request;
    let route = rules
        .routes
        .iter()
        .find(|r| r.vendor == vendor)
        .ok_or(OfflineError::NoRoute(vendor.as_str()))?;
    let no_endpoint = || OfflineError::NoEndpoint {
        vendor: vendor.as_str(),
        method: method.to_owned(),
        path: path.to_owned(),
    };
    let method = http::Method::from_bytes(method.as_bytes()).map_err(|_| no_endpoint())?;
    let endpoint = route
        .vendor
        .protocol()
        .endpoint(&method, route.standard_path(path))
        .ok_or_else(no_endpoint)?;
    Ok(request::scrub_offline(
        rules, route, endpoint, client, query, headers, body,
    )?)
}

/// The outcome of one `[[test]]` case: `Ok` or the reasons it failed.
pub fn run_test(rules: &RuleSet, case: &TestFile) -> Result<(), Vec<String>> {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &case.headers {
        let parsed = http::HeaderName::from_bytes(name.as_bytes());
        match (parsed, http::HeaderValue::from_str(value)) {
            (Ok(parsed), Ok(value)) => {
                headers.append(parsed, value);
            }
            _ => return Err(vec![format!("header {name:?} is not a valid header")]),
        }
    }
    let client = match &case.client {
        None => OFFLINE_CLIENT,
        Some(text) => match text.parse() {
            Ok(ip) => ip,
            Err(_) => return Err(vec![format!("client {text:?} is not an IP address")]),
        },
    };
    let request = OfflineRequest {
        vendor: case.vendor,
        method: &case.method,
        path: &case.path,
        query: &case.query,
        headers: &headers,
        body: case.body.as_bytes(),
    };
    let outcome = scrub_request_from(rules, client, &request);
    let sent = match outcome {
        Ok(Offline { body: None, .. }) | Err(OfflineError::Refused(_)) if case.refused => {
            return Ok(())
        }
        Ok(offline) if !case.refused => offline,
        Ok(_) => {
            return Err(vec![
                "expected the request to be refused, but it is sent".into()
            ])
        }
        Err(e) => return Err(vec![e.to_string()]),
    };
    let text = format!(
        "{}\n{}",
        sent.query,
        String::from_utf8_lossy(sent.body.as_deref().unwrap_or_default())
    );
    let mut failures = field_failures(case, &sent_document(&sent));
    for needle in &case.absent {
        if text.contains(needle.as_str()) {
            failures.push(format!("{needle:?} is still there"));
        }
    }
    for needle in &case.present {
        if !text.contains(needle.as_str()) {
            failures.push(format!("{needle:?} is missing"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

/// What was sent as one document for field paths: `{"query": {name: value}, "body": ...}`.
/// A JSON body is itself; a form is its pairs, with a `data` pair holding JSON parsed.
pub fn sent_document(sent: &Offline) -> serde_json::Value {
    let body = sent.body.as_deref().unwrap_or_default();
    let body = serde_json::from_slice(body).unwrap_or_else(|_| form_document(body));
    serde_json::json!({ "query": form_document(sent.query.as_bytes()), "body": body })
}

fn form_document(bytes: &[u8]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for pair in bytes.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let decode = |raw: &[u8]| crate::decode::form_decoded_text(raw).unwrap_or_default();
        let value = decode(value);
        let value = serde_json::from_str(&value)
            .ok()
            .filter(|v: &serde_json::Value| v.is_object() || v.is_array())
            .unwrap_or(serde_json::Value::String(value));
        out.insert(decode(name), value);
    }
    serde_json::Value::Object(out)
}

/// Every value at `path` (dotted; `*` matches any key or element).
pub fn lookup<'a>(doc: &'a serde_json::Value, path: &str) -> Vec<&'a serde_json::Value> {
    let mut found = vec![doc];
    for step in path.split('.') {
        found = found
            .into_iter()
            .flat_map(|v| -> Vec<&serde_json::Value> {
                match (v, step) {
                    (serde_json::Value::Object(map), "*") => map.values().collect(),
                    (serde_json::Value::Array(items), "*") => items.iter().collect(),
                    (serde_json::Value::Object(map), key) => map.get(key).into_iter().collect(),
                    (serde_json::Value::Array(items), index) => index
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| items.get(i))
                        .into_iter()
                        .collect(),
                    _ => Vec::new(),
                }
            })
            .collect();
    }
    found
}

/// The field expectations a case failed. Values are the case's own, never the request's.
fn field_failures(case: &TestFile, doc: &serde_json::Value) -> Vec<String> {
    let mut failures = Vec::new();
    for path in &case.fields_absent {
        if !lookup(doc, path).is_empty() {
            failures.push(format!("field {path} is still sent"));
        }
    }
    for path in &case.fields_present {
        if lookup(doc, path).is_empty() {
            failures.push(format!("field {path} is not sent"));
        }
    }
    for (path, want) in &case.equal {
        let found = lookup(doc, path);
        if found.is_empty() {
            failures.push(format!("field {path} is not sent (expected {want})"));
        } else if found.iter().any(|v| *v != want) {
            failures.push(format!("field {path} is not {want}"));
        }
    }
    failures
}

/// One line per rule and action with a count: what the rules did, never to which values.
pub fn summary(report: &Report) -> String {
    let mut out = format!(
        "events: {} forwarded ({} anonymized), {} dropped by rule, {} for consent, {} opted out\n",
        report.events,
        report.events_anonymized,
        report.events_dropped,
        report.events_dropped_consent,
        report.events_dropped_opt_out
    );
    for (rule, outcome, n) in report.nonzero() {
        out.push_str(&format!(
            "{:<18} {:<9} {n}\n",
            rule.as_str(),
            outcome.as_str()
        ));
    }
    out
}
