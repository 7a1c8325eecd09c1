//! Plausible: `/api/event`, one event as JSON labelled `text/plain`: `n` name, `u` URL, `r`
//! referrer, `d` domain, `p` props (a JSON string in older trackers, an object in newer).
//! Plausible takes the visitor's address from `X-Plausible-IP` and needs the User-Agent for
//! its visitor hash and bot filter; it answers `202 ok` (`x-plausible-dropped` when discarded).

use std::sync::Arc;

use super::{
    trim_slash, BodyFormat, ClientIpHeader, Endpoint, PlanInputs, PublishedLimits,
    SyntheticReply, Vendor, VendorSpec,
};
use crate::scrub::{BodyPlan, Envelope, EventPlanBuilder, FieldAction};

pub struct Plausible;

pub const SPEC: VendorSpec = VendorSpec {
    // One event a request.
    limits: PublishedLimits {
        max_events: Some(1),
        max_batch_bytes: None,
        max_event_bytes: None,
    },
    needed_headers: &["user-agent"],
    client_ip_header: Some(ClientIpHeader {
        name: "x-plausible-ip",
        // With IPs removed, every visitor shares this address (Plausible would otherwise
        // count the proxy's address as the visitor's).
        placeholder: "0.0.0.0",
    }),
    ..VendorSpec::new("plausible", &Plausible)
};

impl Vendor for Plausible {
    fn dropped_reply(&self, _: &Endpoint, _: &str) -> SyntheticReply {
        SyntheticReply::text(202, "ok")
    }

    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint> {
        (method == http::Method::POST && trim_slash(path) == "/api/event").then_some(Endpoint {
            name: "event",
            format: BodyFormat::Json,
            plan: 0,
        })
    }

    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>> {
        let mut b = EventPlanBuilder::default();
        // The server reads properties from any of `m`, `meta`, `p` and `props`, and the
        // long names beside the short ones (wire-formats.md).
        for props in ["p", "props", "m", "meta"] {
            b.container(props).field(props, FieldAction::JsonString);
        }
        b.field("d", FieldAction::Keep)
            .field("domain", FieldAction::Keep)
            .field("n", FieldAction::EventName)
            .field("name", FieldAction::EventName)
            .field("r", FieldAction::Referrer)
            .field("referrer", FieldAction::Referrer);
        vec![Arc::new(BodyPlan {
            envelope: Envelope::Event,
            event: b.build(inputs.properties, (inputs.values)(), None),
            envelope_members: EventPlanBuilder::default().build(
                inputs.properties,
                (inputs.values)(),
                None,
            ),
        })]
    }
}
