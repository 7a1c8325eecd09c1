//! PostHog: the capture paths of three generations of posthog-js and the server SDKs
//! (`/e/`, `/i/v0/e/`, `/batch/`, `/capture/`, `/track/`, `/engage/`), feature flags
//! (`/flags/`, `/decide/`), the v1 capture API, and the configuration and asset paths the
//! browser SDK loads from the same host. Bodies come as JSON, gzip without a label, `data=`
//! base64 forms, whole-body base64 or lz-string; they always go on as plain JSON.
//!
//! Routing choices: flags bodies carry `distinct_id` and person properties, so they are
//! scrubbed like events. The GETs of configuration and scripts pass through with header
//! hygiene, limited to the shapes posthog-js requests (`PASSTHROUGH`): `/static/<kind>.js`
//! and `/static/<version>/<kind>.js`, `/array/<token>/config[.js]` and `array.js`, and the
//! `/api/surveys/`, `/api/early_access_features/`, `/api/web_experiments/` and
//! `/api/product_tours/` lists; each keeps only the query parameters its shape takes, in the
//! values' shapes (a `data=` or any other parameter is removed), and the value rules run on
//! what remains. Any other path under those prefixes gets 404. `/s/` (session replay)
//! carries whole DOM snapshots that cannot be scrubbed field by field: refused.
//! posthog-js retries anything but exactly 200, so the vendor's 200 is relayed as it is.

use std::sync::Arc;

use super::{
    trim_slash, AuthScheme, BodyFormat, Endpoint, FormOutput, PlanInputs, PublishedLimits,
    QueryParam, SyntheticReply, Vendor, VendorSpec, MB,
};
use crate::scrub::{
    BodyPlan, Ensured, Envelope, EventPlan, EventPlanBuilder, FieldAction, GeoValue, RuleKind,
};

pub struct PostHog;

pub const SPEC: VendorSpec = VendorSpec {
    // Capture: 20 MB a request.
    limits: PublishedLimits {
        max_events: None,
        max_batch_bytes: Some(20 * MB),
        max_event_bytes: None,
    },
    // Legacy posthog-js: the payload is lz-string base64.
    lz64_query: &[
        QueryParam {
            name: "compression",
            value: "lz64",
        },
        QueryParam {
            name: "compression",
            value: "lz-string",
        },
    ],
    authorization: &[AuthScheme::Bearer],
    ..VendorSpec::new("posthog", &PostHog)
};

const EVENTS: usize = 0;
const FLAGS: usize = 1;
const V1_EVENTS: usize = 2;

/// First keys that mark `{api_key, batch, sent_at}` envelopes rather than single events.
const ENVELOPE_KEYS: &[&str] = &[
    "api_key",
    "batch",
    "sent_at",
    "historical_migration",
    "token",
];

/// Query parameters that describe an encoding the proxy undoes, or ask for the request IP.
const DROPPED_QUERY: &[&str] = &["compression", "ip"];

const JSON_OUT: BodyFormat = BodyFormat::DataForm {
    output: FormOutput::Json,
};

/// PostHog's GeoIP properties finer than a region, which the proxy never writes.
const FINER_GEOIP: &[&str] = &[
    "properties.$geoip_postal_code",
    "properties.$geoip_subdivision_2_code",
    "properties.$geoip_subdivision_2_name",
    "properties.$geoip_accuracy_radius",
];

impl Vendor for PostHog {
    /// Exactly 200: posthog-js retries any other status.
    fn dropped_reply(&self, _: &Endpoint, _: &str) -> SyntheticReply {
        SyntheticReply::json(200, r#"{"status":1}"#)
    }

    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint> {
        let path = trim_slash(path);
        let passthrough = ["/array/", "/static/", "/api/"]
            .iter()
            .any(|p| path.starts_with(p));
        if passthrough {
            let shape = passthrough_shape(path)?;
            return (method == http::Method::GET).then_some(Endpoint {
                name: shape.name,
                format: BodyFormat::Passthrough,
                plan: EVENTS,
            });
        }
        let (name, plan) = match path {
            "/e" | "/i/v0/e" | "/capture" | "/track" | "/engage" => ("capture", EVENTS),
            "/batch" => ("batch", EVENTS),
            "/flags" | "/decide" => ("flags", FLAGS),
            "/i/v1/analytics/events" => ("capture_v1", V1_EVENTS),
            _ => return None,
        };
        let format = match *method {
            http::Method::POST => JSON_OUT,
            http::Method::GET if plan == EVENTS => BodyFormat::DataQuery,
            _ => return None,
        };
        Some(Endpoint { name, format, plan })
    }

    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>> {
        let envelope = || {
            let mut b = EventPlanBuilder::default();
            // Whatever a client puts beside the batch goes upstream too: every member gets
            // the key rules, and ids their pseudonyms.
            b.container("")
                .field("api_key", FieldAction::Keep)
                .field("token", FieldAction::Keep)
                .field("sent_at", FieldAction::Keep)
                .field("distinct_id", inputs.identifier_action)
                .field("$device_id", inputs.identifier_action)
                .field("$user_id", inputs.identifier_action)
                .field("$anon_distinct_id", inputs.identifier_action);
            b.build(inputs.properties, (inputs.values)(), None)
        };
        let plan = |envelope_kind, event| {
            Arc::new(BodyPlan {
                envelope: envelope_kind,
                event,
                envelope_members: envelope(),
            })
        };
        vec![
            plan(
                Envelope::BatchOrEvent {
                    key: "batch",
                    envelope_keys: ENVELOPE_KEYS,
                },
                event_plan(inputs, false),
            ),
            plan(Envelope::Event, flags_plan(inputs)),
            plan(Envelope::Batch { key: "batch" }, event_plan(inputs, true)),
        ]
    }

    fn upstream_query(&self, endpoint: &Endpoint, query: &str) -> String {
        let shape = PASSTHROUGH.iter().find(|s| s.name == endpoint.name);
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let (name, value) = p.split_once('=').unwrap_or((p, ""));
                match shape {
                    Some(shape) => shape.takes(name, value),
                    None => !DROPPED_QUERY.contains(&name),
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A GET posthog-js sends to the same host for configuration or scripts, forwarded without
/// a payload: which paths have the shape, and which query parameters it takes.
struct Passthrough {
    /// The endpoint's name (a metric label).
    name: &'static str,
    path: fn(&str) -> bool,
    /// Parameter names and the shape of their (still percent-encoded) values.
    query: &'static [(&'static str, ValueShape)],
}

/// Whether a query value has a parameter's shape.
type ValueShape = fn(&str) -> bool;

impl Passthrough {
    fn takes(&self, name: &str, value: &str) -> bool {
        self.query.iter().any(|&(n, fits)| n == name && fits(value))
    }
}

const PASSTHROUGH: &[Passthrough] = &[
    // Lazy bundles: `/static/recorder.js?v=1.449.2` (the toolbar adds `&t=<ms>`), or
    // `/static/1.449.2/recorder.js` under strict versioning; the snippet's `/static/array.js`.
    Passthrough {
        name: "assets",
        path: static_script,
        query: &[("v", version), ("t", digits)],
    },
    // Remote configuration, and the token's own bundle.
    Passthrough {
        name: "config",
        path: array_config,
        query: &[],
    },
    // Lists the SDK reads by project token (`?token=phc_...`, early access `&stage=beta`,
    // `&_=<ms>` when timestamped in the query).
    Passthrough {
        name: "api",
        path: api_list,
        query: &[
            ("token", project_token),
            ("stage", word),
            ("_", digits),
            ("retry_count", digits),
        ],
    },
];

/// The pass-through shape `path` (trailing slash trimmed) takes, if any.
fn passthrough_shape(path: &str) -> Option<&'static Passthrough> {
    PASSTHROUGH.iter().find(|s| (s.path)(path))
}

/// The bundles posthog-js loads by name (`PostHogExtensionKind` and the snippet's
/// `array*.js`).
const SCRIPT_KINDS: &[&str] = &[
    "array",
    "array.full",
    "array.no-external",
    "array.full.no-external",
    "array.full.es5",
    "toolbar",
    "exception-autocapture",
    "web-vitals",
    "web-vitals-with-attribution",
    "web-vitals-soft-navs",
    "web-vitals-with-attribution-soft-navs",
    "recorder",
    "recorder-v2",
    "lazy-recorder",
    "posthog-recorder",
    "tracing-headers",
    "surveys",
    "logs",
    "conversations",
    "product-tours",
    "dead-clicks-autocapture",
    "remote-config",
    "intercom-integration",
    "crisp-chat-integration",
];

fn script(file: &str) -> bool {
    file.strip_suffix(".js")
        .is_some_and(|kind| SCRIPT_KINDS.contains(&kind))
}

fn static_script(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/static/") else {
        return false;
    };
    match rest.split_once('/') {
        None => script(rest),
        Some((v, file)) => version(v) && script(file),
    }
}

fn array_config(path: &str) -> bool {
    let Some((token, file)) = path
        .strip_prefix("/array/")
        .and_then(|rest| rest.split_once('/'))
    else {
        return false;
    };
    project_token(token) && matches!(file, "config" | "config.js" | "array.js")
}

fn api_list(path: &str) -> bool {
    matches!(
        path,
        "/api/surveys"
            | "/api/early_access_features"
            | "/api/web_experiments"
            | "/api/product_tours"
    )
}

/// A semantic version (`1.449.2`, `1.450.0-beta.1`).
fn version(v: &str) -> bool {
    (1..=32).contains(&v.len())
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-+".contains(&c))
}

fn digits(v: &str) -> bool {
    (1..=16).contains(&v.len()) && v.bytes().all(|c| c.is_ascii_digit())
}

/// A project token (`phc_...`): letters, digits, `_` and `-`.
fn project_token(v: &str) -> bool {
    (1..=100).contains(&v.len())
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// A lower-case word (`beta`, `general_availability`).
fn word(v: &str) -> bool {
    (1..=32).contains(&v.len()) && v.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')
}

/// Events: `{event, uuid, properties:{distinct_id, $ip, ...}, $set, $set_once, timestamp}`;
/// the v1 API puts `distinct_id` at the top.
fn event_plan(inputs: &PlanInputs<'_>, v1: bool) -> EventPlan {
    let id = inputs.identifier_action;
    let mut b = EventPlanBuilder::default();
    b.ensure("event", Ensured::Required)
        .container("properties")
        .container("$set")
        .container("$set_once")
        .container("properties.$set")
        .container("properties.$set_once")
        // Taken for one event, a body with `batch` would hide events from every rule.
        .field("batch", FieldAction::Reject)
        .field("uuid", FieldAction::Keep)
        .field("event", FieldAction::EventName)
        .field("properties.token", FieldAction::Keep)
        .field("properties.$session_id", FieldAction::Keep)
        .field("properties.$raw_user_agent", FieldAction::UserAgent)
        .field("properties.$window_id", FieldAction::Keep)
        .field("properties.$insert_id", FieldAction::Keep)
        .field("distinct_id", id)
        .field("properties.distinct_id", id)
        .field("properties.$device_id", id)
        .field("properties.$anon_distinct_id", id)
        .field("properties.$user_id", id)
        .field("properties.alias", id)
        .field("properties.$ip", FieldAction::VendorIp)
        .field("properties.$referrer", FieldAction::Referrer)
        .field("properties.$initial_referrer", FieldAction::Referrer)
        .field("properties.$session_entry_referrer", FieldAction::Referrer)
        .field(
            "properties.$set_once.$initial_referrer",
            FieldAction::Referrer,
        )
        .field("properties.$geoip_latitude", FieldAction::Coordinate)
        .field("properties.$geoip_longitude", FieldAction::Coordinate)
        .geo("properties.$geoip_country_code", GeoValue::Country)
        .geo("properties.$geoip_subdivision_1_code", GeoValue::RegionCode)
        .geo("properties.$geoip_subdivision_1_name", GeoValue::RegionName)
        .geo("properties.$geoip_city_name", GeoValue::City)
        .field("properties.$geoip_disable", FieldAction::NoVendorGeo)
        .ensure("properties.$ip", Ensured::ClientIp)
        .ensure("properties.$geoip_disable", Ensured::NoVendorGeo);
    // Finer than any precision the proxy writes: never passed on.
    for finer in FINER_GEOIP {
        b.field(finer, FieldAction::Drop(RuleKind::PreciseLocation));
    }
    if v1 {
        b.field("options", FieldAction::Keep);
    }
    b.build(inputs.properties, (inputs.values)(), None)
}

/// Flags requests: `{token, distinct_id, $anon_distinct_id, $device_id, groups,
/// person_properties, group_properties}`.
fn flags_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let id = inputs.identifier_action;
    let mut b = EventPlanBuilder::default();
    b.container("person_properties")
        .container("group_properties")
        .field("token", FieldAction::Keep)
        .field("api_key", FieldAction::Keep)
        .field("distinct_id", id)
        .field("$anon_distinct_id", id)
        .field("$device_id", id)
        .field("device_id", id);
    b.build(inputs.properties, (inputs.values)(), None)
}
