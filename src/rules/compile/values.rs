//! The `[values]` table (and a route's override of it) → the value rules of the plans.

use super::super::file::ValuesFile;
use super::Errors;
use crate::scrub::keys::KeySet;
use crate::scrub::{CustomDetector, PseudonymKey, Replacement, Truncation, ValueRules};

/// The value rules of `v` (the `[values]` table, or a route's override of it, at `at`).
pub(super) fn value_rules_factory(
    v: &ValuesFile,
    at: &str,
    context: &ValueContext<'_>,
    errors: &mut Errors,
) -> impl Fn() -> ValueRules {
    let (ip_values, key) = (context.ip_values, context.key);
    let coordinate_decimals = context.coordinate_decimals;
    let path = |name: &str| format!("{at}.{name}");
    let mut replacement = |setting: &str, at: String, marker: &str| match setting {
        "redact" => Some(Replacement::Marker(marker.as_bytes().to_vec())),
        "hash" => Some(Replacement::Hash(key.clone())),
        "mask" => Some(Replacement::Mask {
            keep_last: v.mask_keep_last,
        }),
        "drop" => Some(Replacement::Drop),
        "keep" => None,
        _ => {
            errors.push(
                at,
                "must be \"redact\", \"hash\", \"mask\", \"drop\" or \"keep\"",
            );
            None
        }
    };
    let email_marker = replacement(&v.email, path("email"), &v.email_marker);
    let street_marker = replacement(
        &v.street_address,
        path("street_address"),
        &v.street_address_marker,
    );
    let phone_marker = replacement(&v.phone, path("phone"), &v.phone_marker);
    let card_marker = replacement(&v.card, path("card"), &v.card_marker);
    let iban_marker = replacement(&v.iban, path("iban"), &v.iban_marker);
    let ssn_marker = replacement(&v.ssn, path("ssn"), &v.ssn_marker);
    let token_marker = replacement(&v.token, path("token"), &v.token_marker);
    let location_marker = replacement(&v.coordinates, path("coordinates"), &v.coordinates_marker);
    let phone_national = v.phone_national;
    let (mut custom, mut refused) = (Vec::new(), Vec::new());
    for (i, c) in v.custom.iter().enumerate() {
        let at = path(&format!("custom[{i}]"));
        let marker = c.marker.clone().unwrap_or_else(|| format!("[{}]", c.name));
        let Some(replace) = replacement(&c.action, format!("{at}.action"), &marker) else {
            continue;
        };
        match CustomDetector::new(&c.name, c.pattern.as_deref(), &c.literals, replace) {
            Ok(detector) => custom.push(detector),
            Err(e) => refused.push((at, e.to_string())),
        }
    }
    for (at, why) in refused {
        errors.push(at, why);
    }
    let url_drop_fragments = match v.url_fragments.as_str() {
        "parameters" => false,
        "drop" => true,
        _ => {
            errors.push(path("url_fragments"), "must be \"parameters\" or \"drop\"");
            false
        }
    };
    let referrer_origin = match v.referrer.as_str() {
        "origin" => true,
        "full" => false,
        _ => {
            errors.push(path("referrer"), "must be \"origin\" or \"full\"");
            true
        }
    };
    let user_agent = match v.user_agent.as_str() {
        "coarse" => crate::scrub::UserAgentMode::Coarse,
        "drop" => crate::scrub::UserAgentMode::Drop,
        "keep" => crate::scrub::UserAgentMode::Keep,
        _ => {
            errors.push(
                path("user_agent"),
                "must be \"coarse\", \"drop\" or \"keep\"",
            );
            crate::scrub::UserAgentMode::Coarse
        }
    };
    let url_allow = v.scrub_urls.then(|| v.url_query_allow.clone());
    move || ValueRules {
        ip_values,
        email_marker: email_marker.clone(),
        street_marker: street_marker.clone(),
        phone_marker: phone_marker.clone(),
        phone_national,
        card_marker: card_marker.clone(),
        iban_marker: iban_marker.clone(),
        ssn_marker: ssn_marker.clone(),
        token_marker: token_marker.clone(),
        location_marker: location_marker.clone(),
        user_agent,
        referrer_origin,
        url_drop_fragments,
        custom: custom.clone(),
        coordinate_decimals,
        url_query_allow: url_allow
            .as_ref()
            .map(|list| KeySet::new(list.iter().map(String::as_str))),
    }
}

/// `[values]` with a route's own settings in place of the ones it names.
// Rules loading: two small tables merged as documents.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub(super) fn route_values(
    values: &ValuesFile,
    over: &serde_json::Map<String, serde_json::Value>,
    at: &str,
    errors: &mut Errors,
) -> Option<ValuesFile> {
    let mut merged = serde_json::to_value(values).ok()?;
    if let Some(map) = merged.as_object_mut() {
        map.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    serde_json::from_value(merged)
        .map_err(|e| errors.push(at, e.to_string()))
        .ok()
}

/// What a route's own value rules are built with besides its `values` table.
pub(super) struct ValueContext<'a> {
    pub ip_values: Option<Truncation>,
    pub key: &'a PseudonymKey,
    /// `[geo]`'s rounding of the vendors' coordinate fields.
    pub coordinate_decimals: Option<u8>,
}
