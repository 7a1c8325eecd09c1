//! Rules: `rules.toml` (plus `SCRUBPROXY_*` environment overrides) is read into a serde mirror
//! (`file`), then compiled into an immutable `RuleSet` (`compile`) with every error reported
//! at once, each with its TOML path. A request uses one `RuleSet` snapshot from start to end.

mod compile;
pub mod file;
pub mod limits;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use ipnet::IpNet;

use crate::consent::ConsentSignals;
use crate::geo::GeoDb;
use crate::scrub::{
    BodyPlan, ConsentPolicy, CoreLimits, OptOut, Place, Precision, PseudonymKey, Truncation,
};
use crate::vendor::VendorKind;

pub use compile::{compile, compile_with, weak_secret, AdminToken, LogFormat, ADMIN_TOKEN_ENV};
pub use file::RulesFile;
pub use limits::{Limits, RequestLimits};

/// The shipped rules, compiled into the binary so the proxy runs with no file at all.
pub const EMBEDDED_RULES: &str = include_str!("../rules.toml");

/// Environment variable read for the HMAC key unless `identifiers.key_env` says otherwise.
pub const DEFAULT_KEY_ENV: &str = "SCRUBPROXY_HMAC_KEY";

/// Properties removed by default: direct identifiers and precise location, in the spellings
/// SDKs use (keys are normalized, see `scrub::keys`; `word:` entries match whole words).
pub const DEFAULT_DENY: &[&str] = &[
    "*email*",
    "*phone*",
    "name",
    "word:first_name",
    "word:last_name",
    "word:full_name",
    "word:display_name",
    "word:username",
    "word:surname",
    "word:given_name",
    "word:family_name",
    "word:middle_name",
    "word:maiden_name",
    "word:vorname",
    "word:nachname",
    "word:prenom",
    "word:prénom",
    "word:apellido",
    // A name said to be a person's; "name" alone stays a whole key (os_name).
    "word:holder_name",
    "word:account_holder",
    "word:cardholder",
    "word:card_holder",
    "word:name_on_card",
    "word:contact_name",
    "word:customer_name",
    "word:client_name",
    "word:recipient_name",
    "word:sender_name",
    "word:billing_name",
    "word:shipping_name",
    "word:owner_name",
    "word:person_name",
    "word:user_name",
    "word:member_name",
    "word:guest_name",
    "word:patient_name",
    "word:passenger_name",
    "word:buyer_name",
    "word:real_name",
    "word:legal_name",
    "word:nickname",
    "word:emergency_contact",
    "word:next_of_kin",
    "word:beneficiary",
    "*address*",
    "word:street",
    "word:strasse",
    "word:postal_code",
    "word:postcode",
    "word:zip",
    "word:zipcode",
    "word:plz",
    "word:house_number",
    "word:city",
    "region",
    "word:birthday",
    "word:birthdate",
    "word:birth_date",
    "word:date_of_birth",
    "word:dob",
    "word:latitude",
    "word:longitude",
    "lat",
    "lng",
    "lon",
    "location",
    "word:credit_card",
    "card",
    "word:card_number",
    "word:cvv",
    "word:cvc",
    "word:iban",
    "word:ssn",
    "*password*",
    "title",
    "*page_title*",
    "*user_agent*",
];

/// Request headers passed to vendors by default: what SDKs need for auth and retries.
pub const DEFAULT_FORWARD_HEADERS: &[&str] = &["authorization", "accept", "x-retry-count"];

/// Where the HMAC key came from (the key itself is never shown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Env(String),
    File(String),
    /// No key configured: a random one for this process only.
    Ephemeral,
}

/// Which forwarding header names the client when the peer is a trusted proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardedHeader {
    XForwardedFor,
    Forwarded,
}

/// A route: a path prefix, the vendor protocol behind it and where it goes.
#[derive(Debug)]
pub struct Route {
    pub prefix: String,
    pub vendor: VendorKind,
    pub upstream: Upstream,
    /// One plan per endpoint shape of the vendor (`Endpoint::plan` indexes it).
    pub plans: Vec<Arc<BodyPlan>>,
    /// The vendor credential the proxy adds itself (`token_env` / `token_file`).
    pub token: Option<Secret>,
    /// Custom path → the vendor's standard path it stands for.
    pub aliases: std::collections::BTreeMap<String, String>,
    /// Dry run: bodies and queries go on unchanged; the rules' work is only counted.
    pub shadow: bool,
    /// What becomes of events without consent.
    pub consent: ConsentPolicy,
    /// Plans for anonymized events: identifiers hashed (with the day's key) or dropped,
    /// addresses in text cut to nothing, coordinates dropped.
    pub anonymized_plans: Vec<Arc<BodyPlan>>,
    /// What one request on this route may carry and make.
    pub request_limits: RequestLimits,
    /// The route's limit on one event's JSON (the vendor's, when lower than `[limits]`').
    pub core_limits: CoreLimits,
}

/// Geolocation as the rules set it.
#[derive(Debug)]
pub struct GeoRules {
    pub db: Arc<GeoDb>,
    pub precision: Precision,
    /// Look up the truncated address instead of the full one.
    pub from_truncated: bool,
    /// The database file, `None` for the embedded one.
    pub source: Option<String>,
}

impl GeoRules {
    /// Where `client` is, as precisely as the rules allow.
    pub fn locate(&self, client: std::net::IpAddr, truncation: Option<Truncation>) -> Place {
        let ip = match truncation {
            Some(t) if self.from_truncated => t.apply(client),
            _ => client,
        };
        self.db.locate(ip, self.precision)
    }

    /// When the precision asked for is finer than the database can give.
    pub fn precision_warning(&self) -> Option<String> {
        let fine = self.precision >= Precision::Region;
        (fine && !self.db.knows_regions()).then(|| {
            format!(
                "geo.precision asks for regions or cities, but the database ({}) knows countries only: vendors get the country; set geo.database to a GeoIP2/GeoLite2 City file",
                self.db.database_type()
            )
        })
    }
}

impl Route {
    /// The vendor path a request path stands for (itself unless it is an alias).
    pub fn standard_path<'a>(&'a self, rest: &'a str) -> &'a str {
        self.aliases
            .get(crate::vendor::trim_slash(rest))
            .map_or(rest, String::as_str)
    }
}

/// The upstream client's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamSettings {
    /// Roots trusted for vendors beside the public ones.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// `false`: any certificate is accepted (test collectors only).
    pub verify: bool,
    pub pool_max_idle_per_host: usize,
    pub pool_idle_timeout: std::time::Duration,
}

/// A credential: usable by the proxy, never shown by `Debug`.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// An upstream base URL.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// Prepended to the request's remaining path; empty or starting with `/`, no trailing `/`.
    pub base_path: String,
}

/// CORS answers for browser trackers.
#[derive(Clone, Debug)]
pub struct CorsPolicy {
    /// `None` allows every origin (echoed, never `*`, because Mixpanel sends credentials).
    pub allowed_origins: Option<Vec<String>>,
    pub allowed_headers: String,
    pub max_age_seconds: u64,
}

/// The compiled, immutable rules.
#[derive(Debug)]
pub struct RuleSet {
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    /// Worker threads on the trackers' port (at least one), fixed at start.
    pub workers: usize,
    /// TLS on the trackers' port; each new connection takes the current snapshot's, so a
    /// renewed certificate is served after a reload.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How vendors are reached; the client is rebuilt only when this changes.
    pub upstream: UpstreamSettings,
    /// Files the rules name (certificates, keys, secrets): the watcher reloads when one
    /// changes, as when the rules file does.
    pub watched_files: Vec<std::path::PathBuf>,
    pub limits: Limits,
    pub trusted_proxies: Vec<IpNet>,
    pub forwarded_header: ForwardedHeader,
    /// `None`: IPs are removed instead of truncated.
    pub truncation: Option<Truncation>,
    pub pseudonym_key: PseudonymKey,
    /// The day's keys of anonymized events, derived from `pseudonym_key`.
    pub anonymous_keys: crate::scrub::DailyKeys,
    pub key_source: KeySource,
    /// Vendors that read the visitor's address from a header get a daily pseudonym address.
    pub ip_header_pseudonym: bool,
    /// What happens to identifiers (also those vendors carry in headers).
    pub identifier_action: crate::scrub::FieldAction,
    pub routes: Vec<Route>,
    pub forward_headers: Vec<http::HeaderName>,
    pub cors: CorsPolicy,
    pub geo: GeoRules,
    /// Which consent signals are read.
    pub consent_signals: ConsentSignals,
    /// Pseudonyms whose events are always dropped.
    pub opt_out: Option<Arc<OptOut>>,
    /// The bearer token `/admin/*` asks for; `None`: those answer loopback peers only.
    pub admin_token: Option<AdminToken>,
    /// How the proxy logs (fixed at start).
    pub log_format: LogFormat,
    /// The settings in force as a document (`/admin/rules`): the file with defaults and
    /// environment overrides applied. Credentials are never in it: the file only names where
    /// they are read from.
    #[allow(clippy::disallowed_types)] // rules loading: the settings file as a document
    pub effective: serde_json::Value,
}

impl RuleSet {
    /// The route whose prefix is the longest match for `path`, and the rest of the path.
    pub fn route<'a>(&self, path: &'a str) -> Option<(&Route, &'a str)> {
        self.routes
            .iter()
            .filter_map(|r| {
                let rest = path.strip_prefix(r.prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/') || r.prefix.is_empty())
                    .then_some((r, rest))
            })
            .max_by_key(|(r, _)| r.prefix.len())
    }
}

/// One problem in a rules file, with the TOML path it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Reads rules from `path`, or the embedded default when `path` is `None`; environment
/// variables `SCRUBPROXY_<TABLE>__<KEY>` override the file.
pub fn read(path: Option<&Path>) -> Result<RulesFile, Vec<RuleError>> {
    let figment = match path {
        Some(p) => Figment::from(Toml::file_exact(p)),
        None => Figment::from(Toml::string(EMBEDDED_RULES)),
    };
    // Only `TABLE__KEY` variables are settings; single-level ones (the HMAC key) are not.
    let env = Env::prefixed("SCRUBPROXY_")
        .filter(|k| k.as_str().contains("__"))
        .split("__");
    figment.merge(env).extract().map_err(|e| {
        e.into_iter()
            .map(|err| RuleError {
                path: err.path.join("."),
                message: reason_without_value(&err.kind),
            })
            .collect()
    })
}

/// What is wrong, without the value found: errors are logged (a refused reload) and
/// served (`/admin/reload`), and a value from the file or the environment may be a secret
/// someone put in the wrong place. Names of keys stay: they are the rules' own words.
fn reason_without_value(kind: &figment::error::Kind) -> String {
    use figment::error::{Actual, Kind};
    let what = |actual: &Actual| match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "an array",
        Actual::Map => "a table",
        _ => "another type",
    };
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!("invalid type: found {}, expected {expected}", what(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value: found {}, expected {expected}", what(actual))
        }
        Kind::UnknownVariant(_, expected) => {
            format!("unknown variant, expected one of {}", expected.join(", "))
        }
        // A TOML syntax error quotes the line it is on: keep where it is and what is wrong.
        Kind::Message(message) => message
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.contains('|'))
            .collect::<Vec<_>>()
            .join(": "),
        other => other.to_string(),
    }
}

/// Where the secrets the rules name by environment variable are read from.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process's environment.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed environment (`[("NAME", "value")]`), for tests and tools.
impl Environment for &[(&str, &str)] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// Reads and compiles in one step.
pub fn load(path: Option<&Path>) -> Result<RuleSet, Vec<RuleError>> {
    compile(read(path)?)
}
