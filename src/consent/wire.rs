//! Helpers for the vendors' own consent fields on the wire (Segment's
//! `context.consent.categoryPreferences`, RudderStack's `context.consentManagement`, GA4's
//! `gcs` and `npa`, Matomo's `consent`): the vendor files read their fields, this module
//! says what a category name means.

use super::{Consent, State};

/// Which category names mean each purpose (`[consent]` `cookie_analytics` / `cookie_ads`),
/// compared ignoring ASCII case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Categories {
    pub analytics: Vec<String>,
    pub ads: Vec<String>,
}

impl Categories {
    /// What a set of per-category decisions says: each purpose takes the stricter of the
    /// categories that mean it; categories that mean neither are ignored.
    pub fn read<'a>(&self, decisions: impl IntoIterator<Item = (&'a str, bool)>) -> Consent {
        let mut consent = Consent::default();
        for (category, granted) in decisions {
            let state = State::from_bool(granted);
            let means = |names: &[String]| names.iter().any(|n| n.eq_ignore_ascii_case(category));
            if means(&self.analytics) {
                consent.analytics = consent.analytics.and(state);
            }
            if means(&self.ads) {
                consent.ads = consent.ads.and(state);
            }
        }
        consent
    }
}

/// Whether the event may hold one of `keys` (as a JSON key, quotes included) and so must be
/// parsed: a cheap scan that skips the parse for the many events without consent fields. An
/// escape anywhere could spell a key otherwise, so it counts as a mention.
pub fn mentions(event: &[u8], keys: &[&[u8]]) -> bool {
    keys.iter()
        .any(|key| memchr::memmem::find(event, key).is_some())
        || memchr::memmem::find(event, b"\\u").is_some()
}

/// The first JSON value of `bytes` as `T`; what follows it (the next events of a batch) is
/// not read. An event cut short, or not of `T`'s shape, is an error.
pub fn first_value<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Unreadable> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    T::deserialize(&mut de).map_err(|_| Unreadable)
}

/// An event whose consent fields cannot be read: cut short (the framer then retries it
/// whole) or not of the vendor's shape (the request is refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unreadable;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::State::*;

    #[test]
    fn categories_map_to_purposes_the_stricter_winning() {
        let cats = Categories {
            analytics: vec!["Analytics".into(), "C0002".into()],
            ads: vec!["advertising".into()],
        };
        let c = cats.read([
            ("analytics", true),
            ("Advertising", false),
            ("Other", false),
        ]);
        assert_eq!((c.analytics, c.ads), (Granted, Denied));
        let c = cats.read([("analytics", true), ("c0002", false)]);
        assert_eq!((c.analytics, c.ads), (Denied, Unknown));
        assert_eq!(cats.read([]), Consent::default());
    }

    #[test]
    fn mentions_finds_keys_and_escapes() {
        assert!(mentions(
            br#"{"context":{"consent":{}}}"#,
            &[b"\"consent\""]
        ));
        assert!(!mentions(br#"{"context":{}}"#, &[b"\"consent\""]));
        assert!(mentions(br#"{"c\u006fnsent":1}"#, &[b"\"consent\""]));
    }
}
