//! The base64 and base64url view: words of base64 (and gzip inside base64) that decode to
//! text, read by the rules and written back in the same alphabet and padding.

use std::cell::RefCell;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use memchr::{memchr, memchr2};

use super::Inner;

/// Shortest base64 word worth decoding: `a@b.co` is 8 characters of base64.
const MIN_BASE64: usize = 8;

/// The next capital at or after `from` that stands inside a word of base64 bytes (after
/// another one): base64 of text always has some, and ordinary capitalized words none.
fn next_inner_capital(text: &[u8], from: usize) -> Option<usize> {
    (from.max(1)..text.len()).find(|&i| text[i].is_ascii_uppercase() && is_base64_byte(text[i - 1]))
}

/// The alphabet a base64 word is written in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Alphabet {
    Standard,
    UrlSafe,
}

/// The bytes of either alphabet, one lookup each.
static BASE64_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
        c += 1;
    }
    table
};

#[inline]
fn is_base64_byte(c: u8) -> bool {
    BASE64_BYTE[usize::from(c)]
}

thread_local! {
    /// Where candidate words are decoded to be looked at: most are ids or camel-case words
    /// that decode to no text, and none of them should cost an allocation.
    static PROBE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// How a base64 word was written (alphabet, padding), so that text decoded from it can be
/// written back the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Base64Form {
    alphabet: Alphabet,
    padded: bool,
}

impl Base64Form {
    pub fn encode(&self, bytes: &[u8], out: &mut Vec<u8>) {
        base64_encode(bytes, self.alphabet, self.padded, out);
    }
}

/// When the whole of `text` is one base64 or base64url word that decodes to text (see
/// `decode_text`): that text and the word's form.
pub fn whole_base64_text(text: &[u8]) -> Option<(Vec<u8>, Base64Form)> {
    let body_len = text.len()
        - text
            .iter()
            .rev()
            .take(2)
            .take_while(|&&c| c == b'=')
            .count();
    let body = &text[..body_len];
    if body.len() < MIN_BASE64 || !body.iter().all(|&c| is_base64_byte(c)) {
        return None;
    }
    let padded = body_len < text.len();
    decode_text(body, padded).map(|(decoded, alphabet)| (decoded, Base64Form { alphabet, padded }))
}

/// Words of base64 or base64url (padded or not) that decode to text, or to gzip of text
/// (`H4sI...`): the text gets the rules, and a word they change is encoded again the way it
/// was. A word that joins URL path segments (`/confirm/aGFycmll...`) and does not decode
/// whole is read segment by segment.
pub(super) fn base64_view(text: &[u8], inner: &mut Inner<'_>, out: &mut Vec<u8>) -> bool {
    if text.len() < MIN_BASE64 {
        return false;
    }
    let (mut copied, mut from, mut changed) = (0, 1, false);
    let mut scrubbed = Vec::new();
    // Only words with a capital inside are looked at: found from their capital.
    while let Some(capital) = next_inner_capital(text, from) {
        let mut start = capital;
        while start > 0 && is_base64_byte(text[start - 1]) {
            start -= 1;
        }
        let mut body_end = capital;
        while body_end < text.len() && is_base64_byte(text[body_end]) {
            body_end += 1;
        }
        let mut end = body_end;
        while end < text.len() && end - body_end < 2 && text[end] == b'=' {
            end += 1;
        }
        from = end + 1;
        let whole = decode_word(&text[start..body_end], end > body_end);
        let split = whole.is_none() && memchr(b'/', &text[start..body_end]).is_some();
        if !split {
            let Some((decoded, form)) = whole else {
                continue;
            };
            rewrite_word(
                text,
                (start, body_end, end),
                &decoded,
                form,
                inner,
                &mut scrubbed,
                out,
                &mut copied,
                &mut changed,
            );
            continue;
        }
        for (s, b, e) in path_segments(start, body_end, end, text) {
            if let Some((decoded, form)) = decode_word(&text[s..b], e > b) {
                rewrite_word(
                    text,
                    (s, b, e),
                    &decoded,
                    form,
                    inner,
                    &mut scrubbed,
                    out,
                    &mut copied,
                    &mut changed,
                );
            }
        }
    }
    if changed {
        out.extend_from_slice(&text[copied..]);
    }
    changed
}

/// What the rules make of one decoded word at `span` (start, body end, end with padding):
/// written back in its form after the text copied so far.
#[allow(clippy::too_many_arguments)]
fn rewrite_word(
    text: &[u8],
    (start, body_end, end): (usize, usize, usize),
    decoded: &[u8],
    form: WordForm,
    inner: &mut Inner<'_>,
    scrubbed: &mut Vec<u8>,
    out: &mut Vec<u8>,
    copied: &mut usize,
    changed: &mut bool,
) {
    scrubbed.clear();
    if !inner(decoded, scrubbed) {
        return;
    }
    if !*changed {
        out.clear();
        *changed = true;
    }
    out.extend_from_slice(&text[*copied..start]);
    form.write(scrubbed, end > body_end, out);
    *copied = end;
}

/// The `/`-separated parts of the word `start..body_end` (padding up to `end` belongs to
/// the last), as (start, body end, end) spans, without allocating.
fn path_segments(
    start: usize,
    body_end: usize,
    end: usize,
    text: &[u8],
) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut from = Some(start);
    std::iter::from_fn(move || {
        let s = from?;
        match memchr(b'/', &text[s..body_end]) {
            Some(o) => {
                from = Some(s + o + 1);
                Some((s, s + o, s + o))
            }
            None => {
                from = None;
                Some((s, body_end, end))
            }
        }
    })
}

/// How a word was written: its alphabet, and whether its text was gzipped first.
#[derive(Clone, Copy)]
struct WordForm {
    alphabet: Alphabet,
    gzip: bool,
}

impl WordForm {
    fn write(self, text: &[u8], pad: bool, out: &mut Vec<u8>) {
        if self.gzip {
            base64_encode(&gzip(text), self.alphabet, pad, out);
        } else {
            base64_encode(text, self.alphabet, pad, out);
        }
    }
}

/// The text a word decodes to, directly or through gzip.
fn decode_word(body: &[u8], padded: bool) -> Option<(Vec<u8>, WordForm)> {
    if body.starts_with(b"H4sI") {
        return gunzip_text(body).map(|(t, alphabet)| {
            (
                t,
                WordForm {
                    alphabet,
                    gzip: true,
                },
            )
        });
    }
    decode_text(body, padded).map(|(t, alphabet)| {
        (
            t,
            WordForm {
                alphabet,
                gzip: false,
            },
        )
    })
}

/// Most bytes a gzip word in a value is inflated to; a larger one is not read.
const MAX_INFLATED: u64 = 64 * 1024;

/// The text of a base64 word that is gzip (`H4sI` is its magic bytes in base64), when it
/// inflates within `MAX_INFLATED` to text.
pub(super) fn gunzip_text(body: &[u8]) -> Option<(Vec<u8>, Alphabet)> {
    let alphabet = if memchr2(b'-', b'_', body).is_some() {
        Alphabet::UrlSafe
    } else {
        Alphabet::Standard
    };
    let mut raw = Vec::new();
    base64_decode(body, alphabet, &mut raw)?;
    let mut decoder = crate::decode::GzipDecoder::new(MAX_INFLATED);
    let text = crate::decode::transform_all(&mut decoder, &raw).ok()?;
    looks_like_text(&text).then_some((text, alphabet))
}

pub(super) fn gzip(text: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(text);
    encoder.finish().unwrap_or_default()
}

/// The text a word decodes to, when it looks like base64 (the right length, mixed case
/// inside, one alphabet) and decodes to printable UTF-8 that is mostly letters.
pub(super) fn decode_text(body: &[u8], padded: bool) -> Option<(Vec<u8>, Alphabet)> {
    let len = body.len();
    if len < MIN_BASE64 || len % 4 == 1 || (padded && len % 4 == 0) {
        return None;
    }
    // Base64 of text has capitals inside the word; camel-case ids and hex hashes rarely
    // pass this and the checks below together.
    let inner_capital = body[1..].iter().any(u8::is_ascii_uppercase);
    let lower = body.iter().any(u8::is_ascii_lowercase);
    if !inner_capital || !lower {
        return None;
    }
    let standard = memchr2(b'+', b'/', body).is_some();
    let url = memchr2(b'-', b'_', body).is_some();
    let alphabet = match (standard, url) {
        (true, true) => return None,
        (false, true) => Alphabet::UrlSafe,
        _ => Alphabet::Standard,
    };
    PROBE.with(|probe| {
        let mut probe = probe.borrow_mut();
        probe.clear();
        base64_decode(body, alphabet, &mut probe)?;
        looks_like_text(&probe).then(|| (probe.clone(), alphabet))
    })
}

/// Printable UTF-8 (tabs and line breaks allowed), at least 6 bytes, and at least half of
/// its characters letters or digits: what a person's data or JSON of it looks like, and
/// what random bytes almost never are.
fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.len() < 6 {
        return false;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let (mut chars, mut alnum) = (0usize, 0usize);
    for ch in text.chars() {
        if ch.is_control() && !matches!(ch, '\t' | '\n' | '\r') {
            return false;
        }
        chars += 1;
        alnum += usize::from(ch.is_alphanumeric());
    }
    alnum * 2 >= chars
}

/// The `base64` crate's engines, lenient as senders are when decoding (padding optional,
/// non-canonical last bits accepted), writing padding only when the sender did.
fn engine(alphabet: Alphabet, pad: bool) -> &'static GeneralPurpose {
    const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent);
    static ENGINES: [GeneralPurpose; 4] = [
        GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            LENIENT.with_encode_padding(true),
        ),
        GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            LENIENT.with_encode_padding(false),
        ),
        GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            LENIENT.with_encode_padding(true),
        ),
        GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            LENIENT.with_encode_padding(false),
        ),
    ];
    &ENGINES[usize::from(alphabet == Alphabet::UrlSafe) * 2 + usize::from(!pad)]
}

/// Decodes an unpadded body written in `alphabet`.
pub(super) fn base64_decode(body: &[u8], alphabet: Alphabet, out: &mut Vec<u8>) -> Option<()> {
    engine(alphabet, false).decode_vec(body, out).ok()
}

pub(super) fn base64_encode(bytes: &[u8], alphabet: Alphabet, pad: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(engine(alphabet, pad).encode(bytes).as_bytes());
}
