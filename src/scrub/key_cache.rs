//! The per-thread cache of key verdicts: what the rules and the plan make of one key at one
//! place in an event, remembered by plan, parent node and raw key. Apart from `keys.rs`, so
//! that matching keys knows nothing of plans (no import cycle through `plan.rs`).

use super::block::equal_prefix;
use super::keys::eq_short;
use super::plan::NodeId;
use super::report::RuleKind;

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
    /// The member goes whatever its value, by this rule: the key itself holds personal data
    /// (`{"jane@example.com": true}`, an address, a phone or card number used as a key), or
    /// the vendor's known parameter set does not hold it (`PlanNode::closed`).
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
}
