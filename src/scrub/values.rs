//! Rules on string values wherever they appear: whole-value IP addresses, URL and query-string
//! parameters, e-mail addresses inside free text. Works on unescaped text, writes replacements.

use std::net::IpAddr;

use memchr::{memchr2, memchr2_iter};

use super::ip::{self, Truncation};
use super::keys::KeySet;
use super::report::{FieldOutcome, Report, RuleKind};

/// Query parameters kept by default in URLs: campaign attribution, which carries no person.
pub const DEFAULT_URL_QUERY_ALLOW: &[&str] = &["utm_*", "gclid", "fbclid", "ref"];

/// The compiled value rules.
#[derive(Debug)]
pub struct ValueRules {
    /// Truncate string values that are entirely an IP address.
    pub ip_values: Option<Truncation>,
    /// Replacement for e-mail addresses in text; `None` keeps them.
    pub email_marker: Option<Vec<u8>>,
    /// Query parameters kept in URL values; `None` leaves URLs alone.
    pub url_query_allow: Option<KeySet>,
    /// Replacement for street addresses in text (`1 Market St, Apt 4B`); `None` keeps them.
    pub street_marker: Option<Vec<u8>>,
    /// Replacement for international phone numbers in text (`+1 415 555 0100`).
    pub phone_marker: Option<Vec<u8>>,
    /// Replacement for payment card numbers in text (Luhn-valid, known issuer prefixes).
    pub card_marker: Option<Vec<u8>>,
    /// Replacement for IBANs (mod-97 valid), US social security numbers (valid ranges,
    /// written with dashes) and bearer tokens / JWTs in text.
    pub iban_marker: Option<Vec<u8>>,
    pub ssn_marker: Option<Vec<u8>>,
    pub token_marker: Option<Vec<u8>>,
    /// Replacement for latitude/longitude pairs in text (`37.7749,-122.4194`).
    pub location_marker: Option<Vec<u8>>,
    /// What becomes of the vendors' user-agent fields.
    pub user_agent: UserAgentMode,
}

/// What becomes of user-agent fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserAgentMode {
    /// Browser family, major version and OS family only (as a reduced UA string).
    #[default]
    Coarse,
    Drop,
    Keep,
}

impl ValueRules {
    /// Scrubs `text`. Returns true and leaves the new text in `out` when something changed.
    pub fn scrub(
        &self,
        text: &[u8],
        out: &mut Vec<u8>,
        tmp: &mut Vec<u8>,
        report: &mut Report,
    ) -> bool {
        out.clear();
        let ip_shaped = text
            .first()
            .is_some_and(|&c| c.is_ascii_hexdigit() || c == b':');
        if let (Some(t), true) = (&self.ip_values, ip_shaped) {
            if let Some(addr) = ip::parse_whole(text) {
                let truncated = t.apply(addr);
                if truncated != addr {
                    ip::write_ip(truncated, out);
                    report.count(RuleKind::IpValue, FieldOutcome::Truncated);
                    return true;
                }
                return false;
            }
            if truncate_ip_list(text, t, out) {
                report.count(RuleKind::IpValue, FieldOutcome::Truncated);
                return true;
            }
        }
        // One vectorizable pass says which detectors can match at all; replacements only
        // remove cues, so they stay valid while detectors rewrite the text.
        let cues = Cues::of(text);
        if !cues.any(text.len()) {
            return false;
        }
        let mut changed = false;
        let mut current: &[u8] = text;
        if let (Some(allow), true) = (&self.url_query_allow, cues.question) {
            if filter_query(current, allow, tmp) {
                report.count(RuleKind::UrlQuery, FieldOutcome::Dropped);
                changed = true;
                current = tmp;
            }
        }
        // Addresses written inside text ("from 203.0.113.42, via ..."): truncated in place.
        if let (Some(t), true) = (&self.ip_values, cues.delimiter && cues.digits >= 2) {
            if truncate_ips_in_text(current, t, out, report) {
                changed = true;
                std::mem::swap(tmp, out);
                current = tmp;
            }
        }
        if let (Some(marker), true) = (&self.street_marker, cues.space && cues.digits > 0) {
            if redact_streets(current, marker, out, report) {
                changed = true;
                std::mem::swap(tmp, out);
                current = tmp;
            }
        }
        let card = cues.digits >= *CARD_DIGITS.start();
        if let (Some(marker), true) = (&self.card_marker, card) {
            if redact_cards(current, marker, out, report) {
                changed = true;
                std::mem::swap(tmp, out);
                current = tmp;
            }
        }
        let phone = cues.plus && cues.digits >= *PHONE_DIGITS.start();
        if let (Some(marker), true) = (&self.phone_marker, phone) {
            if redact_phones(current, marker, out, report) {
                changed = true;
                std::mem::swap(tmp, out);
                current = tmp;
            }
        }
        let detectors: [(&Option<Vec<u8>>, bool, Detector); 4] = [
            (&self.iban_marker, cues.digits >= 10, redact_ibans),
            (&self.ssn_marker, cues.digits >= 9, redact_ssns),
            (&self.token_marker, text.len() >= 20, redact_tokens),
            (&self.location_marker, cues.digits >= 6, redact_coordinates),
        ];
        for (marker, cued, detect) in detectors {
            if let (Some(marker), true) = (marker, cued) {
                if detect(current, marker, out, report) {
                    changed = true;
                    std::mem::swap(tmp, out);
                    current = tmp;
                }
            }
        }
        if let (Some(marker), true) = (&self.email_marker, cues.at) {
            if redact_emails(current, marker, out, report) {
                return true;
            }
        }
        if changed {
            out.clear();
            out.extend_from_slice(current);
        }
        changed
    }
}

/// What a value contains that some text detector starts from.
struct Cues {
    /// `@` or `%` (an e-mail address, plain or in a URL).
    at: bool,
    /// `+` (an international phone number).
    plus: bool,
    space: bool,
    /// A space or punctuation that can stand around a word (`,;()[]<>"'`).
    delimiter: bool,
    /// `?` or `#` (a query string or a fragment that may carry parameters).
    question: bool,
    digits: usize,
}

impl Cues {
    /// Branch-free on purpose: the compiler turns this loop into vector code.
    #[inline]
    fn of(text: &[u8]) -> Cues {
        let (mut at, mut plus, mut space, mut question) = (0u8, 0u8, 0u8, 0u8);
        let mut delimiter = 0u8;
        let mut digits = 0usize;
        // Byte-wide counters keep every lane eight bits wide; a chunk cannot overflow them.
        for chunk in text.chunks(255) {
            let mut chunk_digits = 0u8;
            for &c in chunk {
                at |= u8::from(c == b'@') | u8::from(c == b'%');
                plus |= u8::from(c == b'+');
                space |= u8::from(c == b' ');
                delimiter |= u8::from(c == b' ')
                    | u8::from(c == b',')
                    | u8::from(c == b'(')
                    | u8::from(c == b')')
                    | u8::from(c == b';')
                    | u8::from(c == b'[')
                    | u8::from(c == b'"');
                question |= u8::from(c == b'?') | u8::from(c == b'#');
                chunk_digits += u8::from(c.wrapping_sub(b'0') < 10);
            }
            digits += usize::from(chunk_digits);
        }
        Cues {
            at: at != 0,
            plus: plus != 0,
            space: space != 0,
            delimiter: delimiter != 0,
            question: question != 0,
            digits,
        }
    }

    /// Whether any detector can match a value of `len` bytes with these cues.
    fn any(&self, len: usize) -> bool {
        self.at
            || self.plus
            || self.question
            || (self.delimiter && self.digits > 0)
            || self.digits >= 9
            || len >= 20
    }
}

/// Bytes that end a word that may be an address inside text.
fn ends_ip_token(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b',' | b';' | b'(' | b')' | b'<' | b'>' | b'"' | b'\'' | b'[' | b']'
        )
}

/// Truncates addresses standing as words inside text. A word must be exactly an address
/// (a trailing full stop aside): `1.2.3.4-beta` or `v1.2.3.4` are versions, not addresses.
fn truncate_ips_in_text(
    text: &[u8],
    t: &Truncation,
    out: &mut Vec<u8>,
    report: &mut Report,
) -> bool {
    let (mut copied, mut next_word, mut found) = (0, 0, false);
    // Every address has a `.` or a `:`: only the words around those are looked at, and
    // text without either costs one vectorized scan.
    for sep in memchr2_iter(b'.', b':', text) {
        if sep < next_word {
            continue;
        }
        let start = text[..sep]
            .iter()
            .rposition(|&c| ends_ip_token(c))
            .map_or(0, |p| p + 1);
        let end = text[sep..]
            .iter()
            .position(|&c| ends_ip_token(c))
            .map_or(text.len(), |e| sep + e);
        next_word = end;
        let mut word = &text[start..end];
        if word.last() == Some(&b'.') {
            word = &word[..word.len() - 1];
        }
        let Some((addr, word)) = address_word(word) else {
            continue;
        };
        let truncated = t.apply(addr);
        if truncated == addr {
            continue;
        }
        if !found {
            out.clear();
            found = true;
        }
        out.extend_from_slice(&text[copied..start]);
        ip::write_ip(truncated, out);
        report.count(RuleKind::IpValue, FieldOutcome::Truncated);
        copied = start + word.len();
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

/// The address a word stands for, and the bytes it spans: the whole word, or an IPv4
/// address before a `:port` (`203.0.113.42:8080`; the port is kept, it names no one).
fn address_word(word: &[u8]) -> Option<(IpAddr, &[u8])> {
    if let Some(addr) = ip::parse_whole(word) {
        return Some((addr, word));
    }
    let colon = memchr::memrchr(b':', word)?;
    let port = &word[colon + 1..];
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let host = &word[..colon];
    match ip::parse_whole(host)? {
        v4 @ IpAddr::V4(_) => Some((v4, host)),
        IpAddr::V6(_) => None,
    }
}

/// Truncates every address of a value that is a comma-separated list of them (a copied
/// X-Forwarded-For). Returns true with the list rewritten in `out`.
fn truncate_ip_list(text: &[u8], t: &Truncation, out: &mut Vec<u8>) -> bool {
    let plausible = text.len() <= 1024
        && memchr::memchr(b',', text).is_some()
        && text
            .iter()
            .all(|&c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':' | b',' | b' '));
    if !plausible {
        return false;
    }
    let mut addrs = Vec::new();
    for part in text.split(|&c| c == b',') {
        let trimmed = part.trim_ascii();
        match ip::parse_whole(trimmed) {
            Some(addr) => addrs.push(t.apply(addr)),
            None => return false,
        }
    }
    out.clear();
    for (i, addr) in addrs.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        ip::write_ip(*addr, out);
    }
    true
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Bytes that end a URL written inside text.
fn ends_url(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>' | b')' | b'(')
}

/// Keeps only allow-listed parameters in every query of `text`: whole URLs, relative ones
/// (`/account?name=...`), `www.` hosts, URLs inside sentences, and a bare `?a=b` search
/// string. Fragments written as parameters (`#access_token=...&email=...`, how OAuth and
/// single-page apps pass secrets) get the same allow-list; plain anchors (`#pricing`) stay.
/// Returns true (new text in `out`) if a parameter went.
fn filter_query(text: &[u8], allow: &KeySet, out: &mut Vec<u8>) -> bool {
    let mut copied = 0;
    let (mut changed, mut writing) = (false, false);
    for q in memchr2_iter(b'?', b'#', text) {
        if q < copied {
            continue;
        }
        let fragment = text[q] == b'#';
        let token_start = text[..q]
            .iter()
            .rposition(|&c| ends_url(c))
            .map_or(0, |p| p + 1);
        let prefix = &text[token_start..q];
        let urlish = (prefix.is_empty() && token_start == 0)
            || memchr::memchr(b'/', prefix).is_some()
            || starts_with_ignore_case(prefix, b"www.");
        if !urlish {
            continue;
        }
        let token_end = text[q..]
            .iter()
            .position(|&c| ends_url(c))
            .map_or(text.len(), |e| q + e);
        let query_end = if fragment {
            token_end
        } else {
            memchr::memchr(b'#', &text[q..token_end]).map_or(token_end, |h| q + h)
        };
        let query = &text[q + 1..query_end];
        // A fragment with a query of its own (`#/reset?token=...`) is handled at its `?`.
        let nested_query = fragment && memchr::memchr(b'?', query).is_some();
        if memchr::memchr(b'=', query).is_none() || nested_query {
            continue;
        }
        if !writing {
            // Cleared once: a first query kept whole is already written and must stay.
            out.clear();
            writing = true;
        }
        out.extend_from_slice(&text[copied..q]);
        let before = out.len();
        out.push(text[q]);
        if keep_allowed_params(query, allow, out) {
            changed = true;
            if out.len() == before + 1 {
                out.pop();
            }
        } else {
            // Nothing left out: the query as it was, byte for byte.
            out.truncate(before + 1);
            out.extend_from_slice(query);
        }
        copied = query_end;
    }
    if changed {
        out.extend_from_slice(&text[copied..]);
    }
    changed
}

/// Writes the allow-listed parameters of `query` to `out`; true if any was left out.
fn keep_allowed_params(query: &[u8], allow: &KeySet, out: &mut Vec<u8>) -> bool {
    let mut dropped = false;
    let mut kept_any = false;
    let mut name = Vec::new();
    for param in query.split(|&c| c == b'&') {
        if param.is_empty() {
            continue;
        }
        let raw_name = param.split(|&c| c == b'=').next().unwrap_or(param);
        if raw_name.iter().any(|&c| c == b'%' || c == b'+') {
            super::keys::normalize_into(&percent_decoded_name(raw_name), &mut name);
        } else {
            super::keys::normalize_into(raw_name, &mut name);
        }
        if allow.matches(&name) {
            if kept_any {
                out.push(b'&');
            }
            out.extend_from_slice(param);
            kept_any = true;
        } else {
            dropped = true;
        }
    }
    dropped
}

/// Parameter names are tiny; decoding them lets `utm%5Fsource` match `utm_*`.
fn percent_decoded_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if raw[i] == b'+' { b' ' } else { raw[i] });
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// A text detector: writes `text` with its matches replaced into `out`, true if any.
type Detector = fn(&[u8], &[u8], &mut Vec<u8>, &mut Report) -> bool;

/// Replaces every span `find` reports (start and end, searching from a position) with
/// `marker`; the shared loop of the detectors below.
fn redact_spans(
    text: &[u8],
    marker: &[u8],
    out: &mut Vec<u8>,
    report: &mut Report,
    rule: RuleKind,
    find: impl Fn(&[u8], usize) -> Option<(usize, usize)>,
) -> bool {
    let (mut copied, mut from, mut found) = (0, 0, false);
    while let Some((start, end)) = find(text, from) {
        if !found {
            out.clear();
            found = true;
        }
        out.extend_from_slice(&text[copied..start]);
        out.extend_from_slice(marker);
        report.count(rule, FieldOutcome::Redacted);
        copied = end;
        from = end;
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

fn word_start(text: &[u8], i: usize) -> bool {
    i == 0 || !text[i - 1].is_ascii_alphanumeric()
}

/// IBANs: two letters, two check digits, 11 to 30 letters or digits (grouped by single
/// spaces or not), and a valid ISO 7064 mod-97 check.
fn redact_ibans(text: &[u8], marker: &[u8], out: &mut Vec<u8>, report: &mut Report) -> bool {
    redact_spans(text, marker, out, report, RuleKind::IbanValue, |t, from| {
        let last = t.len().saturating_sub(15);
        let mut i = from;
        while i < last {
            // Country letters, then check digits: most bytes fail the first test.
            if t[i].is_ascii_uppercase()
                && t[i + 1].is_ascii_uppercase()
                && t[i + 2].is_ascii_digit()
                && t[i + 3].is_ascii_digit()
                && word_start(t, i)
            {
                if let Some(end) = iban_at(t, i) {
                    return Some((i, end));
                }
            }
            i += 1;
        }
        None
    })
}

fn iban_at(text: &[u8], start: usize) -> Option<usize> {
    let mut chars = Vec::with_capacity(34);
    let (mut i, mut end) = (start, start);
    while i < text.len() && chars.len() < 34 {
        let c = text[i];
        if c.is_ascii_digit() || c.is_ascii_uppercase() {
            chars.push(c);
            end = i + 1;
        } else if !(c == b' ' && text.get(i + 1).is_some_and(u8::is_ascii_alphanumeric)) {
            break;
        }
        i += 1;
    }
    if !(15..=34).contains(&chars.len()) || text.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    // Move the first four to the end, read letters as 10..35, and check the remainder.
    let remainder = chars[4..].iter().chain(&chars[..4]).fold(0u32, |acc, &c| {
        let value = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        if value >= 10 {
            (acc * 100 + value) % 97
        } else {
            (acc * 10 + value) % 97
        }
    });
    (remainder == 1).then_some(end)
}

/// US social security numbers written `AAA-GG-SSSS`, without the never-issued ranges (area
/// 000, 666 or 900-999, group 00, serial 0000). Bare nine-digit runs are left alone: too
/// many ids look the same.
fn redact_ssns(text: &[u8], marker: &[u8], out: &mut Vec<u8>, report: &mut Report) -> bool {
    redact_spans(text, marker, out, report, RuleKind::SsnValue, |t, from| {
        // Anchored on the first dash: memchr skips the stretches without one.
        memchr::memchr_iter(b'-', &t[from..])
            .map(|o| from + o)
            .find_map(|dash| {
                let i = dash.checked_sub(3).filter(|i| *i >= from)?;
                let s = t.get(i..i + 11)?;
                let shaped = word_start(t, i)
                    && s.iter().enumerate().all(|(k, c)| {
                        if k == 3 || k == 6 {
                            *c == b'-'
                        } else {
                            c.is_ascii_digit()
                        }
                    })
                    && !t.get(i + 11).is_some_and(u8::is_ascii_alphanumeric);
                if !shaped {
                    return None;
                }
                let num = |r: std::ops::Range<usize>| {
                    s[r].iter().fold(0u32, |a, c| a * 10 + u32::from(c - b'0'))
                };
                let (area, group, serial) = (num(0..3), num(4..6), num(7..11));
                let valid = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
                valid.then_some((i, i + 11))
            })
    })
}

/// Latitude/longitude pairs written as decimals (`37.77,-122.41`, `48.8566, 2.3522`): two
/// places or more on both, in range, one comma and at most one space between. Whole
/// numbers and single decimals (`3,4.5`) are not a position precise enough to matter.
fn redact_coordinates(text: &[u8], marker: &[u8], out: &mut Vec<u8>, report: &mut Report) -> bool {
    redact_spans(
        text,
        marker,
        out,
        report,
        RuleKind::PreciseLocation,
        |t, from| {
            memchr::memchr_iter(b',', &t[from..])
                .map(|o| from + o)
                .find_map(|comma| {
                    let (start, lat) = decimal_ending_at(t, comma, 2)?;
                    let after = comma + 1 + usize::from(t.get(comma + 1) == Some(&b' '));
                    let (end, lon) = decimal_starting_at(t, after)?;
                    let in_range = lat.abs() <= 90.0 && lon.abs() <= 180.0;
                    (start >= from && in_range).then_some((start, end))
                })
        },
    )
}

/// A signed decimal with `max_int` integer digits or fewer and two places or more that
/// ends at `end` and stands as a word; its start and value.
fn decimal_ending_at(t: &[u8], end: usize, max_int: usize) -> Option<(usize, f64)> {
    let frac_start = end
        - t[..end]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
    if end - frac_start < 2 || frac_start == 0 || t[frac_start - 1] != b'.' {
        return None;
    }
    let dot = frac_start - 1;
    let int_start = dot
        - t[..dot]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
    if int_start == dot || dot - int_start > max_int {
        return None;
    }
    let start = match int_start.checked_sub(1).map(|i| t[i]) {
        Some(b'-' | b'+') => int_start - 1,
        _ => int_start,
    };
    let free = start == 0 || !(t[start - 1].is_ascii_alphanumeric() || t[start - 1] == b'.');
    free.then(|| Some((start, parse_decimal(&t[start..end])?)))?
}

/// The decimal (longitude: up to three integer digits) that starts at `start` as a word.
fn decimal_starting_at(t: &[u8], start: usize) -> Option<(usize, f64)> {
    let signed = matches!(t.get(start), Some(b'-' | b'+'));
    let int_start = start + usize::from(signed);
    let dot = int_start
        + t[int_start..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
    if dot == int_start || dot - int_start > 3 || t.get(dot) != Some(&b'.') {
        return None;
    }
    let end = dot
        + 1
        + t[dot + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
    let next_continues = match t.get(end) {
        Some(b'.') => t.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(c) => c.is_ascii_alphanumeric(),
        None => false,
    };
    if end - dot - 1 < 2 || next_continues {
        return None;
    }
    Some((end, parse_decimal(&t[start..end])?))
}

fn parse_decimal(digits: &[u8]) -> Option<f64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

static JWT_START: std::sync::OnceLock<memchr::memmem::Finder<'static>> = std::sync::OnceLock::new();
static BEARER: std::sync::OnceLock<memchr::memmem::Finder<'static>> = std::sync::OnceLock::new();

/// A substring searcher built once: building one per value costs more than the search.
fn finder(
    cell: &'static std::sync::OnceLock<memchr::memmem::Finder<'static>>,
    needle: &'static [u8],
) -> &'static memchr::memmem::Finder<'static> {
    cell.get_or_init(|| memchr::memmem::Finder::new(needle))
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// JWTs (`eyJ...` header, three dot-separated base64url parts) and the credential after
/// `Bearer ` (at least 16 token characters).
fn redact_tokens(text: &[u8], marker: &[u8], out: &mut Vec<u8>, report: &mut Report) -> bool {
    redact_spans(
        text,
        marker,
        out,
        report,
        RuleKind::TokenValue,
        |t, from| {
            let jwt = finder(&JWT_START, b"eyJ")
                .find_iter(&t[from..])
                .map(|o| from + o)
                .find_map(|i| {
                    let len = t[i..].iter().take_while(|c| is_token_char(**c)).count();
                    let parts = t[i..i + len]
                        .split(|c| *c == b'.')
                        .filter(|p| !p.is_empty())
                        .count();
                    (word_start(t, i) && parts >= 3 && len >= 20).then_some((i, i + len))
                });
            let bearer = finder(&BEARER, b"earer ")
                .find_iter(&t[from..])
                .map(|o| from + o)
                .find_map(|o| {
                    let b = o.checked_sub(1)?;
                    if !matches!(t[b], b'B' | b'b') || !word_start(t, b) {
                        return None;
                    }
                    let start = o + 6;
                    let len = t[start..].iter().take_while(|c| is_token_char(**c)).count();
                    (len >= 16).then_some((start, start + len))
                });
            match (jwt, bearer) {
                (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
                (a, b) => a.or(b),
            }
        },
    )
}

/// Digits in a payment card number.
const CARD_DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

/// Finds card numbers (13 to 19 digits, single spaces or dashes between groups, a known
/// issuer prefix, a valid Luhn check digit) and writes `text` with each replaced by `marker`.
fn redact_cards(text: &[u8], marker: &[u8], out: &mut Vec<u8>, report: &mut Report) -> bool {
    if text.len() < *CARD_DIGITS.start() {
        return false;
    }
    let mut copied = 0;
    let mut found = false;
    // One pass: a run of digits joined by single spaces or dashes becomes a candidate once it
    // holds 13 digits; only then is the Luhn and issuer check done, from the run's start.
    let (mut run_start, mut run_digits) = (0, 0);
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c.is_ascii_digit() {
            if run_digits == 0 {
                run_start = i;
            }
            run_digits += 1;
        } else if !(matches!(c, b' ' | b'-')
            && run_digits > 0
            && text.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            run_digits = 0;
        }
        i += 1;
        if run_digits < 13 {
            continue;
        }
        let starts_word = run_start == 0 || !text[run_start - 1].is_ascii_alphanumeric();
        match starts_word.then(|| card_at(text, run_start)).flatten() {
            Some(end) => {
                if !found {
                    out.clear();
                    found = true;
                }
                out.extend_from_slice(&text[copied..run_start]);
                out.extend_from_slice(marker);
                report.count(RuleKind::CardValue, FieldOutcome::Redacted);
                copied = end;
                i = end;
                run_digits = 0;
            }
            // Not a card from here; keep scanning with a window that can still become one.
            None if run_digits >= 19 => run_digits = 0,
            None => {}
        }
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

/// The end of a card number starting at `start`, if one is there.
fn card_at(text: &[u8], start: usize) -> Option<usize> {
    let mut digits = Vec::with_capacity(19);
    let mut i = start;
    let mut end = start;
    while i < text.len() && digits.len() < 19 {
        match text[i] {
            c @ b'0'..=b'9' => {
                digits.push(c - b'0');
                end = i + 1;
            }
            b' ' | b'-' if text.get(i + 1).is_some_and(u8::is_ascii_digit) && i > start => {}
            _ => break,
        }
        i += 1;
    }
    let followed_by_digit = text.get(end).is_some_and(u8::is_ascii_digit);
    let valid = CARD_DIGITS.contains(&digits.len())
        && !followed_by_digit
        && known_issuer(&digits)
        && luhn_valid(&digits);
    valid.then_some(end)
}

/// Visa, Mastercard, American Express, Discover, JCB, Diners Club, UnionPay.
fn known_issuer(d: &[u8]) -> bool {
    let two = u32::from(d[0]) * 10 + u32::from(d[1]);
    let four = two * 100 + u32::from(d[2]) * 10 + u32::from(d[3]);
    d[0] == 4
        || (51..=55).contains(&two)
        || (2221..=2720).contains(&four)
        || two == 34
        || two == 37
        || four == 6011
        || two == 65
        || (6440..=6499).contains(&four)
        || two == 35
        || two == 36
        || two == 38
        || (3000..=3059).contains(&four)
        || two == 62
}

fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Digits in an international number, country code included (E.164 allows at most 15).
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 8..=15;

/// Finds international phone numbers written with a leading `+` (`+1 415 555 0100`,
/// `+44 (20) 7946-0958`) and writes `text` with each replaced by `marker` into `out`. The `+`
/// is required: bare digit runs are too often order numbers, prices or timestamps.
fn redact_phones(text: &[u8], marker: &[u8], out: &mut Vec<u8>, report: &mut Report) -> bool {
    let mut copied = 0;
    let mut found = false;
    for plus in memchr::memchr_iter(b'+', text) {
        if plus < copied || (plus > 0 && text[plus - 1].is_ascii_alphanumeric()) {
            continue;
        }
        let Some(end) = phone_end(text, plus) else {
            continue;
        };
        if !found {
            out.clear();
            found = true;
        }
        out.extend_from_slice(&text[copied..plus]);
        out.extend_from_slice(marker);
        report.count(RuleKind::PhoneValue, FieldOutcome::Redacted);
        copied = end;
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

/// The end of a phone number whose `+` is at `plus`, if one is there.
fn phone_end(text: &[u8], plus: usize) -> Option<usize> {
    let mut digits = 0;
    let mut last_digit_end = None;
    let mut i = plus + 1;
    if !text.get(i)?.is_ascii_digit() {
        return None;
    }
    while let Some(&c) = text.get(i) {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                last_digit_end = Some(i + 1);
            }
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => break,
        }
        i += 1;
    }
    let end = last_digit_end?;
    let followed_by_word = text.get(end).is_some_and(|c| c.is_ascii_alphanumeric());
    (PHONE_DIGITS.contains(&digits) && !followed_by_word).then_some(end)
}

/// Street-type words that end a street name, as written in English-language addresses.
const STREET_TYPES: &[&[u8]] = &[
    b"st",
    b"street",
    b"ave",
    b"avenue",
    b"rd",
    b"road",
    b"blvd",
    b"boulevard",
    b"ln",
    b"lane",
    b"dr",
    b"drive",
    b"way",
    b"ct",
    b"court",
    b"pl",
    b"place",
    b"sq",
    b"square",
    b"ter",
    b"terrace",
    b"pkwy",
    b"parkway",
    b"hwy",
    b"highway",
];

/// Unit designators that may follow a street (`, Apt 4B`).
const UNIT_WORDS: &[&[u8]] = &[b"apt", b"apartment", b"suite", b"ste", b"unit", b"#"];

/// Finds `<house number> <Capitalized Name...> <street type>[, Apt X]` and writes `text` with
/// each replaced by `marker` into `out`. Conservative on purpose: a capitalized name and a
/// known street type are both required, so prices and version strings do not match.
fn redact_streets(text: &[u8], marker: &[u8], out: &mut Vec<u8>, report: &mut Report) -> bool {
    // Ids, timestamps and URLs have no spaces; an address always does.
    if text.len() < 6 || memchr::memchr(b' ', text).is_none() {
        return false;
    }
    let mut copied = 0;
    let mut i = 0;
    let mut found = false;
    while i < text.len() {
        let starts_number =
            text[i].is_ascii_digit() && (i == 0 || !text[i - 1].is_ascii_alphanumeric());
        if let Some(end) = starts_number.then(|| street_at(text, i)).flatten() {
            if !found {
                out.clear();
                found = true;
            }
            out.extend_from_slice(&text[copied..i]);
            out.extend_from_slice(marker);
            report.count(RuleKind::StreetValue, FieldOutcome::Redacted);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

/// The end of a street address starting with the house number at `start`, if one is there.
fn street_at(text: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while i < text.len() && text[i].is_ascii_digit() && i - start < 6 {
        i += 1;
    }
    if i < text.len() && text[i].is_ascii_alphabetic() && text.get(i + 1) == Some(&b' ') {
        i += 1; // 221B
    }
    let mut names = 0;
    loop {
        if text.get(i) != Some(&b' ') {
            return None;
        }
        let word_start = i + 1;
        let mut end = word_start;
        while end < text.len() && text[end].is_ascii_alphabetic() {
            end += 1;
        }
        let word = &text[word_start..end];
        if word.is_empty() || !word[0].is_ascii_uppercase() {
            return None;
        }
        if names > 0 && STREET_TYPES.iter().any(|t| word.eq_ignore_ascii_case(t)) {
            let end = if text.get(end) == Some(&b'.') {
                end + 1
            } else {
                end
            };
            return Some(unit_end(text, end));
        }
        names += 1;
        if names > 4 {
            return None;
        }
        i = end;
    }
}

/// Extends an address over a following `, Apt 4B` (or Suite, Unit, #).
fn unit_end(text: &[u8], end: usize) -> usize {
    let Some(rest) = text[end..].strip_prefix(b", ") else {
        return end;
    };
    let word_len = rest
        .iter()
        .take_while(|c| c.is_ascii_alphabetic() || **c == b'#')
        .count();
    if !UNIT_WORDS
        .iter()
        .any(|u| rest[..word_len].eq_ignore_ascii_case(u))
    {
        return end;
    }
    let after = &rest[word_len..];
    let spaces = after.iter().take_while(|c| **c == b' ').count();
    let unit = after[spaces..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if unit == 0 {
        return end;
    }
    end + 2 + word_len + spaces + unit
}

/// Address characters; bytes of non-ASCII letters count too (`jörg@müller.de`).
fn is_local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80 || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn is_domain_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80 || matches!(c, b'.' | b'-')
}

/// Whether `text` (a key, for instance) contains an e-mail address.
pub fn contains_email(text: &[u8]) -> bool {
    let mut scratch = Vec::new();
    redact_emails(text, b"", &mut scratch, &mut Report::default())
}

/// Finds e-mail addresses (`@`, or `%40` inside URLs) and writes `text` with each replaced by
/// `marker` into `out`. Returns false (and leaves `out` empty) when there is none.
fn redact_emails(text: &[u8], marker: &[u8], out: &mut Vec<u8>, report: &mut Report) -> bool {
    // The shortest address is `a@b.co`; short values are read with a loop, not memchr.
    if text.len() < 6 || (text.len() <= 32 && !text.iter().any(|&c| c == b'@' || c == b'%')) {
        return false;
    }
    let mut copied = 0;
    let mut search = 0;
    let mut found = false;
    while let Some(off) = memchr2(b'@', b'%', &text[search..]) {
        let at = search + off;
        let sep_len = if text[at] == b'@' {
            1
        } else if text[at..].starts_with(b"%40") {
            3
        } else {
            search = at + 1;
            continue;
        };
        match email_bounds(text, at, sep_len, copied) {
            Some((start, end)) => {
                if !found {
                    out.clear();
                    found = true;
                }
                out.extend_from_slice(&text[copied..start]);
                out.extend_from_slice(marker);
                report.count(RuleKind::EmailValue, FieldOutcome::Redacted);
                copied = end;
                search = end;
            }
            None => search = at + sep_len,
        }
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

/// The span of an address around the separator at `at`, if the text there is one: a local
/// part of address characters, then a domain with a dot and an alphabetic top-level label.
fn email_bounds(text: &[u8], at: usize, sep_len: usize, floor: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > floor && is_local_char(text[start - 1]) {
        start -= 1;
    }
    // `%40` inside a URL is preceded by `=`; a local part never starts with a dot.
    while start < at && text[start] == b'.' {
        start += 1;
    }
    if start == at {
        return None;
    }
    let domain_start = at + sep_len;
    let mut end = domain_start;
    while end < text.len() && is_domain_char(text[end]) {
        end += 1;
    }
    while end > domain_start && matches!(text[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let domain = &text[domain_start..end];
    let last_dot = memchr::memrchr(b'.', domain)?;
    // The top-level label is ASCII letters; what follows it (`…`, `)`) is not the address.
    let tld_len = domain[last_dot + 1..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let end = domain_start + last_dot + 1 + tld_len;
    let valid = last_dot > 0 && tld_len >= 2 && domain[0] != b'-' && domain[0] != b'.';
    valid.then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ValueRules {
        ValueRules {
            ip_values: Some(Truncation::default()),
            email_marker: Some(b"[email]".to_vec()),
            url_query_allow: Some(KeySet::new(DEFAULT_URL_QUERY_ALLOW.iter().copied())),
            street_marker: Some(b"[address]".to_vec()),
            location_marker: Some(b"[location]".to_vec()),
            phone_marker: Some(b"[phone]".to_vec()),
            card_marker: Some(b"[card]".to_vec()),
            iban_marker: Some(b"[iban]".to_vec()),
            ssn_marker: Some(b"[ssn]".to_vec()),
            token_marker: Some(b"[token]".to_vec()),
            user_agent: UserAgentMode::Coarse,
        }
    }

    fn scrubbed(text: &str) -> String {
        let (mut out, mut tmp, mut report) = (Vec::new(), Vec::new(), Report::default());
        if rules().scrub(text.as_bytes(), &mut out, &mut tmp, &mut report) {
            String::from_utf8(out).unwrap()
        } else {
            text.to_string()
        }
    }

    #[test]
    fn value_table() {
        let cases = [
            ("hello world", "hello world"),
            ("203.0.113.42", "203.0.113.0"),
            ("203.0.113.0", "203.0.113.0"),
            ("198.51.100.251, 10.0.0.228", "198.51.100.0, 10.0.0.0"),
            ("1,2", "1,2"),
            ("cafe, 10.0.0.1", "cafe, 10.0.0.0"),
            ("(2001:db8::1)", "(2001:db8::)"),
            ("2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::"),
            ("Checkout for Jane Doe (jane.doe@example.com)", "Checkout for Jane Doe ([email])"),
            ("a@b.co and c.d@e.org.", "[email] and [email]."),
            ("@handle", "@handle"),
            ("user@localhost", "user@localhost"),
            ("v1.2@3.4", "v1.2@3.4"),
            ("50% off", "50% off"),
            (
                "https://shop.example.com/checkout?email=jane.doe%40example.com&utm_source=newsletter",
                "https://shop.example.com/checkout?utm_source=newsletter",
            ),
            ("https://mail.example.com/inbox?user=jane.doe@example.com", "https://mail.example.com/inbox"),
            ("https://x.example/p?a=1#frag", "https://x.example/p#frag"),
            ("https://x.example/cb#access_token=ya29.a0Af&state=1", "https://x.example/cb"),
            ("https://x.example/p?utm_source=n#id=1&utm_medium=e", "https://x.example/p?utm_source=n#utm_medium=e"),
            ("https://x.example/#/reset?token=abc&ref=m", "https://x.example/#/reset?ref=m"),
            ("https://x.example/docs#pricing", "https://x.example/docs#pricing"),
            ("issue #42 fixed", "issue #42 fixed"),
            ("at 37.77,-122.41 today", "at [location] today"),
            ("(48.8566, 2.3522)", "([location])"),
            ("pos=-33.8688,151.2093.", "pos=[location]."),
            ("sizes 3,4.5 and 1.5,2", "sizes 3,4.5 and 1.5,2"),
            ("v1.20.30,1.25 build", "v1.20.30,1.25 build"),
            ("95.12,10.55", "95.12,10.55"),
            (
                "from https://a.example/?utm_source=x to https://b.example/?name=Jane now",
                "from https://a.example/?utm_source=x to https://b.example/ now",
            ),
            ("https://x.example/p?utm_medium=e&gclid=1", "https://x.example/p?utm_medium=e&gclid=1"),
            ("?email=jane.doe%40example.com&utm_source=newsletter&variant=standard", "?utm_source=newsletter"),
            ("https://x.example/p", "https://x.example/p"),
            ("/account?name=Jane+Doe", "/account"),
            ("www.shop.example/?first_name=Jane&utm_source=a", "www.shop.example/?utm_source=a"),
            ("see https://x.example/?name=Jane for more", "see https://x.example/ for more"),
            ("is it? yes=no", "is it? yes=no"),
            ("jane@müller.de wrote", "[email] wrote"),
            ("jörg@example.com", "[email]"),
            ("mail jane@example.com…", "mail [email]…"),
            ("mailto jane.doe%40example.com", "mailto [email]"),
            ("1 Market St, Apt 4B, San Francisco, CA 94105, USA", "[address], San Francisco, CA 94105, USA"),
            ("ship to 806 Market Street today", "ship to [address] today"),
            ("221B Baker St.", "[address]"),
            ("Version 2 Beta", "Version 2 Beta"),
            ("3 Items Left", "3 Items Left"),
            ("rated 5 Stars", "rated 5 Stars"),
            ("+1 415 555 0100", "[phone]"),
            ("call +44 (20) 7946-0958 now", "call [phone] now"),
            ("+49-30-901820", "[phone]"),
            ("score +1", "score +1"),
            ("1+1=2", "1+1=2"),
            ("+12 34", "+12 34"),
            ("4111 1111 1111 1111", "[card]"),
            ("4111111111111111", "[card]"),
            ("pay to DE89 3704 0044 0532 0130 00 today", "pay to [iban] today"),
            ("GB82WEST12345698765432", "[iban]"),
            ("GB82WEST12345698765433", "GB82WEST12345698765433"),
            ("ssn 123-45-6789", "ssn [ssn]"),
            ("ssn 666-45-6789", "ssn 666-45-6789"),
            ("tel 555-12-3456789", "tel 555-12-3456789"),
            ("Authorization: Bearer abcdefghijklmnop1234", "Authorization: Bearer [token]"),
            ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_x", "token [token]"),
            ("Bearer short", "Bearer short"),
            ("123-45-6789", "[ssn]"),
            ("seen from 203.0.113.42, twice", "seen from 203.0.113.0, twice"),
            ("peer 2001:db8:85a3::8a2e:370:7334 said", "peer 2001:db8:85a3:: said"),
            ("release 1.2.3.4-beta now", "release 1.2.3.4-beta now"),
            ("tool v1.2.3.4 now", "tool v1.2.3.4 now"),
            ("upstream 203.0.113.42:8080 refused", "upstream 203.0.113.0:8080 refused"),
            ("[2001:db8::1]:443 down", "[2001:db8::]:443 down"),
            ("at 12:30:45 today", "at 12:30:45 today"),
            ("paid with 5500-0000-0000-0004.", "paid with [card]."),
            ("4111 1111 1111 1112", "4111 1111 1111 1112"),
            ("order 1234567890123456", "order 1234567890123456"),
            ("ts 1795342958448", "ts 1795342958448"),
            ("12 apples on Main St", "12 apples on Main St"),
            ("Order 1234 shipped", "Order 1234 shipped"),
        ];
        for (input, want) in cases {
            assert_eq!(scrubbed(input), want, "{input}");
        }
    }
}
