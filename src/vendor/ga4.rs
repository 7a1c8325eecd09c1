//! Google Analytics 4: the Measurement Protocol (`/mp/collect`, `/debug/mp/collect`: JSON with
//! `client_id`, `user_id`, `user_properties`, `events[].params`, `ip_override`,
//! `user_location`) and gtag.js hits (`/g/collect`: parameters in the query even for POST, and
//! optionally one hit per line in the body: `cid`, `uid`, `dl`, `dr`, `_uip`, `ep.*`, `up.*`).
//! The visitor's (truncated) address goes in `ip_override` / `_uip`, so Google geolocates the
//! visitor's network and never the proxy. Both answer 204 (2xx) with no body to read.

use std::sync::Arc;

use super::{trim_slash, BodyFormat, Endpoint, PlanInputs, SyntheticReply, Vendor};
use crate::scrub::{
    BodyPlan, Ensured, Envelope, EventPlan, EventPlanBuilder, FieldAction, RuleKind,
};

pub struct Ga4;

const MEASUREMENT_PROTOCOL: usize = 0;
const GTAG: usize = 1;

impl Vendor for Ga4 {
    fn dropped_reply(&self, _: &Endpoint, _: &str) -> SyntheticReply {
        SyntheticReply::text(204, "")
    }

    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint> {
        match (method, trim_slash(path)) {
            (&http::Method::POST, "/mp/collect" | "/debug/mp/collect") => Some(Endpoint {
                name: "mp_collect",
                format: BodyFormat::Json,
                plan: MEASUREMENT_PROTOCOL,
            }),
            (&http::Method::GET, "/g/collect") => Some(Endpoint {
                name: "gtag_collect",
                format: BodyFormat::QueryEvent,
                plan: GTAG,
            }),
            (&http::Method::POST, "/g/collect") => Some(Endpoint {
                name: "gtag_collect",
                format: BodyFormat::QueryEventBody,
                plan: GTAG,
            }),
            _ => None,
        }
    }

    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>> {
        let empty =
            || EventPlanBuilder::default().build(inputs.properties, (inputs.values)(), None);
        vec![
            Arc::new(BodyPlan {
                envelope: Envelope::Event,
                event: measurement_protocol_plan(inputs),
                envelope_members: empty(),
            }),
            Arc::new(BodyPlan {
                envelope: Envelope::Event,
                event: gtag_plan(inputs),
                envelope_members: empty(),
            }),
        ]
    }
}

fn measurement_protocol_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let id = inputs.identifier_action;
    let mut b = EventPlanBuilder::default();
    b.container("user_properties")
        .container("events.params")
        .field("client_id", id)
        .field("user_id", id)
        .field("app_instance_id", id)
        .field("ip_override", FieldAction::VendorIp)
        .field(
            "user_location.city",
            FieldAction::Drop(RuleKind::PreciseLocation),
        )
        .field("user_agent", FieldAction::UserAgent)
        // Hashed e-mail and phone for enhanced conversions: personal data by design.
        .field("user_data", FieldAction::Drop(RuleKind::PropertyDeny))
        .field("events.name", FieldAction::Keep)
        .ensure("ip_override", Ensured::ClientIp);
    b.build(inputs.properties, (inputs.values)(), None)
}

fn gtag_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let id = inputs.identifier_action;
    let mut b = EventPlanBuilder::default();
    b.field("cid", id)
        .field("uid", id)
        .field("_uip", FieldAction::VendorIp)
        .field("tid", FieldAction::Keep)
        .field("en", FieldAction::EventName)
        .field("dr", FieldAction::Referrer)
        .ensure("_uip", Ensured::ClientIp);
    // Every parameter is a property here: `ep.*` event and `up.*` user parameters among them.
    b.container("");
    if inputs.denies("title") {
        // This vendor's name for the page title: gone wherever titles are denied.
        b.field("dt", FieldAction::Drop(RuleKind::PropertyDeny));
    }
    b.build(inputs.properties, (inputs.values)(), None)
}
