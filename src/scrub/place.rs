//! Where the visitor is, no more precisely than the rules allow: the geo lookup's result for
//! one request, written by the rewriter into the vendors' own geo fields.

use std::borrow::Cow;

/// How precise a place the vendors may learn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    None,
    #[default]
    Country,
    Region,
    City,
}

/// Where an address is, as precisely as asked and as the database knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// ISO 3166-2 subdivision code without the country prefix (`CA`), from City databases.
    pub region: Option<String>,
    /// The subdivision's English name (`California`), from City databases.
    pub region_name: Option<String>,
    /// The English city name, from City databases.
    pub city: Option<String>,
}

/// One spelling of the place a vendor field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeoValue {
    /// `US`.
    Country,
    /// `CA` (Matomo, PostHog's subdivision code).
    RegionCode,
    /// `US-CA` (GA4 `region_id`).
    RegionIso,
    /// `California`, or the code when the database has no name (Mixpanel, Amplitude).
    RegionName,
    /// `San Francisco`.
    City,
}

impl GeoValue {
    /// The precision a field of this kind reveals.
    pub fn precision(self) -> Precision {
        match self {
            GeoValue::Country => Precision::Country,
            GeoValue::RegionCode | GeoValue::RegionIso | GeoValue::RegionName => Precision::Region,
            GeoValue::City => Precision::City,
        }
    }
}

/// How a request's lookup went: the `result` label of `scrubproxy_geo_lookups_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeoLookup {
    Off,
    NotFound,
    Country,
    Region,
    City,
}

impl GeoLookup {
    pub const ALL: [GeoLookup; 5] = [
        GeoLookup::Off,
        GeoLookup::NotFound,
        GeoLookup::Country,
        GeoLookup::Region,
        GeoLookup::City,
    ];

    /// What a lookup at `precision` that found `place` was.
    pub fn of(precision: Precision, place: &Place) -> Self {
        if precision == Precision::None {
            GeoLookup::Off
        } else if place.city.is_some() {
            GeoLookup::City
        } else if place.region.is_some() {
            GeoLookup::Region
        } else if place.country.is_some() {
            GeoLookup::Country
        } else {
            GeoLookup::NotFound
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GeoLookup::Off => "off",
            GeoLookup::NotFound => "not_found",
            GeoLookup::Country => "found_country",
            GeoLookup::Region => "found_region",
            GeoLookup::City => "found_city",
        }
    }
}

impl Place {
    /// The text a field of kind `value` gets, if the lookup found it.
    pub fn text(&self, value: GeoValue) -> Option<Cow<'_, str>> {
        let region = || self.region.as_deref();
        match value {
            GeoValue::Country => self.country.as_deref().map(Cow::Borrowed),
            GeoValue::RegionCode => region().map(Cow::Borrowed),
            GeoValue::RegionIso => Some(Cow::Owned(format!(
                "{}-{}",
                self.country.as_deref()?,
                region()?
            ))),
            GeoValue::RegionName => self.region_name.as_deref().or(region()).map(Cow::Borrowed),
            GeoValue::City => self.city.as_deref().map(Cow::Borrowed),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.country.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_spelling_comes_from_what_the_lookup_found() {
        let place = Place {
            country: Some("US".into()),
            region: Some("CA".into()),
            region_name: None,
            city: None,
        };
        assert_eq!(place.text(GeoValue::RegionIso).as_deref(), Some("US-CA"));
        // Without a name, the code stands in for it.
        assert_eq!(place.text(GeoValue::RegionName).as_deref(), Some("CA"));
        assert_eq!(place.text(GeoValue::City), None);
        let country_only = Place {
            country: Some("NL".into()),
            ..Place::default()
        };
        assert_eq!(country_only.text(GeoValue::RegionIso), None);
        assert!(Place::default().is_empty());
    }
}
