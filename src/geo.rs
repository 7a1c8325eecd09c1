//! Geolocation: from an address to a country, a region or a city, with the real MaxMind DB
//! reader. The database is read from memory (the embedded default, or a file the rules name,
//! read at load); lookups never touch the disk. Issue 4 wires this into the vendors' geo
//! fields; until then nothing in the proxy calls it.

use std::net::IpAddr;

use serde::Deserialize;

/// The country database compiled into the binary (see `geo/NOTICE.md`).
static EMBEDDED: &[u8] = include_bytes!("geo/geo-whois-asn-country.mmdb");

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
    /// ISO 3166-2 subdivision code (without the country prefix), from City databases.
    pub region: Option<String>,
    /// The English city name, from City databases.
    pub city: Option<String>,
}

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
        let region = (precision >= Precision::Region)
            .then(|| record.subdivisions.into_iter().next()?.iso_code)
            .flatten();
        let city = (precision >= Precision::City)
            .then(|| record.city?.names.remove("en"))
            .flatten();
        Place {
            country,
            region,
            city,
        }
    }
}

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

    /// A minimal MaxMind DB writer (format 2.0, IPv4 tree, 24-bit records): enough to
    /// build a City-shaped database for the tests, read back by the real reader.
    mod writer {
        enum Rec {
            Empty,
            Node(usize),
            Data(usize),
        }

        pub struct Writer {
            nodes: Vec<[Rec; 2]>,
            data: Vec<u8>,
        }

        pub enum Value<'a> {
            Str(&'a str),
            Map(Vec<(&'a str, Value<'a>)>),
            Array(Vec<Value<'a>>),
            U16(u16),
            U32(u32),
            U64(u64),
        }

        fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
            assert!(size < 29, "small values only");
            if kind <= 7 {
                out.push(kind << 5 | size as u8);
            } else {
                out.push(size as u8);
                out.push(kind - 7);
            }
        }

        fn encode(value: &Value<'_>, out: &mut Vec<u8>) {
            let uint = |out: &mut Vec<u8>, kind: u8, n: u64| {
                let bytes: Vec<u8> = n
                    .to_be_bytes()
                    .into_iter()
                    .skip_while(|&b| b == 0)
                    .collect();
                control(out, kind, bytes.len());
                out.extend(bytes);
            };
            match value {
                Value::Str(s) => {
                    control(out, 2, s.len());
                    out.extend_from_slice(s.as_bytes());
                }
                Value::Map(members) => {
                    control(out, 7, members.len());
                    for (key, value) in members {
                        encode(&Value::Str(key), out);
                        encode(value, out);
                    }
                }
                Value::Array(items) => {
                    control(out, 11, items.len());
                    items.iter().for_each(|item| encode(item, out));
                }
                Value::U16(n) => uint(out, 5, u64::from(*n)),
                Value::U32(n) => uint(out, 6, u64::from(*n)),
                Value::U64(n) => uint(out, 9, *n),
            }
        }

        impl Writer {
            pub fn new() -> Self {
                Writer {
                    nodes: vec![[Rec::Empty, Rec::Empty]],
                    data: Vec::new(),
                }
            }

            /// `network/len` holds `record` (networks must not overlap).
            pub fn insert(&mut self, network: std::net::Ipv4Addr, len: u32, record: &Value<'_>) {
                let offset = self.data.len();
                encode(record, &mut self.data);
                let bits = u32::from(network);
                let mut node = 0;
                for depth in 0..len {
                    let bit = (bits >> (31 - depth) & 1) as usize;
                    if depth + 1 == len {
                        self.nodes[node][bit] = Rec::Data(offset);
                    } else {
                        node = match self.nodes[node][bit] {
                            Rec::Node(next) => next,
                            _ => {
                                self.nodes.push([Rec::Empty, Rec::Empty]);
                                let next = self.nodes.len() - 1;
                                self.nodes[node][bit] = Rec::Node(next);
                                next
                            }
                        };
                    }
                }
            }

            pub fn finish(self, database_type: &str) -> Vec<u8> {
                let count = self.nodes.len();
                let mut out = Vec::new();
                for node in &self.nodes {
                    for rec in node {
                        let value = match rec {
                            Rec::Empty => count,
                            Rec::Node(i) => *i,
                            Rec::Data(offset) => count + 16 + offset,
                        } as u32;
                        out.extend_from_slice(&value.to_be_bytes()[1..]);
                    }
                }
                out.extend_from_slice(&[0; 16]);
                out.extend_from_slice(&self.data);
                out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
                let metadata = Value::Map(vec![
                    ("node_count", Value::U32(count as u32)),
                    ("record_size", Value::U16(24)),
                    ("ip_version", Value::U16(4)),
                    ("database_type", Value::Str(database_type)),
                    ("languages", Value::Array(vec![Value::Str("en")])),
                    ("binary_format_major_version", Value::U16(2)),
                    ("binary_format_minor_version", Value::U16(0)),
                    ("build_epoch", Value::U64(1_790_000_000)),
                    ("description", Value::Map(vec![("en", Value::Str("test"))])),
                ]);
                encode(&metadata, &mut out);
                out
            }
        }
    }

    #[test]
    fn a_city_database_gives_regions_and_cities_only_when_asked() {
        use writer::Value::*;
        let mut w = writer::Writer::new();
        let london = Map(vec![
            ("country", Map(vec![("iso_code", Str("GB"))])),
            (
                "subdivisions",
                Array(vec![Map(vec![("iso_code", Str("ENG"))])]),
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
