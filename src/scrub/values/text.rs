//! Detectors of word-shaped personal data in text: bearer tokens and JWTs, street addresses
//! and e-mail addresses.

use memchr::memchr2;

use super::word_start;

static JWT_START: std::sync::OnceLock<memchr::memmem::Finder<'static>> = std::sync::OnceLock::new();
static BEARER: std::sync::OnceLock<memchr::memmem::Finder<'static>> = std::sync::OnceLock::new();

/// A substring searcher built once: building one per value costs more than the search.
fn finder(
    cell: &'static std::sync::OnceLock<memchr::memmem::Finder<'static>>,
    needle: &'static [u8],
) -> &'static memchr::memmem::Finder<'static> {
    cell.get_or_init(|| memchr::memmem::Finder::new(needle))
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// JWTs (`eyJ...` header, three dot-separated base64url parts) and the credential after
/// `Bearer ` (at least 16 token characters).
pub(super) fn find_token(t: &[u8], from: usize) -> Option<(usize, usize)> {
    let jwt = finder(&JWT_START, b"eyJ")
        .find_iter(&t[from..])
        .map(|o| from + o)
        .find_map(|i| {
            let len = t[i..].iter().take_while(|c| is_token_char(**c)).count();
            let parts = t[i..i + len]
                .split(|c| *c == b'.')
                .filter(|p| !p.is_empty())
                .count();
            (word_start(t, i) && parts >= 3 && len >= 20).then_some((i, i + len))
        });
    let bearer = finder(&BEARER, b"earer ")
        .find_iter(&t[from..])
        .map(|o| from + o)
        .find_map(|o| {
            let b = o.checked_sub(1)?;
            if !matches!(t[b], b'B' | b'b') || !word_start(t, b) {
                return None;
            }
            let start = o + 6;
            let len = t[start..].iter().take_while(|c| is_token_char(**c)).count();
            (len >= 16).then_some((start, start + len))
        });
    match (jwt, bearer) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Street-type words that end a street name, as written in English-language addresses
/// (US, UK, Ireland, Canada, Australia).
const STREET_TYPES: &[&[u8]] = &[
    b"st",
    b"street",
    b"ave",
    b"avenue",
    b"rd",
    b"road",
    b"blvd",
    b"boulevard",
    b"ln",
    b"lane",
    b"dr",
    b"drive",
    b"way",
    b"ct",
    b"court",
    b"pl",
    b"place",
    b"sq",
    b"square",
    b"ter",
    b"terrace",
    b"pkwy",
    b"parkway",
    b"hwy",
    b"highway",
    // British and Irish.
    b"close",
    b"crescent",
    b"cres",
    b"gardens",
    b"grove",
    b"mews",
    b"row",
];

/// Unit designators that may follow a street (`, Apt 4B`).
const UNIT_WORDS: &[&[u8]] = &[b"apt", b"apartment", b"suite", b"ste", b"unit", b"#"];

/// Finds `<house number> <Capitalized Name...> <street type>[, Apt X]` and writes `text` with
/// each replaced by `marker` into `out`. Conservative on purpose: a capitalized name and a
/// known street type are both required, so prices and version strings do not match.
pub(super) fn find_street(text: &[u8], from: usize) -> Option<(usize, usize)> {
    (from..text.len()).find_map(|i| {
        let starts_number =
            text[i].is_ascii_digit() && (i == 0 || !text[i - 1].is_ascii_alphanumeric());
        starts_number
            .then(|| Some((i, street_at(text, i)?)))
            .flatten()
    })
}

/// The end of a street address starting with the house number at `start`, if one is there.
fn street_at(text: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while i < text.len() && text[i].is_ascii_digit() && i - start < 6 {
        i += 1;
    }
    if i < text.len() && text[i].is_ascii_alphabetic() && text.get(i + 1) == Some(&b' ') {
        i += 1; // 221B
    }
    let mut names = 0;
    loop {
        if text.get(i) != Some(&b' ') {
            return None;
        }
        let word_start = i + 1;
        let mut end = word_start;
        while end < text.len() && text[end].is_ascii_alphabetic() {
            end += 1;
        }
        let word = &text[word_start..end];
        if word.is_empty() || !word[0].is_ascii_uppercase() {
            return None;
        }
        if names > 0 && STREET_TYPES.iter().any(|t| word.eq_ignore_ascii_case(t)) {
            let end = if text.get(end) == Some(&b'.') {
                end + 1
            } else {
                end
            };
            return Some(unit_end(text, end));
        }
        names += 1;
        if names > 4 {
            return None;
        }
        i = end;
    }
}

/// Extends an address over a following `, Apt 4B` (or Suite, Unit, #).
fn unit_end(text: &[u8], end: usize) -> usize {
    let Some(rest) = text[end..].strip_prefix(b", ") else {
        return end;
    };
    let word_len = rest
        .iter()
        .take_while(|c| c.is_ascii_alphabetic() || **c == b'#')
        .count();
    if !UNIT_WORDS
        .iter()
        .any(|u| rest[..word_len].eq_ignore_ascii_case(u))
    {
        return end;
    }
    let after = &rest[word_len..];
    let spaces = after.iter().take_while(|c| **c == b' ').count();
    let unit = after[spaces..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if unit == 0 {
        return end;
    }
    end + 2 + word_len + spaces + unit
}

/// Address characters; bytes of non-ASCII letters count too (`jörg@müller.de`).
fn is_local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80 || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

/// Control characters written inside an address (`jane\0@example.com`) split it for a
/// reader that stops at them, not for the mail system or a person: they are part of it.
fn is_hidden_in_address(c: u8) -> bool {
    (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r')) || c == 0x7f
}

/// Where the local part before the `@` at `at` starts: address characters and hidden
/// control characters (a tab only right before the `@`), or a quoted local part
/// (`"jane doe"@example.com`).
fn local_part_start(text: &[u8], at: usize, floor: usize) -> Option<usize> {
    if at > floor + 1 && text[at - 1] == b'"' {
        let window = at.saturating_sub(66).max(floor);
        let open = memchr::memrchr(b'"', &text[window..at - 1]).map(|q| window + q)?;
        let quoted = &text[open + 1..at - 1];
        let plain = !quoted.is_empty() && !quoted.iter().any(|&c| matches!(c, b'\n' | b'\r'));
        return plain.then_some(open);
    }
    let mut start = at;
    if start > floor && text[start - 1] == b'\t' {
        start -= 1;
    }
    while start > floor && (is_local_char(text[start - 1]) || is_hidden_in_address(text[start - 1]))
    {
        start -= 1;
    }
    // `%40` inside a URL is preceded by `=`; a local part never starts with a dot.
    while start < at
        && (text[start] == b'.' || text[start] == b'\t' || is_hidden_in_address(text[start]))
    {
        start += 1;
    }
    (start < at).then_some(start)
}

/// The end of a domain literal starting at the `[` at `open`: an IPv4 address or `IPv6:`
/// and an IPv6 one, closed by `]`.
fn domain_literal_end(text: &[u8], open: usize) -> Option<usize> {
    let window = &text[open + 1..text.len().min(open + 50)];
    let close = memchr::memchr(b']', window)?;
    let inside = &window[..close];
    let address = inside
        .strip_prefix(b"IPv6:")
        .or_else(|| inside.strip_prefix(b"ipv6:"))
        .unwrap_or(inside);
    // `::` is a literal too: what the IP rule leaves of an anonymized event's address.
    let ok = address.len() >= 2
        && address.iter().any(|&c| c.is_ascii_digit() || c == b':')
        && address
            .iter()
            .all(|&c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':'));
    ok.then_some(open + 1 + close + 1)
}

fn is_domain_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80 || matches!(c, b'.' | b'-')
}

/// How an obfuscated address writes its `@` or its dots: bracketed words (`(at)`, `[dot]`,
/// `{at}`, `<dot>`), spaced words (` at `, ` dot `), or the sign between spaces (` @ `).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spelled {
    /// The sign itself, perhaps with spaces around it (`@`, ` . `).
    Sign,
    /// A word in brackets (`(at)`, `[dot]`), with or without spaces around it.
    Bracketed,
    /// The bare word between spaces (` at `, ` dot `): ordinary English, so it counts only
    /// when the other part of the address is obfuscated too.
    Word,
}

/// The `@` or dot written at `i` as `sign` or `word` in one of the obfuscated forms; its
/// end and form. Spaces around it are part of it.
fn spelled_at(t: &[u8], i: usize, sign: u8, word: &[u8]) -> Option<(usize, Spelled)> {
    let spaces = |from: usize| {
        t[from.min(t.len())..]
            .iter()
            .take(2)
            .take_while(|&&c| c == b' ')
            .count()
    };
    let j = i + spaces(i);
    let c = *t.get(j)?;
    if c == sign {
        let end = j + 1;
        // `a @ b.c` and `a@ b.c`: a plain `@` needs a space beside it to be this row's.
        return (sign != b'@' || j > i || spaces(end) > 0)
            .then_some((end + spaces(end), Spelled::Sign));
    }
    if let Some(close) = match c {
        b'(' => Some(b')'),
        b'[' => Some(b']'),
        b'{' => Some(b'}'),
        b'<' => Some(b'>'),
        _ => None,
    } {
        let w = t.get(j + 1..j + 1 + word.len())?;
        if w.eq_ignore_ascii_case(word) && t.get(j + 1 + word.len()) == Some(&close) {
            let end = j + 2 + word.len();
            return Some((end + spaces(end), Spelled::Bracketed));
        }
        return None;
    }
    let w = t.get(j..j + word.len())?;
    let spaced = j > i && t.get(j + word.len()) == Some(&b' ');
    (spaced && w.eq_ignore_ascii_case(word)).then_some((j + word.len() + 1, Spelled::Word))
}

/// A label of an address (letters of any script, digits, `-`; no dots) from `i`; its end.
fn label_end(t: &[u8], i: usize) -> usize {
    i + t[i.min(t.len())..]
        .iter()
        .take(63)
        .take_while(|&&c| c.is_ascii_alphanumeric() || c >= 0x80 || c == b'-')
        .count()
}

/// The domain of an obfuscated address from `i`: labels joined by dots in any spelling, the
/// last one letters only; its end and whether any dot was spelled as a word.
fn spelled_domain_end(t: &[u8], i: usize) -> Option<(usize, bool)> {
    let (mut end, mut labels, mut spelled) = (label_end(t, i), 1, false);
    if end == i {
        return None;
    }
    let mut last = (i, end);
    while let Some((next, form)) = spelled_at(t, end, b'.', b"dot") {
        let e = label_end(t, next);
        if e == next {
            break;
        }
        spelled |= form != Spelled::Sign;
        labels += 1;
        last = (next, e);
        end = e;
    }
    let tld = &t[last.0..last.1];
    let ok =
        labels >= 2 && (2..=24).contains(&tld.len()) && tld.iter().all(u8::is_ascii_alphabetic);
    ok.then_some((end, spelled))
}

/// The next address written to slip past readers of `@` (`jane(at)example.com`,
/// `j.doe [at] example [dot] org`, `lars @ example.se`, `jane at example dot com`). A bare
/// ` at ` counts only with a dot spelled out too: `meet at noon.` is no address.
pub(super) fn find_obfuscated_email(t: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i < t.len() {
        let c = t[i];
        let candidate = matches!(c, b'@' | b' ' | b'(' | b'[' | b'{' | b'<');
        if !candidate || i == 0 {
            i += 1;
            continue;
        }
        let found = spelled_at(t, i, b'@', b"at").and_then(|(domain, form)| {
            let start = i - t[..i]
                .iter()
                .rev()
                .take(64)
                .take_while(|&&c| {
                    c.is_ascii_alphanumeric() || c >= 0x80 || matches!(c, b'.' | b'_' | b'+' | b'-')
                })
                .count();
            let local = &t[start..i];
            if local.is_empty() || !local.iter().any(u8::is_ascii_alphabetic) || local[0] == b'.' {
                return None;
            }
            let (end, dot_spelled) = spelled_domain_end(t, domain)?;
            let plain = form == Spelled::Sign && !dot_spelled;
            let word_only = form == Spelled::Word && !dot_spelled;
            // A plain `@` with plain dots is the e-mail row's; a bare ` at ` needs a spelled dot.
            (!word_only
                && (!plain || t[i..domain].contains(&b' '))
                && !t.get(end).is_some_and(|c| c.is_ascii_alphanumeric()))
            .then_some((start, end))
        });
        if let Some(span) = found {
            return Some(span);
        }
        i += 1;
    }
    None
}

/// The obfuscated e-mail row's closer look: an `@` spelled in brackets (`(at)`, `[AT]`),
/// an `@` with a space beside it, or a dot spelled out. Values with a bracket or a `%`
/// but none of these (most URLs and user agents) stop here.
pub(super) fn may_hold_obfuscated_email(t: &[u8]) -> bool {
    let bracketed_at = |i: usize| {
        let close = match t[i] {
            b'(' => b')',
            b'[' => b']',
            b'{' => b'}',
            _ => b'>',
        };
        t.get(i + 1..i + 3)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"at"))
            && t.get(i + 3) == Some(&close)
    };
    memchr::memchr3_iter(b'(', b'[', b'{', t).any(bracketed_at)
        || memchr::memchr_iter(b'<', t).any(bracketed_at)
        || memchr::memchr_iter(b'@', t)
            .any(|i| (i > 0 && t[i - 1] == b' ') || t.get(i + 1) == Some(&b' '))
        || spells_dot(t)
}

/// Whether `text` spells a dot as a bare word (`example dot com`): the one obfuscated
/// address a bracket or an `@` does not announce. Found from its `d` by memchr, as most
/// text values without digits come here.
pub(super) fn spells_dot(t: &[u8]) -> bool {
    t.len() >= 14
        && memchr::memchr2_iter(b'd', b'D', t).any(|i| {
            i > 0
                && t[i - 1] == b' '
                && t.get(i + 1..i + 4)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"ot "))
        })
}

/// Whether `text` (a key, for instance) contains an e-mail address.
pub fn contains_email(text: &[u8]) -> bool {
    may_hold_email(text) && find_email(text, 0).is_some()
}

/// The e-mail detector's cheap gate: the shortest address is `a@b.co`; short values are
/// read with a loop, not memchr.
pub(super) fn may_hold_email(text: &[u8]) -> bool {
    text.len() >= 6 && (text.len() > 32 || text.iter().any(|&c| c == b'@' || c == b'%'))
}

/// The next e-mail address from `from` (`@`, or `%40` / `%2540` inside URLs).
pub(super) fn find_email(text: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut search = from;
    while let Some(off) = memchr2(b'@', b'%', &text[search..]) {
        let at = search + off;
        let sep_len = if text[at] == b'@' {
            1
        } else if text[at..].starts_with(b"%40") {
            3
        } else if text[at..].starts_with(b"%2540") {
            // Encoded twice: a URL carried inside another URL's parameter.
            5
        } else {
            search = at + 1;
            continue;
        };
        match email_bounds(text, at, sep_len, from) {
            Some(span) => return Some(span),
            None => search = at + sep_len,
        }
    }
    None
}

/// The span of an address around the separator at `at`, if the text there is one: a local
/// part of address characters, then a domain with a dot and an alphabetic top-level label.
fn email_bounds(text: &[u8], at: usize, sep_len: usize, floor: usize) -> Option<(usize, usize)> {
    let start = local_part_start(text, at, floor)?;
    let domain_start = at + sep_len;
    if text.get(domain_start) == Some(&b'[') {
        // A domain literal: `jane@[198.51.100.23]`, `jane@[IPv6:2001:db8::1]`.
        return domain_literal_end(text, domain_start).map(|end| (start, end));
    }
    let mut end = domain_start;
    while end < text.len() && (is_domain_char(text[end]) || is_hidden_in_address(text[end])) {
        end += 1;
    }
    // A tab straight after the `@` hides the domain as well as any control character.
    if end == domain_start && text.get(end) == Some(&b'\t') {
        end += 1;
        while end < text.len() && is_domain_char(text[end]) {
            end += 1;
        }
    }
    while end > domain_start && matches!(text[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let domain = &text[domain_start..end];
    let last_dot = memchr::memrchr(b'.', domain)?;
    // The top-level label is ASCII letters; what follows it (`…`, `)`) is not the address.
    let tld_len = domain[last_dot + 1..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let end = domain_start + last_dot + 1 + tld_len;
    let valid = last_dot > 0 && tld_len >= 2 && domain[0] != b'-' && domain[0] != b'.';
    valid.then_some((start, end))
}
