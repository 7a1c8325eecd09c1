//! What every fuzz run asserts, shared by the fuzz targets (`fuzz_targets/`) and by the
//! replay of the seed corpus in the normal test run (`tests/it/fuzz_corpus.rs`). Each oracle
//! takes the fuzzer's bytes and panics when a promise breaks:
//! - no panic anywhere in decoding or scrubbing;
//! - the same output (or the same refusal) whatever the chunk splits;
//! - decoders never produce more than their limit;
//! - under the shipped and the strict rules, the planted e-mail never survives into what
//!   would be sent.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use scrubproxy::decode::{
    self, Base64Decoder, DeflateDecoder, GzipDecoder, PercentDecoder, Transform,
};
use scrubproxy::pipeline::BodyPipeline;
use scrubproxy::rules::{self, RuleSet};

/// The planted e-mail of the real-client fixtures, in the spellings a body can carry it.
const PLANTED_EMAIL: &[&[u8]] = &[
    b"jane.doe@example.com",
    b"jane.doe%40example.com",
    b"jane.doe%2540example.com",
];

/// Decoded output allowed per decoder run.
const DECODE_LIMIT: u64 = 1 << 20;

/// Up to this many cut points per split run: enough to cut inside every kind of unit.
const MAX_CUTS: usize = 8;

/// Chunk boundaries for `len` bytes, from `seed` (deterministic, so a crash reproduces).
fn cuts(len: usize, seed: u64) -> Vec<usize> {
    let mut state = seed | 1;
    let mut points: Vec<usize> = (0..MAX_CUTS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if len == 0 {
                0
            } else {
                (state % len as u64) as usize
            }
        })
        .collect();
    points.sort_unstable();
    points.dedup();
    points
}

fn chunks(data: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts(data.len(), seed) {
        out.push(&data[from..cut]);
        from = cut;
    }
    out.push(&data[from..]);
    out
}

fn seed_of(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn run_transform(mut t: Box<dyn Transform>, parts: &[&[u8]]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for part in parts {
        t.push(part, &mut out).map_err(|e| e.kind().to_string())?;
    }
    t.finish(&mut out).map_err(|e| e.kind().to_string())?;
    Ok(out)
}

/// Decoders: byte 0 picks one, the rest is its input.
pub fn decoders(data: &[u8]) {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    let make = |which: u8| -> Option<Box<dyn Transform>> {
        Some(match which % 6 {
            0 => Box::new(GzipDecoder::new(DECODE_LIMIT)),
            1 => Box::new(DeflateDecoder::new(DECODE_LIMIT)),
            2 => Box::new(Base64Decoder::new()),
            3 => Box::new(PercentDecoder::new(true)),
            4 => Box::new(PercentDecoder::new(false)),
            _ => return None,
        })
    };
    let Some(whole_decoder) = make(which) else {
        // lz-string decodes whole only; it must stay within its limit and not panic.
        if let Ok(out) = decode::lz_string::decompress_from_base64(input, DECODE_LIMIT) {
            assert!(
                out.len() as u64 <= DECODE_LIMIT,
                "lz-string beyond its limit"
            );
        }
        return;
    };
    let whole = run_transform(whole_decoder, &[input]);
    let split = run_transform(make(which).unwrap(), &chunks(input, seed_of(data)));
    if let Ok(out) = &whole {
        assert!(
            out.len() as u64 <= DECODE_LIMIT + 64 * 1024,
            "decoder far beyond its limit"
        );
    }
    assert_eq!(
        whole.is_ok(),
        split.is_ok(),
        "decoder {which}: split changed success"
    );
    if let (Ok(a), Ok(b)) = (&whole, &split) {
        assert!(a == b, "decoder {which}: split changed the output");
    }
}

/// The rule sets fuzzed, by the variant digit that starts a pipeline input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// The shipped rules.
    Shipped,
    /// Every value rule set to keep, allow-list properties, identifiers kept: the keep paths.
    Lenient,
    /// The strictest settings: IPs removed, identifiers and user agents dropped, events
    /// dropped by name, deny paths. The e-mail detector stays on.
    Strict,
}

impl Variant {
    fn of(digit: u8) -> Variant {
        match digit {
            b'0' => Variant::Shipped,
            b'2' => Variant::Strict,
            _ => Variant::Lenient,
        }
    }

    /// Whether the planted e-mail must never be sent under this variant.
    fn redacts_email(self) -> bool {
        self != Variant::Lenient
    }
}

fn rule_set(variant: Variant) -> &'static RuleSet {
    static SETS: [OnceLock<RuleSet>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let build = || {
        let mut file = rules::read(None).expect("embedded rules read");
        file.identifiers.key_env = Some("SCRUBPROXY_FUZZ_KEY_THAT_IS_NEVER_SET".into());
        match variant {
            Variant::Shipped => {}
            Variant::Lenient => {
                let v = &mut file.values;
                for detector in [
                    &mut v.email,
                    &mut v.phone,
                    &mut v.card,
                    &mut v.street_address,
                    &mut v.iban,
                    &mut v.ssn,
                    &mut v.token,
                    &mut v.coordinates,
                ] {
                    *detector = "keep".into();
                }
                v.user_agent = "keep".into();
                v.scrub_urls = false;
                file.identifiers.action = "keep".into();
                file.properties.mode = "allow".into();
                file.properties.allow = vec!["plan".into(), "*_id".into()];
            }
            Variant::Strict => {
                file.ip.mode = "none".into();
                file.identifiers.action = "drop".into();
                file.values.user_agent = "drop".into();
                file.events.drop = vec!["Checkout".into(), "$pageview".into(), "pv".into()];
                file.properties.deny.push("properties.plan".into());
            }
        }
        rules::compile(file).expect("rules compile")
    };
    SETS[variant as usize].get_or_init(build)
}

/// One request through the proxy's own preparation and body pipeline, as `scrubproxy scrub`
/// runs it. Input: `<variant><METHOD> <path?query>\n<content-type>\n<content-encoding>\n<body>`,
/// where the variant digit picks the rule set (`0` shipped, `2` strict, others lenient).
pub fn pipeline(data: &[u8]) {
    let mut lines = data.splitn(4, |&c| c == b'\n');
    let (Some(request_line), Some(content_type), Some(encoding), Some(body)) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return;
    };
    let Ok(request_line) = std::str::from_utf8(request_line) else {
        return;
    };
    let Some(&digit) = request_line.as_bytes().first() else {
        return;
    };
    let variant = Variant::of(digit);
    let rules = rule_set(variant);
    let Some((method, target)) = request_line.get(1..).and_then(|l| l.split_once(' ')) else {
        return;
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let Some((route, rest)) = rules.route(path) else {
        return;
    };
    let Some(endpoint) = route
        .vendor
        .protocol()
        .endpoint(&method, route.standard_path(rest))
    else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("content-type", content_type),
        ("content-encoding", encoding),
    ] {
        if let (false, Ok(value)) = (value.is_empty(), http::HeaderValue::from_bytes(value)) {
            headers.insert(name, value);
        }
    }
    let client = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 42));
    let run = |parts: &[&[u8]]| -> Option<Result<(String, Vec<u8>), &'static str>> {
        let prepared =
            scrubproxy::request::prepare(rules, route, endpoint, client, query, &headers).ok()?;
        let query = prepared.query.clone();
        let mut pipeline = match BodyPipeline::new(prepared.spec) {
            Ok(p) => p,
            Err(e) => return Some(Err(e.kind())),
        };
        let mut out = Vec::new();
        for part in parts {
            match pipeline.push(part) {
                Ok(s) => out.extend_from_slice(s.as_bytes()),
                Err(e) => return Some(Err(e.kind())),
            }
        }
        match pipeline.finish() {
            Ok(s) => out.extend_from_slice(s.as_bytes()),
            Err(e) => return Some(Err(e.kind())),
        }
        Some(Ok((query, out)))
    };
    let Some(whole) = run(&[body]) else {
        return;
    };
    let split = run(&chunks(body, seed_of(data))).expect("prepared once, prepares again");
    assert_eq!(
        whole.is_ok(),
        split.is_ok(),
        "split changed success: {whole:?} vs {split:?}"
    );
    let (Ok((query, out)), Ok((_, split_out))) = (&whole, &split) else {
        return;
    };
    assert!(out == split_out, "split changed the scrubbed body");
    if variant.redacts_email() {
        // Only where `data=` is the payload by the vendor's protocol is its base64 read;
        // elsewhere a base64 parameter is opaque to any proxy.
        let data_is_payload = route.vendor.as_str() == "mixpanel";
        for sent in [query.as_bytes(), out.as_slice()] {
            assert_no_planted_email(sent, data_is_payload);
        }
    }
}

/// Whether the planted address stands in `bytes` as an address of its own: not merely the
/// start of a longer token (`jane.doe@example.comzEt0.113.42` is no e-mail address by its
/// grammar, and a detector that reads addresses as written rightly leaves it).
fn planted_address_in(bytes: &[u8]) -> bool {
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'-';
    PLANTED_EMAIL.iter().any(|planted| {
        memchr::memmem::find_iter(bytes, planted).any(|at| {
            let end = at + planted.len();
            let starts = at == 0 || !local(bytes[at - 1]);
            let ends = match bytes.get(end) {
                None => true,
                Some(&b'.') => !bytes.get(end + 1).copied().is_some_and(domain),
                Some(&c) => !domain(c),
            };
            starts && ends
        })
    })
}

/// The planted e-mail in `sent`, plainly, in the encodings the value rules read through
/// (README, "Values in other encodings"), or inside a `data=` base64 payload.
fn assert_no_planted_email(sent: &[u8], data_is_payload: bool) {
    let leaked = planted_address_in;
    assert!(!leaked(sent), "planted e-mail in what would be sent");
    assert_no_planted_email_in_views(sent, VIEW_DEPTH);
    if !data_is_payload {
        return;
    }
    for field in sent.split(|&c| c == b'&') {
        let Some(value) = field.strip_prefix(b"data=") else {
            continue;
        };
        let Ok(unpercented) = decode::transform_all(&mut PercentDecoder::new(true), value) else {
            continue;
        };
        if let Ok(json) = decode::transform_all(&mut Base64Decoder::new(), &unpercented) {
            assert!(
                !leaked(&json),
                "planted e-mail inside a base64 data= payload"
            );
        }
    }
}

/// How many encodings deep the oracle looks; the value rules look one deeper.
const VIEW_DEPTH: u8 = 2;

/// Shortest base64 word the oracle decodes (`a@b.co` is 8 characters of base64).
const MIN_BASE64_WORD: usize = 8;

/// The planted e-mail behind HTML entities, JSON `\u` escapes, or in a base64 or base64url
/// word that decodes to text, to `depth` encodings deep. Written independently of the
/// proxy's views (which gate and decode their own way), so a gate that closes too early shows.
fn assert_no_planted_email_in_views(sent: &[u8], depth: u8) {
    if depth == 0 {
        return;
    }
    let unescaped = replace_all(
        sent,
        &[
            (b"&#64;", b"@"),
            (b"&#064;", b"@"),
            (b"&#x40;", b"@"),
            (b"&#X40;", b"@"),
            (b"&commat;", b"@"),
            (b"\\u0040", b"@"),
        ],
    );
    assert!(
        !planted_address_in(&unescaped),
        "planted e-mail behind an HTML entity or a JSON escape"
    );
    for word in base64_words(sent) {
        let Some(text) = decode_base64_text(word) else {
            continue;
        };
        assert!(
            !planted_address_in(&text),
            "planted e-mail inside a base64 word"
        );
        assert_no_planted_email_in_views(&text, depth - 1);
    }
}

fn replace_all(bytes: &[u8], pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    pairs.iter().fold(bytes.to_vec(), |text, (from, to)| {
        let mut out = Vec::with_capacity(text.len());
        let mut rest = text.as_slice();
        while let Some(at) = memchr::memmem::find(rest, from) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(to);
            rest = &rest[at + from.len()..];
        }
        out.extend_from_slice(rest);
        out
    })
}

/// Maximal runs of base64 or base64url bytes, without their padding.
fn base64_words(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || b"+/-_".contains(c);
    bytes
        .split(move |c| !alphabet(c))
        .filter(|w| w.len() >= MIN_BASE64_WORD)
}

/// The word decoded in either alphabet, when the result is UTF-8 text.
fn decode_base64_text(word: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    let lenient =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, lenient);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient);
    let decoded = standard
        .decode(word)
        .or_else(|_| url_safe.decode(word))
        .ok()?;
    let text = std::str::from_utf8(&decoded).ok()?;
    let printable = |c: char| !c.is_control() || matches!(c, '\t' | '\n' | '\r');
    text.chars().all(printable).then_some(decoded)
}
