//! IP truncation: the one place that decides how much of an address survives.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// Default IPv4 prefix kept: the /24 network, the usual anonymization for analytics.
pub const DEFAULT_IPV4_PREFIX: u8 = 24;
/// Default IPv6 prefix kept: the /48 site prefix.
pub const DEFAULT_IPV6_PREFIX: u8 = 48;

/// How many leading bits of an address survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncation {
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
}

impl Default for Truncation {
    fn default() -> Self {
        Truncation {
            ipv4_prefix: DEFAULT_IPV4_PREFIX,
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        }
    }
}

impl Truncation {
    /// Keeps the configured prefix. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is an IPv4
    /// client and is truncated (and written) as IPv4, so it cannot slip through with a /48.
    pub fn apply(&self, ip: IpAddr) -> IpAddr {
        match canonical(ip) {
            IpAddr::V4(v4) => IpAddr::V4(truncate_v4(v4, self.ipv4_prefix)),
            IpAddr::V6(v6) => IpAddr::V6(truncate_v6(v6, self.ipv6_prefix)),
        }
    }
}

/// Maps `::ffff:a.b.c.d` to `a.b.c.d`; leaves everything else alone.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn truncate_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    Ipv4Net::new(ip, prefix.min(32))
        .map(|net| net.network())
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn truncate_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    Ipv6Net::new(ip, prefix.min(128))
        .map(|net| net.network())
        .unwrap_or(Ipv6Addr::UNSPECIFIED)
}

/// Parses `text` when the whole of it is an IP address. Cheap rejection first: most strings
/// are not addresses, and this runs on every string value.
pub fn parse_whole(text: &[u8]) -> Option<IpAddr> {
    if !(2..=45).contains(&text.len()) {
        return None;
    }
    let first = text[0];
    if !(first.is_ascii_hexdigit() || first == b':') {
        return None;
    }
    if !text
        .iter()
        .all(|&c| c.is_ascii_hexdigit() || c == b'.' || c == b':')
    {
        return None;
    }
    if memchr::memchr(b':', text).is_none() {
        // Digits and dots: IPv4 or nothing, decided without the general parser (decimals
        // such as `37.7749` reach here from lists of coordinates).
        return parse_dotted_quad(text).map(IpAddr::V4);
    }
    parse_colon_hex(text).map(IpAddr::V6)
}

/// Text with a colon as an IPv6 address, exactly as `Ipv6Addr::from_str` reads it: eight
/// groups of one to four hex digits, or fewer around one `::`, the last two of which may be
/// written as a dotted quad.
fn parse_colon_hex(text: &[u8]) -> Option<Ipv6Addr> {
    let mut groups = [0u16; 8];
    let gap = text.windows(2).position(|w| w == b"::");
    let Some(gap) = gap else {
        return (read_groups(text, &mut groups, true)? == 8).then(|| Ipv6Addr::from(groups));
    };
    let (head, tail) = (&text[..gap], &text[gap + 2..]);
    let mut tail_groups = [0u16; 8];
    // An address in the head would have to fill all eight groups, leaving no room for `::`.
    let head_n = read_groups(head, &mut groups, false)?;
    let tail_n = read_groups(tail, &mut tail_groups, true)?;
    // `::` stands for at least one group of zeros.
    if head_n + tail_n > 7 {
        return None;
    }
    groups[8 - tail_n..].copy_from_slice(&tail_groups[..tail_n]);
    Some(Ipv6Addr::from(groups))
}

/// Reads `:`-separated hex groups (and, when `v4_last`, a final dotted quad worth two) into
/// `groups`; returns how many. Empty text is no groups; an empty group is an error.
fn read_groups(text: &[u8], groups: &mut [u16; 8], v4_last: bool) -> Option<usize> {
    if text.is_empty() {
        return Some(0);
    }
    let (mut n, mut i) = (0, 0);
    loop {
        let start = i;
        let mut value = 0u16;
        while let Some(digit) = text.get(i).and_then(|&c| crate::decode::hex_value(c)) {
            value = value << 4 | u16::from(digit);
            i += 1;
        }
        match text.get(i) {
            // The last part written as a dotted quad (its first octet read as hex so far).
            Some(b'.') if v4_last => {
                let [a, b, c, d] = parse_dotted_quad(&text[start..])?.octets();
                *groups.get_mut(n + 1)? = u16::from_be_bytes([c, d]);
                groups[n] = u16::from_be_bytes([a, b]);
                return Some(n + 2);
            }
            None | Some(b':') if (1..=4).contains(&(i - start)) => {
                *groups.get_mut(n)? = value;
                n += 1;
                if i == text.len() {
                    return Some(n);
                }
                i += 1;
            }
            _ => return None,
        }
    }
}

/// Digits and dots as an IPv4 address, exactly as `Ipv4Addr::from_str` reads them: four
/// decimal octets up to 255, no leading zeros.
fn parse_dotted_quad(text: &[u8]) -> Option<Ipv4Addr> {
    read_quad(text, false)
}

/// A dotted quad whose octets may carry leading zeros (`203.000.113.042`). The standard
/// parser refuses it (some parsers read such octets as octal), but many libraries read it
/// as decimal, so written in a value it is an address to truncate.
pub fn parse_padded_quad(text: &[u8]) -> Option<Ipv4Addr> {
    read_quad(text, true)
}

fn read_quad(text: &[u8], leading_zeros: bool) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if text.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut value = 0u16;
        while let Some(&c) = text.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start == 3 {
                return None;
            }
            value = value * 10 + u16::from(c - b'0');
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || (digits > 1 && text[start] == b'0' && !leading_zeros) {
            return None;
        }
        *octet = u8::try_from(value).ok()?;
    }
    (i == text.len()).then(|| Ipv4Addr::from(octets))
}

/// How an address found inside text is spelled, so its truncation is written back the same
/// way and the text keeps its shape (a host name stays a valid host name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spelling {
    /// As the standard formatter writes it.
    Plain,
    /// Octets joined by `-` inside a host label (`c-203-0-113-42.hsd1.example.net`).
    Dashed,
    /// Octets in reverse order before `.in-addr.arpa` (`42.113.0.203.in-addr.arpa`).
    Reversed,
}

/// An address found inside text: where it starts, the address, how many bytes it spans and
/// how it is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub addr: IpAddr,
    pub len: usize,
    pub spelling: Spelling,
}

/// Bytes that make a word of the bytes they touch: an address touching one is part of
/// something else (a version, an id, a hash).
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The IPv6 address written at the run of hex digits, colons and dots around the colon at
/// `sep`, whatever punctuation joins it to the text (`ip=2001:db8::1`, `ip:2001:db8::1`,
/// `[2001:db8::1]:443`, `2001:db8::1/64`, `fe80::1%eth0`, `::ffff:203.0.113.42`). Returns
/// the address found, if any, and where the run ends. Not addresses: runs a letter or
/// digit outside the run touches on the right (`Foo::bar`), colon-hex text that is no
/// address (`12:30:45`, `aa:bb:cc:dd:ee:ff`, long fingerprints).
pub fn colon_hex_around(text: &[u8], sep: usize) -> (Option<Found>, usize) {
    let in_run = |c: &u8| c.is_ascii_hexdigit() || matches!(c, b':' | b'.');
    let run_start = text[..sep]
        .iter()
        .rposition(|c| !in_run(c))
        .map_or(0, |p| p + 1);
    let run_end = text[sep..]
        .iter()
        .position(|c| !in_run(c))
        .map_or(text.len(), |e| sep + e);
    (v6_in_run(text, run_start, run_end), run_end)
}

fn v6_in_run(text: &[u8], run_start: usize, run_end: usize) -> Option<Found> {
    let (mut start, mut end) = (run_start, run_end);
    let single_colon_at = |i: usize| text[i] == b':' && text.get(i + 1) != Some(&b':');
    // A sentence's full stop, or a colon before a message (`2001:db8::1: refused`).
    let stop = text[..end].last() == Some(&b'.');
    if stop || (end - start > 1 && text[end - 1] == b':' && text[end - 2] != b':') {
        end -= 1;
    }
    if !stop && text.get(end).copied().is_some_and(is_word_byte) {
        return None;
    }
    if start < end && single_colon_at(start) {
        // `ip:2001:db8::1`: the colon joins a key to its value.
        start += 1;
    } else if start > 0 && is_word_byte(text[start - 1]) {
        // `IPv6:2001:db8::1`: the first group belongs to the word before it.
        let colon = memchr::memchr(b':', &text[start..end])? + start;
        if !single_colon_at(colon) {
            return None;
        }
        start = colon + 1;
    }
    let candidate = &text[start..end];
    // Two colons at least: one is a key's or a port's.
    memchr::memchr_iter(b':', candidate).nth(1)?;
    if let Some(addr) = parse_whole(candidate) {
        return Some(found_plain(start, addr, candidate.len()));
    }
    // A key made of hex letters before its colon (`cafe:2001:db8::1`, `ad:...` with eight
    // groups after it): the address is what follows the first colon.
    let colon = memchr::memchr(b':', candidate)? + start;
    let rest = &text[colon + 1..end];
    match (single_colon_at(colon), parse_whole(rest)) {
        (true, Some(addr)) => Some(found_plain(colon + 1, addr, rest.len())),
        _ => None,
    }
}

fn found_plain(start: usize, addr: IpAddr, len: usize) -> Found {
    Found {
        start,
        addr,
        len,
        spelling: Spelling::Plain,
    }
}

/// An IPv4 address spelled with dashes in the host label that ends at the `.` at `dot`:
/// reverse-DNS and cloud host names (`c-203-0-113-42.hsd1.ca.comcast.net`,
/// `ec2-203-0-113-42.compute-1.amazonaws.com`, `ip-10-0-0-1.ec2.internal`). Exactly four
/// numeric pieces in a row, between the label's ends or pieces with a letter, and a name
/// that goes on after the dot; five numbers in a row are no one address.
pub fn dashed_quad_before(text: &[u8], dot: usize) -> Option<Found> {
    let is_label_byte = |c: &u8| c.is_ascii_alphanumeric() || *c == b'-';
    // The name goes on with a label that has a letter (`10-20-30-40.5 kg` is no host).
    let mut next_label = text[dot + 1..].iter().take_while(|c| is_label_byte(c));
    if !next_label.any(u8::is_ascii_alphabetic) {
        return None;
    }
    let label_start = text[..dot]
        .iter()
        .rposition(|c| !is_label_byte(c))
        .map_or(0, |p| p + 1);
    let label = &text[label_start..dot];
    memchr::memchr(b'-', label)?;
    let numeric = |piece: &[u8]| !piece.is_empty() && piece.iter().all(u8::is_ascii_digit);
    let mut run = 0;
    let mut run_from = 0;
    let mut best = None;
    let mut offset = 0;
    for piece in label.split(|&c| c == b'-') {
        if numeric(piece) {
            if run == 0 {
                run_from = offset;
            }
            run += 1;
        } else {
            best = best.or_else(|| (run == 4).then(|| (run_from, offset - 1)));
            run = 0;
        }
        offset += piece.len() + 1;
    }
    let (from, to) = best.or_else(|| (run == 4).then_some((run_from, label.len())))?;
    let mut dotted = [0u8; 15];
    let spelled = &label[from..to];
    let dotted = dotted.get_mut(..spelled.len())?;
    for (d, &c) in dotted.iter_mut().zip(spelled) {
        *d = if c == b'-' { b'.' } else { c };
    }
    let v4 = parse_padded_quad(dotted)?;
    Some(Found {
        start: label_start + from,
        addr: IpAddr::V4(v4),
        len: spelled.len(),
        spelling: Spelling::Dashed,
    })
}

/// Whether the text after a dotted quad (from its final `.`) makes it a reverse-DNS name,
/// whose octets are written last to first.
pub fn is_reverse_zone(after: &[u8]) -> bool {
    const ZONE: &[u8] = b".in-addr.arpa";
    after.len() >= ZONE.len() && after[..ZONE.len()].eq_ignore_ascii_case(ZONE)
}

/// Appends `ip` to `out` spelled as `spelling` says.
pub fn write_spelled(ip: IpAddr, spelling: Spelling, out: &mut Vec<u8>) {
    let octets = match (ip, spelling) {
        (_, Spelling::Plain) | (IpAddr::V6(_), _) => return write_ip(ip, out),
        (IpAddr::V4(v4), _) => v4.octets(),
    };
    let (order, joint) = match spelling {
        Spelling::Reversed => ([3, 2, 1, 0], b'.'),
        _ => ([0, 1, 2, 3], b'-'),
    };
    for (i, k) in order.into_iter().enumerate() {
        if i > 0 {
            out.push(joint);
        }
        write_octet(octets[k], out);
    }
}

fn write_octet(octet: u8, out: &mut Vec<u8>) {
    if octet >= 100 {
        out.push(b'0' + octet / 100);
    }
    if octet >= 10 {
        out.push(b'0' + (octet / 10) % 10);
    }
    out.push(b'0' + octet % 10);
}

/// Appends the text form of `ip` to `out`. IPv4 (most addresses) is written digit by
/// digit: the general formatter costs more than the rest of a value's handling.
pub fn write_ip(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                write_octet(octet, out);
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            // Straight into `out`, no intermediate String; writing to a Vec cannot fail.
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truncated(ip: &str) -> String {
        Truncation::default().apply(ip.parse().unwrap()).to_string()
    }

    #[test]
    fn dotted_quads_parse_as_the_standard_parser_does() {
        let cases = [
            "0.0.0.0",
            "1.2.3.4",
            "255.255.255.255",
            "203.0.113.42",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.",
            ".1.2.3",
            "1.2.3.4a",
            "1234.1.1.1",
            "0.00.0.0",
            "9.99.999.0",
        ];
        let agrees = |case: &str| {
            let standard = case.parse::<Ipv4Addr>().ok();
            assert_eq!(parse_dotted_quad(case.as_bytes()), standard, "{case}");
            assert_eq!(
                parse_whole(case.as_bytes()),
                standard.map(IpAddr::V4),
                "{case}"
            );
        };
        cases.into_iter().for_each(agrees);
        for n in 0..=999u16 {
            agrees(&format!("{n}.{n}.{n}.{n}"));
            agrees(&format!("1.{n:03}.0.{n:02}"));
        }
        // Every string of up to nine bytes over a small alphabet of digits and dots.
        let alphabet = [b'0', b'1', b'5', b'.'];
        let mut text = Vec::new();
        for len in 1..=9u32 {
            for mut code in 0..4usize.pow(len) {
                text.clear();
                for _ in 0..len {
                    text.push(alphabet[code % 4]);
                    code /= 4;
                }
                agrees(std::str::from_utf8(&text).unwrap());
            }
        }
    }

    #[test]
    fn addresses_are_written_as_the_standard_formatter_writes_them() {
        for text in [
            "0.0.0.0",
            "203.0.113.0",
            "10.0.0.1",
            "::",
            "::1",
            "2001:db8:85a3::",
            "2001:db8::8a2e:370:7334",
            "::ffff:203.0.113.42",
            "fe80::1:0:0:1",
            "1:0:0:1:0:0:0:1",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            let mut out = Vec::new();
            write_ip(ip, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), ip.to_string(), "{text}");
            assert_eq!(parse_whole(text.as_bytes()), Some(ip), "{text}");
        }
    }

    #[test]
    fn colon_hex_parses_as_the_standard_parser_does() {
        let agrees = |text: &str| {
            let standard = text.parse::<Ipv6Addr>().ok();
            assert_eq!(parse_colon_hex(text.as_bytes()), standard, "{text}");
        };
        for text in [
            "::",
            "::1",
            "1::",
            "1::2",
            ":1",
            "1:",
            ":::",
            "1:::2",
            "1::2::3",
            "::ffff:1.2.3.4",
            "::1.2.3.4",
            "1.2.3.4::",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7",
            "::1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "12345::",
            "0000:0:00:000::",
            "2001:DB8::aB",
            "::01.2.3.4",
            "::1.2.3.4:5",
            "1:2:3:4:5:6:7:8:9",
            "::256.1.1.1",
            "a:b:c:d:e:f:1.2.3.4",
        ] {
            agrees(text);
        }
        // Random strings over the bytes addresses are made of, from a fixed seed.
        let alphabet = b"0129afF:::..";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..300_000 {
            let len = (next() % 24) as usize + 1;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect();
            agrees(&text);
        }
        // And well-formed ones, compressed at random places.
        for _ in 0..50_000 {
            let groups: Vec<String> = (0..8).map(|_| format!("{:x}", next() % 0x1_0000)).collect();
            let (from, to) = ((next() % 9) as usize, (next() % 9) as usize);
            let (from, to) = (from.min(to), from.max(to));
            let text = match from == to {
                true => groups.join(":"),
                false => format!("{}::{}", groups[..from].join(":"), groups[to..].join(":")),
            };
            agrees(&text);
            // The last two groups as a dotted quad.
            let quad = format!(
                "{}.{}.{}.{}",
                next() % 256,
                next() % 256,
                next() % 256,
                next() % 300
            );
            if let Some(cut) = text.rfind(':').and_then(|c| text[..c].rfind(':')) {
                agrees(&format!("{}:{quad}", &text[..cut]));
            }
        }
    }

    #[test]
    fn padded_quads_read_as_decimal() {
        let padded = |t: &str| parse_padded_quad(t.as_bytes()).map(|a| a.to_string());
        assert_eq!(padded("203.000.113.042").as_deref(), Some("203.0.113.42"));
        assert_eq!(padded("010.1.2.3").as_deref(), Some("10.1.2.3"));
        for refused in [
            "256.1.1.1",
            "0001.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.4 ",
        ] {
            assert_eq!(padded(refused), None, "{refused}");
        }
        // Everything the strict parser reads, it reads the same.
        for n in 0..=255u16 {
            let text = format!("{n}.1.{n}.2");
            assert_eq!(
                parse_padded_quad(text.as_bytes()),
                parse_dotted_quad(text.as_bytes())
            );
        }
    }

    #[test]
    fn truncation_table() {
        let cases = [
            ("203.0.113.42", "203.0.113.0"),
            ("10.1.2.3", "10.1.2.0"),
            ("2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::"),
            ("::ffff:203.0.113.42", "203.0.113.0"),
            ("::1", "::"),
        ];
        for (input, want) in cases {
            assert_eq!(truncated(input), want, "{input}");
        }
    }

    #[test]
    fn custom_prefixes() {
        let t = Truncation {
            ipv4_prefix: 16,
            ipv6_prefix: 32,
        };
        assert_eq!(
            t.apply("203.0.113.42".parse().unwrap()).to_string(),
            "203.0.0.0"
        );
        assert_eq!(
            t.apply("2001:db8:85a3::1".parse().unwrap()).to_string(),
            "2001:db8::"
        );
    }

    #[test]
    fn writes_addresses_like_the_standard_formatter() {
        for text in [
            "0.0.0.0",
            "10.1.2.0",
            "203.0.113.0",
            "255.255.255.255",
            "2001:db8::",
            "::",
        ] {
            let mut out = Vec::new();
            write_ip(text.parse().unwrap(), &mut out);
            assert_eq!(out, text.as_bytes());
        }
    }

    #[test]
    fn whole_value_detection() {
        assert!(parse_whole(b"203.0.113.42").is_some());
        assert!(parse_whole(b"2001:db8::1").is_some());
        assert!(parse_whole(b"cafe").is_none());
        assert!(parse_whole(b"1.2.3").is_none());
        assert!(parse_whole(b"deadbeef-0000").is_none());
        assert!(parse_whole(b"user 1.2.3.4").is_none());
    }
}
