//! Vendors: each file knows one vendor's paths, envelopes and semantic fields (where its IP,
//! identifiers and property containers live) and nothing else. Adding a vendor is a file, a
//! `VendorKind` variant and its arms here (ARCHITECTURE.md, "How to add"); no other vendor
//! changes.

mod amplitude;
mod ga4;
mod matomo;
mod mixpanel;
mod plausible;
mod posthog;
mod rudderstack;
mod segment;
mod snowplow;

use std::sync::Arc;

use crate::consent::Consent;
use crate::scrub::{BodyPlan, EventConsentReader, FieldAction, Place, PropertyRules, ValueRules};

/// The vendor protocols a route can speak (`vendor = "..."` in rules.toml).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VendorKind {
    Segment,
    Mixpanel,
    Amplitude,
    Plausible,
    #[serde(rename = "posthog")]
    PostHog,
    #[serde(rename = "rudderstack")]
    RudderStack,
    Snowplow,
    Matomo,
    Ga4,
}

impl VendorKind {
    pub const ALL: [VendorKind; 9] = [
        VendorKind::Segment,
        VendorKind::Mixpanel,
        VendorKind::Amplitude,
        VendorKind::Plausible,
        VendorKind::PostHog,
        VendorKind::RudderStack,
        VendorKind::Snowplow,
        VendorKind::Matomo,
        VendorKind::Ga4,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VendorKind::Segment => "segment",
            VendorKind::Mixpanel => "mixpanel",
            VendorKind::Amplitude => "amplitude",
            VendorKind::Plausible => "plausible",
            VendorKind::PostHog => "posthog",
            VendorKind::RudderStack => "rudderstack",
            VendorKind::Snowplow => "snowplow",
            VendorKind::Matomo => "matomo",
            VendorKind::Ga4 => "ga4",
        }
    }

    pub fn protocol(self) -> &'static dyn Vendor {
        match self {
            VendorKind::Segment => &segment::Segment,
            VendorKind::Mixpanel => &mixpanel::Mixpanel,
            VendorKind::Amplitude => &amplitude::Amplitude,
            VendorKind::Plausible => &plausible::Plausible,
            VendorKind::PostHog => &posthog::PostHog,
            VendorKind::RudderStack => &rudderstack::RudderStack,
            VendorKind::Snowplow => &snowplow::Snowplow,
            VendorKind::Matomo => &matomo::Matomo,
            VendorKind::Ga4 => &ga4::Ga4,
        }
    }
}

/// The limits a vendor publishes for one request to its ingest API; `None` where it
/// publishes none. Each is the default of a route's `limits` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishedLimits {
    pub max_events: Option<u64>,
    pub max_batch_bytes: Option<u64>,
    pub max_event_bytes: Option<usize>,
}

impl VendorKind {
    /// The vendor's documented request limits (README lists them with their sources).
    pub fn published_limits(self) -> PublishedLimits {
        const KB: u64 = 1000;
        const MB: u64 = 1000 * KB;
        let (max_events, max_batch_bytes, max_event_bytes) = match self {
            // "500 KB per batch request and 32 KB per call" (HTTP Tracking API).
            VendorKind::Segment => (None, Some(500 * KB), Some(32 * KB)),
            // The data plane's default request limit (`maxReqSizeInKB = 4000`); events as
            // Segment's, whose spec it implements.
            VendorKind::RudderStack => (None, Some(4000 * KB), Some(32 * KB)),
            // /track and /import: 2000 events and 2 MB uncompressed; an event under 1 MB.
            VendorKind::Mixpanel => (Some(2000), Some(2 * MB), Some(MB)),
            // HTTP V2: 2,000 events; the Batch API 20 MB (the larger of its two endpoints).
            VendorKind::Amplitude => (Some(2000), Some(20 * MB), None),
            // Capture: 20 MB a request.
            VendorKind::PostHog => (None, Some(20 * MB), None),
            // Measurement Protocol: 25 events and 130 kB a request.
            VendorKind::Ga4 => (Some(25), Some(130 * KB), None),
            // One event a request.
            VendorKind::Plausible => (Some(1), None, None),
            VendorKind::Snowplow | VendorKind::Matomo => (None, None, None),
        };
        PublishedLimits {
            max_events,
            max_batch_bytes,
            max_event_bytes: max_event_bytes.map(|n| n as usize),
        }
    }
}

/// How a vendor reads the parameter names of a query-string event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryNames {
    /// Each name is one member of the event (`ep.value` is a member named so).
    Flat,
    /// Dots nest (`context.page.url` is `url` in `page` in `context`): RudderStack's pixel
    /// API, whose server builds the nested event. The rules then see the event as the
    /// vendor will, and the names are flattened again after scrubbing.
    Dotted,
}

/// How a request's payload is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    /// JSON in the body, whatever the Content-Type says; gzip by header or magic bytes.
    Json,
    /// A form whose `data` field holds JSON or base64 JSON, or plain JSON, or a whole body
    /// in base64 (Mixpanel, PostHog). `output` says how the scrubbed payload goes on.
    DataForm { output: FormOutput },
    /// The payload is the `data` query parameter (base64 or JSON); the body must be empty.
    DataQuery,
    /// No payload: a GET for static assets or configuration, forwarded with header hygiene
    /// only; a body is refused.
    Passthrough,
    /// The query string is one event (Snowplow `GET /i`, Matomo hits); a body is refused.
    QueryEvent,
    /// Matomo POSTs: the query, a form body or a bulk `{"requests":["?...",...]}` JSON holds
    /// query-string events; an empty body is the sendBeacon case.
    QueryEventBody,
}

/// How a form-carried payload is sent to the vendor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormOutput {
    /// As a form again: `data=<percent-encoded JSON>` plus the other fields.
    Form,
    /// As plain JSON (`application/json`); the form's other fields are dropped.
    Json,
}

/// One endpoint a request matched: its metric label, payload format and plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub name: &'static str,
    pub format: BodyFormat,
    /// Index into the vendor's compiled plans.
    pub plan: usize,
}

/// A vendor-shaped success, for requests whose events the rules all removed: nothing goes
/// upstream, and the SDK must neither retry nor report an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl SyntheticReply {
    pub fn json(status: u16, body: &str) -> Self {
        SyntheticReply {
            status,
            content_type: "application/json",
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        SyntheticReply {
            status,
            content_type: "text/plain",
            body: body.as_bytes().to_vec(),
        }
    }
}

/// What the operator's rules contribute to every vendor's plans.
pub struct PlanInputs<'a> {
    pub properties: &'a PropertyRules,
    pub identifier_action: FieldAction,
    /// Builds the value rules (one instance per plan).
    pub values: &'a dyn Fn() -> ValueRules,
}

impl PlanInputs<'_> {
    /// Whether the operator's deny list removes fields named `concept`, so a vendor can apply
    /// it to its own spelling of the same thing (gtag's `dt`, Matomo's `action_name` and
    /// Snowplow's `page` are page titles).
    pub fn denies(&self, concept: &str) -> bool {
        self.properties.mode == crate::scrub::PropertyMode::Deny
            && crate::scrub::keys::KeySet::new(self.properties.deny_keys.iter().map(String::as_str))
                .matches_key(concept.as_bytes())
    }
}

/// A vendor protocol. Implementations are stateless; compiled plans live in the rules snapshot.
pub trait Vendor: Send + Sync {
    /// The endpoint for a method and a path (the part after the route prefix), or `None`
    /// when the vendor has no such ingest path (the request is refused, never forwarded).
    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint>;

    /// Compiles one plan per endpoint shape, indexed by `Endpoint::plan`.
    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>>;

    /// The query parameter that must read `0` so the vendor does not geolocate the request
    /// address: set when IPs are removed (it would be the proxy's) and whenever
    /// `ScrubEnv::vendor_must_not_geolocate` says so.
    fn no_ip_query_flag(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    /// What this vendor's SDK takes as success, for a request whose events the rules all
    /// removed.
    fn dropped_reply(&self, endpoint: &Endpoint, query: &str) -> SyntheticReply;

    /// Whether the query says the payload is lz-string base64 (legacy PostHog).
    fn lz64_payload(&self, _query: &str) -> bool {
        false
    }

    /// The query sent upstream to `endpoint`. Vendors drop parameters that describe an
    /// encoding the proxy has undone (the scrubbed body always goes on plain), and keep only
    /// the parameters a pass-through path takes.
    fn upstream_query(&self, _endpoint: &Endpoint, query: &str) -> String {
        query.to_owned()
    }

    /// Headers that tell the vendor itself to discard the request address, sent when the
    /// rules remove IPs or the request is anonymized (Snowplow's `SP-Anonymous: *`).
    fn no_ip_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// How the names of a query-string event's parameters are read.
    fn query_names(&self) -> QueryNames {
        QueryNames::Flat
    }

    /// Parameters the proxy adds to each query-string event when the route holds a vendor
    /// credential (Matomo: the visitor IP in `cip` and the place in `country`, `region`,
    /// `city`, honoured only with `token_auth`).
    fn credential_params(
        &self,
        _token: &str,
        _client_ip: &str,
        _place: &Place,
    ) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Reads the consent an event carries in this vendor's own fields, for vendors that
    /// have such fields.
    fn event_consent(&self) -> Option<EventConsentReader> {
        None
    }

    /// The consent the request's query carries in this vendor's parameters.
    fn query_consent(&self, _query: &str) -> Consent {
        Consent::default()
    }

    /// A request header by which the tracker asks for anonymous tracking itself (Snowplow
    /// `SP-Anonymous`): its events are never forwarded un-anonymized.
    fn anonymous_header(&self) -> Option<&'static str> {
        None
    }

    /// Request headers that carry an identifier as base64 (RudderStack's `AnonymousId`): they
    /// are forwarded with the identifier rule applied to the decoded id.
    fn identifier_headers(&self) -> &'static [&'static str] {
        &[]
    }

    /// Request headers this vendor needs beyond the operator's forward list.
    fn needed_headers(&self) -> &'static [&'static str] {
        &[]
    }

    /// A request header in which this vendor takes the client IP (the truncated one, or the
    /// placeholder when IPs are removed).
    fn client_ip_header(&self) -> Option<(&'static str, &'static str)> {
        None
    }
}

/// `path` without one trailing slash, so `/track/` and `/track` are one endpoint.
pub fn trim_slash(path: &str) -> &str {
    path.strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path)
}
