//! Matomo: `/matomo.php`, `/piwik.php`, `/js/`, `/js/tracker.php`. A hit is a query string: in
//! the URL (GET, and sendBeacon POSTs with an empty body), in a form body, or many of them in a
//! bulk `{"requests":["?idsite=...",...]}` body labelled as a form. Matomo ignores
//! X-Forwarded-For, so the visitor's (truncated) address can only be given as `cip`, which it
//! honours only with a `token_auth`: the route's `token_env`/`token_file` credential, added by
//! the proxy. A `token_auth` or `cip` the sender wrote is never passed on.

use std::sync::Arc;

use super::{trim_slash, BodyFormat, Endpoint, PlanInputs, SyntheticReply, Vendor, VendorSpec};
use crate::consent::{wire, Categories, Consent, State};
use crate::scrub::{
    BodyPlan, Envelope, EventConsentReader, EventPlan, EventPlanBuilder, FieldAction, GeoValue,
    IdShape, Place, RuleKind,
};

pub struct Matomo;

pub const SPEC: VendorSpec = VendorSpec {
    // The route's credential, without which Matomo ignores `cip` and the place.
    credential_param: Some("token_auth"),
    ..VendorSpec::new("matomo", &Matomo)
};

/// The user id, free text.
const USER_IDS: &[&str] = &["uid"];

/// Visitor ids, which Matomo refuses unless they are 16 hex digits (core/Tracker/Request.php,
/// `getVisitorId`): their pseudonyms keep that shape.
const VISITOR_IDS: &[&str] = &["_id", "cid"];

/// Parameters that place a visitor precisely; `country` stays (coarse).
/// A sender's own place (honoured only with a token, which the proxy never passes on): the
/// proxy adds its own with its credential.
const PLACE_PARAMS: &[&str] = &["city", "region", "country"];

/// Parameters holding JSON: content data. Client hints (`uadata`) are a user agent.
const JSON_PARAMS: &[&str] = &["data"];

/// Custom variables: `{"1":["name","value"],...}` (visit and page scope).
const CUSTOM_VARIABLES: &[&str] = &["_cvar", "cvar"];

impl Vendor for Matomo {
    fn dropped_reply(&self, _: &Endpoint, _: &str) -> SyntheticReply {
        SyntheticReply::text(204, "")
    }

    fn endpoint(&self, method: &http::Method, path: &str) -> Option<Endpoint> {
        let path = trim_slash(path);
        if !matches!(
            path,
            "/matomo.php" | "/piwik.php" | "/js" | "/js/tracker.php"
        ) {
            return None;
        }
        let format = match *method {
            http::Method::GET => BodyFormat::QueryEvent,
            http::Method::POST => BodyFormat::QueryEventBody,
            _ => return None,
        };
        Some(Endpoint {
            name: "hit",
            format,
            plan: 0,
        })
    }

    fn compile(&self, inputs: &PlanInputs<'_>) -> Vec<Arc<BodyPlan>> {
        vec![Arc::new(BodyPlan {
            envelope: Envelope::Event,
            event: hit_plan(inputs),
            envelope_members: EventPlanBuilder::default().build(
                inputs.properties,
                (inputs.values)(),
                None,
            ),
        })]
    }

    fn credential_params(&self, client_ip: &str, place: &Place) -> Vec<(&'static str, String)> {
        let mut params = vec![("cip", client_ip.to_owned())];
        // Matomo takes the country in lower case and the region as its code.
        if let Some(country) = place.text(GeoValue::Country) {
            params.push(("country", country.to_ascii_lowercase()));
        }
        for (name, value) in [("region", GeoValue::RegionCode), ("city", GeoValue::City)] {
            if let Some(text) = place.text(value) {
                params.push((name, text.into_owned()));
            }
        }
        params
    }

    fn event_consent(&self) -> Option<EventConsentReader> {
        Some(hit_consent)
    }

    /// A hit in the query (GET, or a POST's query) decides the request, and so the visitor
    /// address the proxy adds.
    fn query_consent(&self, query: &str) -> Consent {
        let flags = wire::query_values(query, "consent").map(|v| consent_flag(Some(v)));
        flags.fold(Consent::default(), Consent::and)
    }
}

/// `consent=1`: the tracker held the hit until the visitor consented (`requireConsent`).
/// Its absence says nothing: sites that do not ask never send it.
fn hit_consent(_: u8, value: &[u8], _: &Categories) -> Result<Consent, wire::Unreadable> {
    let flag: Option<std::borrow::Cow<'_, str>> = wire::field_value(value)?;
    Ok(consent_flag(flag.as_deref()))
}

/// `consent=1` grants analytics. `consent=0` denies it: Matomo's JavaScript tracker never
/// sends it (it holds hits until consent, then marks them `1`), so a hit that carries it
/// was marked by its sender as refused. Anything else says nothing.
fn consent_flag(flag: Option<&str>) -> Consent {
    let analytics = match flag {
        Some("1") => State::Granted,
        Some("0") => State::Denied,
        _ => State::Unknown,
    };
    Consent {
        analytics,
        ads: State::Unknown,
    }
}

fn hit_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let mut b = EventPlanBuilder::default();
    b.field("token_auth", FieldAction::Drop(RuleKind::PropertyDeny))
        .field("cip", FieldAction::Drop(RuleKind::IpField))
        .field("ua", FieldAction::UserAgent)
        .field("uadata", FieldAction::UserAgent)
        .field("urlref", FieldAction::Referrer)
        .field("idsite", FieldAction::Keep)
        .field("consent", FieldAction::ConsentSignal(0))
        .field("rec", FieldAction::Keep)
        // The browser's cookies-enabled flag (`cookie=1`), not a recorded cookie jar, which
        // goes wherever it is (`RECORDED_COOKIES`); the value rules still apply.
        .field("cookie", FieldAction::Keep);
    for id in USER_IDS {
        b.field(id, inputs.identifier_action);
    }
    for id in VISITOR_IDS {
        b.field(id, inputs.identifier_action.shaped(IdShape::Hex16));
    }
    for field in PLACE_PARAMS {
        b.field(field, FieldAction::Drop(RuleKind::Geo));
    }
    b.field("lat", FieldAction::Coordinate)
        .field("long", FieldAction::Coordinate);
    for field in JSON_PARAMS {
        b.container(field).field(field, FieldAction::JsonString);
    }
    for field in CUSTOM_VARIABLES {
        b.field(field, FieldAction::NamedPairs);
    }
    if inputs.denies("title") {
        // This vendor's name for the page title: gone wherever titles are denied.
        b.field("action_name", FieldAction::Drop(RuleKind::PropertyDeny));
    }
    b.build(inputs.properties, (inputs.values)(), None)
}
