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

/// A JSON object's members in the order written, a name written twice kept twice: a map
/// would keep one of them (the last, in serde's maps) and so let a grant written after a
/// denial hide it. Readers fold every member, the stricter winning.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(clippy::disallowed_types)] // one consent object's few members, each a small value
pub struct Members(pub Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl Members {
    /// The members whose value is `true` or `false`, as per-category decisions.
    pub fn decisions(&self) -> impl Iterator<Item = (&str, bool)> {
        self.0
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.as_bool()?)))
    }
}

/// Every value of the query parameter `name` (as written, not decoded): a parameter sent
/// twice is read twice, so a second, stricter signal is never hidden by the first.
pub fn query_values<'q>(query: &'q str, name: &'q str) -> impl Iterator<Item = &'q str> {
    query
        .split('&')
        .filter_map(move |pair| pair.strip_prefix(name)?.strip_prefix('='))
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

    #[test]
    fn a_member_written_twice_is_read_twice() {
        let cats = Categories {
            analytics: vec!["analytics".into()],
            ads: vec!["ads".into()],
        };
        for (text, analytics) in [
            (r#"{"Analytics":false,"Analytics":true}"#, Denied),
            (r#"{"Analytics":true,"Analytics":false}"#, Denied),
            (
                r#"{"analytics":true,"ANALYTICS":false,"analytics":true}"#,
                Denied,
            ),
            (r#"{"analytics":true,"analytics":true}"#, Granted),
            (r#"{"analytics":"yes","analytics":true}"#, Granted),
        ] {
            let members: Members = field_value(text.as_bytes()).unwrap();
            assert_eq!(
                cats.read(members.decisions()).analytics,
                analytics,
                "{text}"
            );
        }
        assert!(field_value::<Members>(b"[1]").is_err());
    }

    /// A vendor's consent object with one of its own members written twice (two
    /// `categoryPreferences`) is not of the vendor's shape: refused, not read as either.
    #[test]
    fn a_shaped_field_with_a_member_twice_is_unreadable() {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        struct Field {
            category_preferences: Option<Members>,
        }
        let twice = br#"{"categoryPreferences":{"a":false},"categoryPreferences":{"a":true}}"#;
        assert!(field_value::<Option<Field>>(twice).is_err());
    }

    #[test]
    fn every_value_of_a_query_parameter_is_read() {
        let q = "a=1&gdpr_consent=x&gdpr_consent_extra=z&b=2&gdpr_consent=y";
        assert_eq!(
            query_values(q, "gdpr_consent").collect::<Vec<_>>(),
            ["x", "y"]
        );
        assert_eq!(query_values("", "a").count(), 0);
    }
}
