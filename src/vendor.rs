//! Vendors: each file knows one vendor's paths, envelopes and semantic fields (where its IP,
//! identifiers and property containers live) and nothing else. A vendor is a `VendorSpec`
//! value (its plain settings: names of headers and query flags, published limits, ...) and a
//! `Vendor` implementation (the few behaviours that are code: endpoints, plans, the reply to
//! a request left empty, consent readers). Adding one is a file and a row in `vendors!`
//! below (ARCHITECTURE.md, "How to add"); no other vendor changes.

use std::sync::Arc;

use crate::consent::Consent;
use crate::scrub::{BodyPlan, EventConsentReader, FieldAction, Place, PropertyRules, ValueRules};

/// The one table of vendors: a row is a `VendorKind` variant and the module whose `SPEC`
/// describes it. The enum, `VendorKind::ALL`, the names, parsing (`FromStr`, serde) and the
/// CLI's list of vendors all derive from it.
macro_rules! vendors {
    ($($kind:ident => $module:ident),+ $(,)?) => {
        $(mod $module;)+

        /// The vendor protocols a route can speak (`vendor = "..."` in rules.toml).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum VendorKind {
            $($kind),+
        }

        impl VendorKind {
            /// Every vendor, in the table's order.
            pub const ALL: &'static [VendorKind] = &[$(VendorKind::$kind),+];

            /// The vendor's settings and behaviours.
            pub const fn spec(self) -> &'static VendorSpec {
                match self {
                    $(VendorKind::$kind => &$module::SPEC),+
                }
            }
        }
    };
}

vendors! {
    Segment => segment,
    Mixpanel => mixpanel,
    Amplitude => amplitude,
    Plausible => plausible,
    PostHog => posthog,
    RudderStack => rudderstack,
    Snowplow => snowplow,
    Matomo => matomo,
    Ga4 => ga4,
}

impl VendorKind {
    /// Every vendor's name, in the table's order.
    pub const NAMES: &'static [&'static str] = &VENDOR_NAMES;

    /// Its name in rules.toml, on the command line and in metric labels.
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// Its behaviours.
    pub fn protocol(self) -> &'static dyn Vendor {
        self.spec().protocol
    }
}

const VENDOR_NAMES: [&str; VendorKind::ALL.len()] = {
    let mut names = [""; VendorKind::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = VendorKind::ALL[i].spec().name;
        i += 1;
    }
    names
};

/// A name that is no vendor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown vendor")]
pub struct UnknownVendor;

impl std::str::FromStr for VendorKind {
    type Err = UnknownVendor;

    fn from_str(name: &str) -> Result<Self, UnknownVendor> {
        VendorKind::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == name)
            .ok_or(UnknownVendor)
    }
}

impl<'de> serde::Deserialize<'de> for VendorKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(VendorName)
    }
}

/// Reads a vendor's name; any other is an unknown variant, listed with the vendors' names.
struct VendorName;

impl serde::de::Visitor<'_> for VendorName {
    type Value = VendorKind;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a vendor name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<VendorKind, E> {
        name.parse()
            .map_err(|_| E::unknown_variant(name, VendorKind::NAMES))
    }
}

impl serde::Serialize for VendorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A vendor's plain settings: what the proxy does beside its events that needs no code.
/// Each vendor file holds one as `SPEC`; `VendorSpec::new` gives the settings a vendor
/// without them has.
pub struct VendorSpec {
    /// Its name in rules.toml (`vendor = "..."`), on the command line and in metric labels.
    pub name: &'static str,
    /// Its behaviours.
    pub protocol: &'static dyn Vendor,
    /// The limits it publishes for one request (README lists them; each vendor file names
    /// its source).
    pub limits: PublishedLimits,
    /// The query parameter and value that tell the vendor not to geolocate the request
    /// address: set when IPs are removed (it would be the proxy's) and whenever
    /// `ScrubEnv::vendor_must_not_geolocate` says so (Mixpanel's `ip=0`).
    pub no_ip_query_flag: Option<QueryParam>,
    /// Headers that tell the vendor itself to discard the request address, sent when the
    /// rules remove IPs or the request is anonymized (Snowplow's `SP-Anonymous: *`).
    pub no_ip_headers: &'static [(&'static str, &'static str)],
    /// A request header by which the tracker asks for anonymous tracking itself (Snowplow
    /// `SP-Anonymous`): its events are never forwarded un-anonymized.
    pub anonymous_header: Option<&'static str>,
    /// Request headers that carry an identifier as base64 (RudderStack's `AnonymousId`):
    /// they are forwarded with the identifier rule applied to the decoded id.
    pub identifier_headers: &'static [&'static str],
    /// Request headers the vendor needs beyond the operator's forward list (lower case).
    pub needed_headers: &'static [&'static str],
    /// A request header in which the vendor takes the client IP (the truncated one, the
    /// day's pseudonym address, or `placeholder` when IPs are removed).
    pub client_ip_header: Option<ClientIpHeader>,
    /// How the names of a query-string event's parameters are read.
    pub query_names: QueryNames,
    /// Query parameters any of which says the payload is lz-string base64 (legacy PostHog).
    pub lz64_query: &'static [QueryParam],
    /// The query parameter that carries the route's credential (`token_auth`) in each
    /// query-string event, beside what `Vendor::credential_params` adds; `None`: the vendor
    /// takes none, and a route's token is not sent.
    pub credential_param: Option<&'static str>,
    /// The schemes its SDKs use in `Authorization`; a value in any other is not forwarded.
    pub authorization: &'static [AuthScheme],
}

impl VendorSpec {
    /// A vendor with its name and behaviours, and none of the optional settings.
    pub const fn new(name: &'static str, protocol: &'static dyn Vendor) -> Self {
        VendorSpec {
            name,
            protocol,
            limits: PublishedLimits::NONE,
            no_ip_query_flag: None,
            no_ip_headers: &[],
            anonymous_header: None,
            identifier_headers: &[],
            needed_headers: &[],
            client_ip_header: None,
            query_names: QueryNames::Flat,
            lz64_query: &[],
            credential_param: None,
            authorization: &[],
        }
    }
}

/// One `name=value` query parameter, compared as sent (still percent-encoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryParam {
    pub name: &'static str,
    pub value: &'static str,
}

impl QueryParam {
    /// Whether `query` holds this parameter with this value.
    pub fn is_in(&self, query: &str) -> bool {
        query.split('&').any(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, value)| name == self.name && value == self.value)
        })
    }
}

/// The header in which a vendor takes the client IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIpHeader {
    /// Lower case.
    pub name: &'static str,
    /// Sent when IPs are removed, so the vendor does not take the proxy's address.
    pub placeholder: &'static str,
}

/// How a vendor's SDKs authenticate in `Authorization`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Basic base64(key:)` or `Basic base64(key:secret)`: Segment's and RudderStack's
    /// write key, Mixpanel's project token or API secret.
    BasicKey,
    /// `Bearer <token>`: PostHog's project or personal API key.
    Bearer,
}

/// A kilobyte and a megabyte as vendors count them.
pub const KB: u64 = 1000;
pub const MB: u64 = 1000 * KB;

/// The limits a vendor publishes for one request to its ingest API; `None` where it
/// publishes none. Each is the default of a route's `limits` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishedLimits {
    pub max_events: Option<u64>,
    pub max_batch_bytes: Option<u64>,
    pub max_event_bytes: Option<usize>,
}

impl PublishedLimits {
    /// A vendor that publishes no limits.
    pub const NONE: PublishedLimits = PublishedLimits {
        max_events: None,
        max_batch_bytes: None,
        max_event_bytes: None,
    };
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

impl BodyFormat {
    /// Whether the query string is an event (`QueryEvent`, `QueryEventBody`).
    pub fn is_query_event(self) -> bool {
        matches!(self, BodyFormat::QueryEvent | BodyFormat::QueryEventBody)
    }
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

/// A vendor's behaviours: what its `VendorSpec` cannot say as data. Implementations are
/// stateless; compiled plans live in the rules snapshot.
pub trait Vendor: Send + Sync {
    /// The endpoint for a method and a path (the part after the route prefix), or `None`
    /// when the vendor has no such ingest path (the request is refused, never forwarded).
    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint>;

    /// Compiles one plan per endpoint shape, indexed by `Endpoint::plan`.
    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>>;

    /// What this vendor's SDK takes as success, for a request whose events the rules all
    /// removed.
    fn dropped_reply(&self, endpoint: &Endpoint, query: &str) -> SyntheticReply;

    /// Reads the consent an event carries in this vendor's own fields, for vendors that
    /// have such fields.
    fn event_consent(&self) -> Option<EventConsentReader> {
        None
    }

    /// The consent the request's query carries in this vendor's parameters.
    fn query_consent(&self, _query: &str) -> Consent {
        Consent::default()
    }

    /// The query sent upstream to `endpoint`. Vendors drop parameters that describe an
    /// encoding the proxy has undone (the scrubbed body always goes on plain), and keep only
    /// the parameters a pass-through path takes.
    fn upstream_query(&self, _endpoint: &Endpoint, query: &str) -> String {
        query.to_owned()
    }

    /// Parameters the proxy adds to each query-string event, before the credential
    /// (`VendorSpec::credential_param`), when the route holds one (Matomo: the visitor IP in
    /// `cip` and the place in `country`, `region`, `city`, honoured only with `token_auth`).
    fn credential_params(&self, _client_ip: &str, _place: &Place) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// `path` without one trailing slash, so `/track/` and `/track` are one endpoint.
pub fn trim_slash(path: &str) -> &str {
    path.strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_has_one_name_that_parses_back() {
        assert_eq!(VendorKind::NAMES.len(), VendorKind::ALL.len());
        for (&kind, &name) in VendorKind::ALL.iter().zip(VendorKind::NAMES) {
            assert_eq!(kind.as_str(), name);
            assert_eq!(VendorKind::NAMES.iter().filter(|&&n| n == name).count(), 1);
            assert_eq!(name.parse::<VendorKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<VendorKind>(&json).ok(), Some(kind));
        }
    }

    #[test]
    fn names_are_matched_exactly_and_an_unknown_one_lists_the_vendors() {
        for wrong in ["Segment", "segment ", "", "post_hog", "google", "ga"] {
            assert_eq!(wrong.parse::<VendorKind>(), Err(UnknownVendor), "{wrong:?}");
            let json = serde_json::to_string(wrong).expect("a string serializes");
            let error = serde_json::from_str::<VendorKind>(&json)
                .expect_err(wrong)
                .to_string();
            assert!(error.contains("unknown variant"), "{error}");
            assert!(
                VendorKind::NAMES.iter().all(|n| error.contains(n)),
                "{error}"
            );
        }
    }

    /// The proxy builds these with `HeaderName::from_static`, which panics on a name that is
    /// not a lower-case header name: a new vendor's typo must fail here, not in a request.
    #[test]
    fn header_names_in_specs_are_lower_case_header_names() {
        for kind in VendorKind::ALL {
            let spec = kind.spec();
            let names = spec
                .no_ip_headers
                .iter()
                .map(|&(name, _)| name)
                .chain(spec.anonymous_header)
                .chain(spec.identifier_headers.iter().copied())
                .chain(spec.needed_headers.iter().copied())
                .chain(spec.client_ip_header.map(|h| h.name));
            for name in names {
                let parsed = http::HeaderName::from_bytes(name.as_bytes());
                assert!(
                    parsed.is_ok_and(|h| h.as_str() == name),
                    "{}: {name:?}",
                    spec.name
                );
            }
            for (_, value) in spec.no_ip_headers {
                assert!(http::HeaderValue::from_str(value).is_ok(), "{value:?}");
            }
        }
    }

    #[test]
    fn a_query_param_matches_whole_pairs_only() {
        let lz64 = QueryParam {
            name: "compression",
            value: "lz64",
        };
        for query in ["compression=lz64", "ip=1&compression=lz64&_=17"] {
            assert!(lz64.is_in(query), "{query}");
        }
        for query in [
            "",
            "compression",
            "compression=lz",
            "compression=lz64x",
            "compression=lz64=1",
            "xcompression=lz64",
            "a=compression=lz64",
            "compression=LZ64",
        ] {
            assert!(!lz64.is_in(query), "{query}");
        }
    }
}
