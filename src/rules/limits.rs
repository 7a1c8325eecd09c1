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

/// A request's scrubbed output may be at most this many times its decoded input (plus
/// `OUTPUT_ALLOWANCE_PER_EVENT` per event and `OUTPUT_ALLOWANCE_BYTES`): the proxy never
/// amplifies a small request into a large one toward the vendor.
pub const DEFAULT_MAX_OUTPUT_RATIO: f64 = 3.0;
/// Events in one request, where the vendor publishes no lower limit.
pub const DEFAULT_MAX_EVENTS_PER_REQUEST: u64 = 10_000;
/// Bodies that can only be decoded whole (lz-string, Matomo bulk and form bodies of query
/// events) are held up to this size, as sent and again once decoded.
pub const DEFAULT_MAX_HELD_BYTES: u64 = 4 << 20;
/// Bytes all requests together may hold at once (bodies being buffered, held envelopes,
/// events cut across chunks); beyond it new requests get 503 with Retry-After.
pub const DEFAULT_MEMORY_BUDGET_BYTES: u64 = 256 << 20;

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
    pub max_output_ratio: f64,
    pub max_events_per_request: u64,
    pub max_held_bytes: u64,
    pub memory_budget_bytes: u64,
}

/// What one request may carry and make, as its route sets it: the vendor's published limits
/// (or the route's own), and the bounds on what the proxy builds and sends for it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestLimits {
    /// Events in the request, removed ones included.
    pub max_events: u64,
    /// The body after content decoding, as the vendor would measure it.
    pub max_batch_bytes: u64,
    /// See `DEFAULT_MAX_OUTPUT_RATIO`.
    pub max_output_ratio: f64,
    /// See `DEFAULT_MAX_HELD_BYTES`.
    pub max_held_bytes: u64,
}

/// Growth the output ratio leaves room for in each event: the members the proxy writes (the
/// vendor's IP field, the coarse place) and pseudonyms longer than the ids they replace.
pub const OUTPUT_ALLOWANCE_PER_EVENT: u64 = 1024;
/// Growth allowed for the request as a whole (an envelope's members, a query's parameters).
pub const OUTPUT_ALLOWANCE_BYTES: u64 = 16 << 10;

impl RequestLimits {
    /// The most a request with `decoded_in` bytes of input and `events` events may send on.
    pub fn output_bound(&self, decoded_in: u64, events: u64) -> u64 {
        let scaled = (decoded_in as f64 * self.max_output_ratio) as u64;
        scaled
            .saturating_add(events.saturating_mul(OUTPUT_ALLOWANCE_PER_EVENT))
            .saturating_add(OUTPUT_ALLOWANCE_BYTES)
    }
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_events: DEFAULT_MAX_EVENTS_PER_REQUEST,
            max_batch_bytes: DEFAULT_MAX_DECODED_BYTES,
            max_output_ratio: DEFAULT_MAX_OUTPUT_RATIO,
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
        }
    }
}
