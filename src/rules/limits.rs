//! Every limit the proxy enforces, as a named default; `[limits]` in rules.toml overrides each.

/// Largest request body accepted as sent (compressed or not).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 << 20;
/// Largest body after content decoding: the gzip-bomb guard.
pub const DEFAULT_MAX_DECODED_BYTES: u64 = 64 << 20;
/// Bodies announced smaller than this are scrubbed whole and sent with a Content-Length
/// (most tracker requests; some upstreams dislike chunked requests). Larger ones stream.
pub const DEFAULT_BUFFER_BELOW_BYTES: u64 = 256 << 10;
/// The most a tracker's HTTP/1.1 connection reads ahead into memory at once: the HTTP server's
/// default. Request headers must fit in it too.
pub const DEFAULT_READ_BUFFER_BYTES: usize = 8192 + 4096 * 100;
/// The most `read_buffer_bytes` accepted: it also bounds a request's head, which a client
/// could otherwise make the proxy hold that large.
pub const MAX_READ_BUFFER_BYTES: usize = 16 << 20;
/// The least `read_buffer_bytes` accepted: room for the largest request headers trackers send
/// (long cookies, Matomo and GA4 payloads in the query string).
pub const MIN_READ_BUFFER_BYTES: usize = 16 << 10;
/// How long the vendor has to answer before the tracker gets a 504.
pub const DEFAULT_UPSTREAM_TIMEOUT_SECONDS: f64 = 15.0;
/// How long a tracker may take between body chunks before its request is abandoned.
pub const DEFAULT_BODY_READ_TIMEOUT_SECONDS: f64 = 15.0;
/// How long a client may take to send a request's headers, and how long an idle keep-alive
/// connection stays open waiting for the next request (the slow-loris guard).
pub const DEFAULT_HEADER_READ_TIMEOUT_SECONDS: f64 = 30.0;
/// Idle vendor connections kept per host.
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 32;
/// How long an idle vendor connection is kept.
pub const DEFAULT_POOL_IDLE_TIMEOUT_SECONDS: f64 = 60.0;
/// How long shutdown waits for requests in flight (Kubernetes' grace period is 30 s).
pub const DEFAULT_SHUTDOWN_DRAIN_SECONDS: f64 = 20.0;

/// Requests handled at once; beyond it the proxy answers 503 with Retry-After instead of
/// queueing without bound (memory stays bounded under a burst).
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1024;

/// The compiled limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_body_bytes: u64,
    pub max_decoded_bytes: u64,
    pub core: crate::scrub::CoreLimits,
    pub buffer_below_bytes: u64,
    pub read_buffer_bytes: usize,
    pub upstream_timeout: std::time::Duration,
    pub body_read_timeout: std::time::Duration,
    pub header_read_timeout: std::time::Duration,
    pub max_concurrent_requests: usize,
    pub shutdown_drain: std::time::Duration,
}
