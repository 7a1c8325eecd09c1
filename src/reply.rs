//! Responses the proxy makes itself (a `Refusal`'s answer, CORS preflights) and the CORS headers
//! added to every answer. Refusals carry `scrubproxy-error: <kind>` and a JSON body with the
//! kind and a fixed message: never a byte of the request.

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, CONTENT_TYPE, ORIGIN, RETRY_AFTER, VARY, WWW_AUTHENTICATE,
};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::refusal::Refusal;
use crate::rules::CorsPolicy;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type of every response to trackers: the vendor's streamed body or our own bytes.
pub type ResponseBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// The header naming what went wrong when the proxy answers instead of the vendor.
pub const ERROR_HEADER: &str = "scrubproxy-error";

pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// The answer for a refusal: its status, `scrubproxy-error: <kind>`, a JSON body with the
/// kind and its fixed message, and `Retry-After` where the tracker should retry.
pub fn refusal(refusal: &Refusal) -> Response<ResponseBody> {
    let kind = refusal.kind();
    // Two fixed members, built here.
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    let body = serde_json::json!({ "error": kind, "message": refusal.message() }).to_string();
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ERROR_HEADER, HeaderValue::from_static(kind));
    if let Some(seconds) = refusal.retry_after() {
        headers.insert(RETRY_AFTER, HeaderValue::from_static(seconds));
    }
    if *refusal == Refusal::Unauthorized {
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// The answer to a CORS preflight for a known endpoint.
pub fn preflight(cors: &CorsPolicy, request: &HeaderMap) -> Response<ResponseBody> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    add_cors(resp.headers_mut(), cors, request.get(ORIGIN).cloned());
    let h = resp.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    if let Ok(v) = HeaderValue::from_str(&allowed_request_headers(cors, request)) {
        h.insert("access-control-allow-headers", v);
    }
    h.insert(
        "access-control-max-age",
        HeaderValue::from(cors.max_age_seconds),
    );
    resp
}

/// The configured header list, plus any `Rsa-*` headers the preflight asks for (RudderStack
/// names its retry headers by attempt).
fn allowed_request_headers(cors: &CorsPolicy, request: &HeaderMap) -> String {
    let mut allowed = cors.allowed_headers.clone();
    let asked = request
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for name in asked.split(',').map(str::trim) {
        let is_rsa = name.len() > 4 && name[..4].eq_ignore_ascii_case("rsa-");
        if is_rsa && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
            allowed.push_str(", ");
            allowed.push_str(name);
        }
    }
    allowed
}

/// Whether a request's Origin (if any) may use the proxy.
pub fn origin_allowed(cors: &CorsPolicy, request: &HeaderMap) -> bool {
    allowed(cors, request.get(ORIGIN))
}

fn allowed(cors: &CorsPolicy, origin: Option<&HeaderValue>) -> bool {
    match (&cors.allowed_origins, origin) {
        (Some(list), Some(origin)) => list.iter().any(|o| o.as_bytes() == origin.as_bytes()),
        _ => true,
    }
}

/// Echoes an allowed Origin with credentials: Mixpanel's XHRs send cookies, so `*` would fail.
/// `origin` is the request's Origin header.
pub fn add_cors(headers: &mut HeaderMap, cors: &CorsPolicy, origin: Option<HeaderValue>) {
    let Some(origin) = origin else {
        return;
    };
    if !allowed(cors, Some(&origin)) {
        return;
    }
    headers.insert("access-control-allow-origin", origin);
    headers.insert(
        "access-control-allow-credentials",
        HeaderValue::from_static("true"),
    );
    if !varies_by_origin(headers) {
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
}

/// Whether a `Vary` already names Origin (ours on a preflight, or the vendor's own): said
/// twice, caches and audits read it as a malformed answer.
fn varies_by_origin(headers: &HeaderMap) -> bool {
    headers.get_all(VARY).iter().any(|value| {
        value.as_bytes().split(|&b| b == b',').any(|name| {
            name.trim_ascii().eq_ignore_ascii_case(b"origin") || name.trim_ascii() == b"*"
        })
    })
}
