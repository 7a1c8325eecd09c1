//! JSON lexing on byte slices: string bounds, escapes, numbers and literals.
//! Everything here works on complete buffers; resumable framing lives in `framer`.

use super::block::string_stops;
use super::ScrubError;

/// Index of the first byte at or after `i` that is not JSON whitespace.
#[inline]
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    // Every JSON whitespace byte is at most a space; tokens start above it.
    while i < b.len() && b[i] <= b' ' && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// A string token: `start` is its opening quote, `end` is one past its closing quote.
#[derive(Clone, Copy, Debug)]
pub struct StringToken {
    pub start: usize,
    pub end: usize,
    pub has_escape: bool,
}

impl StringToken {
    /// The raw bytes between the quotes, escapes still in place.
    #[inline]
    pub fn raw<'a>(&self, b: &'a [u8]) -> &'a [u8] {
        &b[self.start + 1..self.end - 1]
    }

    /// The string's text: its raw bytes when it has no escapes (no copy), else decoded into
    /// `scratch`.
    #[inline]
    pub fn text<'a>(&self, b: &'a [u8], scratch: &'a mut Vec<u8>) -> Result<&'a [u8], ScrubError> {
        let raw = self.raw(b);
        if !self.has_escape {
            return Ok(raw);
        }
        unescape_into(raw, scratch)?;
        Ok(scratch)
    }
}

/// The first `"` or `\` in `b`, and whether a raw control byte comes before it. Sixteen
/// bytes a step: `b` is the rest of the event, so a string almost never ends in the tail.
#[inline]
pub fn scan_string(b: &[u8]) -> (Option<usize>, bool) {
    let mut control = false;
    let mut blocks = b.chunks_exact(16);
    for (n, block) in (&mut blocks).enumerate() {
        let (stops, controls) = string_stops(block.try_into().expect("16-byte block"));
        if stops != 0 {
            let at = stops.trailing_zeros();
            let before = (1u32 << at) - 1;
            return (
                Some(n * 16 + at as usize),
                control || controls & before != 0,
            );
        }
        control |= controls != 0;
    }
    let scanned = b.len() - blocks.remainder().len();
    for (k, &c) in blocks.remainder().iter().enumerate() {
        if c == b'"' || c == b'\\' {
            return (Some(scanned + k), control);
        }
        control |= c < 0x20;
    }
    (None, control)
}

/// Offset of the first `"` or `\` in `b`.
#[inline]
pub fn find_quote_or_escape(b: &[u8]) -> Option<usize> {
    scan_string(b).0
}

/// Reads the string whose opening quote is at `start`.
#[inline]
pub fn string_at(b: &[u8], start: usize) -> Result<StringToken, ScrubError> {
    let mut i = start + 1;
    let mut has_escape = false;
    loop {
        let (found, control) = scan_string(&b[i.min(b.len())..]);
        // Raw control characters are not JSON; vendors would reject the request.
        if control {
            return Err(ScrubError::MalformedJson);
        }
        let off = found.ok_or(ScrubError::MalformedJson)?;
        i += off;
        if b[i] == b'"' {
            return Ok(StringToken {
                start,
                end: i + 1,
                has_escape,
            });
        }
        has_escape = true;
        i += escape_len(&b[i..])?;
    }
}

/// The length of the escape sequence at the start of `b` (which begins with `\\`), checked
/// against the grammar even where the string is never decoded.
#[inline]
fn escape_len(b: &[u8]) -> Result<usize, ScrubError> {
    match b.get(1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(2),
        Some(b'u') if b.len() >= 6 && b[2..6].iter().all(u8::is_ascii_hexdigit) => Ok(6),
        _ => Err(ScrubError::MalformedJson),
    }
}

/// Decodes the escapes of a raw string body into `out` (which is cleared first).
pub fn unescape_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ScrubError> {
    out.clear();
    let mut i = 0;
    while i < raw.len() {
        let Some(off) = memchr::memchr(b'\\', &raw[i..]) else {
            out.extend_from_slice(&raw[i..]);
            break;
        };
        out.extend_from_slice(&raw[i..i + off]);
        i += off + 1;
        let esc = *raw.get(i).ok_or(ScrubError::MalformedJson)?;
        i += 1;
        let simple = match esc {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let (ch, used) = unicode_escape(&raw[i..])?;
                i += used;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            _ => return Err(ScrubError::MalformedJson),
        };
        out.push(simple);
    }
    Ok(())
}

/// Parses the hex digits after `\u` (and a following low surrogate when needed).
fn unicode_escape(rest: &[u8]) -> Result<(char, usize), ScrubError> {
    let high = hex4(rest)?;
    if !(0xD800..0xDC00).contains(&high) {
        return char::from_u32(high)
            .map(|c| (c, 4))
            .ok_or(ScrubError::MalformedJson);
    }
    // A high surrogate must be followed by `\uDC00..DFFF`; lone surrogates are not text.
    if rest.len() < 10 || rest[4] != b'\\' || rest[5] != b'u' {
        return Err(ScrubError::MalformedJson);
    }
    let low = hex4(&rest[6..])?;
    if !(0xDC00..0xE000).contains(&low) {
        return Err(ScrubError::MalformedJson);
    }
    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
    char::from_u32(code)
        .map(|c| (c, 10))
        .ok_or(ScrubError::MalformedJson)
}

fn hex4(b: &[u8]) -> Result<u32, ScrubError> {
    if b.len() < 4 {
        return Err(ScrubError::MalformedJson);
    }
    let mut v = 0u32;
    for &c in &b[..4] {
        let d = (c as char).to_digit(16).ok_or(ScrubError::MalformedJson)?;
        v = v * 16 + d;
    }
    Ok(v)
}

/// Writes `text` as a JSON string, quotes included.
pub fn write_string(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    // Replacements are mostly pseudonyms, addresses and markers: nothing to escape.
    if scan_string(text) == (None, false) {
        out.extend_from_slice(text);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &c) in text.iter().enumerate() {
        let escaped: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&text[start..i]);
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&text[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&text[start..]);
    out.push(b'"');
}

/// One past the end of the number starting at `i`, checked against the JSON grammar.
pub fn number_end(b: &[u8], mut i: usize) -> Result<usize, ScrubError> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_end(b, i),
        _ => return Err(ScrubError::MalformedJson),
    }
    if b.get(i) == Some(&b'.') {
        let after = digits_end(b, i + 1);
        if after == i + 1 {
            return Err(ScrubError::MalformedJson);
        }
        i = after;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let after = digits_end(b, i);
        if after == i {
            return Err(ScrubError::MalformedJson);
        }
        i = after;
    }
    Ok(i)
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// One past the end of `true`, `false` or `null` at `i`.
pub fn literal_end(b: &[u8], i: usize) -> Result<usize, ScrubError> {
    for lit in [&b"true"[..], b"false", b"null"] {
        if b[i..].starts_with(lit) {
            return Ok(i + lit.len());
        }
    }
    Err(ScrubError::MalformedJson)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescaped(raw: &str) -> Result<String, ScrubError> {
        let mut out = Vec::new();
        unescape_into(raw.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn unescape_table() {
        let cases: &[(&str, Result<&str, ScrubError>)] = &[
            ("plain", Ok("plain")),
            ("em\\u0061il", Ok("email")),
            ("a\\u0040b.co", Ok("a@b.co")),
            ("tab\\there", Ok("tab\there")),
            ("\\ud83d\\ude00", Ok("\u{1F600}")),
            ("\\ud83d", Err(ScrubError::MalformedJson)),
            ("\\ude00", Err(ScrubError::MalformedJson)),
            ("\\x", Err(ScrubError::MalformedJson)),
            ("\\u12", Err(ScrubError::MalformedJson)),
            ("trailing\\", Err(ScrubError::MalformedJson)),
        ];
        for (raw, want) in cases {
            assert_eq!(unescaped(raw).as_deref(), want.as_deref(), "case {raw:?}");
        }
    }

    #[test]
    fn write_string_round_trips_through_serde() {
        for text in ["", "a\"b\\c", "line\nbreak\u{1}", "ünï ☃ \u{1F600}"] {
            let mut out = Vec::new();
            write_string(text.as_bytes(), &mut out);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, text);
        }
    }

    #[test]
    fn numbers_follow_the_grammar() {
        for good in ["0", "-0", "12", "1.5", "-1.5e10", "2E-3", "37.7749"] {
            assert_eq!(number_end(good.as_bytes(), 0), Ok(good.len()), "{good}");
        }
        for bad in ["-", "1.", ".5", "1e", "+1", "-a"] {
            let end = number_end(bad.as_bytes(), 0);
            assert!(end.is_err() || end != Ok(bad.len()), "{bad}");
        }
    }

    #[test]
    fn string_scan_finds_the_first_quote_and_controls_before_it() {
        for len in 0..80 {
            for pos in 0..len {
                for stop in [b'"', b'\\'] {
                    let mut text = vec![b'a'; len];
                    text[pos] = stop;
                    assert_eq!(scan_string(&text), (Some(pos), false), "{len} {pos}");
                    if pos + 1 < len {
                        text[pos + 1] = 0x01;
                        assert_eq!(scan_string(&text), (Some(pos), false), "after {len} {pos}");
                    }
                    if pos > 0 {
                        text[pos - 1] = b'\n';
                        assert_eq!(scan_string(&text), (Some(pos), true), "before {len} {pos}");
                    }
                }
            }
            assert_eq!(scan_string(&vec![b'x'; len]), (None, false));
        }
    }

    #[test]
    fn string_bounds_skip_escaped_quotes() {
        let b = br#""a\"b" rest"#;
        let t = string_at(b, 0).unwrap();
        assert_eq!(t.end, 6);
        assert!(t.has_escape);
        assert!(string_at(br#""open"#, 0).is_err());
        assert!(string_at(b"\"raw\nnewline\"", 0).is_err());
        assert!(string_at(br#""bad \x escape""#, 0).is_err());
        assert!(string_at(br#""short \u12""#, 0).is_err());
        assert!(string_at(br#""ok \u0041""#, 0).is_ok());
        assert!(string_at(br#""ends in escape\"#, 0).is_err());
    }
}
