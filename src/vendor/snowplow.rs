//! Snowplow: `POST /com.snowplowanalytics.snowplow/tp2` with a `payload_data` envelope of
//! events, and `GET /i` (or `/ice.png`) with one event in the query. Events are flat maps of
//! tracker parameters; contexts and self-describing events are JSON in `co` / `ue_pr`, or
//! base64url JSON without padding in `cx` / `ue_px`, and are scrubbed inside (geolocation,
//! user and page contexts) and encoded back the same way. The collector answers `ok` or a GIF.

use std::sync::Arc;

use super::{
    trim_slash, AuthScheme, BodyFormat, Endpoint, PlanInputs, SyntheticReply, Vendor, VendorSpec,
};
use crate::scrub::{
    BodyPlan, Ensured, Envelope, EventPlan, EventPlanBuilder, FieldAction, IdShape, RuleKind,
};

pub struct Snowplow;

pub const SPEC: VendorSpec = VendorSpec {
    // `SP-Anonymous: *` asks the collector to drop the IP, X-Forwarded-For and cookie ids
    // itself: sent when IPs are removed, and passed on when the tracker sends it.
    no_ip_headers: &[("sp-anonymous", "*")],
    needed_headers: &["sp-anonymous"],
    // Sent by trackers in anonymous mode, often until the visitor consents.
    anonymous_header: Some("sp-anonymous"),
    // A self-hosted collector may sit behind either.
    authorization: &[AuthScheme::BasicKey, AuthScheme::Bearer],
    ..VendorSpec::new("snowplow", &Snowplow)
};

/// A 1x1 transparent GIF, what pixel endpoints answer.
pub(super) const TRANSPARENT_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

const POSTED: usize = 0;
const PIXEL: usize = 1;

/// Tracker parameters that identify a user or device across visits, free text: the user id,
/// the device's MAC address and the tracker's browser fingerprint.
const IDENTIFIERS: &[&str] = &["uid", "mac", "fp"];

/// The domain and network user ids, UUIDs (the `_sp_id` and `sp` cookies): their pseudonyms
/// are UUIDs too, as the collector and the trackers make them.
const UUID_IDENTIFIERS: &[&str] = &[
    "duid",
    "nuid",
    "tnuid",
    "domain_userid",
    "network_userid",
];

/// Ids in contexts, UUIDs by their schemas: the client session's user and previous
/// session ids, and the mobile context's advertising, vendor and app set ids.
const CONTEXT_IDENTIFIERS: &[&str] = &[
    "userId",
    "previousSessionId",
    "appleIdfa",
    "appleIdfv",
    "androidIdfa",
    "appSetId",
];

/// Parameters holding JSON, and holding base64url JSON.
const JSON_FIELDS: &[&str] = &["co", "ue_pr"];
const BASE64_JSON_FIELDS: &[&str] = &["cx", "ue_px"];

impl Vendor for Snowplow {
    /// `ok` for posts; the pixel endpoints answer with a 1x1 GIF.
    fn dropped_reply(&self, endpoint: &Endpoint, _: &str) -> SyntheticReply {
        if endpoint.plan == PIXEL {
            SyntheticReply {
                status: 200,
                content_type: "image/gif",
                body: TRANSPARENT_GIF.to_vec(),
            }
        } else {
            SyntheticReply::text(200, "ok")
        }
    }

    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint> {
        let path = trim_slash(path);
        match (method, path) {
            (&http::Method::POST, "/com.snowplowanalytics.snowplow/tp2") => Some(Endpoint {
                name: "tp2",
                format: BodyFormat::Json,
                plan: POSTED,
            }),
            (&http::Method::GET, "/i" | "/ice.png" | "/com.snowplowanalytics.snowplow/i") => {
                Some(Endpoint {
                    name: "pixel",
                    format: BodyFormat::QueryEvent,
                    plan: PIXEL,
                })
            }
            _ => None,
        }
    }

    /// A POST's events are in its body; the collector keeps the query beside them, so the
    /// identifying tracker parameters trackers never put there are not passed on (the
    /// query's other parameters had the value rules).
    fn upstream_query(&self, endpoint: &Endpoint, query: &str) -> String {
        if endpoint.plan != POSTED {
            return query.to_owned();
        }
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| !names_identifier(p.split_once('=').map_or(*p, |(name, _)| name)))
            .collect::<Vec<_>>()
            .join("&")
    }

    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>> {
        let mut envelope = EventPlanBuilder::default();
        envelope.field("schema", FieldAction::Keep);
        // A tracker parameter beside `data` is one the collector may read with every event.
        identifier_fields(&mut envelope, inputs);
        let envelope = envelope.build(inputs.properties, (inputs.values)(), None);
        let empty =
            || EventPlanBuilder::default().build(inputs.properties, (inputs.values)(), None);
        vec![
            Arc::new(BodyPlan {
                envelope: Envelope::Batch { key: "data" },
                event: event_plan(inputs),
                envelope_members: envelope,
            }),
            Arc::new(BodyPlan {
                envelope: Envelope::Event,
                event: event_plan(inputs),
                envelope_members: empty(),
            }),
        ]
    }
}

/// Whether a query parameter's name (as sent) is an identifying tracker parameter, in any
/// spelling the key rules would match (`UID`, `d%75id`).
fn names_identifier(raw_name: &str) -> bool {
    // A name that does not decode is not passed on either.
    let Ok(name) = crate::decode::transform_all(
        &mut crate::decode::PercentDecoder::new(true),
        raw_name.as_bytes(),
    ) else {
        return true;
    };
    let name = crate::scrub::keys::normalize(&String::from_utf8_lossy(&name));
    IDENTIFIERS
        .iter()
        .chain(UUID_IDENTIFIERS)
        .any(|id| crate::scrub::keys::normalize(id) == name)
}

/// The tracker parameters that identify, as they sit in an event or beside a batch's `data`.
fn identifier_fields(b: &mut EventPlanBuilder, inputs: &PlanInputs<'_>) {
    for id in IDENTIFIERS {
        b.field(id, inputs.identifier_action);
    }
    for id in UUID_IDENTIFIERS {
        b.field(id, inputs.identifier_action.shaped(IdShape::Uuid));
    }
}

fn event_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let mut b = EventPlanBuilder::default();
    b.field("ip", FieldAction::VendorIp)
        .field("ua", FieldAction::UserAgent)
        .field("refr", FieldAction::Referrer)
        .field("eid", FieldAction::Keep)
        .field("e", FieldAction::EventName)
        // Every tracker event names its kind (`e=pv`, `e=ue`, ...).
        .ensure("e", Ensured::Required)
        .field("aid", FieldAction::Keep)
        // The browser's cookies-enabled flag (`cookie=1`), not a recorded cookie jar, which
        // goes wherever it is (`RECORDED_COOKIES`); the value rules still apply.
        .field("cookie", FieldAction::Keep)
        .ensure("ip", Ensured::ClientIp);
    identifier_fields(&mut b, inputs);
    for field in JSON_FIELDS {
        b.container(field).field(field, FieldAction::JsonString);
    }
    for field in BASE64_JSON_FIELDS {
        b.container(field)
            .field(field, FieldAction::Base64JsonString);
    }
    // Inside contexts (`{"schema":..,"data":[{"schema":..,"data":{..}}]}`), the client
    // session context carries the tracker's cookie user id.
    for field in JSON_FIELDS.iter().chain(BASE64_JSON_FIELDS) {
        for id in CONTEXT_IDENTIFIERS {
            b.field(
                &format!("{field}.data.data.{id}"),
                inputs.identifier_action.shaped(IdShape::Uuid),
            );
        }
        // The geolocation context's coordinates.
        for coordinate in ["latitude", "longitude"] {
            b.field(
                &format!("{field}.data.data.{coordinate}"),
                FieldAction::Coordinate,
            );
        }
    }
    if inputs.denies("title") {
        // This vendor's name for the page title: gone wherever titles are denied.
        b.field("page", FieldAction::Drop(RuleKind::PropertyDeny));
    }
    b.build(inputs.properties, (inputs.values)(), None)
}
