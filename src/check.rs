//! `scrubproxy check` and `scrubproxy scrub`: the rules' own `[[test]]` cases, and one request
//! run offline, both through exactly what the proxy runs (`request::scrub_offline`). Operators
//! see what a rule change does before it ships.

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

/// Runs one request for `vendor` through the rules, offline.
pub fn scrub_request(
    rules: &RuleSet,
    vendor: VendorKind,
    method: &str,
    path: &str,
    query: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Offline, OfflineError> {
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
        rules,
        route,
        endpoint,
        OFFLINE_CLIENT,
        query,
        headers,
        body,
    )?)
}

/// The outcome of one `[[test]]` case: `Ok` or the reasons it failed.
pub fn run_test(rules: &RuleSet, case: &TestFile) -> Result<(), Vec<String>> {
    let outcome = scrub_request(
        rules,
        case.vendor,
        &case.method,
        &case.path,
        &case.query,
        &http::HeaderMap::new(),
        case.body.as_bytes(),
    );
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
    let mut failures = Vec::new();
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

/// One line per rule and action with a count: what the rules did, never to which values.
pub fn summary(report: &Report) -> String {
    let mut out = format!(
        "events: {} forwarded, {} dropped\n",
        report.events, report.events_dropped
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
