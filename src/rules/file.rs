//! The serde mirror of `rules.toml`: plain data with defaults, no meaning yet.
//! `compile` turns it into a `RuleSet`; nothing else reads these types.
// Rules loading: a route's few `[values]` settings and a test case's expected values are
// small documents, read once per load.
#![allow(clippy::disallowed_types)]

use serde::{Deserialize, Serialize};

use crate::vendor::VendorKind;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    #[serde(default)]
    pub listen: ListenFile,
    #[serde(default)]
    pub upstream: UpstreamFile,
    #[serde(default)]
    pub limits: LimitsFile,
    #[serde(default)]
    pub client_ip: ClientIpFile,
    #[serde(default)]
    pub ip: IpFile,
    #[serde(default)]
    pub identifiers: IdentifiersFile,
    #[serde(default)]
    pub properties: PropertiesFile,
    #[serde(default)]
    pub events: EventsFile,
    #[serde(default)]
    pub values: ValuesFile,
    #[serde(default)]
    pub headers: HeadersFile,
    #[serde(default)]
    pub cors: CorsFile,
    #[serde(default)]
    pub geo: GeoFile,
    #[serde(default)]
    pub consent: ConsentFile,
    #[serde(default)]
    pub admin: AdminFile,
    #[serde(default)]
    pub log: LogFile,
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteFile>,
    /// Inline cases `scrubproxy check` runs: a request and what its scrubbed form must show.
    #[serde(default, rename = "test")]
    pub tests: Vec<TestFile>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    pub name: String,
    pub vendor: VendorKind,
    /// The vendor's path (after the route prefix), such as `/v1/t` or `/track`.
    pub path: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub body: String,
    /// Request headers as the tracker sends them (`cookie`, `sec-gpc`, ...).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// The client address the request comes from (geo lookups); 192.0.2.1 if absent.
    #[serde(default)]
    pub client: Option<String>,
    /// Text that must not appear in the scrubbed query or body.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Text that must appear in the scrubbed query or body.
    #[serde(default)]
    pub present: Vec<String>,
    /// Fields that must not be in what is sent: dotted paths into `query.<name>` or
    /// `body.<path>` (array elements by index, `*` for any key or element).
    #[serde(default)]
    pub fields_absent: Vec<String>,
    /// Fields that must be in what is sent (same paths).
    #[serde(default)]
    pub fields_present: Vec<String>,
    /// Fields that must be sent with exactly this value (every match of the path).
    #[serde(default)]
    pub equal: std::collections::BTreeMap<String, serde_json::Value>,
    /// The request must be refused (4xx) or answered without sending (all events dropped).
    #[serde(default)]
    pub refused: bool,
}

fn default_method() -> String {
    "POST".into()
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenFile {
    pub address: String,
    pub admin: String,
    /// Threads serving trackers, each with its own event loop and vendor connections;
    /// 0 is one per CPU the process may use (its cgroup quota included).
    pub workers: usize,
    /// PEM certificate chain for TLS on the trackers' port (with `tls_key`); HTTP/2 by ALPN.
    pub tls_cert: Option<String>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<String>,
}

impl Default for ListenFile {
    fn default() -> Self {
        ListenFile {
            address: "0.0.0.0:8080".into(),
            admin: "127.0.0.1:9090".into(),
            workers: 0,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// How the proxy connects to vendors.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamFile {
    /// Extra PEM roots trusted beside the public (webpki) ones: a private collector's CA, or a
    /// test vendor's.
    pub ca_file: Option<String>,
    /// `false` accepts any certificate from vendors: for a test collector only, and loudly
    /// logged at every load.
    pub tls_verify: bool,
    /// Idle connections kept open per vendor host by each worker, ready for the next request.
    pub pool_max_idle_per_host: usize,
    /// How long an idle vendor connection is kept.
    pub pool_idle_timeout_seconds: f64,
}

impl Default for UpstreamFile {
    fn default() -> Self {
        use crate::rules::limits::*;
        UpstreamFile {
            ca_file: None,
            tls_verify: true,
            pool_max_idle_per_host: DEFAULT_POOL_MAX_IDLE_PER_HOST,
            pool_idle_timeout_seconds: DEFAULT_POOL_IDLE_TIMEOUT_SECONDS,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsFile {
    pub max_body_bytes: u64,
    pub max_decoded_bytes: u64,
    pub max_event_bytes: usize,
    pub max_depth: usize,
    pub max_string_bytes: usize,
    pub buffer_below_bytes: u64,
    pub read_buffer_bytes: usize,
    pub upstream_timeout_seconds: f64,
    pub body_read_timeout_seconds: f64,
    pub header_read_timeout_seconds: f64,
    pub max_concurrent_requests: usize,
    pub shutdown_drain_seconds: f64,
    pub max_output_ratio: f64,
    pub max_events_per_request: u64,
    pub max_held_bytes: u64,
    pub memory_budget_bytes: u64,
}

impl Default for LimitsFile {
    fn default() -> Self {
        use crate::rules::limits::*;
        LimitsFile {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_decoded_bytes: DEFAULT_MAX_DECODED_BYTES,
            max_event_bytes: crate::scrub::DEFAULT_MAX_EVENT_BYTES,
            max_depth: crate::scrub::DEFAULT_MAX_DEPTH,
            max_string_bytes: crate::scrub::DEFAULT_MAX_STRING_BYTES,
            buffer_below_bytes: DEFAULT_BUFFER_BELOW_BYTES,
            read_buffer_bytes: DEFAULT_READ_BUFFER_BYTES,
            upstream_timeout_seconds: DEFAULT_UPSTREAM_TIMEOUT_SECONDS,
            body_read_timeout_seconds: DEFAULT_BODY_READ_TIMEOUT_SECONDS,
            header_read_timeout_seconds: DEFAULT_HEADER_READ_TIMEOUT_SECONDS,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            shutdown_drain_seconds: DEFAULT_SHUTDOWN_DRAIN_SECONDS,
            max_output_ratio: DEFAULT_MAX_OUTPUT_RATIO,
            max_events_per_request: DEFAULT_MAX_EVENTS_PER_REQUEST,
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET_BYTES,
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientIpFile {
    /// Peers (CIDRs or addresses) whose forwarding headers are believed.
    pub trusted_proxies: Vec<String>,
    /// `x-forwarded-for` (default) or `forwarded`.
    pub header: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpFile {
    /// `truncate` or `none`.
    pub mode: String,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    /// Truncate string values that are entirely an IP address, wherever they are.
    pub scan_values: bool,
    /// For vendors that take the visitor's address from a header (Plausible): `truncate`, or
    /// `pseudonym` (a per-visitor, per-day address that keeps visitors apart, locates nobody).
    pub header: String,
}

impl Default for IpFile {
    fn default() -> Self {
        IpFile {
            mode: "truncate".into(),
            ipv4_prefix: crate::scrub::ip::DEFAULT_IPV4_PREFIX,
            ipv6_prefix: crate::scrub::ip::DEFAULT_IPV6_PREFIX,
            scan_values: true,
            header: "pseudonym".into(),
        }
    }
}

/// The admin port's endpoints that reveal or change settings (`/admin/*`).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminFile {
    /// File holding the bearer token they ask for (a Secret mount); without it,
    /// `SCRUBPROXY_ADMIN_TOKEN`; without either, they answer loopback peers only.
    pub token_file: Option<String>,
}

/// The proxy's own log lines.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogFile {
    /// `text` (colour only on a terminal) or `json` (one object per line).
    pub format: String,
}

impl Default for LogFile {
    fn default() -> Self {
        LogFile {
            format: "text".into(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentifiersFile {
    /// `keep`, `drop` or `hash`.
    pub action: String,
    /// Environment variable holding the HMAC key.
    pub key_env: Option<String>,
    /// File holding the HMAC key (Kubernetes Secret mounts).
    pub key_file: Option<String>,
}

impl Default for IdentifiersFile {
    fn default() -> Self {
        IdentifiersFile {
            action: "hash".into(),
            key_env: Some(crate::rules::DEFAULT_KEY_ENV.into()),
            key_file: None,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PropertiesFile {
    /// `deny` or `allow`.
    pub mode: String,
    pub deny: Vec<String>,
    pub allow: Vec<String>,
}

impl Default for PropertiesFile {
    fn default() -> Self {
        PropertiesFile {
            mode: "deny".into(),
            deny: crate::rules::DEFAULT_DENY
                .iter()
                .map(|s| s.to_string())
                .collect(),
            allow: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsFile {
    /// Event names (exact) whose events are removed whole before anything is forwarded.
    pub drop: Vec<String>,
}

/// One operator-defined detector: a regular expression or a list of literal strings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetectorFile {
    pub name: String,
    /// A regular expression (Rust `regex` syntax) over the value's text.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Literal strings, matched without regard to ASCII case.
    #[serde(default)]
    pub literals: Vec<String>,
    /// `redact`, `hash`, `mask`, `drop` or `keep`, as for the built-in detectors.
    #[serde(default = "default_custom_action")]
    pub action: String,
    /// What `redact` writes; `[<name>]` when absent.
    #[serde(default)]
    pub marker: Option<String>,
}

fn default_custom_action() -> String {
    "redact".into()
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValuesFile {
    /// Every detector's action: `redact` (its marker), `hash` (keyed pseudonym), `mask`
    /// (all but the last `mask_keep_last` characters as `*`), `drop` (the member) or `keep`.
    pub email: String,
    pub email_marker: String,
    /// Street addresses inside any text value: "redact" or "keep".
    pub street_address: String,
    pub street_address_marker: String,
    /// International phone numbers (`+1 415 555 0100`) inside any text value.
    pub phone: String,
    pub phone_marker: String,
    /// Also national formats without `+`: `(415) 555-0100`, `415-555-0100`, `030 1234567`.
    pub phone_national: bool,
    /// Payment card numbers (Luhn-valid) inside any text value.
    pub card: String,
    pub card_marker: String,
    /// URL fragments: `parameters` (parameter-like fragments get the allow-list, anchors
    /// stay) or `drop` (every fragment of a URL goes).
    pub url_fragments: String,
    /// Referrer fields: `origin` (`https://www.google.com/`) or `full` (the value rules only).
    pub referrer: String,
    /// Characters a `mask` action leaves readable at the end of a match.
    pub mask_keep_last: usize,
    /// The operator's own detectors (`[[values.custom]]`).
    pub custom: Vec<CustomDetectorFile>,
    /// IBANs (mod-97 valid), US social security numbers, bearer tokens and JWTs in text.
    pub iban: String,
    pub iban_marker: String,
    pub ssn: String,
    pub ssn_marker: String,
    pub token: String,
    pub token_marker: String,
    /// Latitude/longitude pairs inside any text value (`37.77,-122.41`).
    pub coordinates: String,
    pub coordinates_marker: String,
    /// The vendors' user-agent fields: "coarse" (browser family and major version, OS
    /// family), "drop" or "keep".
    pub user_agent: String,
    /// Query parameters kept in URL values; everything else is removed.
    pub url_query_allow: Vec<String>,
    /// Apply `url_query_allow` to URL-shaped values.
    pub scrub_urls: bool,
}

impl Default for ValuesFile {
    fn default() -> Self {
        ValuesFile {
            email: "redact".into(),
            email_marker: "[email]".into(),
            street_address: "redact".into(),
            street_address_marker: "[address]".into(),
            phone: "redact".into(),
            phone_marker: "[phone]".into(),
            phone_national: true,
            card: "redact".into(),
            card_marker: "[card]".into(),
            mask_keep_last: 4,
            referrer: "origin".into(),
            url_fragments: "parameters".into(),
            custom: Vec::new(),
            iban: "redact".into(),
            iban_marker: "[iban]".into(),
            ssn: "redact".into(),
            ssn_marker: "[ssn]".into(),
            token: "redact".into(),
            token_marker: "[token]".into(),
            coordinates: "redact".into(),
            coordinates_marker: "[location]".into(),
            user_agent: "coarse".into(),
            url_query_allow: crate::scrub::DEFAULT_URL_QUERY_ALLOW
                .iter()
                .map(|s| s.to_string())
                .collect(),
            scrub_urls: true,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadersFile {
    /// Request headers passed to the vendor; all others are removed.
    pub forward: Vec<String>,
}

impl Default for HeadersFile {
    fn default() -> Self {
        HeadersFile {
            forward: crate::rules::DEFAULT_FORWARD_HEADERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsFile {
    /// Origins allowed to send (`*` allows any and echoes it).
    pub allowed_origins: Vec<String>,
    /// Request headers allowed in preflights, beyond those SDKs send.
    pub extra_allowed_headers: Vec<String>,
    pub max_age_seconds: u64,
}

impl Default for CorsFile {
    fn default() -> Self {
        CorsFile {
            allowed_origins: vec!["*".into()],
            extra_allowed_headers: Vec::new(),
            max_age_seconds: 600,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub prefix: String,
    pub vendor: VendorKind,
    pub upstream: String,
    /// Environment variable holding a vendor credential the proxy adds itself (Matomo's
    /// `token_auth`, needed to set the visitor IP). Never written in this file.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding that credential (Kubernetes Secret mounts); checked first.
    #[serde(default)]
    pub token_file: Option<String>,
    /// Custom paths the trackers use, each naming the vendor's standard path it stands for
    /// (Snowplow collectors accept custom paths): `{ "/acme/t" = "/com.snowplowanalytics.snowplow/tp2" }`.
    /// Requests keep their own path upstream.
    #[serde(default)]
    pub aliases: std::collections::BTreeMap<String, String>,
    /// This route's own `[values]` settings, in place of the ones it names (for example
    /// `values = { phone = "keep" }`).
    #[serde(default)]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
    /// Dry run: forward bodies and queries unchanged and count what the rules would have
    /// done. Off by default; logged as a warning at every load while on.
    #[serde(default)]
    pub shadow: bool,
    /// This route's consent policy in place of `[consent]`'s (`purposes`, `denied`,
    /// `unknown`), for example `consent = { unknown = "forward" }`.
    #[serde(default)]
    pub consent: Option<RouteConsentFile>,
    /// This route's request limits in place of its vendor's published ones, for example
    /// `limits = { max_batch_bytes = 1048576 }`.
    #[serde(default)]
    pub limits: Option<RouteLimitsFile>,
}

/// A route's own request limits; each one left out keeps the vendor's published limit (or
/// the `[limits]` default where the vendor publishes none).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteLimitsFile {
    pub max_events: Option<u64>,
    pub max_batch_bytes: Option<u64>,
    pub max_event_bytes: Option<usize>,
}

/// Where vendors learn the visitor is.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoFile {
    /// "none", "country", "region" (needs a City database) or "city".
    pub precision: String,
    /// A GeoIP2 / GeoLite2 City or Country database; the embedded country database if absent.
    pub database: Option<String>,
    /// Look up the "full" client address (in memory only) or the "truncated" one.
    pub lookup: String,
    /// The vendors' latitude/longitude fields: "drop" or "round".
    pub coordinates: String,
    /// Decimal places kept when rounding (1 is about 11 km).
    pub coordinate_decimals: u8,
}

impl Default for GeoFile {
    fn default() -> Self {
        GeoFile {
            precision: "country".into(),
            database: None,
            lookup: "full".into(),
            coordinates: "drop".into(),
            coordinate_decimals: 1,
        }
    }
}

/// What consent an event needs and what happens without it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentPolicyFile {
    /// "analytics", "ads" or "analytics+ads".
    pub purposes: String,
    /// "forward", "anonymize" or "drop".
    pub denied: String,
    pub unknown: String,
}

/// A route's own policy: the fields it names replace `[consent]`'s.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConsentFile {
    pub purposes: Option<String>,
    pub denied: Option<String>,
    pub unknown: Option<String>,
}

impl Default for ConsentPolicyFile {
    fn default() -> Self {
        ConsentPolicyFile {
            purposes: "analytics".into(),
            denied: "drop".into(),
            unknown: "anonymize".into(),
        }
    }
}

/// Consent signals read and the default policy.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentFile {
    /// The policy of every route that has no `consent` of its own.
    pub purposes: String,
    pub denied: String,
    pub unknown: String,
    /// `Sec-GPC: 1` denies advertising.
    pub gpc: bool,
    /// `DNT: 1` denies everything.
    pub dnt: bool,
    /// IAB TCF v2 strings: the `euconsent-v2` cookie and the `gdpr_consent` parameter.
    pub tcf: bool,
    /// OneTrust's `OptanonConsent` cookie.
    pub onetrust: bool,
    /// Cookiebot's `CookieConsent` cookie.
    pub cookiebot: bool,
    /// The site's own consent cookie: a JSON object of categories or a list of granted ones.
    pub cookie: Option<String>,
    /// Category names (in that cookie and in Segment's and RudderStack's consent fields)
    /// that mean analytics, and advertising; ASCII case is ignored.
    pub analytics_categories: Vec<String>,
    pub ads_categories: Vec<String>,
    /// Pseudonyms (one per line, as the vendor sees them) whose events are always dropped.
    pub opt_out_file: Option<String>,
}

impl Default for ConsentFile {
    fn default() -> Self {
        let policy = ConsentPolicyFile::default();
        ConsentFile {
            purposes: policy.purposes,
            denied: policy.denied,
            unknown: policy.unknown,
            gpc: true,
            dnt: false,
            tcf: true,
            onetrust: true,
            cookiebot: true,
            cookie: None,
            analytics_categories: ["analytics", "statistics", "performance", "C0002"]
                .map(String::from)
                .to_vec(),
            ads_categories: ["ads", "advertising", "marketing", "targeting", "C0004"]
                .map(String::from)
                .to_vec(),
            opt_out_file: None,
        }
    }
}
