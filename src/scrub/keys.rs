//! Key names and key patterns: normalization and one matcher for exact names and globs.
//!
//! Keys are compared case-insensitively and ignoring `$`, `_`, `-` and spaces, so one rule
//! `first_name` also catches `firstName`, `$first_name` and `First-Name`: senders spell the same
//! personal field many ways, and a privacy rule that misses a spelling fails open.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use aho_corasick::{AhoCorasick, MatchKind};

/// Appends the normalized form of `key` to `out` (cleared first).
#[inline]
pub fn normalize_into(key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for &c in key {
        if !matches!(c, b'$' | b'_' | b'-' | b' ') {
            out.push(c.to_ascii_lowercase());
        }
    }
}

/// The normalized form of a rule's key (glob stars survive normalization).
pub fn normalize(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len());
    normalize_into(key.as_bytes(), &mut out);
    out
}

/// A small, fast hasher for short keys; the key set is fixed by the operator, not by senders,
/// so hash flooding does not apply (lookups only, never insertions of sender data).
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FastSet = HashSet<Box<[u8]>, BuildHasherDefault<FxHasher>>;

/// Exact names and `*`/`?` globs, all normalized, answering "does this key match any of them?".
#[derive(Debug, Default)]
pub struct KeySet {
    exact: FastSet,
    contains: Option<AhoCorasick>,
    prefixes: Vec<Box<[u8]>>,
    suffixes: Vec<Box<[u8]>>,
    globs: Vec<Box<[u8]>>,
}

impl KeySet {
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = KeySet::default();
        let mut contains = Vec::new();
        for pattern in patterns {
            let p = normalize(pattern);
            let inner = p.strip_prefix(b"*").and_then(|r| r.strip_suffix(b"*"));
            let stars = p.iter().filter(|&&c| c == b'*' || c == b'?').count();
            match (stars, inner) {
                (0, _) => {
                    set.exact.insert(p.into());
                }
                (2, Some(mid)) if !mid.is_empty() => contains.push(mid.to_vec()),
                (1, _) if p.ends_with(b"*") => set.prefixes.push(p[..p.len() - 1].into()),
                (1, _) if p.starts_with(b"*") => set.suffixes.push(p[1..].into()),
                _ => set.globs.push(p.into()),
            }
        }
        if !contains.is_empty() {
            set.contains = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&contains)
                .ok();
        }
        set
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
            && self.contains.is_none()
            && self.prefixes.is_empty()
            && self.suffixes.is_empty()
            && self.globs.is_empty()
    }

    /// `key` must already be normalized.
    #[inline]
    pub fn matches(&self, key: &[u8]) -> bool {
        self.exact.contains(key)
            || self.contains.as_ref().is_some_and(|ac| ac.is_match(key))
            || self.prefixes.iter().any(|p| key.starts_with(p))
            || self.suffixes.iter().any(|s| key.ends_with(s))
            || self.globs.iter().any(|g| glob_match(g, key))
    }
}

/// `*` matches any run, `?` one byte; both inputs normalized.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(patterns: &[&str], key: &str) -> bool {
        KeySet::new(patterns.iter().copied()).matches(&normalize(key))
    }

    #[test]
    fn spellings_of_one_field_match() {
        for key in [
            "first_name",
            "firstName",
            "$first_name",
            "First-Name",
            "FIRSTNAME",
        ] {
            assert!(matches(&["first_name"], key), "{key}");
        }
        assert!(!matches(&["first_name"], "first"));
    }

    #[test]
    fn pattern_shapes() {
        let cases = [
            (&["*email*"][..], "billing_email", true),
            (&["*email*"][..], "$email", true),
            (&["*email*"][..], "emailVerified", true),
            (&["*email*"][..], "mail", false),
            (&["phone*"][..], "phone_number", true),
            (&["phone*"][..], "homephone", false),
            (&["*address"][..], "hq_address", true),
            (&["*address"][..], "address_line", false),
            (&["a?c*z"][..], "abcxyz", true),
            (&["a?c*z"][..], "abxyz", false),
        ];
        for (patterns, key, want) in cases {
            assert_eq!(matches(patterns, key), want, "{patterns:?} {key}");
        }
    }

    #[test]
    fn glob_backtracks() {
        assert!(glob_match(b"*ab*ab", b"xxabyyab"));
        assert!(!glob_match(b"*ab*ab", b"xxabyya"));
        assert!(glob_match(b"**", b""));
    }
}
