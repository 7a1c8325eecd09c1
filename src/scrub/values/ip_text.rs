//! IP addresses inside text: addresses standing as words in free text, and values that are a
//! comma-separated list of them (a copied X-Forwarded-For).

use std::net::IpAddr;

use memchr::memchr2_iter;

use crate::scrub::ip::{self, Truncation};
use crate::scrub::report::{FieldOutcome, Report, RuleKind};

/// Bytes that end a word that may be an address inside text.
fn ends_ip_token(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b',' | b';' | b'(' | b')' | b'<' | b'>' | b'"' | b'\'' | b'[' | b']'
        )
}

/// Bytes that join a dotted quad to the token around it, making it a version, a host name
/// or an id rather than an address (`v1.2.3.4`, `1.2.3.4-beta`, `1.2.3.4%eth0`).
fn joins_quad(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'%')
}

/// The IPv4 address written at the run of digits and dots around `sep`, when no letter or
/// joining byte touches it: `for=203.0.113.42;`, `ip:203.0.113.42`, `http://203.0.113.42/`,
/// `203.0.113.42/32`. Returns the run's span, the address and the run's end.
fn quad_around(text: &[u8], sep: usize) -> (Option<(usize, IpAddr, usize)>, usize) {
    let in_run = |c: &u8| c.is_ascii_digit() || *c == b'.';
    let start = text[..sep]
        .iter()
        .rposition(|c| !in_run(c))
        .map_or(0, |p| p + 1);
    let end = text[sep..]
        .iter()
        .position(|c| !in_run(c))
        .map_or(text.len(), |e| sep + e);
    let mut run = &text[start..end];
    // A sentence may end with the address: then the byte after its full stop is the one
    // that must be free, as it is after an untrimmed run.
    if run.last() == Some(&b'.') && run.len() > 1 {
        run = &run[..run.len() - 1];
    }
    let touches = |c: Option<&u8>| c.is_some_and(|&c| joins_quad(c));
    let free = !touches(start.checked_sub(1).and_then(|p| text.get(p))) && !touches(text.get(end));
    let quad = match free.then(|| text_address(run)).flatten() {
        Some(v4 @ IpAddr::V4(_)) => Some((start, v4, run.len())),
        _ => None,
    };
    (quad, end)
}

/// Truncates addresses inside text: words that are exactly an address (a trailing full
/// stop aside; `1.2.3.4-beta` or `v1.2.3.4` are versions, not addresses), and IPv4
/// addresses that only punctuation separates from their neighbours (`client_ip=...`).
pub(super) fn truncate_ips_in_text(
    text: &[u8],
    t: &Truncation,
    out: &mut Vec<u8>,
    report: &mut Report,
) -> bool {
    let (mut copied, mut next_word, mut found) = (0, 0, false);
    // The end of a word that is no address as a whole: its other separators go straight
    // to the runs of digits and dots inside it, so a long word is read once, not per dot.
    let mut failed_word_end = 0;
    // Every address has a `.` or a `:`: only the words around those are looked at, and
    // text without either costs one vectorized scan.
    for sep in memchr2_iter(b'.', b':', text) {
        if sep < next_word {
            continue;
        }
        let whole_word = if sep < failed_word_end {
            None
        } else {
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
            let address = address_word(word).map(|(addr, word)| (start, addr, word.len()));
            if address.is_none() {
                failed_word_end = end;
            }
            address
        };
        let (start, addr, len) = match whole_word {
            Some(address) => address,
            None => {
                // Inside a longer word: another address may follow in it (`a=1.2.3.4&b=...`).
                let (quad, run_end) = quad_around(text, sep);
                next_word = run_end;
                match quad {
                    // The run may reach back into an address already written (a `:` after it).
                    Some(found) if found.0 >= copied => found,
                    _ => continue,
                }
            }
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
        copied = start + len;
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

/// An address written as text: what the standard parsers read, and dotted quads with
/// leading zeros, which other parsers read as decimal.
fn text_address(word: &[u8]) -> Option<IpAddr> {
    ip::parse_whole(word).or_else(|| ip::parse_padded_quad(word).map(IpAddr::V4))
}

/// The address a word stands for, and the bytes it spans: the whole word, or an IPv4
/// address before a `:port` (`203.0.113.42:8080`; the port is kept, it names no one).
pub(super) fn address_word(word: &[u8]) -> Option<(IpAddr, &[u8])> {
    if let Some(addr) = text_address(word) {
        return Some((addr, word));
    }
    // A scoped IPv6 address (`fe80::1:2ff:fe33:4455%eth0`): link-local ones carry an
    // interface id often made from the device's MAC address. The zone (an interface name)
    // stays after the truncated address.
    if let Some(percent) = memchr::memchr(b'%', word) {
        let (host, zone) = (&word[..percent], &word[percent + 1..]);
        let zone_ok = !zone.is_empty()
            && zone
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
        return match (zone_ok, ip::parse_whole(host)?) {
            (true, v6 @ IpAddr::V6(_)) => Some((v6, host)),
            _ => None,
        };
    }
    let colon = memchr::memrchr(b':', word)?;
    let port = &word[colon + 1..];
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let host = &word[..colon];
    match text_address(host)? {
        v4 @ IpAddr::V4(_) => Some((v4, host)),
        IpAddr::V6(_) => None,
    }
}

/// Truncates every address of a value that is a comma-separated list of them (a copied
/// X-Forwarded-For). Returns true with the list rewritten in `out`.
pub(super) fn truncate_ip_list(text: &[u8], t: &Truncation, out: &mut Vec<u8>) -> bool {
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
        match text_address(trimmed) {
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
