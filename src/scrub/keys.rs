//! Key names and key patterns: normalization and one matcher for exact names and globs.
//!
//! Keys are compared case-insensitively and ignoring `$`, `_`, `-` and spaces, so one rule
//! `first_name` also catches `firstName`, `$first_name` and `First-Name`: senders spell the same
//! personal field many ways, and a privacy rule that misses a spelling fails open.

/// Each byte's normalized form; 0 for the bytes normalization drops.
const NORMALIZED: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = match b {
            b'$' | b'_' | b'-' | b' ' | 0 => 0,
            _ => b.to_ascii_lowercase(),
        };
        c += 1;
    }
    table
};

/// Keys up to this length are normalized on the stack without a branch per byte.
const SHORT_KEY: usize = 64;

use super::block::equal_prefix;
use super::plan::NodeId;
use super::report::RuleKind;

/// Writes the normalized form of `key` into `out` (cleared first).
#[inline]
pub fn normalize_into(key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    if key.len() <= SHORT_KEY {
        let mut buf = [0u8; SHORT_KEY];
        let n = normalize_short(key, &mut buf);
        out.extend_from_slice(&buf[..n]);
    } else {
        out.extend(
            key.iter()
                .map(|&c| NORMALIZED[c as usize])
                .filter(|&m| m != 0),
        );
    }
}

/// Runs `f` on the normalized form of `key`, on the stack when the key is short (parameter
/// names in URLs: no buffer to carry around, nothing allocated).
#[inline]
pub fn with_normalized<R>(key: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    if key.len() > SHORT_KEY {
        let mut out = Vec::new();
        normalize_into(key, &mut out);
        return f(&out);
    }
    let mut buf = [0u8; SHORT_KEY];
    let n = normalize_short(key, &mut buf);
    f(&buf[..n])
}

/// Normalizes a key of at most `SHORT_KEY` bytes into `buf` without a branch per byte;
/// returns the normalized length.
#[inline]
fn normalize_short(key: &[u8], buf: &mut [u8; SHORT_KEY]) -> usize {
    let mut n = 0;
    for &c in key {
        let m = NORMALIZED[c as usize];
        buf[n] = m;
        n += usize::from(m != 0);
    }
    n
}

/// The normalized form of a rule's key (glob stars survive normalization).
pub fn normalize(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len());
    normalize_into(key.as_bytes(), &mut out);
    out
}

/// Byte equality for short keys, inline: a `memcmp` call costs more than the comparison.
#[inline]
pub fn eq_short(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

fn starts_with_short(key: &[u8], prefix: &[u8]) -> bool {
    key.len() >= prefix.len() && eq_short(&key[..prefix.len()], prefix)
}

fn ends_with_short(key: &[u8], suffix: &[u8]) -> bool {
    key.len() >= suffix.len() && eq_short(&key[key.len() - suffix.len()..], suffix)
}

/// Exact names bucketed by length: rule sets hold a few dozen names, so a bucket holds a
/// handful and a key is compared with only those of its own length.
#[derive(Debug, Default)]
struct ExactNames {
    by_len: Vec<Vec<Box<[u8]>>>,
}

/// Names of this length or longer share the last bucket.
const LONG_NAME: usize = 32;

impl ExactNames {
    fn insert(&mut self, name: Vec<u8>) {
        if self.by_len.is_empty() {
            self.by_len = vec![Vec::new(); LONG_NAME + 1];
        }
        let bucket = &mut self.by_len[name.len().min(LONG_NAME)];
        if !bucket.iter().any(|n| **n == *name) {
            bucket.push(name.into());
        }
    }

    fn is_empty(&self) -> bool {
        self.by_len.iter().all(Vec::is_empty)
    }

    #[inline]
    fn contains(&self, key: &[u8]) -> bool {
        self.by_len
            .get(key.len().min(LONG_NAME))
            .is_some_and(|bucket| bucket.iter().any(|n| eq_short(n, key)))
    }
}

/// Exact names and `*`/`?` globs, all normalized, answering "does this key match any of them?".
#[derive(Debug, Default)]
pub struct KeySet {
    exact: ExactNames,
    contains: Contains,
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
                (0, _) => set.exact.insert(p),
                (2, Some(mid)) if !mid.is_empty() => contains.push(mid.to_vec()),
                (1, _) if p.ends_with(b"*") => set.prefixes.push(p[..p.len() - 1].into()),
                (1, _) if p.starts_with(b"*") => set.suffixes.push(p[1..].into()),
                _ => set.globs.push(p.into()),
            }
        }
        set.contains = Contains::new(contains);
        set
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
            && self.contains.count == 0
            && self.prefixes.is_empty()
            && self.suffixes.is_empty()
            && self.globs.is_empty()
    }

    /// Whether a key or parameter name matches: the whole name, or, for a dotted name, its
    /// last part too (GA4's `ep.email`, a form's `props.phone`). `key` must be normalized.
    pub fn matches_name(&self, key: &[u8]) -> bool {
        let last_part = memchr::memrchr(b'.', key)
            .map(|dot| &key[dot + 1..])
            .filter(|part| !part.is_empty());
        self.matches(key) || last_part.is_some_and(|p| self.matches(p))
    }

    /// `key` must already be normalized.
    #[inline]
    pub fn matches(&self, key: &[u8]) -> bool {
        self.exact.contains(key)
            || self.contains.any_in(key)
            || self.prefixes.iter().any(|p| starts_with_short(key, p))
            || self.suffixes.iter().any(|s| ends_with_short(key, s))
            || self.globs.iter().any(|g| glob_match(g, key))
    }
}

/// Substring patterns (`*email*`). Keys are a few bytes long: patterns indexed by their first
/// byte reject almost every position at once, which beats a general automaton's setup per key.
#[derive(Debug, Default)]
struct Contains {
    by_first_byte: Vec<Vec<Box<[u8]>>>,
    count: usize,
}

impl Contains {
    fn new(patterns: Vec<Vec<u8>>) -> Self {
        let mut by_first_byte = vec![Vec::new(); 256];
        let count = patterns.len();
        for p in patterns {
            by_first_byte[p[0] as usize].push(p.into());
        }
        Contains {
            by_first_byte,
            count,
        }
    }

    #[inline]
    fn any_in(&self, key: &[u8]) -> bool {
        self.count > 0
            && key.iter().enumerate().any(|(i, &c)| {
                self.by_first_byte[c as usize]
                    .iter()
                    .any(|p| key.len() - i >= p.len() && eq_short(&key[i..i + p.len()], p))
            })
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

/// Keys longer than this are not cached (rare; PostHog's longest, `$initial_referring_domain`,
/// fit, and a slot stays one 64-byte cache line).
const CACHED_KEY_LEN: usize = 32;
/// Slots of a thread's key cache: the schemas of a few vendors' events. Two per set, so
/// that two keys of one event that land in the same set do not evict each other on every
/// event (with one way, a schema change as small as a new plan node could do that).
const CACHE_SLOTS: usize = 512;
const CACHE_WAYS: usize = 2;

/// What the rules and the plan make of one key at one place in the event, whatever its
/// value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyVerdict {
    /// The key matches the operator's list for the plan's mode (deny or allow).
    pub matched: bool,
    /// The key itself holds personal data (`{"jane@example.com": true}`, an address, a phone
    /// or card number used as a key): the rule that found it. The member goes.
    pub personal: Option<RuleKind>,
    /// The plan node the member leads to. A u32 keeps the verdict within two registers:
    /// it is returned on every key of every event.
    child: Option<u32>,
    /// Which of the parent's ensured members this is (its exact vendor spelling), if any.
    pub ensured: Option<u8>,
}

#[derive(Clone, Copy)]
struct CachedKey {
    raw_len: u8,
    /// The plan (`EventPlan::id`, never reused; 0 for an empty slot) and the node holding
    /// the member (`NO_PARENT` outside the plan's tree).
    plan: u64,
    parent: usize,
    verdict: KeyVerdict,
    raw: [u8; CACHED_KEY_LEN],
}

const NO_PARENT: usize = usize::MAX;

impl CachedKey {
    /// Whether this slot holds `raw` under `parent` in `plan`.
    #[inline]
    fn holds(&self, plan: u64, parent: usize, raw: &[u8], window: Option<&[u8; 16]>) -> bool {
        if self.plan != plan || self.parent != parent || usize::from(self.raw_len) != raw.len() {
            return false;
        }
        match window {
            Some(window) if raw.len() <= 16 => {
                let cached: &[u8; 16] = self.raw[..16].try_into().expect("16 of 32 bytes");
                equal_prefix(cached, window, raw.len())
            }
            _ => eq_short(&self.raw[..raw.len()], raw),
        }
    }
}

/// Verdicts on keys seen before, by plan, parent node and raw key. Trackers repeat one
/// schema in every event of every request, so most keys skip normalization, matching and
/// the plan lookup. Two-way sets of fixed-size slots: a miss costs one overwrite, nothing is
/// allocated after the first use. A verdict is a pure function of those three, so a cached
/// one is always right; one cache serves a whole thread (see `with_thread_cache`).
#[derive(Default)]
pub struct KeyCache {
    slots: Vec<CachedKey>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyCache({} slots)", self.slots.len())
    }
}

thread_local! {
    static THREAD_CACHE: std::cell::RefCell<KeyCache> =
        const { std::cell::RefCell::new(KeyCache { slots: Vec::new() }) };
}

/// Runs `f` with this thread's key cache. Scrubbing is synchronous, so a request never holds
/// it across an await; a nested use (not expected) gets a throwaway cache instead of a panic.
pub fn with_thread_cache<R>(f: impl FnOnce(&mut KeyCache) -> R) -> R {
    THREAD_CACHE.with(|cache| match cache.try_borrow_mut() {
        Ok(mut cache) => f(&mut cache),
        Err(_) => f(&mut KeyCache::default()),
    })
}

impl KeyVerdict {
    pub fn new(
        matched: bool,
        personal: Option<RuleKind>,
        child: Option<NodeId>,
        ensured: Option<u8>,
    ) -> Self {
        KeyVerdict {
            matched,
            personal,
            child: child.map(|c| u32::try_from(c).expect("plans have far fewer than 2^32 nodes")),
            ensured,
        }
    }

    /// The plan node the member leads to.
    pub fn child(&self) -> Option<NodeId> {
        self.child.map(|c| c as NodeId)
    }
}

impl KeyCache {
    /// The first slot of the set for this key: a few of its bytes, its length, parent and
    /// plan, spread by a multiplicative hash (its high bits pick the set).
    #[inline]
    fn set(plan: u64, parent: usize, raw: &[u8]) -> usize {
        let n = raw.len();
        let h = (n as u64)
            .wrapping_mul(31)
            .wrapping_add(u64::from(raw[0]) * 7)
            .wrapping_add(u64::from(raw[n - 1]) * 13)
            .wrapping_add(u64::from(raw[n / 2]) * 3)
            .wrapping_add(u64::from(raw[n / 4]) * 5)
            .wrapping_add((parent as u64).wrapping_mul(17))
            .wrapping_add(plan.wrapping_mul(101));
        const SETS: usize = CACHE_SLOTS / CACHE_WAYS;
        let set = h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SETS.trailing_zeros());
        set as usize * CACHE_WAYS
    }

    /// The cached verdict for `raw` under `parent` in plan `plan`, if present. `window`: the
    /// 16 bytes from the start of `raw` (more than the key when it is short), when the input
    /// has them: a short key is then compared in one step.
    #[inline]
    pub fn get(
        &self,
        plan: u64,
        parent: Option<NodeId>,
        raw: &[u8],
        window: Option<&[u8; 16]>,
    ) -> Option<KeyVerdict> {
        if raw.is_empty() || raw.len() > CACHED_KEY_LEN || self.slots.is_empty() {
            return None;
        }
        let parent = parent.unwrap_or(NO_PARENT);
        let set = Self::set(plan, parent, raw);
        self.slots[set..set + CACHE_WAYS]
            .iter()
            .find(|slot| slot.holds(plan, parent, raw, window))
            .map(|slot| slot.verdict)
    }

    pub fn put(&mut self, plan: u64, parent: Option<NodeId>, raw: &[u8], verdict: KeyVerdict) {
        if raw.is_empty() || raw.len() > CACHED_KEY_LEN {
            return;
        }
        if self.slots.is_empty() {
            self.slots = vec![
                CachedKey {
                    raw_len: 0,
                    plan: 0,
                    parent: NO_PARENT,
                    verdict: KeyVerdict::default(),
                    raw: [0; CACHED_KEY_LEN],
                };
                CACHE_SLOTS
            ];
        }
        let parent = parent.unwrap_or(NO_PARENT);
        let set = Self::set(plan, parent, raw);
        // The newest key goes first; the one it displaces stays in the second way.
        self.slots[set + 1] = self.slots[set];
        let slot = &mut self.slots[set];
        slot.raw[..raw.len()].copy_from_slice(raw);
        slot.raw_len = raw.len() as u8;
        slot.plan = plan;
        slot.parent = parent;
        slot.verdict = verdict;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_key_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<CachedKey>(), 64);
    }

    #[test]
    fn two_keys_of_one_set_both_stay_cached() {
        let keys: Vec<String> = (0..10_000).map(|i| format!("key{i}")).collect();
        let set_of = |k: &String| KeyCache::set(7, 3, k.as_bytes());
        let first = &keys[0];
        let twin = keys[1..]
            .iter()
            .find(|k| set_of(k) == set_of(first))
            .expect("some key shares the first one's set");
        let mut cache = KeyCache::default();
        let verdict = |n| KeyVerdict::new(false, None, Some(n), None);
        cache.put(7, Some(3), first.as_bytes(), verdict(1));
        cache.put(7, Some(3), twin.as_bytes(), verdict(2));
        assert_eq!(
            cache.get(7, Some(3), first.as_bytes(), None),
            Some(verdict(1))
        );
        assert_eq!(
            cache.get(7, Some(3), twin.as_bytes(), None),
            Some(verdict(2))
        );
        assert_eq!(
            cache.get(8, Some(3), first.as_bytes(), None),
            None,
            "another plan"
        );
        assert_eq!(
            cache.get(7, Some(4), first.as_bytes(), None),
            None,
            "another parent"
        );
    }

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
