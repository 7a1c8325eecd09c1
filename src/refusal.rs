//! Every answer the proxy makes itself instead of the vendor's: one enum. A refusal's
//! `kind()` is the `scrubproxy-error` header, the `error` member of the JSON body and the
//! `reason` label of `scrubproxy_rejected_requests_total`; `status()` the HTTP status;
//! `message()` a fixed sentence built from facts (limits, never payload bytes);
//! `reply::refusal` the one place a response is built from it. README's "Refusals" table
//! lists every kind with what a tracker should do (checked by `tests/it/tidy.rs`).

use crate::decode::DecodeError;
use crate::forward::ForwardError;
use crate::pipeline::PipelineError;
use crate::scrub::ScrubError;

/// An answer the proxy gives itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// No route or vendor endpoint at this path (or this method).
    UnknownRoute,
    /// A dot segment, a backslash, `;` or an encoded separator in the path.
    BadPath,
    /// The request's Origin is not on `[cors] allowed_origins`.
    OriginNotAllowed,
    /// The target cannot be joined to the route's upstream.
    BadTarget,
    /// `max_concurrent_requests` requests are in flight.
    Overloaded,
    /// Requests hold `memory_budget_bytes` between them.
    MemoryBudget,
    /// The body as sent is over `max_body_bytes`.
    BodyTooLarge,
    /// The body paused longer than `body_read_timeout_seconds`.
    BodyReadTimeout,
    /// The tracker's body ended with an error.
    ClientBodyError,
    /// The body (or the query carrying the payload) could not be scrubbed, or is over a
    /// limit.
    Body(PipelineError),
    /// The vendor could not be reached or did not answer usably.
    Upstream(ForwardError),
    /// The admin port: a method its path does not take.
    MethodNotAllowed { allowed: &'static str },
    /// The admin port: starting or stopping.
    NotReady,
    /// The admin port: no such path.
    UnknownAdminPath,
    /// The admin port: `/admin/*` from a non-loopback peer with no admin token configured.
    AdminTokenRequired,
    /// The admin port: `/admin/*` without the configured bearer token.
    Unauthorized,
}

impl From<PipelineError> for Refusal {
    fn from(e: PipelineError) -> Self {
        Refusal::Body(e)
    }
}

impl From<ForwardError> for Refusal {
    fn from(e: ForwardError) -> Self {
        Refusal::Upstream(e)
    }
}

impl Refusal {
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::UnknownRoute => "unknown_route",
            Refusal::BadPath => "bad_path",
            Refusal::OriginNotAllowed => "origin_not_allowed",
            Refusal::BadTarget => "bad_target",
            Refusal::Overloaded => "overloaded",
            Refusal::MemoryBudget => "memory_budget",
            Refusal::BodyTooLarge => "body_too_large",
            Refusal::BodyReadTimeout => "body_read_timeout",
            Refusal::ClientBodyError => "client_body_error",
            Refusal::Body(e) => e.kind(),
            Refusal::Upstream(e) => e.kind(),
            Refusal::MethodNotAllowed { .. } => "method_not_allowed",
            Refusal::NotReady => "not_ready",
            Refusal::UnknownAdminPath => "unknown_admin_path",
            Refusal::AdminTokenRequired => "admin_token_required",
            Refusal::Unauthorized => "unauthorized",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Refusal::UnknownRoute | Refusal::UnknownAdminPath => 404,
            Refusal::BadPath | Refusal::BadTarget | Refusal::ClientBodyError => 400,
            Refusal::OriginNotAllowed | Refusal::AdminTokenRequired => 403,
            Refusal::Unauthorized => 401,
            Refusal::Overloaded | Refusal::MemoryBudget | Refusal::NotReady => 503,
            Refusal::BodyTooLarge => 413,
            Refusal::BodyReadTimeout => 408,
            Refusal::MethodNotAllowed { .. } => 405,
            Refusal::Body(e) => e.status(),
            Refusal::Upstream(e) => e.status(),
        }
    }

    /// A fixed sentence for the body: limits and facts, never request bytes.
    pub fn message(&self) -> String {
        let fixed = match self {
            Refusal::UnknownRoute => "no ingest endpoint is configured at this path",
            Refusal::BadPath => {
                "the path has a dot segment, a backslash, a semicolon or an encoded separator"
            }
            Refusal::OriginNotAllowed => "this origin may not send events through the proxy",
            Refusal::BadTarget => "the request target cannot be forwarded",
            Refusal::Overloaded => "the proxy is at its request limit",
            Refusal::MemoryBudget => "the proxy holds as much request data as it may; retry later",
            Refusal::BodyTooLarge => "the request body exceeds the configured limit",
            Refusal::BodyReadTimeout => "the request body did not arrive in time",
            Refusal::ClientBodyError => "the request body ended with an error",
            Refusal::Body(e) => return e.to_string(),
            Refusal::Upstream(e) => return e.to_string(),
            Refusal::MethodNotAllowed { allowed } => return format!("this path answers {allowed}"),
            Refusal::NotReady => "the proxy is starting or stopping",
            Refusal::UnknownAdminPath => {
                "admin paths: /metrics, /healthz, /readyz, /admin/rules, /admin/reload"
            }
            Refusal::AdminTokenRequired => {
                "admin endpoints answer loopback peers only unless an admin token is configured"
            }
            Refusal::Unauthorized => "admin endpoints need Authorization: Bearer <token>",
        };
        fixed.to_owned()
    }

    /// The `Retry-After` seconds the answer carries, for the refusals a tracker should retry.
    pub fn retry_after(&self) -> Option<&'static str> {
        match self {
            Refusal::Overloaded | Refusal::MemoryBudget => Some("1"),
            Refusal::Upstream(_) | Refusal::NotReady => Some("5"),
            _ => None,
        }
    }

    /// One refusal of each kind, in README's order: the list every kind is checked against.
    pub fn every_kind() -> Vec<Refusal> {
        use DecodeError as D;
        use PipelineError as P;
        use ScrubError as S;
        let mut all = vec![
            Refusal::UnknownRoute,
            Refusal::BadPath,
            Refusal::OriginNotAllowed,
            Refusal::BadTarget,
            Refusal::Overloaded,
            Refusal::MemoryBudget,
            Refusal::BodyTooLarge,
            Refusal::BodyReadTimeout,
            Refusal::ClientBodyError,
        ];
        let scrub = [
            S::MalformedJson,
            S::InvalidUtf8,
            S::EmptyBody,
            S::Truncated,
            S::UnexpectedShape,
            S::EventTooLarge { limit: 0 },
            S::TooDeep { limit: 0 },
            S::StringTooLong { limit: 0 },
            S::InvalidEvent,
        ];
        all.extend(scrub.into_iter().map(|e| Refusal::Body(P::Scrub(e))));
        let decode = [
            D::BadGzip,
            D::BadDeflate,
            D::TruncatedCompression,
            D::DecodedTooLarge { limit: 0 },
            D::BadPercentEscape,
            D::TruncatedPercentEscape,
            D::BadBase64,
            D::BadLzString,
            // Internal: an encoder failing, or a codec used after its end. Never expected.
            D::CompressFailed,
            D::UsedAfterFinish,
        ];
        all.extend(decode.into_iter().map(|e| Refusal::Body(P::Decode(e))));
        let pipeline = [
            P::UnsupportedEncoding,
            P::MissingData,
            P::FormFieldTooLarge { limit: 0 },
            P::UnexpectedBody,
            P::TooManyEvents { limit: 0 },
            P::BatchTooLarge { limit: 0 },
            P::OutputTooLarge { ratio: 0.0 },
            P::QueryEventRemovedWithBody,
        ];
        all.extend(pipeline.into_iter().map(Refusal::Body));
        let upstream = [
            ForwardError::Connect,
            ForwardError::Timeout,
            ForwardError::Io,
            ForwardError::Status5xx,
            ForwardError::Redirect,
            ForwardError::AnsweredEarly,
        ];
        all.extend(upstream.into_iter().map(Refusal::Upstream));
        all.extend([
            Refusal::MethodNotAllowed { allowed: "GET" },
            Refusal::NotReady,
            Refusal::UnknownAdminPath,
            Refusal::AdminTokenRequired,
            Refusal::Unauthorized,
        ]);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_unique_and_a_client_or_retryable_status() {
        let all = Refusal::every_kind();
        let mut kinds: Vec<&str> = all.iter().map(Refusal::kind).collect();
        kinds.sort_unstable();
        let before = kinds.len();
        kinds.dedup();
        assert_eq!(kinds.len(), before, "a kind is used twice");
        for refusal in &all {
            let status = refusal.status();
            assert!((400..600).contains(&status), "{}: {status}", refusal.kind());
            // What a tracker should retry says when; its own faults never ask for a retry.
            let retryable = matches!(status, 502..=504);
            assert_eq!(
                refusal.retry_after().is_some(),
                retryable,
                "{}",
                refusal.kind()
            );
        }
    }
}
