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
    // A colon: IPv6 or nothing (`IpAddr`'s parser would try IPv4 first, always in vain).
    let v6: Ipv6Addr = std::str::from_utf8(text).ok()?.parse().ok()?;
    Some(IpAddr::V6(v6))
}

/// Digits and dots as an IPv4 address, exactly as `Ipv4Addr::from_str` reads them: four
/// decimal octets up to 255, no leading zeros.
fn parse_dotted_quad(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&c| c == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        let leading_zero = part.len() > 1 && part[0] == b'0';
        if part.is_empty() || part.len() > 3 || leading_zero {
            return None;
        }
        let mut value = 0u16;
        for &c in part {
            if !c.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u16::from(c - b'0');
        }
        *octet = u8::try_from(value).ok()?;
    }
    match parts.next() {
        Some(_) => None,
        None => Some(Ipv4Addr::from(octets)),
    }
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
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + (octet / 10) % 10);
                }
                out.push(b'0' + octet % 10);
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
