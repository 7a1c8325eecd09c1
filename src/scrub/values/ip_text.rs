//! IP addresses inside text: addresses standing as words in free text, and values that are a
//! comma-separated list of them (a copied X-Forwarded-For).

use std::net::{IpAddr, Ipv4Addr};

use memchr::memchr2_iter;

use crate::scrub::ip::{self, Found, Spelling, Truncation};
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
/// `203.0.113.42/32`, or when a host name goes on after it (`203.0.113.42.nip.io`,
/// `42.113.0.203.in-addr.arpa`, read backwards). Returns the address and the run's end.
fn quad_around(text: &[u8], sep: usize) -> (Option<Found>, usize) {
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
    let dot_ended = run.last() == Some(&b'.') && run.len() > 1;
    if dot_ended {
        run = &run[..run.len() - 1];
    }
    let touches = |c: Option<&u8>| c.is_some_and(|&c| joins_quad(c));
    // A label after the address's own dot: a host name spelling the address.
    let host_name = dot_ended && text.get(end).is_some_and(u8::is_ascii_alphabetic);
    let free = !touches(start.checked_sub(1).and_then(|p| text.get(p)))
        && (host_name || !touches(text.get(end)));
    let spelling = match ip::is_reverse_zone(&text[start + run.len()..]) {
        true => Spelling::Reversed,
        false => Spelling::Plain,
    };
    let quad = match free.then(|| text_address(run)).flatten() {
        Some(IpAddr::V4(v4)) => Some(Found {
            start,
            addr: IpAddr::V4(match spelling {
                Spelling::Reversed => reversed(v4),
                _ => v4,
            }),
            len: run.len(),
            spelling,
        }),
        _ => None,
    };
    (quad, end)
}

fn reversed(v4: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, d] = v4.octets();
    Ipv4Addr::new(d, c, b, a)
}

/// An address inside a longer word at the separator `sep`: IPv6 around a colon, whatever
/// punctuation joins it (`ip=2001:db8::1`, `2001:db8::1/64`), an IPv4 address spelled with
/// dashes in a host label before a dot, a dotted quad. `v6_tried_to` is the end of the last
/// colon run that held no IPv6 address, so a long run is read once. Returns the address and
/// the end of the bytes read.
fn address_in_word(text: &[u8], sep: usize, v6_tried_to: &mut usize) -> (Option<Found>, usize) {
    if text[sep] == b':' && sep >= *v6_tried_to {
        let (v6, run_end) = ip::colon_hex_around(text, sep);
        if let Some(found) = v6 {
            return (Some(found), found.start + found.len);
        }
        // The run may still hold a dotted quad (`a:b:203.0.113.42`).
        *v6_tried_to = run_end;
    }
    if text[sep] == b'.' {
        if let Some(found) = ip::dashed_quad_before(text, sep) {
            return (Some(found), sep);
        }
    }
    quad_around(text, sep)
}

/// Truncates addresses inside text: words that are exactly an address (a trailing full
/// stop aside; `1.2.3.4-beta` or `v1.2.3.4` are versions, not addresses), addresses that
/// only punctuation separates from their neighbours (`client_ip=203.0.113.42`,
/// `ip=2001:db8::1`, `2001:db8::1/64`), and IPv4 addresses spelled in host names.
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
    let mut v6_tried_to = 0;
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
            let address = address_word(word).map(|(addr, word)| Found {
                start,
                addr,
                len: word.len(),
                spelling: Spelling::Plain,
            });
            if address.is_none() {
                failed_word_end = end;
            }
            address
        };
        let address = match whole_word {
            Some(address) => address,
            None => {
                // Inside a longer word: another address may follow in it (`a=1.2.3.4&b=...`).
                let (found, read_to) = address_in_word(text, sep, &mut v6_tried_to);
                next_word = read_to;
                match found {
                    // The run may reach back into an address already written (a `:` after it).
                    Some(address) if address.start >= copied => address,
                    _ => continue,
                }
            }
        };
        let Found {
            start,
            addr,
            len,
            spelling,
        } = address;
        let truncated = t.apply(addr);
        if truncated == addr {
            continue;
        }
        if !found {
            out.clear();
            found = true;
        }
        out.extend_from_slice(&text[copied..start]);
        ip::write_spelled(truncated, spelling, out);
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

#[cfg(test)]
mod tests {
    use crate::scrub::report::Report;
    use crate::scrub::values::ValueRules;
    use crate::scrub::Truncation;

    fn scrubbed(rules: &ValueRules, text: &str) -> String {
        let (mut out, mut tmp, mut report) = (Vec::new(), Vec::new(), Report::default());
        match rules.scrub(text.as_bytes(), &mut out, &mut tmp, &mut report) {
            true => String::from_utf8(out).unwrap(),
            false => text.to_string(),
        }
    }

    fn table(rules: &ValueRules, cases: &[(&str, &str)]) {
        for (input, want) in cases {
            assert_eq!(scrubbed(rules, input), *want, "{input}");
        }
    }

    /// Only the IP rule, so each case shows what it alone does.
    fn ip_only() -> ValueRules {
        let mut rules = ValueRules::every_rule(Some(Truncation::default()));
        rules.email_marker = None;
        rules.url_query_allow = None;
        rules.street_marker = None;
        rules.phone_marker = None;
        rules.card_marker = None;
        rules
    }

    #[test]
    fn ipv6_is_truncated_whatever_punctuation_joins_it() {
        table(
            &ip_only(),
            &[
                ("ip=2001:db8:85a3::8a2e:370:7334", "ip=2001:db8:85a3::"),
                (
                    "client_ip=2001:db8::1&port=443",
                    "client_ip=2001:db8::&port=443",
                ),
                ("ip:2001:db8:85a3::1", "ip:2001:db8:85a3::"),
                ("addr:fe80::1", "addr:fe80::"),
                ("2001:db8:85a3::7334/64", "2001:db8:85a3::/64"),
                (
                    "net 2001:db8:85a3::7334/128 up",
                    "net 2001:db8:85a3::/128 up",
                ),
                ("[2001:db8:85a3::1]:443", "[2001:db8:85a3::]:443"),
                (
                    "http://[2001:db8:85a3::1]:8080/x",
                    "http://[2001:db8:85a3::]:8080/x",
                ),
                ("for=\"[2001:db8:85a3::1]\"", "for=\"[2001:db8:85a3::]\""),
                ("ip=fe80::1ff:fe23:4567:890a%eth0", "ip=fe80::%eth0"),
                ("ip=::ffff:203.0.113.42", "ip=203.0.113.0"),
                ("IPv6:2001:db8:85a3::1", "IPv6:2001:db8:85a3::"),
                ("w@[IPv6:2001:db8::99]", "w@[IPv6:2001:db8::]"),
                (
                    "peer=2001:db8:85a3::1: refused",
                    "peer=2001:db8:85a3::: refused",
                ),
                ("a=2001:db8::1|b=2001:db8::2", "a=2001:db8::|b=2001:db8::"),
                ("2001:db8::1-2001:db8::ff", "2001:db8::-2001:db8::"),
                // A key of hex letters, eight groups after it.
                ("ad:2001:db8:85a3:0:0:8a2e:370:7334", "ad:2001:db8:85a3::"),
                ("x=1:2:3:4:5:6:7:8", "x=1:2:3::"),
                // Few digits and no delimiter: no detector is cued, the IP rule still is.
                ("ip:10.0.0.1", "ip:10.0.0.0"),
                ("x=fe80::ab", "x=fe80::"),
                // A dotted quad after a colon run that is no address is still read.
                ("a:b:203.0.113.42", "a:b:203.0.113.0"),
            ],
        );
    }

    #[test]
    fn colon_hex_that_is_no_address_is_kept() {
        let kept = [
            "at 12:30:45 today",
            "t=2026-12-06T12:30:45.123Z",
            "mac=aa:bb:cc:dd:ee:ff",
            "fp=16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
            "Foo::bar::baz",
            "std::vec::Vec",
            "x::1y",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "ratio 1:2:3",
            "a=1:2",
        ];
        let rules = ip_only();
        for text in kept {
            assert_eq!(scrubbed(&rules, text), text);
        }
    }

    #[test]
    fn ipv4_spelled_in_host_names_is_truncated_in_their_spelling() {
        table(
            &ip_only(),
            &[
                (
                    "c-203-0-113-42.hsd1.ca.comcast.net",
                    "c-203-0-113-0.hsd1.ca.comcast.net",
                ),
                (
                    "https://ec2-203-0-113-42.compute-1.amazonaws.com/health",
                    "https://ec2-203-0-113-0.compute-1.amazonaws.com/health",
                ),
                ("ip-10-1-2-3.ec2.internal", "ip-10-1-2-0.ec2.internal"),
                (
                    "host 203-0-113-42.example.net up",
                    "host 203-0-113-0.example.net up",
                ),
                (
                    "static-203-0-113-42-dsl.example.net",
                    "static-203-0-113-0-dsl.example.net",
                ),
                (
                    "http://203.0.113.42.nip.io:8080/",
                    "http://203.0.113.0.nip.io:8080/",
                ),
                ("x=203.0.113.42.sslip.io", "x=203.0.113.0.sslip.io"),
                ("42.113.0.203.in-addr.arpa", "0.113.0.203.in-addr.arpa"),
                (
                    "ptr 42.113.0.203.IN-ADDR.ARPA.",
                    "ptr 0.113.0.203.IN-ADDR.ARPA.",
                ),
            ],
        );
    }

    #[test]
    fn dashed_numbers_that_are_no_host_address_are_kept() {
        let kept = [
            "1-203-0-113-42.example.net",
            "2026-12-06-12.log",
            "order 10-20-30-40.5 kg",
            "range 10-20-30-40. Next",
            "ip-10-1-2-3",
            "a-300-1-2-3.example.net",
            "build-1-2-3.example.net",
            "v1.2.3.4.tar.gz",
            "release-1.2.3.4.zip",
            "a=1.2.3.4.5",
        ];
        let rules = ip_only();
        for text in kept {
            assert_eq!(scrubbed(&rules, text), text);
        }
    }

    #[test]
    fn a_custom_prefix_applies_to_every_spelling() {
        let mut rules = ip_only();
        rules.ip_values = Some(Truncation {
            ipv4_prefix: 16,
            ipv6_prefix: 32,
        });
        table(
            &rules,
            &[
                (
                    "c-203-0-113-42.hsd1.example.net",
                    "c-203-0-0-0.hsd1.example.net",
                ),
                ("42.113.0.203.in-addr.arpa", "0.0.0.203.in-addr.arpa"),
                ("ip=2001:db8:85a3::1/64", "ip=2001:db8::/64"),
            ],
        );
    }
}
