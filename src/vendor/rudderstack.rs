//! RudderStack: the Segment spec on its own paths (`/v1/track` ... with the type spelled out,
//! `/v1/batch`, the beacon plugin's `/beacon/v1/batch?writeKey=`). Its gateway takes the client
//! address from a payload-level `request_ip` before any header, so every event gets one; its
//! browser SDK also sends the anonymous id, base64-encoded, in an `AnonymousId` header. The
//! pixel API (`GET /pixel/v1/track|page`) carries one event in the query.

use std::sync::Arc;

use super::segment::{envelope_plan, event_fields};
use super::{
    trim_slash, AuthScheme, BodyFormat, Endpoint, PlanInputs, PublishedLimits, QueryNames,
    SyntheticReply, Vendor, VendorSpec, KB,
};
use crate::consent::{wire, Categories, Consent};
use crate::scrub::{BodyPlan, Ensured, Envelope, EventConsentReader, FieldAction};

pub struct RudderStack;

pub const SPEC: VendorSpec = VendorSpec {
    // The data plane's default request limit (`maxReqSizeInKB = 4000`); events as Segment's,
    // whose spec it implements.
    limits: PublishedLimits {
        max_events: None,
        max_batch_bytes: Some(4000 * KB),
        max_event_bytes: Some(32 * KB as usize),
    },
    // The browser SDK's anonymous id, base64.
    identifier_headers: &["anonymousid"],
    // The pixel API's `context.page.url`, `properties.plan`: the gateway nests them.
    query_names: QueryNames::Dotted,
    authorization: &[AuthScheme::BasicKey],
    ..VendorSpec::new("rudderstack", &RudderStack)
};

const SINGLE: usize = 0;
const BATCH: usize = 1;

/// With IPs removed, an explicit unroutable address stops the gateway from using ours.
const NO_IP_PLACEHOLDER: &str = "0.0.0.0";

impl Vendor for RudderStack {
    fn dropped_reply(&self, _: &Endpoint, _: &str) -> SyntheticReply {
        SyntheticReply::text(200, "OK")
    }

    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint> {
        if method == http::Method::GET {
            // The pixel API: one event in the query (`/pixel/v1/track?writeKey=...&event=...`).
            return matches!(trim_slash(path), "/pixel/v1/track" | "/pixel/v1/page").then_some(
                Endpoint {
                    name: "pixel",
                    format: BodyFormat::QueryEvent,
                    plan: SINGLE,
                },
            );
        }
        if method != http::Method::POST {
            return None;
        }
        let (name, plan) = match trim_slash(path) {
            "/v1/track" => ("track", SINGLE),
            "/v1/page" => ("page", SINGLE),
            "/v1/identify" => ("identify", SINGLE),
            "/v1/group" => ("group", SINGLE),
            "/v1/alias" => ("alias", SINGLE),
            "/v1/screen" => ("screen", SINGLE),
            "/v1/batch" | "/beacon/v1/batch" => ("batch", BATCH),
            _ => return None,
        };
        Some(Endpoint {
            name,
            format: BodyFormat::Json,
            plan,
        })
    }

    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>> {
        // A batch's events say what they are: one without a `type` is refused.
        let event = |envelope| {
            let mut b = event_fields(inputs);
            if matches!(envelope, Envelope::Batch { .. }) {
                b.ensure("type", Ensured::Required);
            }
            b.container("context.consentManagement")
                .field(
                    "context.consentManagement",
                    FieldAction::ConsentSignal(CONSENT_MANAGEMENT),
                )
                .field("request_ip", FieldAction::VendorIp)
                .ensure("request_ip", Ensured::ClientIp);
            b.build(
                inputs.properties,
                (inputs.values)(),
                Some(NO_IP_PLACEHOLDER),
            )
        };
        [Envelope::Event, Envelope::Batch { key: "batch" }]
            .into_iter()
            .map(|envelope| {
                Arc::new(BodyPlan {
                    envelope,
                    event: event(envelope),
                    envelope_members: envelope_plan(inputs),
                })
            })
            .collect()
    }

    fn event_consent(&self) -> Option<EventConsentReader> {
        Some(event_consent)
    }
}

/// The reader slot of `context.consentManagement`; slot 0 is Segment's `context.consent`,
/// which this vendor's Segment field map also marks.
const CONSENT_MANAGEMENT: u8 = 1;

/// `context.consentManagement`: `{"allowedConsentIds": [...], "deniedConsentIds": [...]}`,
/// the consent manager's category ids (OneTrust's `C0002`, ...); or, in slot 0, Segment's
/// `context.consent`.
#[allow(clippy::disallowed_types)] // the ids in one event's consent field
fn event_consent(
    slot: u8,
    value: &[u8],
    categories: &Categories,
) -> Result<Consent, wire::Unreadable> {
    if slot != CONSENT_MANAGEMENT {
        return super::segment::event_consent(slot, value, categories);
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase", default)]
    struct Management {
        allowed_consent_ids: Vec<serde_json::Value>,
        denied_consent_ids: Vec<serde_json::Value>,
    }
    fn ids(list: &[serde_json::Value], granted: bool) -> Vec<(&str, bool)> {
        list.iter()
            .filter_map(|id| Some((id.as_str()?, granted)))
            .collect()
    }
    let m = wire::field_value::<Option<Management>>(value)?.unwrap_or_default();
    let mut decisions = ids(&m.allowed_consent_ids, true);
    decisions.extend(ids(&m.denied_consent_ids, false));
    Ok(categories.read(decisions))
}
