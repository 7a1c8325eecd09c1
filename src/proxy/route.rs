//! Which vendor endpoint a request is for, or why none is.

use http::header::ORIGIN;
use http::{Method, Request};
use hyper::body::Incoming;

use super::NO_VENDOR;
use crate::metrics::VendorLabel;
use crate::reply;
use crate::rules::{Route, RuleSet};
use crate::vendor::Endpoint;

pub(super) enum Routed<'a> {
    Ingest(&'a Route, Endpoint, String),
    Preflight(VendorLabel),
    Forbidden(VendorLabel),
    NotFound(VendorLabel),
    /// A path the vendor could resolve to another endpoint than the one routed.
    BadPath,
}

pub(super) fn route<'a>(rules: &'a RuleSet, req: &Request<Incoming>) -> Routed<'a> {
    if !is_plain_path(req.uri().path()) {
        return Routed::BadPath;
    }
    let Some((route, rest)) = rules.route(req.uri().path()) else {
        return Routed::NotFound(NO_VENDOR);
    };
    let vendor = VendorLabel::from(route.vendor);
    let protocol = route.vendor.protocol();
    if req.method() == Method::OPTIONS {
        let wanted = req
            .headers()
            .get("access-control-request-method")
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            .unwrap_or(Method::POST);
        return match protocol.endpoint(&wanted, route.standard_path(rest)) {
            Some(_) if req.headers().contains_key(ORIGIN) => Routed::Preflight(vendor),
            _ => Routed::NotFound(vendor),
        };
    }
    if !reply::origin_allowed(&rules.cors, req.headers()) {
        return Routed::Forbidden(vendor);
    }
    match protocol.endpoint(req.method(), route.standard_path(rest)) {
        Some(endpoint) => Routed::Ingest(route, endpoint, rest.to_owned()),
        None => Routed::NotFound(vendor),
    }
}

/// Whether `path` names the same resource at the vendor as it does here. The path after the
/// route prefix goes upstream as it came, so `/posthog/static/../e` would be routed as a
/// pass-through asset and resolved by the vendor (or a CDN before it) as the capture
/// endpoint, with its payload unscrubbed. A `;` starts path parameters on servers that
/// honour them (`/static/..;/e` is `/e` to them). No SDK sends dot segments, backslashes,
/// semicolons or percent-encoded dots, separators and semicolons, so they are refused rather
/// than normalised.
fn is_plain_path(path: &str) -> bool {
    let encoded_separator = path.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                &[w[1], w[2].to_ascii_lowercase()],
                b"2e" | b"2f" | b"5c" | b"3b"
            )
    });
    !encoded_separator
        && !path.contains(['\\', ';'])
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

#[cfg(test)]
mod tests {
    use super::is_plain_path;

    #[test]
    fn paths_that_could_name_another_endpoint_are_not_plain() {
        for bad in [
            "/posthog/static/../e/",
            "/posthog/static/..",
            "/segment/./v1/t",
            "/posthog/static/%2e%2e/e",
            "/posthog/static/%2E./e",
            "/posthog/static/..%2fe",
            "/posthog/static/..%2Fe",
            "/posthog/static/..%5ce",
            "/posthog/static/..\\e",
            "/posthog/static/..;/e",
            "/posthog/static/array.js;/../../e",
            "/posthog/api/surveys;jsessionid=1",
            "/posthog/static/..%3b/e",
            "/posthog/static/..%3B/e",
        ] {
            assert!(!is_plain_path(bad), "{bad}");
        }
        for good in [
            "/posthog/i/v0/e/",
            "/snowplow/com.snowplowanalytics.snowplow/tp2",
            "/matomo/matomo.php",
            "/segment//v1/t",
            "/posthog/static/array.js",
            "/plausible/api/event%20x",
            "/.well-known/x",
        ] {
            assert!(is_plain_path(good), "{good}");
        }
    }
}
