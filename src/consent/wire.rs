//! Helpers for the vendors' own consent fields on the wire (Segment's
//! `context.consent.categoryPreferences`, RudderStack's `context.consentManagement`, GA4's
//! `gcs` and `npa`, Matomo's `consent`): the vendor files read their fields (each a plan
//! member the walk hands over), this module says what a category name means.

use super::{Consent, State};

/// Which category names mean each purpose (`[consent]` `analytics_categories` /
/// `ads_categories`), compared ignoring ASCII case.
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

/// A consent field's JSON value as `T`; a value not of `T`'s shape is an error.
pub fn field_value<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Unreadable> {
    serde_json::from_slice(bytes).map_err(|_| Unreadable)
}

/// A consent field not of the vendor's shape: the request is refused.
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
}
