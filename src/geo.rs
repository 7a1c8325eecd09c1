//! Geolocation: from an address to a country, a region or a city, with the real MaxMind DB
//! reader. The database is read from memory (the embedded default, or a file the rules name,
//! read at load); lookups never touch the disk. The rules snapshot holds the database
//! (`rules::GeoRules::locate`), and the place it gives is written into the vendors' geo fields.

use std::net::IpAddr;

use serde::Deserialize;

/// The country database compiled into the binary (see `geo/NOTICE.md`).
static EMBEDDED: &[u8] = include_bytes!("geo/geo-whois-asn-country.mmdb");

pub use crate::scrub::{Place, Precision};

/// Why a database was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot read the database file: {0}")]
    Read(std::io::ErrorKind),
    #[error("not a MaxMind DB file")]
    Format,
}

/// A loaded database.
pub struct GeoDb {
    reader: maxminddb::Reader<bytes::Bytes>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("database_type", &self.database_type())
            .field("build_epoch", &self.build_epoch())
            .finish()
    }
}

/// The members of a record this module reads: GeoIP2 / GeoLite2 (`country.iso_code`,
/// `subdivisions`, `city.names`) and the flat `country_code` of the embedded database.
#[derive(Deserialize)]
struct Record {
    country_code: Option<String>,
    country: Option<IsoCode>,
    #[serde(default)]
    subdivisions: Vec<IsoCode>,
    city: Option<Names>,
}

#[derive(Deserialize)]
struct IsoCode {
    iso_code: Option<String>,
    names: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct Names {
    #[serde(default)]
    names: std::collections::BTreeMap<String, String>,
}

impl GeoDb {
    /// The embedded country database.
    pub fn embedded() -> Self {
        // Checked by the tests: the embedded file is a valid database.
        GeoDb::from_bytes(bytes::Bytes::from_static(EMBEDDED))
            .unwrap_or_else(|_| unreachable!("the embedded database is checked by the tests"))
    }

    /// A database from its bytes.
    pub fn from_bytes(bytes: bytes::Bytes) -> Result<Self, GeoError> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|_| GeoError::Format)?;
        Ok(GeoDb { reader })
    }

    /// A database from a file, read whole now.
    pub fn from_file(path: &std::path::Path) -> Result<Self, GeoError> {
        let bytes = std::fs::read(path).map_err(|e| GeoError::Read(e.kind()))?;
        GeoDb::from_bytes(bytes.into())
    }

    /// `GeoIP2-City`, `GeoLite2-Country`, ...: what the file says it is.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// When the database was built (Unix time), for the metrics.
    pub fn build_epoch(&self) -> u64 {
        self.reader.metadata().build_epoch
    }

    /// Whether the database knows regions and cities (City databases do).
    pub fn knows_regions(&self) -> bool {
        self.database_type().contains("City")
    }

    /// Where `ip` is, cut to `precision`. An address the database does not know (private
    /// ranges, loopback) is nowhere.
    pub fn locate(&self, ip: IpAddr, precision: Precision) -> Place {
        if precision == Precision::None {
            return Place::default();
        }
        let record = self
            .reader
            .lookup(ip)
            .ok()
            .and_then(|found| found.decode::<Record>().ok().flatten());
        let Some(record) = record else {
            return Place::default();
        };
        let country = record
            .country
            .and_then(|c| c.iso_code)
            .or(record.country_code);
        let subdivision = (precision >= Precision::Region)
            .then(|| record.subdivisions.into_iter().next())
            .flatten();
        let (region, region_name) = match subdivision {
            Some(s) => (s.iso_code, s.names.and_then(|mut n| n.remove("en"))),
            None => (None, None),
        };
        let city = (precision >= Precision::City)
            .then(|| record.city?.names.remove("en"))
            .flatten();
        Place {
            country,
            region,
            region_name,
            city,
        }
    }
}

/// The tests' MaxMind DB writer, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/it/support/mmdb_writer.rs"]
mod mmdb_writer;

#[cfg(test)]
mod tests {
    use super::*;

    fn country(db: &GeoDb, ip: &str) -> Option<String> {
        db.locate(ip.parse().unwrap(), Precision::Country).country
    }

    #[test]
    fn the_embedded_database_places_v4_and_v6_addresses_in_countries() {
        let db = GeoDb::embedded();
        assert!(db.build_epoch() > 1_700_000_000, "{db:?}");
        assert!(!db.knows_regions());
        // Registrations that have not moved in decades.
        assert_eq!(country(&db, "8.8.8.8").as_deref(), Some("US"));
        assert_eq!(country(&db, "193.0.6.139").as_deref(), Some("NL"));
        assert_eq!(country(&db, "2001:4860:4860::8888").as_deref(), Some("US"));
        // Private and loopback addresses are nowhere.
        assert_eq!(country(&db, "127.0.0.1"), None);
        assert_eq!(country(&db, "10.0.0.1"), None);
        // Asking for none gives none; a country database has no regions to give.
        let ip = "8.8.8.8".parse().unwrap();
        assert_eq!(db.locate(ip, Precision::None), Place::default());
        let region = db.locate(ip, Precision::City);
        assert_eq!((region.region, region.city), (None, None));
    }

    use super::mmdb_writer as writer;

    #[test]
    fn a_city_database_gives_regions_and_cities_only_when_asked() {
        use writer::Value::*;
        let mut w = writer::Writer::new();
        let london = Map(vec![
            ("country", Map(vec![("iso_code", Str("GB"))])),
            (
                "subdivisions",
                Array(vec![Map(vec![
                    ("iso_code", Str("ENG")),
                    ("names", Map(vec![("en", Str("England"))])),
                ])]),
            ),
            (
                "city",
                Map(vec![("names", Map(vec![("en", Str("London"))]))]),
            ),
        ]);
        w.insert("81.2.69.0".parse().unwrap(), 24, &london);
        let db = GeoDb::from_bytes(w.finish("GeoIP2-City").into()).unwrap();
        assert!(db.knows_regions());
        assert_eq!(db.build_epoch(), 1_790_000_000);
        let ip = "81.2.69.142".parse().unwrap();
        let place = |country: &str, region: Option<&str>, city: Option<&str>| Place {
            country: Some(country.into()),
            region: region.map(Into::into),
            region_name: region.map(|_| "England".into()),
            city: city.map(Into::into),
        };
        assert_eq!(db.locate(ip, Precision::Country), place("GB", None, None));
        assert_eq!(
            db.locate(ip, Precision::Region),
            place("GB", Some("ENG"), None)
        );
        assert_eq!(
            db.locate(ip, Precision::City),
            place("GB", Some("ENG"), Some("London"))
        );
        assert_eq!(
            db.locate("81.2.70.1".parse().unwrap(), Precision::City),
            Place::default()
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused() {
        assert!(matches!(
            GeoDb::from_bytes(bytes::Bytes::from_static(b"not a database")),
            Err(GeoError::Format)
        ));
        assert!(matches!(
            GeoDb::from_file(std::path::Path::new("/nonexistent/geo.mmdb")),
            Err(GeoError::Read(_))
        ));
    }
}
