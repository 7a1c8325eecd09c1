//! Mixpanel: `/track`, `/engage`, `/groups`, `/import` (with or without a trailing slash).
//! The payload is a form field `data=` (JSON or base64 JSON: the browser SDK switches to
//! base64 behind a proxy), a `?data=` query (Node SDK GETs), or plain JSON / NDJSON.

use std::sync::Arc;

use super::{
    trim_slash, AuthScheme, BodyFormat, Endpoint, FormOutput, PlanInputs, PublishedLimits,
    QueryParam, SyntheticReply, Vendor, VendorSpec, MB,
};
use crate::scrub::{
    BodyPlan, Ensured, Envelope, EventPlan, EventPlanBuilder, FieldAction, GeoValue,
};

pub struct Mixpanel;

pub const SPEC: VendorSpec = VendorSpec {
    // /track and /import: 2000 events and 2 MB uncompressed; an event under 1 MB.
    limits: PublishedLimits {
        max_events: Some(2000),
        max_batch_bytes: Some(2 * MB),
        max_event_bytes: Some(MB as usize),
    },
    no_ip_query_flag: Some(QueryParam {
        name: "ip",
        value: "0",
    }),
    authorization: &[AuthScheme::BasicKey],
    ..VendorSpec::new("mixpanel", &Mixpanel)
};

const EVENTS: usize = 0;
const PROFILES: usize = 1;
const GROUPS: usize = 2;

/// Profile updates take `$ip: "0"` as "do not geolocate".
const PROFILE_NO_IP: &str = "0";

/// Where profiles take the place.
const PROFILE_GEO: &[(&str, GeoValue)] = &[
    ("$set.$country_code", GeoValue::Country),
    ("$set.$region", GeoValue::RegionName),
    ("$set.$city", GeoValue::City),
    ("$set_once.$country_code", GeoValue::Country),
    ("$set_once.$region", GeoValue::RegionName),
    ("$set_once.$city", GeoValue::City),
];

/// Profile operations whose objects hold person properties.
const PROFILE_CONTAINERS: &[&str] = &[
    "$set",
    "$set_once",
    "$add",
    "$append",
    "$union",
    "$remove",
    "$unset",
];

impl Vendor for Mixpanel {
    /// `{"status":1,"error":null}` when `verbose` is asked for or unknown (Python sends it in
    /// the body), the bare `1` when the query says `verbose=0` (Node compares the body).
    fn dropped_reply(&self, _: &Endpoint, query: &str) -> SyntheticReply {
        let quiet = query.split('&').any(|p| p == "verbose=0");
        if quiet {
            SyntheticReply::text(200, "1")
        } else {
            SyntheticReply::json(200, r#"{"status":1,"error":null}"#)
        }
    }

    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint> {
        let (name, plan) = match trim_slash(path) {
            "/track" => ("track", EVENTS),
            "/import" => ("import", EVENTS),
            "/engage" => ("engage", PROFILES),
            "/groups" => ("groups", GROUPS),
            _ => return None,
        };
        let format = match *method {
            http::Method::POST => BodyFormat::DataForm {
                output: FormOutput::Form,
            },
            http::Method::GET => BodyFormat::DataQuery,
            _ => return None,
        };
        Some(Endpoint { name, format, plan })
    }

    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>> {
        [
            events_plan(inputs),
            profiles_plan(inputs),
            groups_plan(inputs),
        ]
        .into_iter()
        .map(|event| {
            Arc::new(BodyPlan {
                envelope: Envelope::Events,
                event,
                envelope_members: EventPlanBuilder::default().build(
                    inputs.properties,
                    (inputs.values)(),
                    None,
                ),
            })
        })
        .collect()
    }
}

fn events_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let id = inputs.identifier_action;
    let mut b = EventPlanBuilder::default();
    b.container("properties")
        .field("event", FieldAction::EventName)
        // An event without a name is refused, not filled in.
        .ensure("event", Ensured::Required)
        .field("properties.token", FieldAction::Keep)
        .field("properties.$insert_id", FieldAction::Keep)
        .field("properties.distinct_id", id)
        .field("properties.$distinct_id", id)
        .field("properties.$device_id", id)
        .field("properties.$user_id", id)
        .field("properties.$anon_distinct_id", id)
        .field("properties.$identified_id", id)
        .field("properties.$distinct_ids", id)
        .field("properties.alias", id)
        .field("properties.ip", FieldAction::VendorIp)
        .field("properties.$latitude", FieldAction::Coordinate)
        .field("properties.$longitude", FieldAction::Coordinate)
        .geo("properties.mp_country_code", GeoValue::Country)
        .geo("properties.$region", GeoValue::RegionName)
        .geo("properties.$city", GeoValue::City)
        .field("properties.$referrer", FieldAction::Referrer)
        .field("properties.$initial_referrer", FieldAction::Referrer)
        .ensure("properties.ip", Ensured::ClientIp);
    b.build(inputs.properties, (inputs.values)(), None)
}

fn profiles_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let id = inputs.identifier_action;
    let mut b = EventPlanBuilder::default();
    for container in PROFILE_CONTAINERS {
        b.container(container);
    }
    b.field("$token", FieldAction::Keep)
        .field("$distinct_id", id)
        .field("$device_id", id)
        .field("$user_id", id)
        .field("$delete", id)
        .field("$ip", FieldAction::VendorIp)
        .field("$latitude", FieldAction::Coordinate)
        .field("$longitude", FieldAction::Coordinate);
    // Profile geo lives in the update's `$set`: written there only when the update sets
    // something (an update holds one operation, so no `$set` is added to an `$add`).
    for (field, value) in PROFILE_GEO {
        b.geo_in_existing(field, *value);
    }
    b.ensure("$ip", Ensured::ClientIp);
    b.build(inputs.properties, (inputs.values)(), Some(PROFILE_NO_IP))
}

fn groups_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let mut b = EventPlanBuilder::default();
    for container in PROFILE_CONTAINERS {
        b.container(container);
    }
    b.field("$token", FieldAction::Keep);
    b.build(inputs.properties, (inputs.values)(), None)
}
