//! Key names and key patterns: normalization, and one matcher for exact names, globs and
//! word rules (the per-thread cache of verdicts is `key_cache.rs`).
//!
//! Keys are compared after one normalization, used by every rule and every vendor field:
//! Unicode compatibility forms folded as NFKC folds them (full-width `ｅｍａｉｌ`, ligatures
//! `ﬁ`), case folded, and the characters that do not change what a key names removed:
//! `$`, `_`, `-` and other dashes, every Unicode space (NBSP and tab among them), control
//! characters and the invisible format characters (zero-width space and joiners, BOM, soft
//! hyphen, bidi marks, variation selectors, tags). So one rule `first_name` also catches
//! `firstName`, `$first_name`, `First-Name` and `first\u{200B}name`: senders spell the same
//! personal field many ways, and a privacy rule that misses a spelling fails open. ASCII keys
//! (nearly all of them) take a table lookup per byte and nothing is allocated.
//!
//! Word rules (`word:street`) match a key that contains the rule's words as whole words. A key
//! is split into words at the characters normalization removes, at other punctuation (`.`,
//! `/`, `:`), at a change from lower to upper case (`billingStreet`), at the last capital of an
//! acronym (`ZIPCode`), and between letters and digits (`street1`). The rule matches when its
//! normalized text equals a run of whole consecutive words of the key: `word:street` matches
//! `Billing Street`, `billingStreet` and `street_line_1` but not `streetwise_score`;
//! `word:first_name` matches `customerFirstName` and `billing_firstname` but not
//! `firstnames`.

use unicode_normalization::UnicodeNormalization;

/// Each ASCII byte's normalized form; 0 for the bytes normalization drops (`$ _ -`, space and
/// every control character, tab among them).
const NORMALIZED: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        table[c] = match b {
            b'$' | b'_' | b'-' | b' ' | 0..=0x1f | 0x7f => 0,
            _ => b.to_ascii_lowercase(),
        };
        c += 1;
    }
    table
};

/// Keys up to this length are normalized on the stack without a branch per byte.
const SHORT_KEY: usize = 64;

/// The prefix of a word rule in `rules.toml` (`word:street`).
pub const WORD_RULE_PREFIX: &str = "word:";

/// Writes the normalized form of `key` into `out` (cleared first).
#[inline]
pub fn normalize_into(key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    if !key.is_ascii() {
        normalize_unicode(key, out, &mut Vec::new());
    } else if key.len() <= SHORT_KEY {
        let mut buf = [0u8; SHORT_KEY];
        let n = normalize_short(key, &mut buf);
        out.extend_from_slice(&buf[..n]);
    } else {
        out.extend(
            key.iter()
                .map(|&c| NORMALIZED[usize::from(c)])
                .filter(|&m| m != 0),
        );
    }
}

/// Runs `f` on the normalized form of `key`, on the stack when the key is short ASCII
/// (parameter names in URLs: no buffer to carry around, nothing allocated).
#[inline]
pub fn with_normalized<R>(key: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    if key.len() > SHORT_KEY || !key.is_ascii() {
        let mut out = Vec::new();
        normalize_into(key, &mut out);
        return f(&out);
    }
    let mut buf = [0u8; SHORT_KEY];
    let n = normalize_short(key, &mut buf);
    f(&buf[..n])
}

/// Normalizes an ASCII key of at most `SHORT_KEY` bytes into `buf` without a branch per
/// byte; returns the normalized length.
#[inline]
fn normalize_short(key: &[u8], buf: &mut [u8; SHORT_KEY]) -> usize {
    let mut n = 0;
    for &c in key {
        let m = NORMALIZED[usize::from(c & 0x7f)];
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

/// A key's normalized bytes and where its words start and end (see the module's doc).
#[derive(Debug, Clone, Copy)]
pub struct Words<'a> {
    pub text: &'a [u8],
    /// Bit `p` set: a word boundary between `text[p - 1]` and `text[p]`. The start and the
    /// end are boundaries without a bit.
    bounds: &'a [u64],
}

impl Words<'_> {
    #[inline]
    fn is_bound(&self, p: usize) -> bool {
        p == 0
            || p == self.text.len()
            || self
                .bounds
                .get(p / 64)
                .is_some_and(|w| (w >> (p % 64)) & 1 == 1)
    }
}

/// What a kept character is, for finding word boundaries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CharKind {
    Lower,
    Upper,
    Digit,
    /// Letters without case (CJK, ...): words of their own script.
    Caseless,
    /// Kept punctuation (`.`, `/`, `:`): a word of its own.
    Mark,
}

impl CharKind {
    fn of(c: char) -> CharKind {
        if c.is_lowercase() {
            CharKind::Lower
        } else if c.is_uppercase() {
            CharKind::Upper
        } else if c.is_numeric() {
            CharKind::Digit
        } else if c.is_alphabetic() {
            CharKind::Caseless
        } else {
            CharKind::Mark
        }
    }

    /// Whether a word starts between a character of kind `prev` and one of kind `self`
    /// (`next_lower`: the character after `self` is lower case, for acronyms: `ZIP|Code`).
    fn starts_word(self, prev: CharKind, next_lower: bool) -> bool {
        use CharKind::*;
        match (prev, self) {
            (Mark, _) | (_, Mark) => true,
            (Lower, Upper) => true,
            (Upper, Upper) => next_lower,
            (Digit, Digit) => false,
            (Digit, _) | (_, Digit) => true,
            _ => false,
        }
    }
}

/// Marks the boundary at `p` in a bit set.
fn set_bound(bounds: &mut [u64], p: usize) {
    if let Some(w) = bounds.get_mut(p / 64) {
        *w |= 1 << (p % 64);
    }
}

/// Runs `f` on the normalized form of `key` and its word boundaries; on the stack when the
/// key is short ASCII.
#[inline]
pub fn with_words<R>(key: &[u8], f: impl FnOnce(Words<'_>) -> R) -> R {
    if key.len() > SHORT_KEY || !key.is_ascii() {
        let mut text = Vec::new();
        let mut bounds = Vec::new();
        normalize_unicode(key, &mut text, &mut bounds);
        return f(Words {
            text: &text,
            bounds: &bounds,
        });
    }
    let mut buf = [0u8; SHORT_KEY];
    let mut bounds = [0u64; 1];
    let mut n = 0;
    let mut prev: Option<CharKind> = None;
    let mut gap = false;
    for (i, &c) in key.iter().enumerate() {
        let m = NORMALIZED[usize::from(c)];
        if m == 0 {
            gap = true;
            continue;
        }
        let kind = CharKind::of(char::from(c));
        if let Some(prev) = prev {
            let next_lower = key.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            if gap || kind.starts_word(prev, next_lower) {
                set_bound(&mut bounds, n);
            }
        }
        buf[n] = m;
        n += 1;
        prev = Some(kind);
        gap = false;
    }
    f(Words {
        text: &buf[..n],
        bounds: &bounds,
    })
}

/// Whether normalization removes `c` (after NFKC and case folding): spaces, controls, the
/// separators `$ _` and dashes, and invisible format characters.
fn removed(c: char) -> bool {
    matches!(c, '$' | '_' | '-')
        || c.is_whitespace()
        || c.is_control()
        || is_dash(c)
        || is_invisible(c)
}

/// Dash punctuation NFKC leaves as it is (`‐`, `–`, `—`, `−`, ...).
fn is_dash(c: char) -> bool {
    matches!(
        c,
        '\u{2010}'
            ..='\u{2015}'
                | '\u{2E3A}'
                | '\u{2E3B}'
                | '\u{2212}'
                | '\u{FE58}'
                | '\u{301C}'
                | '\u{3030}'
    )
}

/// Unicode format characters and other default-ignorable code points: nothing a reader sees.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The slow path, for keys with bytes beyond ASCII: NFKC, then case folding, then removal,
/// with the word boundaries in `bounds` (one bit per byte of `out`). Bytes that are not
/// UTF-8 read as U+FFFD (such an event is refused after its walk anyway).
#[cold]
fn normalize_unicode(key: &[u8], out: &mut Vec<u8>, bounds: &mut Vec<u64>) {
    out.clear();
    bounds.clear();
    let text = String::from_utf8_lossy(key);
    let chars: Vec<char> = text.nfkc().collect();
    let mut prev: Option<CharKind> = None;
    let mut gap = false;
    for (i, &c) in chars.iter().enumerate() {
        if removed(c) {
            gap = true;
            continue;
        }
        let kind = CharKind::of(c);
        if let Some(prev) = prev {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if gap || kind.starts_word(prev, next_lower) {
                let p = out.len();
                bounds.resize(p / 64 + 1, 0);
                set_bound(bounds, p);
            }
        }
        for lower in c.to_lowercase() {
            // Case folding beyond lower case where it matters for keys: `STRASSE` and
            // `Straße` are one word, and so are a final and a medial sigma.
            let folded = match lower {
                'ß' | 'ẞ' => "ss",
                'ς' => "σ",
                _ => {
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(lower.encode_utf8(&mut utf8).as_bytes());
                    continue;
                }
            };
            out.extend_from_slice(folded.as_bytes());
        }
        prev = Some(kind);
        gap = false;
    }
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

/// Exact names, `*`/`?` globs and word rules, all normalized, answering "does this key match
/// any of them?".
#[derive(Debug, Default)]
pub struct KeySet {
    exact: ExactNames,
    contains: Contains,
    prefixes: Vec<Box<[u8]>>,
    suffixes: Vec<Box<[u8]>>,
    globs: Vec<Box<[u8]>>,
    /// Word rules (`word:street`): runs of whole words.
    words: Contains,
}

impl KeySet {
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = KeySet::default();
        let mut contains = Vec::new();
        let mut words = Vec::new();
        for pattern in patterns {
            if let Some(word) = pattern.strip_prefix(WORD_RULE_PREFIX) {
                let w = normalize(word);
                if !w.is_empty() {
                    words.push(w);
                }
                continue;
            }
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
        set.words = Contains::new(words);
        set
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
            && self.contains.count == 0
            && self.prefixes.is_empty()
            && self.suffixes.is_empty()
            && self.globs.is_empty()
            && self.words.count == 0
    }

    /// Whether a raw key or parameter name matches (normalized here, words and all): the
    /// whole name, or, for a dotted name, its last part too (GA4's `ep.email`, a form's
    /// `props.phone`).
    pub fn matches_key_name(&self, raw: &[u8]) -> bool {
        with_words(raw, |words| {
            let last_part = memchr::memrchr(b'.', words.text)
                .map(|dot| &words.text[dot + 1..])
                .filter(|part| !part.is_empty());
            self.matches_words(words) || last_part.is_some_and(|p| self.matches_plain(p))
        })
    }

    /// Whether a raw key matches, as a whole (normalized here).
    pub fn matches_key(&self, raw: &[u8]) -> bool {
        with_words(raw, |words| self.matches_words(words))
    }

    /// Whether a normalized key matches, read as one word (word rules then match only the
    /// whole key): for names that come without their spelling, such as URL parameters.
    #[inline]
    pub fn matches(&self, key: &[u8]) -> bool {
        self.matches_words(Words {
            text: key,
            bounds: &[],
        })
    }

    /// `words` as `with_words` makes them.
    #[inline]
    pub fn matches_words(&self, words: Words<'_>) -> bool {
        self.matches_plain(words.text) || self.words.any_between_bounds(words)
    }

    /// Exact names and globs on a normalized key.
    #[inline]
    fn matches_plain(&self, key: &[u8]) -> bool {
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

    /// Whether a pattern occurs in `words` starting and ending at word boundaries.
    #[inline]
    fn any_between_bounds(&self, words: Words<'_>) -> bool {
        let key = words.text;
        self.count > 0
            && key.iter().enumerate().any(|(i, &c)| {
                words.is_bound(i)
                    && self.by_first_byte[c as usize].iter().any(|p| {
                        key.len() - i >= p.len()
                            && eq_short(&key[i..i + p.len()], p)
                            && words.is_bound(i + p.len())
                    })
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
    fn invisible_and_compatibility_spellings_normalize_to_the_plain_key() {
        for key in [
            "e\u{200B}mail",  // zero-width space
            "em\u{200D}ail",  // zero-width joiner
            "\u{FEFF}email",  // byte order mark
            "em\u{00AD}ail",  // soft hyphen
            "e\u{00A0}mail",  // no-break space
            "e\tmail",        // tab
            "e\u{2060}mail",  // word joiner
            "e\u{202E}mail",  // bidi override
            "email\u{FE0F}",  // variation selector
            "e\u{E0041}mail", // tag character
            "ｅｍａｉｌ",     // full-width
            "ＥＭＡＩＬ",     // full-width capitals
            "e\u{2011}mail",  // non-breaking hyphen
            "e\u{2013}mail",  // en dash
            "\u{FF04}email",  // full-width dollar
            "𝐞𝐦𝐚𝐢𝐥",          // mathematical bold
            "ⓔⓜⓐⓘⓛ",          // circled
            "E\u{3000}MAIL",  // ideographic space
            "e\u{0000}mail",  // NUL
        ] {
            assert_eq!(normalize(key), b"email", "{key:?}");
            assert!(matches(&["email"], key), "{key:?}");
        }
        assert_eq!(normalize("\u{FB01}rst_name"), b"firstname", "ligature fi");
        assert_eq!(normalize("Straße"), normalize("STRASSE"), "ß folds to ss");
        assert_eq!(normalize("ΟΔΟΣ"), normalize("οδος"), "final sigma");
        assert_eq!(normalize("ＦｉｒｓｔＮａｍｅ"), b"firstname");
    }

    #[test]
    fn ascii_normalization_is_unchanged_and_allocation_free_in_shape() {
        let mut out = Vec::new();
        normalize_into(b"$First_Name-x y", &mut out);
        assert_eq!(out, b"firstnamexy");
        with_normalized(b"Ep.Email", |n| assert_eq!(n, b"ep.email"));
    }

    fn word_matches(rule: &str, key: &str) -> bool {
        let set = KeySet::new([rule]);
        set.matches_key_name(key.as_bytes())
    }

    /// Keys that a word rule must and must not catch: the false positives matter as much.
    #[test]
    fn word_rules_match_whole_words_only() {
        let cases: &[(&str, &str, bool)] = &[
            ("word:street", "street", true),
            ("word:street", "Street", true),
            ("word:street", "Billing Street", true),
            ("word:street", "billingStreet", true),
            ("word:street", "billing_street", true),
            ("word:street", "street_line_1", true),
            ("word:street", "streetLine1", true),
            ("word:street", "STREET_NAME", true),
            ("word:street", "street2", true),
            ("word:street", "ship-to.street", true),
            ("word:street", "billing\u{200B}Street", true),
            ("word:street", "ｂｉｌｌｉｎｇ＿ｓｔｒｅｅｔ", true),
            ("word:street", "streetwise_score", false),
            ("word:street", "mainstreet", false),
            ("word:street", "streets", false),
            ("word:street", "Streetwise", false),
            ("word:city", "billing_city", true),
            ("word:city", "cityName", true),
            ("word:city", "cityscape", false),
            ("word:city", "velocity", false),
            ("word:city", "ethnicity", false),
            ("word:first_name", "firstName", true),
            ("word:first_name", "customer_first_name", true),
            ("word:first_name", "billingFirstname", true),
            ("word:first_name", "FIRST NAME", true),
            ("word:first_name", "first", false),
            ("word:first_name", "firstnames", false),
            ("word:first_name", "name_first", false),
            ("word:zip", "ZIPCode", true),
            ("word:zip", "shipping_zip", true),
            ("word:zip", "gzip", false),
            ("word:zip", "zipper", false),
            ("word:dob", "user_dob", true),
            ("word:dob", "adobe_id", false),
            ("word:lat", "geo_lat", true),
            ("word:lat", "flat_fee", false),
            ("word:lat", "latency_ms", false),
            ("word:name", "named_range", false),
            ("word:name", "rename", false),
            ("word:name", "display_name", true),
            ("word:postal_code", "postalCode", true),
            ("word:postal_code", "billing_postal_code2", true),
            ("word:postal_code", "postal", false),
        ];
        for &(rule, key, want) in cases {
            assert_eq!(word_matches(rule, key), want, "{rule} on {key:?}");
        }
    }

    #[test]
    fn plain_rules_keep_their_meaning_beside_word_rules() {
        assert!(matches(&["street"], "street"));
        assert!(!matches(&["street"], "billing_street"), "exact stays exact");
        assert!(
            matches(&["*street*"], "streetwise"),
            "globs stay substrings"
        );
        // A normalized key without its spelling is one word.
        let set = KeySet::new(["word:street"]);
        assert!(set.matches(b"street"));
        assert!(!set.matches(b"billingstreet"));
    }

    #[test]
    fn glob_backtracks() {
        assert!(glob_match(b"*ab*ab", b"xxabyyab"));
        assert!(!glob_match(b"*ab*ab", b"xxabyya"));
        assert!(glob_match(b"**", b""));
    }
}
