//! Who the client is: the connection's peer, or the address a trusted proxy in front of us
//! names in X-Forwarded-For / Forwarded. Headers from untrusted peers are ignored, because
//! anyone can write them.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::rules::ForwardedHeader;

/// The client address for a request from `peer` carrying `forwarded` header values (in order).
pub fn client_ip<'a>(
    peer: IpAddr,
    trusted: &[IpNet],
    which: ForwardedHeader,
    forwarded: impl Iterator<Item = &'a str>,
) -> IpAddr {
    let peer = crate::scrub::ip::canonical(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded
        .flat_map(|v| v.split(','))
        .filter_map(|hop| match which {
            ForwardedHeader::XForwardedFor => parse_hop(hop.trim()),
            ForwardedHeader::Forwarded => forwarded_for(hop),
        })
        .map(crate::scrub::ip::canonical)
        .collect();
    // Walk from the nearest hop outwards; the first address we do not trust is the client.
    hops.iter()
        .rev()
        .copied()
        .find(|hop| !is_trusted(*hop, trusted))
        .or_else(|| hops.first().copied())
        .unwrap_or(peer)
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// One X-Forwarded-For entry: an address, possibly `[v6]:port` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    hop.rsplit_once(':')?.0.parse().ok()
}

/// The `for=` parameter of one Forwarded element (RFC 7239).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        if !name.eq_ignore_ascii_case("for") {
            return None;
        }
        parse_hop(value.trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = ForwardedHeader::XForwardedFor;
        let cases = [
            ("192.0.2.1", &["203.0.113.42"][..], "192.0.2.1"),
            ("10.0.0.1", &["203.0.113.42"][..], "203.0.113.42"),
            (
                "10.0.0.1",
                &["198.51.100.7, 203.0.113.42, 10.1.1.1"][..],
                "203.0.113.42",
            ),
            (
                "10.0.0.1",
                &["198.51.100.7", "203.0.113.42"][..],
                "203.0.113.42",
            ),
            ("10.0.0.1", &["garbage"][..], "10.0.0.1"),
            ("10.0.0.1", &[][..], "10.0.0.1"),
            ("::ffff:10.0.0.1", &["[2001:db8::1]:443"][..], "2001:db8::1"),
        ];
        for (peer, headers, want) in cases {
            let got = client_ip(ip(peer), &trusted, xff, headers.iter().copied());
            assert_eq!(got, ip(want), "{peer} {headers:?}");
        }
    }

    #[test]
    fn forwarded_header_for_parameter() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let got = client_ip(
            ip("10.0.0.1"),
            &trusted,
            ForwardedHeader::Forwarded,
            ["for=\"[2001:db8::7]\";proto=https, for=10.2.2.2"].into_iter(),
        );
        assert_eq!(got, ip("2001:db8::7"));
    }
}
