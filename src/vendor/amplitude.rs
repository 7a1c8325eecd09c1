//! Amplitude: `/2/httpapi` and `/batch`, a JSON `{api_key, events:[...]}` envelope (also as
//! `text/plain` from sendBeacon). `ip: "$remote"` would make Amplitude use the proxy's address,
//! so the vendor IP field always carries the client's, truncated. The SDK reads the JSON `code`
//! of the reply, which is relayed unchanged.

use std::sync::Arc;

use super::{
    trim_slash, BodyFormat, Endpoint, PlanInputs, PublishedLimits, SyntheticReply, Vendor,
    VendorSpec, MB,
};
use crate::scrub::{
    BodyPlan, Ensured, Envelope, EventPlan, EventPlanBuilder, FieldAction, GeoValue, RuleKind,
};

pub struct Amplitude;

pub const SPEC: VendorSpec = VendorSpec {
    // HTTP V2: 2,000 events; the Batch API 20 MB (the larger of its two endpoints).
    limits: PublishedLimits {
        max_events: Some(2000),
        max_batch_bytes: Some(20 * MB),
        max_event_bytes: None,
    },
    ..VendorSpec::new("amplitude", &Amplitude)
};

/// Advertising, device and app set ids: identifiers like `user_id` and `device_id`.
const IDENTIFIERS: &[&str] = &[
    "user_id",
    "device_id",
    "idfa",
    "idfv",
    "adid",
    "android_id",
    "android_app_set_id",
];

impl Vendor for Amplitude {
    /// The SDK reads `code` from the body; a body without it would be retried.
    fn dropped_reply(&self, _: &Endpoint, _: &str) -> SyntheticReply {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        SyntheticReply::json(
            200,
            &format!(
                r#"{{"code":200,"events_ingested":0,"payload_size_bytes":0,"server_upload_time":{now_ms}}}"#
            ),
        )
    }

    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint> {
        if method != http::Method::POST {
            return None;
        }
        let name = match trim_slash(path) {
            "/2/httpapi" => "httpapi",
            "/batch" => "batch",
            _ => return None,
        };
        Some(Endpoint {
            name,
            format: BodyFormat::Json,
            plan: 0,
        })
    }

    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>> {
        let mut envelope = EventPlanBuilder::default();
        envelope
            .field("api_key", FieldAction::Keep)
            .field("options", FieldAction::Keep);
        // Ids beside `events` are ids too: what a client puts there goes upstream.
        for id in IDENTIFIERS {
            envelope.field(id, inputs.identifier_action);
        }
        vec![Arc::new(BodyPlan {
            envelope: Envelope::Batch { key: "events" },
            event: event_plan(inputs),
            envelope_members: envelope.build(inputs.properties, (inputs.values)(), None),
        })]
    }
}

fn event_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let mut b = EventPlanBuilder::default();
    b.container("event_properties")
        .container("user_properties")
        .container("group_properties")
        .field("insert_id", FieldAction::Keep)
        .field("event_type", FieldAction::EventName)
        .field("ip", FieldAction::VendorIp)
        .field("user_agent", FieldAction::UserAgent)
        // The attribution plugin sets these in `$set` / `$setOnce`.
        .field("user_properties.*.referrer", FieldAction::Referrer)
        .field("user_properties.*.initial_referrer", FieldAction::Referrer)
        .ensure("ip", Ensured::ClientIp)
        // Amplitude refuses an event without its type; the proxy does not make one up.
        .ensure("event_type", Ensured::Required);
    for id in IDENTIFIERS {
        b.field(id, inputs.identifier_action);
    }
    b.geo("country", GeoValue::Country)
        .geo("region", GeoValue::RegionName)
        .geo("city", GeoValue::City)
        .field("location_lat", FieldAction::Coordinate)
        .field("location_lng", FieldAction::Coordinate)
        // A metro area is finer than a region.
        .field("dma", FieldAction::Drop(RuleKind::PreciseLocation));
    b.build(inputs.properties, (inputs.values)(), None)
}
