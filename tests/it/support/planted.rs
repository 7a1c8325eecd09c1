//! Detection of the fake personal data planted by the fixture drivers
//! (`tests/fixtures/real-clients/planted-values.json`), through every encoding the vendors use.
//!
//! Matching rules (to avoid false positives):
//! - `country` (kept on purpose) and `_comment` are never reported;
//! - numbers (`lat`, `lon`): a JSON number equal to it, a JSON string / form value containing
//!   it, or the digits in decoded text not surrounded by more digits;
//! - `ipv4`: also matched inside longer text, when not surrounded by more digits or dots;
//! - other values of at most [`SHORT_LEN`] characters ("Jane", "Doe", "CA", "94105",
//!   "1990-01-31", "San Francisco", ...): only a whole JSON string value, a whole form/query
//!   value, or a JSON number exactly equal to it;
//! - longer values: substring of any decoded layer (also their percent-encoded, `+`-for-space
//!   and `\/`-escaped spellings).
//!
//! Decoded layers of an input: the raw bytes; gzip / zlib decompressed (sniffed by magic
//! bytes); the whole input percent-decoded (`+` as space); every form/query value
//! percent-decoded, then JSON-parsed when it starts with `[`/`{`, else base64-decoded (standard
//! or url-safe, padding optional) when it looks like base64 (always tried for `data=`); JSON
//! parsed with serde_json and every string value searched, recursively decoded the same way.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::Read as _;
use std::sync::OnceLock;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::Value;

/// Values of at most this many characters are only matched as whole values.
pub const SHORT_LEN: usize = 13;

/// Nesting limit for decode layers (gzip in base64 in a form in JSON in ...).
const MAX_DEPTH: usize = 8;

/// Names never reported.
const NEVER: [&str; 2] = ["_comment", "country"];

/// Names skipped by [`planted_in_text`] (too short or too common for free text).
const NOT_IN_TEXT: [&str; 4] = ["country", "region", "first_name", "last_name"];

/// Names matched as bounded substrings despite being short.
const BOUNDED_SHORT: [&str; 1] = ["ipv4"];

#[derive(Debug, Clone)]
pub enum PlantedValue {
    Str(String),
    Num(f64, String),
}

impl PlantedValue {
    /// The value as text (numbers in their JSON spelling, e.g. `-122.4194`).
    pub fn text(&self) -> &str {
        match self {
            PlantedValue::Str(s) => s,
            PlantedValue::Num(_, s) => s,
        }
    }
}

/// `(name, value)` for every planted value, sorted by name, `_comment` excluded.
pub fn planted_values() -> &'static [(String, PlantedValue)] {
    static VALUES: OnceLock<Vec<(String, PlantedValue)>> = OnceLock::new();
    VALUES.get_or_init(|| {
        let path = super::fixture::fixtures_root().join("planted-values.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let map: serde_json::Map<String, Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut values: Vec<(String, PlantedValue)> = map
            .into_iter()
            .filter(|(k, _)| k != "_comment")
            .map(|(k, v)| {
                let pv = match &v {
                    Value::String(s) => PlantedValue::Str(s.clone()),
                    Value::Number(n) => PlantedValue::Num(
                        n.as_f64().expect("planted number fits f64"),
                        n.to_string(),
                    ),
                    other => panic!("planted value {k}: unsupported {other}"),
                };
                (k, pv)
            })
            .collect();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        values
    })
}

/// The value planted under `name` as text (panics on an unknown name).
pub fn value(name: &str) -> &'static str {
    planted_values()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.text())
        .unwrap_or_else(|| panic!("no planted value named {name}"))
}

/// Names of the planted values found anywhere in `bytes` (a body, a request target, a header
/// value), through every vendor encoding. Sorted by name, no duplicates.
pub fn planted_in(bytes: &[u8]) -> Vec<String> {
    let mut ev = Evidence::default();
    ev.explore(bytes, 0, true);
    let mut found = Vec::new();
    for (name, value) in planted_values() {
        if NEVER.contains(&name.as_str()) {
            continue;
        }
        let hit = match value {
            PlantedValue::Num(n, text) => {
                ev.numbers.iter().any(|x| (x - n).abs() < 1e-9)
                    || ev.strings.iter().any(|s| s.contains(text.as_str()))
                    || ev.texts.iter().any(|t| contains_bounded(t, text, false))
            }
            PlantedValue::Str(s) if BOUNDED_SHORT.contains(&name.as_str()) => {
                ev.strings.iter().any(|t| t == s)
                    || ev.texts.iter().any(|t| contains_bounded(t, s, true))
            }
            PlantedValue::Str(s) if s.chars().count() <= SHORT_LEN => {
                ev.strings.iter().any(|t| t == s) || ev.number_texts.iter().any(|t| t == s)
            }
            PlantedValue::Str(s) => {
                let spellings = spellings(s);
                ev.texts
                    .iter()
                    .chain(ev.strings.iter())
                    .any(|t| spellings.iter().any(|sp| t.contains(sp.as_str())))
            }
        };
        if hit {
            found.push(name.clone());
        }
    }
    found
}

/// Names of the planted values found in free text (logs, metrics, error messages): substring
/// match (also percent-encoded spellings) of every value longer than 4 characters, skipping
/// `country`, `region`, `first_name` and `last_name`. Purely numeric-looking values (postal
/// code, birthday, coordinates, IPv4) must not be surrounded by more digits. Sorted by name.
pub fn planted_in_text(s: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (name, value) in planted_values() {
        if NEVER.contains(&name.as_str()) || NOT_IN_TEXT.contains(&name.as_str()) {
            continue;
        }
        let text = value.text();
        if text.chars().count() <= 4 {
            continue;
        }
        let hit = if is_numeric_like(text) {
            contains_bounded(s, text, false)
        } else {
            spellings(text).iter().any(|sp| s.contains(sp.as_str()))
        };
        if hit {
            found.push(name.clone());
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------

/// Everything the decoders extracted from one input.
#[derive(Default)]
struct Evidence {
    /// Every decoded layer as (lossy) text: substring search.
    texts: Vec<String>,
    /// Whole JSON string values and whole form/query values: exact match.
    strings: Vec<String>,
    /// JSON numbers.
    numbers: Vec<f64>,
    /// JSON numbers as spelled.
    number_texts: Vec<String>,
    /// Hashes of layers already explored.
    seen: HashSet<u64>,
}

impl Evidence {
    /// `top`: the caller's input (always parsed as a form/query; nested strings only when they
    /// look like one).
    #[allow(
        clippy::disallowed_methods,
        reason = "a test reading what the vendor received: the proxy already capped it"
    )]
    fn explore(&mut self, bytes: &[u8], depth: usize, top: bool) {
        if bytes.is_empty() || depth > MAX_DEPTH || !self.seen.insert(hash(bytes)) {
            return;
        }
        let text = String::from_utf8_lossy(bytes).into_owned();

        if bytes.starts_with(&[0x1f, 0x8b]) {
            let out = inflate(flate2::read::MultiGzDecoder::new(bytes));
            self.explore(&out, depth + 1, true);
        } else if looks_zlib(bytes) {
            let out = inflate(flate2::read::ZlibDecoder::new(bytes));
            self.explore(&out, depth + 1, true);
        }

        let json_values = parse_json_stream(bytes);
        let is_json = !json_values.is_empty();
        for v in &json_values {
            self.walk_json(v, depth + 1);
        }

        if !is_json {
            if text.contains('%') || text.contains('+') {
                let decoded = percent_decode(&text, true);
                if decoded != bytes {
                    self.explore(&decoded, depth + 1, false);
                }
            }
            if text.contains('=') && (top || looks_like_query(&text)) {
                for (key, raw_value) in form_pairs(&text) {
                    self.explore_form_value(key, raw_value, depth + 1);
                }
            }
        }
        self.texts.push(text);
    }

    fn explore_form_value(&mut self, key: &str, raw_value: &str, depth: usize) {
        let decoded = percent_decode(raw_value, true);
        let decoded_text = String::from_utf8_lossy(&decoded).into_owned();
        let trimmed = decoded_text.trim_start();
        if trimmed.starts_with('[') || trimmed.starts_with('{') {
            self.explore(&decoded, depth, false);
        } else {
            // Base64 `+` may have been sent unescaped: decode without `+` -> space.
            let for_b64 = percent_decode(raw_value, false);
            let key_is_data = percent_decode(key, true) == b"data";
            if key_is_data || looks_base64(&for_b64) {
                if let Some(raw) = base64_decode(&for_b64) {
                    if key_is_data || is_decoded_payload(&raw) {
                        self.explore(&raw, depth, true);
                    }
                }
            }
            if decoded_text.contains('%') || decoded_text.contains('=') {
                self.explore(&decoded, depth, false);
            }
        }
        self.strings.push(decoded_text);
    }

    fn walk_json(&mut self, v: &Value, depth: usize) {
        match v {
            Value::String(s) => {
                self.strings.push(s.clone());
                let t = s.trim_start();
                let nested_json = t.starts_with('{') || t.starts_with('[');
                if nested_json || s.contains('%') || s.contains('=') || s.contains('+') {
                    self.explore(s.as_bytes(), depth, false);
                } else if looks_base64(s.as_bytes()) {
                    if let Some(raw) = base64_decode(s.as_bytes()) {
                        if is_decoded_payload(&raw) {
                            self.explore(&raw, depth, true);
                        }
                    }
                }
            }
            Value::Number(n) => {
                if let Some(f) = n.as_f64() {
                    self.numbers.push(f);
                }
                self.number_texts.push(n.to_string());
            }
            Value::Array(items) => items.iter().for_each(|i| self.walk_json(i, depth)),
            Value::Object(map) => map.values().for_each(|i| self.walk_json(i, depth)),
            Value::Bool(_) | Value::Null => {}
        }
    }
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Decompress as much as decodes (a truncated stream still yields its prefix).
fn inflate(mut r: impl std::io::Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn looks_zlib(b: &[u8]) -> bool {
    b.len() >= 2
        && b[0] & 0x0f == 8
        && b[0] >> 4 <= 7
        && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}

/// Every complete JSON value at the start of `bytes` (a single document or NDJSON).
fn parse_json_stream(bytes: &[u8]) -> Vec<Value> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| bytes[i]) {
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9') => {}
        _ => return Vec::new(),
    }
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect()
}

fn looks_like_query(s: &str) -> bool {
    !s.chars().any(char::is_whitespace) && (s.contains('?') || s.contains('&'))
}

/// `key=value` pairs of a form body or query string; when the text contains `?`, also the
/// pairs of the part after the first `?` (a URL).
fn form_pairs(text: &str) -> Vec<(&str, &str)> {
    let mut parts: Vec<&str> = vec![text];
    if let Some((_, after)) = text.split_once('?') {
        parts.push(after);
    }
    let mut pairs = Vec::new();
    for part in parts {
        let part = part.split('#').next().unwrap_or("");
        for pair in part.split('&') {
            if let Some((k, v)) = pair.split_once('=') {
                pairs.push((k, v));
            }
        }
    }
    pairs
}

/// Percent-decode (invalid escapes kept as is); `plus` turns `+` into a space.
fn percent_decode(s: &str, plus: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn looks_base64(b: &[u8]) -> bool {
    b.len() >= 16
        && b.iter().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_' | b'=' | b' ')
        })
}

fn base64_engine(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

/// Standard or url-safe base64, padding optional; spaces read as `+` (unescaped `+` in a form).
fn base64_decode(b: &[u8]) -> Option<Vec<u8>> {
    let cleaned: Vec<u8> = b
        .iter()
        .filter(|c| !matches!(c, b'\r' | b'\n'))
        .map(|&c| if c == b' ' { b'+' } else { c })
        .collect();
    static STANDARD: OnceLock<GeneralPurpose> = OnceLock::new();
    static URL_SAFE: OnceLock<GeneralPurpose> = OnceLock::new();
    let standard = STANDARD.get_or_init(|| base64_engine(&base64::alphabet::STANDARD));
    let url_safe = URL_SAFE.get_or_init(|| base64_engine(&base64::alphabet::URL_SAFE));
    standard
        .decode(&cleaned)
        .or_else(|_| url_safe.decode(&cleaned))
        .ok()
}

/// Decoded base64 worth exploring: compressed data or mostly text.
fn is_decoded_payload(raw: &[u8]) -> bool {
    raw.starts_with(&[0x1f, 0x8b]) || looks_zlib(raw) || std::str::from_utf8(raw).is_ok()
}

fn is_numeric_like(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | ':'))
}

/// `needle` in `hay`, not directly preceded or followed by an ASCII digit (nor by a `.` when
/// `dots`, so an IPv4 address is not found inside a longer dotted number).
fn contains_bounded(hay: &str, needle: &str, dots: bool) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || (dots && c == '.'));
    hay.match_indices(needle).any(|(i, m)| {
        !edge(hay[..i].chars().next_back()) && !edge(hay[i + m.len()..].chars().next())
    })
}

/// The spellings of a long value worth searching for: as is, percent-encoded (upper- and
/// lower-case hex, `%20` or `+` for spaces, all reserved characters or only the ones a
/// query encoder must escape), and with `/` JSON-escaped.
fn spellings(s: &str) -> Vec<String> {
    let mut out = vec![s.to_string(), s.replace('/', "\\/")];
    for strict in [true, false] {
        let enc = percent_encode(s, strict);
        out.push(enc.replace("%20", "+"));
        out.push(lower_hex(&enc));
        out.push(enc);
    }
    out.sort();
    out.dedup();
    out
}

/// `strict`: like encodeURIComponent (everything but unreserved). Otherwise only what breaks a
/// query value (`%`, `&`, `=`, `+`, `#`, space, non-ASCII), leaving `@ / : , ?` as they are.
fn percent_encode(s: &str, strict: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (!strict && b.is_ascii_graphic() && !matches!(b, b'%' | b'&' | b'=' | b'+' | b'#'));
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn lower_hex(enc: &str) -> String {
    let mut out = String::with_capacity(enc.len());
    let mut chars = enc.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            for _ in 0..2 {
                if let Some(h) = chars.next() {
                    out.push(h.to_ascii_lowercase());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use std::io::Write as _;

    fn identify_json() -> String {
        serde_json::json!({
            "type": "identify",
            "userId": "user-jane-doe-42",
            "traits": {
                "email": "jane.doe@example.com",
                "phone": "+1 415 555 0100",
                "firstName": "Jane",
                "lastName": "Doe",
                "address": {"city": "San Francisco", "state": "CA", "postalCode": "94105", "country": "US"},
                "lat": 37.7749,
                "lon": -122.4194
            },
            "context": {"page": {"url": "https://shop.example.com/checkout?email=jane.doe%40example.com&utm_source=newsletter"}}
        })
        .to_string()
    }

    /// The same shape, every planted value replaced as a scrubber would.
    fn scrubbed_json() -> String {
        serde_json::json!({
            "type": "identify",
            "userId": "u_3f9a1c2b7d",
            "traits": {
                "email": "[redacted]",
                "phone": "[redacted]",
                "firstName": "[redacted]",
                "lastName": "[redacted]",
                "address": {"city": "[redacted]", "state": "[redacted]", "postalCode": "941", "country": "US"},
                "lat": 37.77,
                "lon": -122.42
            },
            "context": {"page": {"url": "https://shop.example.com/checkout?email=%5Bredacted%5D&utm_source=newsletter"}}
        })
        .to_string()
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b).unwrap();
        enc.finish().unwrap()
    }

    fn form_encode(s: &str) -> String {
        percent_encode(s, true)
    }

    fn has(found: &[String], names: &[&str]) {
        for n in names {
            assert!(found.iter().any(|f| f == n), "{n} not in {found:?}");
        }
    }

    const IDENTIFY_NAMES: [&str; 12] = [
        "user_id",
        "email",
        "phone",
        "first_name",
        "last_name",
        "city",
        "region",
        "postal_code",
        "lat",
        "lon",
        "url_with_email",
        "birthday",
    ];

    #[test]
    fn plain_json_body() {
        let found = planted_in(identify_json().as_bytes());
        has(&found, &IDENTIFY_NAMES[..11]);
        assert!(!found.contains(&"country".to_string()));
        assert!(!found.contains(&"birthday".to_string()));
        assert!(!found.contains(&"name".to_string()));
    }

    #[test]
    fn base64_data_form_standard_and_url_safe() {
        let json = identify_json();
        let std_form = format!("data={}&verbose=1", form_encode(&STANDARD.encode(&json)));
        has(&planted_in(std_form.as_bytes()), &IDENTIFY_NAMES[..11]);
        // `+` left unescaped in the base64 must not break decoding.
        let raw_plus = format!("data={}", STANDARD.encode(&json));
        has(
            &planted_in(raw_plus.as_bytes()),
            &["email", "first_name", "lat"],
        );
        let url_safe = format!("/track?ip=1&data={}", URL_SAFE_NO_PAD.encode(&json));
        has(&planted_in(url_safe.as_bytes()), &IDENTIFY_NAMES[..11]);
        // form data=<url-encoded raw JSON> (python SDK)
        let raw_json_form = format!("data={}&ip=0", form_encode(&json));
        has(&planted_in(raw_json_form.as_bytes()), &IDENTIFY_NAMES[..11]);
    }

    #[test]
    fn gzip_body_and_gzip_in_base64() {
        let gz = gzip(identify_json().as_bytes());
        assert!(!String::from_utf8_lossy(&gz).contains("jane"));
        has(&planted_in(&gz), &IDENTIFY_NAMES[..11]);
        let form = format!("data={}", form_encode(&STANDARD.encode(&gz)));
        has(&planted_in(form.as_bytes()), &["email", "user_id"]);
    }

    #[test]
    fn percent_encoded_query() {
        let q = "/matomo.php?idsite=1&uid=user-jane-doe-42&email=jane.doe%40example.com\
                 &name=Jane+Doe&region=CA&zip=94105&lat=37.7749&long=-122.4194&cip=203.0.113.42\
                 &url=https%3A%2F%2Fshop.example.com%2Fcheckout%3Femail%3Djane.doe%2540example.com%26utm_source%3Dnewsletter";
        let found = planted_in(q.as_bytes());
        has(
            &found,
            &[
                "user_id",
                "email",
                "name",
                "region",
                "postal_code",
                "lat",
                "lon",
                "ipv4",
                "url_with_email",
            ],
        );
        // Percent-encoded value inside a JSON string (no decoding needed for the match).
        let j = r#"{"note":"mailto%3Ajane.doe%40example.com"}"#;
        has(&planted_in(j.as_bytes()), &["email"]);
    }

    #[test]
    fn nested_json_string_and_base64url_context() {
        let inner = identify_json();
        let nested =
            serde_json::json!({"data": [{"co": inner, "cx": URL_SAFE_NO_PAD.encode(&inner)}]});
        has(
            &planted_in(nested.to_string().as_bytes()),
            &IDENTIFY_NAMES[..11],
        );
    }

    #[test]
    fn short_values_match_only_whole_values() {
        let body = r#"{"title":"Checkout for Jane Doe","state":"CALIFORNIA","code":"941050","n":94105.5,"d":"1990-01-31T00:00:00Z"}"#;
        assert_eq!(planted_in(body.as_bytes()), Vec::<String>::new());
        let body = r#"{"first":"Jane","zip":94105,"b":"1990-01-31","full":"Jane Doe"}"#;
        assert_eq!(
            planted_in(body.as_bytes()),
            vec!["birthday", "first_name", "name", "postal_code"]
        );
        // Coordinates as JSON numbers and inside strings, not inside longer numbers.
        assert_eq!(
            planted_in(br#"{"a":37.7749,"b":"-122.4194,x"}"#),
            vec!["lat", "lon"]
        );
        assert_eq!(planted_in(br#"{"a":37.77491}"#), Vec::<String>::new());
        // IPv4 bounded: not inside a longer dotted number.
        assert_eq!(planted_in(b"ip=1203.0.113.42"), Vec::<String>::new());
        assert_eq!(
            planted_in(br#"{"xff":"203.0.113.42, 10.0.0.1"}"#),
            vec!["ipv4"]
        );
    }

    #[test]
    fn scrubbed_body_yields_nothing_in_any_encoding() {
        let json = scrubbed_json();
        let none = Vec::<String>::new();
        assert_eq!(planted_in(json.as_bytes()), none);
        assert_eq!(planted_in(&gzip(json.as_bytes())), none);
        let form = format!("data={}&verbose=1", form_encode(&STANDARD.encode(&json)));
        assert_eq!(planted_in(form.as_bytes()), none);
        let q = format!("/track?data={}", URL_SAFE_NO_PAD.encode(&json));
        assert_eq!(planted_in(q.as_bytes()), none);
        assert_eq!(
            planted_in(format!("data={}", form_encode(&json)).as_bytes()),
            none
        );
        assert_eq!(planted_in(b""), none);
        assert_eq!(planted_in(b"1"), none);
        assert_eq!(planted_in(br#"{"success":true}"#), none);
    }

    #[test]
    fn text_detection() {
        assert_eq!(
            planted_in_text("WARN scrub failed for jane.doe@example.com path=/v1/t"),
            vec!["email"]
        );
        assert_eq!(
            planted_in_text("forwarded url=https://shop.example.com/checkout?email=jane.doe%40example.com&utm_source=newsletter"),
            vec!["email", "url_with_email"]
        );
        assert_eq!(
            planted_in_text("client 203.0.113.42 zip 94105"),
            vec!["ipv4", "postal_code"]
        );
        // Jane / Doe / CA / US alone are not reported; numbers inside longer numbers neither.
        let clean = "user Jane from CA, US: scrubproxy_bytes_total 1941052 latency 0.37.77490";
        assert_eq!(planted_in_text(clean), Vec::<String>::new());
        assert_eq!(
            planted_in_text(
                "# TYPE scrubproxy_requests_total counter\nscrubproxy_requests_total{vendor=\"segment\"} 42\n"
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_planted_value_is_detectable() {
        // Each value, alone as a JSON string (or number), is reported under its own name.
        for (name, v) in planted_values() {
            if NEVER.contains(&name.as_str()) {
                continue;
            }
            let body = match v {
                PlantedValue::Str(s) => serde_json::json!({ "v": s }).to_string(),
                PlantedValue::Num(_, t) => format!("{{\"v\":{t}}}"),
            };
            assert!(
                planted_in(body.as_bytes()).contains(name),
                "{name} in {body}"
            );
        }
        assert!(
            planted_in(br#"{"v":"US"}"#).is_empty(),
            "country is never reported"
        );
    }
}
