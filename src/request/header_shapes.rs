//! The shapes forwarded header values must take. A header on the forward list is a channel
//! to the vendor beside the scrubbed body: a page or SDK that writes free text into it (a
//! name in `Accept`, an e-mail address in `X-Retry-Count`, a login in `Authorization`) would
//! pass every rule. So each value is checked against what its header really carries, and a
//! value that does not fit is not forwarded; one that fits is then read by the text
//! detectors, through the encodings they decode (a bearer token that is base64 of an
//! e-mail address, an IBAN as a media-type parameter), and goes if they find anything.

use std::sync::OnceLock;

use crate::scrub::{Report, ValueRules};
use crate::vendor::{AuthScheme, VendorKind};

/// What a forwarded header may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// The vendor's credential, in one of its schemes (`VendorSpec::authorization`; none
    /// for vendors whose SDKs send their key in the payload or the query: Amplitude, GA4,
    /// Matomo).
    Credential,
    /// A list of media ranges with token parameters (`application/json, */*;q=0.8`).
    MediaTypes,
    /// A small count (`X-Retry-Count: 3`).
    Count,
    /// Snowplow's `SP-Anonymous: *`.
    Star,
    /// Any other header the operator forwards: one token (letters, digits and
    /// `-._~+/=:`), at most `MAX_TOKEN` bytes; never spaces, quotes, commas or `@`.
    Token,
}

/// The forwarded headers whose shape is known, by lower-case name.
const SHAPES: &[(&str, Shape)] = &[
    ("authorization", Shape::Credential),
    ("accept", Shape::MediaTypes),
    ("x-retry-count", Shape::Count),
    ("sp-anonymous", Shape::Star),
];

/// Longest value of a `Token` or a credential's key.
const MAX_TOKEN: usize = 256;
/// Longest `Accept` list (browsers send about 150 bytes).
const MAX_MEDIA_TYPES: usize = 512;
/// Most digits of a retry count.
const MAX_COUNT_DIGITS: usize = 4;

/// Whether `value` of header `name` (lower case) may go to `vendor`: it takes the header's
/// shape and no text detector finds anything in it.
pub fn fits(vendor: VendorKind, name: &str, value: &[u8]) -> bool {
    takes_shape(vendor, name, value) && !holds_personal_data(credential_payload(value))
}

/// The text detectors with every row on but tokens (a credential is one) and URL
/// allow-lists, as headers are read with them.
fn header_detectors() -> &'static ValueRules {
    static RULES: OnceLock<ValueRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut rules = ValueRules::every_rule(None);
        rules.token_marker = None;
        rules.url_query_allow = None;
        rules
    })
}

/// What a credential carries after its scheme; other values whole.
fn credential_payload(value: &[u8]) -> &[u8] {
    value
        .strip_prefix(b"Bearer ")
        .or_else(|| value.strip_prefix(b"Basic "))
        .unwrap_or(value)
}

/// Whether a detector (through the views: base64, percent, entities) finds anything.
fn holds_personal_data(value: &[u8]) -> bool {
    let (mut out, mut tmp, mut report) = (Vec::new(), Vec::new(), Report::default());
    header_detectors().scrub(value, &mut out, &mut tmp, &mut report)
}

fn takes_shape(vendor: VendorKind, name: &str, value: &[u8]) -> bool {
    let shape = SHAPES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(Shape::Token, |&(_, s)| s);
    match shape {
        Shape::Credential => (vendor.spec().authorization)
            .iter()
            .any(|&scheme| credential(scheme, value)),
        Shape::MediaTypes => media_types(value),
        Shape::Count => {
            (1..=MAX_COUNT_DIGITS).contains(&value.len()) && value.iter().all(u8::is_ascii_digit)
        }
        Shape::Star => value == b"*",
        Shape::Token => token(value, MAX_TOKEN),
    }
}

/// Characters of a key, a secret or a token as vendors issue them.
fn key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c)
}

fn token(value: &[u8], max: usize) -> bool {
    (1..=max).contains(&value.len()) && value.iter().all(|&c| key_char(c) || c == b':')
}

fn credential(scheme: AuthScheme, value: &[u8]) -> bool {
    match scheme {
        AuthScheme::Bearer => value
            .strip_prefix(b"Bearer ")
            .is_some_and(|t| (1..=MAX_TOKEN).contains(&t.len()) && t.iter().all(|&c| key_char(c))),
        AuthScheme::BasicKey => value.strip_prefix(b"Basic ").is_some_and(basic_key),
    }
}

/// `base64(key:)` or `base64(key:secret)`, key and secret made of key characters: a write
/// key or token, never a person's login (`jane@example.com:...`).
fn basic_key(encoded: &[u8]) -> bool {
    use base64::Engine as _;
    if encoded.len() > 2 * MAX_TOKEN {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        return false;
    };
    let Some(colon) = memchr::memchr(b':', &decoded) else {
        return false;
    };
    let (key, secret) = (&decoded[..colon], &decoded[colon + 1..]);
    !key.is_empty() && key.iter().chain(secret).all(|&c| key_char(c))
}

/// RFC 9110 token characters.
fn tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| tchar(c))
}

/// `type/subtype` media ranges, comma-separated, each with `;name=value` parameters whose
/// values are tokens (`q=0.9`, `charset=utf-8`); quoted strings and free text are refused.
fn media_types(value: &[u8]) -> bool {
    if value.is_empty() || value.len() > MAX_MEDIA_TYPES {
        return false;
    }
    value.split(|&c| c == b',').all(|range| {
        let mut parts = range.split(|&c| c == b';').map(|p| p.trim_ascii());
        let media = parts.next().unwrap_or_default();
        let media_ok = media
            .iter()
            .position(|&c| c == b'/')
            .is_some_and(|slash| is_token(&media[..slash]) && is_token(&media[slash + 1..]));
        media_ok
            && parts.all(|param| {
                param
                    .iter()
                    .position(|&c| c == b'=')
                    .is_some_and(|eq| is_token(&param[..eq]) && is_token(&param[eq + 1..]))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn basic(s: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
        .into_bytes()
    }

    #[test]
    fn credentials_fit_their_vendors_scheme_only() {
        let segment_key = basic("2rtEkQ8a1GyVc7oT1ZzLr0lL9Vx5Wq3n:");
        assert!(fits(VendorKind::Segment, "authorization", &segment_key));
        assert!(fits(VendorKind::RudderStack, "authorization", &segment_key));
        assert!(fits(
            VendorKind::Mixpanel,
            "authorization",
            &basic("0123abcdef0123abcdef0123abcdef01:")
        ));
        let bearer = b"Bearer phc_AbC123xyz";
        assert!(fits(VendorKind::PostHog, "authorization", bearer));
        let refused: &[(VendorKind, Vec<u8>)] = &[
            (VendorKind::Segment, b"Bearer phc_AbC123xyz".to_vec()),
            (VendorKind::PostHog, segment_key.clone()),
            (VendorKind::Ga4, segment_key.clone()),
            (VendorKind::Amplitude, bearer.to_vec()),
            (VendorKind::Segment, basic("jane.doe@example.com:hunter2")),
            (VendorKind::Segment, basic("Jane Doe:")),
            (VendorKind::Segment, basic("no-colon-at-all")),
            (VendorKind::Segment, basic(":secret")),
            (VendorKind::Segment, b"Basic not*base64".to_vec()),
            (
                VendorKind::Segment,
                b"Jane Doe jane.doe@example.com".to_vec(),
            ),
            (VendorKind::PostHog, b"Bearer Jane Doe".to_vec()),
            (VendorKind::PostHog, b"Bearer ".to_vec()),
            (VendorKind::PostHog, b"bearer phc_x".to_vec()),
        ];
        for (vendor, value) in refused {
            assert!(
                !fits(*vendor, "authorization", value),
                "{vendor:?} {}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn accept_is_a_list_of_media_ranges() {
        for ok in [
            "*/*",
            "application/json",
            "application/json, text/plain, */*",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
            "application/json; charset=utf-8",
        ] {
            assert!(fits(VendorKind::Segment, "accept", ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "Jane Doe",
            "text/html, Jane Doe",
            "application/json; note=\"Jane Doe\"",
            "application/json; jane.doe@example.com",
            "jane.doe@example.com",
            "text/",
            "/json",
        ] {
            assert!(
                !fits(VendorKind::Segment, "accept", bad.as_bytes()),
                "{bad}"
            );
        }
        assert!(!fits(VendorKind::Segment, "accept", &[b'a'; 600]));
    }

    #[test]
    fn values_in_shape_still_meet_the_detectors() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let url = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let refused: Vec<(VendorKind, &str, Vec<u8>)> = vec![
            (
                VendorKind::PostHog,
                "authorization",
                format!("Bearer {}", url("{\"user\":\"k.lind@foretag.se\"}")).into_bytes(),
            ),
            (
                VendorKind::PostHog,
                "authorization",
                format!("Bearer {}", b64("maria.k@przyklad.pl")).into_bytes(),
            ),
            (
                VendorKind::Segment,
                "accept",
                b"application/json; acct=DE89370400440532013000".to_vec(),
            ),
            (
                VendorKind::Segment,
                "x-api-key",
                b64("k.lind@foretag.se").into_bytes(),
            ),
            (
                VendorKind::Segment,
                "x-api-key",
                b"4111111111111111".to_vec(),
            ),
        ];
        for (vendor, name, value) in refused {
            assert!(
                takes_shape(vendor, name, &value),
                "{name}: the shape alone lets it through"
            );
            assert!(
                !fits(vendor, name, &value),
                "{name}: {}",
                String::from_utf8_lossy(&value)
            );
        }
        for (vendor, name, value) in [
            (
                VendorKind::PostHog,
                "authorization",
                &b"Bearer phc_AbC123xyzQ9kLmN0pR"[..],
            ),
            (
                VendorKind::Segment,
                "authorization",
                b"Basic ZmFrZS13cml0ZS1rZXktYWR2Og==",
            ),
            (
                VendorKind::Segment,
                "accept",
                b"application/json;q=0.9, */*;q=0.8",
            ),
            (VendorKind::Segment, "x-retry-count", b"3"),
            (VendorKind::Segment, "x-api-key", b"k3y_abc-123"),
        ] {
            assert!(
                fits(vendor, name, value),
                "{}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn counts_stars_and_tokens() {
        assert!(fits(VendorKind::Segment, "x-retry-count", b"3"));
        assert!(fits(VendorKind::Segment, "x-retry-count", b"12"));
        for bad in ["", "three", "3 Jane", "-1", "12345", "1.5"] {
            assert!(
                !fits(VendorKind::Segment, "x-retry-count", bad.as_bytes()),
                "{bad}"
            );
        }
        assert!(fits(VendorKind::Snowplow, "sp-anonymous", b"*"));
        assert!(!fits(VendorKind::Snowplow, "sp-anonymous", b"Jane"));
        assert!(fits(VendorKind::Segment, "x-api-key", b"k3y_abc-123"));
        for bad in ["Jane Doe", "jane.doe@example.com", "a,b", "\"q\""] {
            assert!(
                !fits(VendorKind::Segment, "x-api-key", bad.as_bytes()),
                "{bad}"
            );
        }
    }
}
