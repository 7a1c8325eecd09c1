//! Google Analytics 4: the Measurement Protocol (`/mp/collect`, `/debug/mp/collect`: JSON with
//! `client_id`, `user_id`, `user_properties`, `events[].params`, `ip_override`,
//! `user_location`) and gtag.js hits (`/g/collect`: parameters in the query even for POST, and
//! optionally one hit per line in the body: `cid`, `uid`, `dl`, `dr`, `_uip`, `ep.*`, `up.*`).
//! The visitor's (truncated) address goes in `ip_override` / `_uip`, so Google geolocates the
//! visitor's network and never the proxy. Both answer 204 (2xx) with no body to read.

use std::sync::Arc;

use super::{
    trim_slash, BodyFormat, Endpoint, PlanInputs, PublishedLimits, SyntheticReply, Vendor,
    VendorSpec, KB,
};
use crate::consent::{wire, Categories, Consent, State};
use crate::scrub::{
    BodyPlan, Ensured, Envelope, EventConsentReader, EventPlan, EventPlanBuilder, FieldAction,
    GeoValue, NameTail, RuleKind, UserAgentMode,
};

pub struct Ga4;

pub const SPEC: VendorSpec = VendorSpec {
    // Measurement Protocol: 25 events and 130 kB a request.
    limits: PublishedLimits {
        max_events: Some(25),
        max_batch_bytes: Some(130 * KB),
        max_event_bytes: None,
    },
    ..VendorSpec::new("ga4", &Ga4)
};

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

    fn event_consent(&self) -> Option<EventConsentReader> {
        Some(event_consent)
    }

    /// Every `gcs` and `npa` the query carries, the stricter winning.
    fn query_consent(&self, query: &str) -> Consent {
        let gcs = wire::query_values(query, "gcs").map(|g| consent_mode(Some(g), None));
        let npa = wire::query_values(query, "npa").map(|n| consent_mode(None, Some(n)));
        gcs.chain(npa).fold(Consent::default(), Consent::and)
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

/// Consent Mode: in a gtag hit `gcs=G1xy` (x ad storage, y analytics storage) and `npa=1`
/// (no personalised ads); in a Measurement Protocol body `consent.ad_user_data` and
/// `ad_personalization` (`"GRANTED"`/`"DENIED"`) and the legacy `non_personalized_ads`.
fn event_consent(slot: u8, value: &[u8], _: &Categories) -> Result<Consent, wire::Unreadable> {
    #[derive(serde::Deserialize)]
    struct MeasurementConsent {
        ad_user_data: Option<String>,
        ad_personalization: Option<String>,
    }
    let text = || wire::field_value::<Option<String>>(value);
    Ok(match slot {
        GCS => consent_mode(text()?.as_deref(), None),
        NPA => consent_mode(None, text()?.as_deref()),
        NON_PERSONALIZED_ADS => Consent {
            ads: match wire::field_value::<Option<bool>>(value)? {
                Some(true) => State::Denied,
                _ => State::Unknown,
            },
            ..Consent::default()
        },
        _ => {
            let Some(c) = wire::field_value::<Option<MeasurementConsent>>(value)? else {
                return Ok(Consent::default());
            };
            let mut consent = Consent::default();
            for flag in [c.ad_user_data, c.ad_personalization].into_iter().flatten() {
                let state = match flag.as_str() {
                    "GRANTED" => State::Granted,
                    "DENIED" => State::Denied,
                    _ => State::Unknown,
                };
                consent.ads = consent.ads.and(state);
            }
            consent
        }
    })
}

/// The reader slots of GA4's consent fields.
const MP_CONSENT: u8 = 0;
const NON_PERSONALIZED_ADS: u8 = 1;
const GCS: u8 = 2;
const NPA: u8 = 3;

fn consent_mode(gcs: Option<&str>, npa: Option<&str>) -> Consent {
    let flag = |c: Option<u8>| match c {
        Some(b'1') => State::Granted,
        Some(b'0') => State::Denied,
        _ => State::Unknown,
    };
    let mut consent = Consent::default();
    if let Some(bits) = gcs.and_then(|g| g.strip_prefix("G1")).map(str::as_bytes) {
        consent.ads = flag(bits.first().copied());
        consent.analytics = flag(bits.get(1).copied());
    }
    if npa == Some("1") {
        consent.ads = State::Denied;
    }
    consent
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
        .geo("user_location.country_id", GeoValue::Country)
        .geo("user_location.region_id", GeoValue::RegionIso)
        .geo("user_location.city", GeoValue::City)
        .field("user_agent", FieldAction::UserAgent)
        // Hashed e-mail and phone for enhanced conversions: personal data by design.
        .field("user_data", FieldAction::Drop(RuleKind::PropertyDeny))
        .field("events.name", FieldAction::Keep)
        .field("consent", FieldAction::ConsentSignal(MP_CONSENT))
        .field(
            "non_personalized_ads",
            FieldAction::ConsentSignal(NON_PERSONALIZED_ADS),
        )
        .ensure("ip_override", Ensured::ClientIp);
    b.build(inputs.properties, (inputs.values)(), None)
}

/// gtag's parameters with no rule of their own, which the property and value rules decide
/// (`dl`, the page URL, keeps only the allowed query parameters). Any other parameter of a
/// hit is removed: the protocol is known, and a parameter nothing rules on is how a page or a
/// tag library gets a name or an address past every rule (the ga4mp library sends a user
/// property `name` as `nm`).
const GTAG_PARAMETERS: &[&str] = &[
    // Protocol, stream and tag: version, container hash, page id, tag experiments.
    "v",
    "gtm",
    "_p",
    "_gaz",
    "tag_exp",
    "_eu",
    "_gsid",
    "frm",
    "ngs",
    "are",
    "_z",
    "_dbg",
    "ir",
    "tfd",
    "richsstsse",
    "_r",
    "pscdl",
    "ecid",
    "_tu",
    "_ee",
    // Session and engagement.
    "sid",
    "sct",
    "seg",
    "_s",
    "_et",
    "_fv",
    "_ss",
    "_nsi",
    "_c",
    // Consent state beside gcs and npa (gcd, updates, DMA).
    "gcd",
    "gcu",
    "gcut",
    "gsu",
    "_npa",
    "dma",
    "dma_cps",
    // Page and browser: the URL (value rules), language, screen, currency.
    "dl",
    "ul",
    "sr",
    "cu",
    // Low-entropy client hints (brands, mobile, platform); the high-entropy ones go below.
    "uafvl",
    "uamb",
    "uap",
];

/// Families of gtag parameter names: event parameters (`ep.` text, `epn.` numbers), user
/// properties (`up.`, `upn.`) and items (`pr1`, `pr2`, ...). The property rules judge
/// each by the name after its prefix, the value rules its value; an item field by field
/// (`FieldAction::GtagItem`).
const GTAG_FAMILIES: &[(&str, NameTail, Option<FieldAction>)] = &[
    ("ep.", NameTail::Any, None),
    ("epn.", NameTail::Any, None),
    ("up.", NameTail::Any, None),
    ("upn.", NameTail::Any, None),
    ("pr", NameTail::Digits, Some(FieldAction::GtagItem)),
];

fn gtag_plan(inputs: &PlanInputs<'_>) -> EventPlan {
    let id = inputs.identifier_action;
    let mut b = EventPlanBuilder::default();
    b.field("cid", id)
        .field("uid", id)
        .field("_uip", FieldAction::VendorIp)
        .field("tid", FieldAction::Keep)
        .field("en", FieldAction::EventName)
        .field("dr", FieldAction::Referrer)
        .field("gcs", FieldAction::ConsentSignal(GCS))
        .field("npa", FieldAction::ConsentSignal(NPA))
        .ensure("_uip", Ensured::ClientIp);
    // Every parameter is a property here, and the parameter set is known: whatever is not
    // in it goes.
    b.container("").closed("");
    for name in GTAG_PARAMETERS {
        b.known(name);
    }
    for &(prefix, tail, action) in GTAG_FAMILIES {
        b.prefixed(prefix, tail, action);
    }
    if inputs.denies("title") {
        // This vendor's name for the page title: gone wherever titles are denied.
        b.field("dt", FieldAction::Drop(RuleKind::PropertyDeny));
    } else {
        b.known("dt");
    }
    let values = (inputs.values)();
    if values.user_agent != UserAgentMode::Keep {
        // Client hints beyond brands, mobile and platform: the device model, the OS version
        // and the CPU, as other vendors' hints are reduced.
        for hint in HIGH_ENTROPY_HINTS {
            b.field(hint, FieldAction::Drop(RuleKind::UserAgent));
        }
    } else {
        for hint in HIGH_ENTROPY_HINTS {
            b.known(hint);
        }
    }
    b.build(inputs.properties, values, None)
}

/// gtag's high-entropy client hints: model, platform version, architecture, bitness, WoW64.
const HIGH_ENTROPY_HINTS: &[&str] = &["uam", "uapv", "uaa", "uab", "uaw"];
