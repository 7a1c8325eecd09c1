//! Segment (and its HTTP API): analytics-next's one-letter paths `/v1/t` ... `/v1/b`, the
//! long forms and `/v1/batch`. JSON whatever the Content-Type; `context.ip` is its IP field.

use std::sync::Arc;

use super::{
    trim_slash, AuthScheme, BodyFormat, Endpoint, PlanInputs, PublishedLimits, SyntheticReply,
    Vendor, VendorSpec, KB,
};
use crate::consent::{wire, Categories, Consent};
use crate::scrub::{
    BodyPlan, Ensured, Envelope, EventConsentReader, EventPlan, EventPlanBuilder, FieldAction,
    GeoValue,
};

pub struct Segment;

pub const SPEC: VendorSpec = VendorSpec {
    // "500 KB per batch request and 32 KB per call" (HTTP Tracking API).
    limits: PublishedLimits {
        max_events: None,
        max_batch_bytes: Some(500 * KB),
        max_event_bytes: Some(32 * KB as usize),
    },
    authorization: &[AuthScheme::BasicKey],
    ..VendorSpec::new("segment", &Segment)
};

const SINGLE: usize = 0;
const BATCH: usize = 1;

/// Segment writes the request address into `context.ip` when none is given: with IPs removed,
/// an explicit unroutable address stops it from recording the proxy's.
const NO_IP_PLACEHOLDER: &str = "0.0.0.0";

impl Vendor for Segment {
    fn dropped_reply(&self, _: &Endpoint, _: &str) -> SyntheticReply {
        SyntheticReply::json(200, r#"{"success":true}"#)
    }

    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint> {
        if method != http::Method::POST {
            return None;
        }
        let (name, plan) = match trim_slash(path) {
            "/v1/t" | "/v1/track" => ("track", SINGLE),
            "/v1/p" | "/v1/page" => ("page", SINGLE),
            "/v1/i" | "/v1/identify" => ("identify", SINGLE),
            "/v1/g" | "/v1/group" => ("group", SINGLE),
            "/v1/a" | "/v1/alias" => ("alias", SINGLE),
            "/v1/s" | "/v1/screen" => ("screen", SINGLE),
            "/v1/b" | "/v1/batch" | "/v1/import" => ("batch", BATCH),
            _ => return None,
        };
        Some(Endpoint {
            name,
            format: BodyFormat::Json,
            plan,
        })
    }

    fn event_consent(&self) -> Option<EventConsentReader> {
        Some(event_consent)
    }

    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>> {
        vec![
            Arc::new(BodyPlan {
                envelope: Envelope::Event,
                event: event_plan(inputs),
                envelope_members: envelope_plan(inputs),
            }),
            Arc::new(BodyPlan {
                envelope: Envelope::Batch { key: "batch" },
                event: batch_event_plan(inputs),
                envelope_members: envelope_plan(inputs),
            }),
        ]
    }
}

/// The spec's `traits.id`, the user's id in the customer's database, where identify calls
/// put it and analytics.js copies the user's traits (`context.traits`).
const USER_IDS: &[&str] = &["traits.id", "context.traits.id"];

/// The mobile libraries' device id, IDFA / Android advertising id, and the device's push
/// token, which reaches that one device.
const DEVICE_IDS: &[&str] = &[
    "context.device.id",
    "context.device.advertisingId",
    "context.device.token",
];

/// `context` members named `name` that describe software (a device name is a person's).
const TECHNICAL_NAMES: &[&str] = &[
    "context.library.name",
    "context.app.name",
    "context.os.name",
    "context.campaign.name",
];

fn event_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    event_fields(inputs).build(
        inputs.properties,
        (inputs.values)(),
        Some(NO_IP_PLACEHOLDER),
    )
}

/// A batch's events say what they are: one without a `type` is refused, not filled in.
fn batch_event_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let mut b = event_fields(inputs);
    b.ensure("type", Ensured::Required);
    b.build(
        inputs.properties,
        (inputs.values)(),
        Some(NO_IP_PLACEHOLDER),
    )
}

/// The Segment spec's field map, which Segment-compatible vendors (RudderStack) extend.
pub(super) fn event_fields(inputs: &PlanInputs<'_>) -> EventPlanBuilder {
    let mut b = EventPlanBuilder::default();
    b.container("properties")
        .container("traits")
        .container("context")
        // Per-destination settings can carry ids and names too (`Intercom.user_hash`).
        .container("integrations")
        .field("userId", inputs.identifier_action)
        .field("anonymousId", inputs.identifier_action)
        .field("previousId", inputs.identifier_action)
        .field("context.traits.userId", inputs.identifier_action);
    for id in USER_IDS {
        b.field(id, inputs.identifier_action);
    }
    for id in DEVICE_IDS {
        b.field(id, inputs.identifier_action);
    }
    b.field("context.ip", FieldAction::VendorIp)
        .field("context.ip", FieldAction::VendorIp)
        .field("context.consent", FieldAction::ConsentSignal(0))
        .field("writeKey", FieldAction::Keep)
        .field("messageId", FieldAction::Keep)
        .field("event", FieldAction::EventName)
        .field("context.userAgent", FieldAction::UserAgent)
        // Client hints hold the device model and full versions: reduced like the UA.
        .field("context.userAgentData", FieldAction::UserAgent)
        .field("context.page.referrer", FieldAction::Referrer)
        .field("properties.referrer", FieldAction::Referrer)
        .ensure("context.ip", Ensured::ClientIp);
    location_fields(&mut b, true);
    // Names of software, not of people: kept whatever the deny list says about `name`.
    for technical in TECHNICAL_NAMES {
        b.field(technical, FieldAction::Keep);
    }
    b
}

/// `context.consent.categoryPreferences`: `{"Analytics": true, "Advertising": false}`, set by
/// Segment's consent wrappers (OneTrust's among them) on every event. `value` is the
/// `context.consent` object.
#[allow(clippy::disallowed_types)] // the categories in one event's consent field
pub(super) fn event_consent(
    _: u8,
    value: &[u8],
    categories: &Categories,
) -> Result<Consent, wire::Unreadable> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ConsentField {
        // Every member: a category named twice is read as the stricter.
        category_preferences: Option<wire::Members>,
    }
    let Some(field) = wire::field_value::<Option<ConsentField>>(value)? else {
        return Ok(Consent::default());
    };
    let preferences = field.category_preferences.unwrap_or_default();
    Ok(categories.read(preferences.decisions()))
}

/// `context.location`: the proxy's place in `country`, `region` and `city` (written when
/// absent only in events: an envelope member is scrubbed alone, and would get a second
/// `context`); coordinates rounded or dropped; its other members (`speed`) under the key
/// rules like any context.
fn location_fields(b: &mut EventPlanBuilder, write_when_absent: bool) {
    b.field("context.location", FieldAction::Keep)
        .field("context.location.latitude", FieldAction::Coordinate)
        .field("context.location.longitude", FieldAction::Coordinate);
    for (path, value) in [
        ("context.location.country", GeoValue::Country),
        ("context.location.region", GeoValue::RegionName),
        ("context.location.city", GeoValue::City),
    ] {
        if write_when_absent {
            b.geo(path, value);
        } else {
            b.field(path, FieldAction::Geo(value));
        }
    }
}

/// Members of a batch envelope beside `batch`: `writeKey`, `sentAt`, and a shared `context`.
pub(super) fn envelope_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let mut b = EventPlanBuilder::default();
    let id = inputs.identifier_action;
    // Whatever a client puts beside the batch goes upstream too: every member gets the key
    // rules, as in a property container.
    b.container("")
        .container("context")
        .field("writeKey", FieldAction::Keep)
        .field("sentAt", FieldAction::Keep)
        .field("userId", id)
        .field("anonymousId", id)
        .field("context.traits.userId", id)
        .field("context.ip", FieldAction::VendorIp)
        .field("context.consent", FieldAction::ConsentSignal(0));
    for path in USER_IDS.iter().chain(DEVICE_IDS) {
        b.field(path, id);
    }
    location_fields(&mut b, false);
    b.build(
        inputs.properties,
        (inputs.values)(),
        Some(NO_IP_PLACEHOLDER),
    )
}
