//! Keyed pseudonyms for identifiers: HMAC-SHA256 with a secret the rules file never holds.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex characters kept from the MAC: 128 bits, far beyond any collision risk for user ids,
/// and short enough for vendor id length limits.
pub const PSEUDONYM_HEX_LEN: usize = 32;

/// Mixpanel marks anonymous ids with this prefix; keeping it keeps its identity merge working.
const KEPT_PREFIXES: &[&[u8]] = &[b"$device:"];

/// An HMAC-SHA256 key, kept as the MAC state after the key block: each pseudonym clones it
/// and hashes only the id. Debug never shows it.
#[derive(Clone)]
pub struct PseudonymKey {
    mac: Hmac<Sha256>,
    /// The same key as the two SHA-256 states after `key ^ ipad` and `key ^ opad`: an id
    /// that fits one block (most ids: UUIDs, user ids) costs exactly two compressions,
    /// without the general MAC's buffering.
    inner: [u32; 8],
    outer: [u32; 8],
}

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The longest message that fits one padded SHA-256 block after the key block.
const ONE_BLOCK: usize = 55;

/// The state after compressing one 64-byte block into the initial state.
fn state_after(block: [u8; 64]) -> [u32; 8] {
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, &[block.into()]);
    state
}

/// Compresses `message` (at most `ONE_BLOCK` bytes) as the last block of a hash that already
/// took `prefix_blocks` full blocks, padding it as SHA-256 does; returns the digest.
fn finish_one_block(mut state: [u32; 8], prefix_blocks: u64, message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..message.len()].copy_from_slice(message);
    block[message.len()] = 0x80;
    let bits = (prefix_blocks * 64 + message.len() as u64) * 8;
    block[56..].copy_from_slice(&bits.to_be_bytes());
    sha2::compress256(&mut state, &[block.into()]);
    let mut digest = [0u8; 32];
    for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

impl PseudonymKey {
    pub fn new(secret: &[u8]) -> Self {
        // HMAC takes keys of any length; this cannot fail.
        let mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
        // RFC 2104: a key longer than a block is hashed first; then it is padded with zeros.
        let mut key = [0u8; 64];
        if secret.len() > 64 {
            use sha2::Digest;
            key[..32].copy_from_slice(&Sha256::digest(secret));
        } else {
            key[..secret.len()].copy_from_slice(secret);
        }
        PseudonymKey {
            mac,
            inner: state_after(key.map(|b| b ^ 0x36)),
            outer: state_after(key.map(|b| b ^ 0x5c)),
        }
    }

    fn tag(&self, message: &[u8]) -> [u8; 32] {
        if message.len() <= ONE_BLOCK {
            let inner = finish_one_block(self.inner, 1, message);
            return finish_one_block(self.outer, 1, &inner);
        }
        let mut mac = self.mac.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// A stand-in address for `ip` on `day` (days since the epoch): the same visitor gets the
    /// same address all day and another one the next, in the unique-local range `fd00::/8`,
    /// which no geolocation database places anywhere.
    pub fn pseudonym_address(&self, ip: std::net::IpAddr, day: u64) -> std::net::Ipv6Addr {
        let mut message = Vec::with_capacity(32);
        message.extend_from_slice(b"scrubproxy-visitor-address");
        message.extend_from_slice(&day.to_be_bytes());
        match super::ip::canonical(ip) {
            std::net::IpAddr::V4(v4) => message.extend_from_slice(&v4.octets()),
            std::net::IpAddr::V6(v6) => message.extend_from_slice(&v6.octets()),
        }
        let tag = self.tag(&message);
        let mut octets = [0u8; 16];
        octets[0] = 0xfd;
        octets[1..].copy_from_slice(&tag[..15]);
        std::net::Ipv6Addr::from(octets)
    }

    /// Appends the pseudonym of `id` (text, no quotes) to `out`.
    pub fn pseudonym_into(&self, id: &[u8], out: &mut Vec<u8>) {
        let (prefix, rest) = split_kept_prefix(id);
        out.extend_from_slice(prefix);
        let tag = self.tag(rest);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; PSEUDONYM_HEX_LEN];
        for (pair, &byte) in hex.chunks_exact_mut(2).zip(&tag) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        out.extend_from_slice(&hex);
    }
}

/// Recently computed pseudonyms of one request: a batch from one browser repeats the same
/// ids in every event, and an HMAC costs far more than a short comparison. Entries reuse
/// their buffers, so a miss allocates nothing once the cache is warm.
#[derive(Debug, Default)]
pub struct PseudonymCache {
    /// A cheap fingerprint of each cached id, checked before its bytes: with unique ids
    /// (one per event) every lookup misses, and a miss should not cost eight comparisons.
    fingerprints: [u64; CACHED_IDS],
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    next: usize,
}

/// Ids remembered per request.
const CACHED_IDS: usize = 8;

/// Length and a few bytes of `id`, never 0 (0 marks an empty slot).
fn fingerprint(id: &[u8]) -> u64 {
    let byte = |i: usize| u64::from(id.get(i).copied().unwrap_or(0));
    let n = id.len();
    let tail = |k: usize| byte(n.wrapping_sub(k));
    (n as u64 + 1) | byte(0) << 16 | byte(1) << 24 | tail(1) << 32 | tail(2) << 40 | tail(3) << 48
}

impl PseudonymCache {
    /// Appends the pseudonym of `id` under `key` to `out`, reusing a recent result.
    pub fn pseudonym_into(&mut self, key: &PseudonymKey, id: &[u8], out: &mut Vec<u8>) {
        let print = fingerprint(id);
        let hit = (0..self.entries.len())
            .find(|&k| self.fingerprints[k] == print && self.entries[k].0 == id);
        if let Some(k) = hit {
            out.extend_from_slice(&self.entries[k].1);
            return;
        }
        let start = out.len();
        key.pseudonym_into(id, out);
        let slot = if self.entries.len() < CACHED_IDS {
            self.entries.push((Vec::new(), Vec::new()));
            self.entries.len() - 1
        } else {
            let slot = self.next;
            self.next = (self.next + 1) % CACHED_IDS;
            slot
        };
        let (cached_id, cached) = &mut self.entries[slot];
        cached_id.clear();
        cached_id.extend_from_slice(id);
        cached.clear();
        cached.extend_from_slice(&out[start..]);
        self.fingerprints[slot] = print;
    }
}

/// Rewrites a pseudonym (a kept prefix, then `PSEUDONYM_HEX_LEN` hex digits) into `shape`:
/// its first 16 digits, or its digits as a version 4 UUID (version and variant set, so a
/// validator of UUIDs takes it). A prefix such as Mixpanel's `$device:` does not fit either
/// shape and goes.
pub(crate) fn shape_pseudonym(pseudonym: &mut Vec<u8>, shape: super::plan::IdShape) {
    let hex = pseudonym.len() - PSEUDONYM_HEX_LEN;
    pseudonym.drain(..hex);
    match shape {
        super::plan::IdShape::Hex16 => pseudonym.truncate(16),
        super::plan::IdShape::Uuid => {
            pseudonym[12] = b'4';
            pseudonym[16] = b"89ab"[usize::from(pseudonym[16] % 4)];
            for at in [20, 16, 12, 8] {
                pseudonym.insert(at, b'-');
            }
        }
    }
}

fn split_kept_prefix(id: &[u8]) -> (&[u8], &[u8]) {
    for prefix in KEPT_PREFIXES {
        if id.starts_with(prefix) {
            return id.split_at(prefix.len());
        }
    }
    (&[], id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaped_pseudonyms_take_the_vendors_shapes() {
        let key = PseudonymKey::new(b"shape-test-key-0123456789");
        for id in ["0123456789abcdef", "$device:8c1f", "x"] {
            let mut full = Vec::new();
            key.pseudonym_into(id.as_bytes(), &mut full);
            let digits = &full[full.len() - PSEUDONYM_HEX_LEN..];
            let mut hex16 = full.clone();
            shape_pseudonym(&mut hex16, super::super::plan::IdShape::Hex16);
            assert_eq!(hex16, &digits[..16]);
            let mut uuid = full.clone();
            shape_pseudonym(&mut uuid, super::super::plan::IdShape::Uuid);
            let uuid = String::from_utf8(uuid).unwrap();
            let groups: Vec<&str> = uuid.split('-').collect();
            let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lens, [8, 4, 4, 4, 12], "{uuid}");
            assert!(groups[2].starts_with('4'), "{uuid}");
            assert!("89ab".contains(&groups[3][..1]), "{uuid}");
            assert!(uuid.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
        }
    }

    fn pseudonym(key: &[u8], id: &str) -> String {
        let mut out = Vec::new();
        PseudonymKey::new(key).pseudonym_into(id.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_cache_answers_as_the_key_does() {
        let key = PseudonymKey::new(b"k1");
        let mut cache = PseudonymCache::default();
        // Ids that share length and fingerprinted bytes, repeated past the cache's size,
        // and ids too short to have all the fingerprinted bytes.
        let mut ids: Vec<String> = (0..20).map(|n| format!("ab{n:02}-middle-{n}xyz")).collect();
        ids.extend(["", "a", "ab"].map(String::from));
        for round in 0..3 {
            for id in &ids {
                let (mut cached, mut direct) = (Vec::new(), Vec::new());
                cache.pseudonym_into(&key, id.as_bytes(), &mut cached);
                key.pseudonym_into(id.as_bytes(), &mut direct);
                assert_eq!(cached, direct, "{id} in round {round}");
            }
        }
        let same = |a: &str, b: &str| fingerprint(a.as_bytes()) == fingerprint(b.as_bytes());
        assert!(
            same("ab01-x-yz", "ab01-y-yz"),
            "only a few bytes are fingerprinted"
        );
        assert!(!same("", "a") && fingerprint(b"") != 0);
    }

    #[test]
    fn pseudonyms_are_hmac_sha256() {
        // RFC 4231, test case 2: the pseudonym is the MAC's first 128 bits in hex.
        assert_eq!(
            pseudonym(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c7"
        );
        // And the same as ring's HMAC (rustls's crypto, which pseudonyms used before) for
        // ids long enough to take more than one block.
        let long_key = [7u8; 100];
        for secret in [&b"k1"[..], &[0x5a; 64], &long_key] {
            let ours = PseudonymKey::new(secret);
            let theirs = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
            // Both sides of the one-block fast path, and the general path.
            for len in 0..=140 {
                let message: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                let expected = ring::hmac::sign(&theirs, &message);
                assert_eq!(&ours.tag(&message)[..], expected.as_ref(), "{len}");
            }
        }
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"k1");
        for len in [0usize, 1, 31, 55, 56, 64, 100, 300] {
            let id = "x".repeat(len);
            let tag = ring::hmac::sign(&key, id.as_bytes());
            let hex: String = tag.as_ref()[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(pseudonym(b"k1", &id), hex, "{len}");
        }
    }

    #[test]
    fn stable_keyed_and_prefix_preserving() {
        let a = pseudonym(b"k1", "user-jane-doe-42");
        assert_eq!(a, pseudonym(b"k1", "user-jane-doe-42"));
        assert_ne!(a, pseudonym(b"k2", "user-jane-doe-42"));
        assert_eq!(a.len(), PSEUDONYM_HEX_LEN);
        assert!(!a.contains("jane"));
        let d = pseudonym(b"k1", "$device:8c1f");
        assert!(d.starts_with("$device:"));
        assert_eq!(d.len(), "$device:".len() + PSEUDONYM_HEX_LEN);
    }

    #[test]
    fn visitor_addresses_are_stable_for_a_day_and_unplaceable() {
        let key = PseudonymKey::new(b"k1");
        let ip: std::net::IpAddr = "203.0.113.42".parse().unwrap();
        let today = key.pseudonym_address(ip, 20_000);
        assert_eq!(today, key.pseudonym_address(ip, 20_000));
        assert_ne!(today, key.pseudonym_address(ip, 20_001));
        assert_ne!(
            today,
            key.pseudonym_address("203.0.113.43".parse().unwrap(), 20_000)
        );
        assert_eq!(today.octets()[0], 0xfd);
        assert!(!today.to_string().contains("203"));
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(
            format!("{:?}", PseudonymKey::new(b"secret")),
            "PseudonymKey(..)"
        );
    }
}
