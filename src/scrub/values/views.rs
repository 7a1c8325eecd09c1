//! Decode before detect: a value can carry text in another encoding (percent-encoded query
//! values, base64 or base64url, HTML entities), where the detectors, reading bytes as sent,
//! see nothing. Each view decodes what it can, lets the value rules (views included, to
//! `MAX_VIEW_DEPTH`) read the decoded text, and when they change it writes the result back
//! in the same encoding, so the rest of the value stays as it was.
//!
//! Cheap gates come first: the value rules' one cue pass says whether a value has a `%`,
//! `+` or `&`, or the capitals of base64 (`Cues::may_carry_encoding`); most values stop
//! there. Candidate base64 words are decoded into a thread-local probe, so ids and hashes
//! that decode to no text allocate nothing.

use memchr::{memchr, memchr2};

use crate::decode::hex_value;

mod base64_words;

use base64_words::base64_view;
pub use base64_words::whole_base64_text;

/// How many encodings deep the rules look (`%2540` inside base64 inside ...).
pub(super) const MAX_VIEW_DEPTH: u8 = 3;

/// What reads a decoded view: the value rules one level deeper. Returns true with the
/// rewritten text in its second argument.
pub(super) type Inner<'a> = dyn FnMut(&[u8], &mut Vec<u8>) -> bool + 'a;

/// Runs every view whose gate opens on `text`; true (new text in `out`) when one changed.
pub(super) fn rewrite_views(text: &[u8], inner: &mut Inner<'_>, out: &mut Vec<u8>) -> bool {
    let mut current: Option<Vec<u8>> = None;
    for view in [compat_view, percent_view, entity_view, base64_view] {
        let input = current.as_deref().unwrap_or(text);
        out.clear();
        if view(input, inner, out) {
            current = Some(std::mem::take(out));
        }
    }
    match current {
        Some(done) => {
            *out = done;
            true
        }
        None => false,
    }
}

// ---------------------------------------------------------------------------------------
// Compatibility forms.

/// The ASCII character a full-width or small form stands for (`＠` `@`, `．` `.`, `ａ`
/// `a`, `﹫` `@`, `｡` `.`): what NFKC makes of it, for the characters an address, a
/// number or a name can be written in.
fn compat_fold(ch: char) -> Option<char> {
    match ch {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(ch as u32 - 0xFEE0),
        '\u{FE6B}' => Some('@'),
        '\u{FE52}' | '\u{FF61}' | '\u{3002}' => Some('.'),
        '\u{3000}' => Some(' '),
        _ => None,
    }
}

/// Text with full-width or small forms (`harriet．w＠example．org`, `４１１１ ...`) read
/// as the ASCII it stands for. A value the rules change is written back folded: the forms
/// carried nothing but their look.
fn compat_view(text: &[u8], inner: &mut Inner<'_>, out: &mut Vec<u8>) -> bool {
    if memchr(0xEF, text).is_none() {
        return false;
    }
    let Ok(s) = std::str::from_utf8(text) else {
        return false;
    };
    if !s
        .chars()
        .any(|c| compat_fold(c).is_some() && c != '\u{3002}' && c != '\u{3000}')
    {
        return false;
    }
    let folded: String = s.chars().map(|c| compat_fold(c).unwrap_or(c)).collect();
    let mut scrubbed = Vec::new();
    if !inner(folded.as_bytes(), &mut scrubbed) {
        return false;
    }
    out.clear();
    out.extend_from_slice(&scrubbed);
    true
}

// ---------------------------------------------------------------------------------------
// Percent-encoding.

/// Bytes that give a URL or form its structure: a run between them is one name, value or
/// path segment, and what is decoded inside a run is written back encoded, so the
/// structure around it never changes.
fn ends_percent_run(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'&' | b'=' | b'?' | b'#' | b'/' | b';' | b'"')
}

/// Percent-encoded runs (`%2B44%2020%207946%200958`, a form value `0044+7700+900456`).
fn percent_view(text: &[u8], inner: &mut Inner<'_>, out: &mut Vec<u8>) -> bool {
    if memchr2(b'%', b'+', text).is_none() {
        return false;
    }
    let (mut copied, mut start, mut changed) = (0, 0, false);
    let (mut decoded, mut scrubbed) = (Vec::new(), Vec::new());
    while start < text.len() {
        let end = text[start..]
            .iter()
            .position(|&c| ends_percent_run(c))
            .map_or(text.len(), |e| start + e);
        let run = &text[start..end];
        // `+` means a space only in a form or query value, after its `=`.
        let plus_is_space = start > 0 && text[start - 1] == b'=' && memchr(b'+', run).is_some();
        if has_percent_escape(run) || plus_is_space {
            decoded.clear();
            percent_decode(run, plus_is_space, &mut decoded);
            scrubbed.clear();
            if decoded != run && inner(&decoded, &mut scrubbed) {
                if !changed {
                    out.clear();
                    changed = true;
                }
                out.extend_from_slice(&text[copied..start]);
                percent_encode(&scrubbed, plus_is_space || memchr(b'+', run).is_some(), out);
                copied = end;
            }
        }
        start = end + 1;
    }
    if changed {
        out.extend_from_slice(&text[copied..]);
    }
    changed
}

fn has_percent_escape(run: &[u8]) -> bool {
    memchr::memchr_iter(b'%', run).any(|i| {
        i + 2 < run.len() && hex_value(run[i + 1]).is_some() && hex_value(run[i + 2]).is_some()
    })
}

fn percent_decode(run: &[u8], plus_is_space: bool, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < run.len() {
        let c = run[i];
        if c == b'%' && i + 2 < run.len() {
            if let (Some(h), Some(l)) = (hex_value(run[i + 1]), hex_value(run[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if c == b'+' && plus_is_space { b' ' } else { c });
        i += 1;
    }
}

/// Writes `text` percent-encoded: unreserved bytes and the brackets and stars of markers and
/// masks as they are, a space as `+` where the run used `+` for spaces.
fn percent_encode(text: &[u8], plus_for_space: bool, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in text {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'[' | b']' | b'*')
        {
            out.push(c);
        } else if c == b' ' && plus_for_space {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTML entities.

/// The named entities that can spell out an address or a number, and the common ones.
const NAMED_ENTITIES: &[(&[u8], &str)] = &[
    (b"amp", "&"),
    (b"lt", "<"),
    (b"gt", ">"),
    (b"quot", "\""),
    (b"apos", "'"),
    (b"nbsp", "\u{a0}"),
    (b"commat", "@"),
    (b"period", "."),
    (b"plus", "+"),
    (b"num", "#"),
    (b"sol", "/"),
    (b"colon", ":"),
    (b"semi", ";"),
    (b"comma", ","),
    (b"lowbar", "_"),
    (b"hyphen", "-"),
    (b"dash", "-"),
    (b"lpar", "("),
    (b"rpar", ")"),
    (b"lsqb", "["),
    (b"rsqb", "]"),
    (b"equals", "="),
    (b"quest", "?"),
    (b"excl", "!"),
    (b"percnt", "%"),
];

/// Text with HTML character references (`jane&#64;example.com`, `&#x40;`, `&commat;`) read
/// as the characters they stand for; the whole value is the view, written back with `&`,
/// `<` and `>` as references (what an HTML reader sees is unchanged).
fn entity_view(text: &[u8], inner: &mut Inner<'_>, out: &mut Vec<u8>) -> bool {
    let Some(first) = memchr(b'&', text) else {
        return false;
    };
    let mut decoded = Vec::new();
    if !decode_entities(text, first, &mut decoded) {
        return false;
    }
    let mut scrubbed = Vec::new();
    if !inner(&decoded, &mut scrubbed) {
        return false;
    }
    out.clear();
    for &c in &scrubbed {
        match c {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            _ => out.push(c),
        }
    }
    true
}

/// Decodes the references of `text` (the first `&` at `first`) into `out`; false when there
/// are none (a plain `&` in `Tom & Jerry`).
fn decode_entities(text: &[u8], first: usize, out: &mut Vec<u8>) -> bool {
    let (mut copied, mut found) = (0, false);
    let mut at = first;
    loop {
        if let Some((ch, len)) = entity_at(&text[at..]) {
            if !found {
                out.reserve(text.len());
                found = true;
            }
            out.extend_from_slice(&text[copied..at]);
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            copied = at + len;
        }
        match memchr(b'&', &text[at + 1..]) {
            Some(next) => at = at + 1 + next,
            None => break,
        }
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

/// The character a reference at the start of `s` stands for, and its length.
fn entity_at(s: &[u8]) -> Option<(char, usize)> {
    if s.get(1) == Some(&b'#') {
        let hex = matches!(s.get(2), Some(b'x' | b'X'));
        let digits_from = if hex { 3 } else { 2 };
        let digits = s[digits_from..]
            .iter()
            .take(8)
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 {
            return None;
        }
        let text = std::str::from_utf8(&s[digits_from..digits_from + digits]).ok()?;
        let code = u32::from_str_radix(text, if hex { 16 } else { 10 }).ok()?;
        let ch = char::from_u32(code)?;
        // The `;` is optional after a number.
        let end = digits_from + digits;
        let len = if s.get(end) == Some(&b';') {
            end + 1
        } else {
            end
        };
        return Some((ch, len));
    }
    let name_len = s[1..]
        .iter()
        .take(8)
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    if s.get(1 + name_len) != Some(&b';') {
        return None;
    }
    let name = &s[1..1 + name_len];
    NAMED_ENTITIES
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.chars().next())
        .map(|ch| (ch, name_len + 2))
}

#[cfg(test)]
mod tests {
    use super::base64_words::{
        base64_decode, base64_encode, decode_text, gunzip_text, gzip, Alphabet,
    };
    use super::*;

    /// An inner rule that replaces `jane` with `[x]`.
    fn redact_jane(text: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(at) = memchr::memmem::find(text, b"jane") else {
            return false;
        };
        out.extend_from_slice(&text[..at]);
        out.extend_from_slice(b"[x]");
        out.extend_from_slice(&text[at + 4..]);
        true
    }

    fn viewed(text: &str) -> String {
        let mut out = Vec::new();
        if rewrite_views(text.as_bytes(), &mut redact_jane, &mut out) {
            String::from_utf8(out).unwrap()
        } else {
            text.to_string()
        }
    }

    fn b64(text: &str, alphabet: Alphabet, pad: bool) -> String {
        let mut out = Vec::new();
        base64_encode(text.as_bytes(), alphabet, pad, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn base64_round_trips_in_both_alphabets() {
        for text in ["a", "ab", "abc", "jane.doe@example.com", "ü>>?"] {
            for (alphabet, pad) in [
                (Alphabet::Standard, true),
                (Alphabet::Standard, false),
                (Alphabet::UrlSafe, false),
            ] {
                let encoded = b64(text, alphabet, pad);
                let mut back = Vec::new();
                base64_decode(
                    encoded.trim_end_matches('=').as_bytes(),
                    alphabet,
                    &mut back,
                )
                .unwrap();
                assert_eq!(back, text.as_bytes(), "{encoded}");
            }
        }
        assert_eq!(
            b64("jane.doe@example.com", Alphabet::Standard, true),
            "amFuZS5kb2VAZXhhbXBsZS5jb20="
        );
    }

    #[test]
    fn each_view_rewrites_in_its_own_encoding() {
        assert_eq!(viewed("to=jane%40x.com&a=1"), "to=[x]%40x.com&a=1");
        assert_eq!(viewed("q=jane+doe&b=2"), "q=[x]+doe&b=2");
        assert_eq!(viewed("jane&#64;x.com &amp; more"), "[x]@x.com &amp; more");
        let word = b64("hi jane doe", Alphabet::Standard, true);
        let want = b64("hi [x] doe", Alphabet::Standard, true);
        assert_eq!(
            viewed(&format!("ctx {word} end")),
            format!("ctx {want} end")
        );
        let word = b64("{\"who\":\"jane\"}", Alphabet::UrlSafe, false);
        let want = b64("{\"who\":\"[x]\"}", Alphabet::UrlSafe, false);
        assert_eq!(viewed(&word), want);
    }

    #[test]
    fn near_misses_cost_nothing_and_change_nothing() {
        for text in [
            "50% off jane",
            "Tom & Jerry jane",
            "AT&T jane",
            "d41d8cd98f00b204e9800998ecf8427e",
            "38ea376a-3524-4e23-99db-d130931989e3",
            "ajs-next-1796539864246-5d6e13aa-1f2a-4b3c-8d4e-000000026196",
            "ProductViewedJaneCheckout",
            "ProductViewedCheckouts jane",
            "1+1=2",
        ] {
            let mut out = Vec::new();
            let mut called = false;
            let mut inner = |t: &[u8], o: &mut Vec<u8>| {
                called = true;
                redact_jane(t, o)
            };
            let changed = rewrite_views(text.as_bytes(), &mut inner, &mut out);
            assert!(!changed && !called, "{text}");
        }
        assert!(decode_text(b"d41d8cd98f00b204e9800998ecf8427e", false).is_none());
        assert!(decode_text(b"X9fK2mQ7vLp3Zr8T", false).is_none());
        let mut d = Vec::new();
        assert!(!decode_entities(b"Tom & Jerry &unknown; &#;", 4, &mut d));
        assert!(!has_percent_escape(b"50%"));
        assert!(!has_percent_escape(b"50%2"));
        assert!(has_percent_escape(b"a%2Bb"));
    }

    #[test]
    fn base64_in_path_segments_and_gzip_words_are_read() {
        let word = b64("jane.k@example.org", Alphabet::UrlSafe, false);
        let got = viewed(&format!("https://shop.example/confirm/{word}/done"));
        let want = b64("[x].k@example.org", Alphabet::UrlSafe, false);
        assert_eq!(got, format!("https://shop.example/confirm/{want}/done"));
        let mut gz = Vec::new();
        base64_encode(
            &gzip(b"{\"who\":\"jane roe\",\"city\":\"Utrecht\"}"),
            Alphabet::Standard,
            true,
            &mut gz,
        );
        let gz = String::from_utf8(gz).unwrap();
        assert!(gz.starts_with("H4sI"));
        let got = viewed(&format!("blob {gz}"));
        assert_ne!(got, format!("blob {gz}"));
        let word = got.strip_prefix("blob ").unwrap();
        let (text, _) = gunzip_text(word.trim_end_matches('=').as_bytes()).unwrap();
        assert_eq!(text, b"{\"who\":\"[x] roe\",\"city\":\"Utrecht\"}");
    }

    #[test]
    fn entities_decode_numeric_and_named_forms() {
        let mut d = Vec::new();
        assert!(decode_entities(
            b"a&#64;b &#x40; &#X40 &commat; &amp;&lt;",
            1,
            &mut d
        ));
        assert_eq!(String::from_utf8(d).unwrap(), "a@b @ @ @ &<");
    }
}
