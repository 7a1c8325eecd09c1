//! Vendors: each file knows one vendor's paths, envelopes and semantic fields (where its IP,
//! identifiers and property containers live) and nothing else. Adding a vendor is adding a
//! file and a line in `VendorKind`; no other vendor changes.

mod amplitude;
mod mixpanel;
mod plausible;
mod segment;

use std::sync::Arc;

use crate::scrub::{BodyPlan, FieldAction, PropertyRules, ValueRules};

/// The vendor protocols a route can speak (`vendor = "..."` in rules.toml).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VendorKind {
    Segment,
    Mixpanel,
    Amplitude,
    Plausible,
}

impl VendorKind {
    pub const ALL: [VendorKind; 4] = [
        VendorKind::Segment,
        VendorKind::Mixpanel,
        VendorKind::Amplitude,
        VendorKind::Plausible,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VendorKind::Segment => "segment",
            VendorKind::Mixpanel => "mixpanel",
            VendorKind::Amplitude => "amplitude",
            VendorKind::Plausible => "plausible",
        }
    }

    pub fn protocol(self) -> &'static dyn Vendor {
        match self {
            VendorKind::Segment => &segment::Segment,
            VendorKind::Mixpanel => &mixpanel::Mixpanel,
            VendorKind::Amplitude => &amplitude::Amplitude,
            VendorKind::Plausible => &plausible::Plausible,
        }
    }
}

/// How a request's payload is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    /// JSON in the body, whatever the Content-Type says; gzip by header or magic bytes.
    Json,
    /// Mixpanel: a form whose `data` field holds JSON or base64 JSON, or plain JSON.
    DataForm,
    /// The payload is the `data` query parameter (base64 or JSON); the body must be empty.
    DataQuery,
}

/// One endpoint a request matched: its metric label, payload format and plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub name: &'static str,
    pub format: BodyFormat,
    /// Index into the vendor's compiled plans.
    pub plan: usize,
}

/// What the operator's rules contribute to every vendor's plans.
pub struct PlanInputs<'a> {
    pub properties: &'a PropertyRules,
    pub identifier_action: FieldAction,
    /// Builds the value rules (one instance per plan).
    pub values: &'a dyn Fn() -> ValueRules,
}

/// A vendor protocol. Implementations are stateless; compiled plans live in the rules snapshot.
pub trait Vendor: Send + Sync {
    /// The endpoint for a method and a path (the part after the route prefix), or `None`
    /// when the vendor has no such ingest path (the request is refused, never forwarded).
    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint>;

    /// Compiles one plan per endpoint shape, indexed by `Endpoint::plan`.
    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>>;

    /// The query parameter that must read `0` so the vendor does not geolocate the request
    /// address (which is the proxy's) when IPs are removed.
    fn no_ip_query_flag(&self) -> Option<(&'static str, &'static str)> {
        None
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
pub(crate) fn trim_slash(path: &str) -> &str {
    path.strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path)
}
