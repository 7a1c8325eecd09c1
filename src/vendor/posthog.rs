//! PostHog: the capture paths of three generations of posthog-js and the server SDKs
//! (`/e/`, `/i/v0/e/`, `/batch/`, `/capture/`, `/track/`, `/engage/`), feature flags
//! (`/flags/`, `/decide/`), the v1 capture API, and the configuration and asset paths the
//! browser SDK loads from the same host. Bodies come as JSON, gzip without a label, `data=`
//! base64 forms, whole-body base64 or lz-string; they always go on as plain JSON.
//!
//! Routing choices: flags bodies carry `distinct_id` and person properties, so they are
//! scrubbed like events. `/array/*`, `/static/*` and `/api/*` are GETs of configuration and
//! scripts with no personal payload: passed through with header hygiene. `/s/` (session
//! replay) carries whole DOM snapshots that cannot be scrubbed field by field: refused.
//! posthog-js retries anything but exactly 200, so the vendor's 200 is relayed as it is.

use std::sync::Arc;

use super::{trim_slash, BodyFormat, Endpoint, FormOutput, PlanInputs, SyntheticReply, Vendor};
use crate::scrub::{
    BodyPlan, Ensured, Envelope, EventPlan, EventPlanBuilder, FieldAction, GeoValue, RuleKind,
};

pub struct PostHog;

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
            return (method == http::Method::GET).then_some(Endpoint {
                name: "assets",
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
                .field("$device_id", inputs.identifier_action);
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

    fn lz64_payload(&self, query: &str) -> bool {
        query_values(query, "compression").any(|v| v == "lz64" || v == "lz-string")
    }

    fn upstream_query(&self, query: &str) -> String {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| !DROPPED_QUERY.contains(&p.split('=').next().unwrap_or(p)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn query_values<'a>(query: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    query.split('&').filter_map(move |p| {
        let (k, v) = p.split_once('=')?;
        (k == name).then_some(v)
    })
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
