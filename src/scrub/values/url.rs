//! URLs in values: query strings and parameter-carrying fragments keep only allow-listed
//! parameters.

use memchr::memchr2_iter;

use crate::decode::hex_value;
use crate::scrub::keys::{with_normalized, KeySet};

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Writes the origin of an absolute URL (`scheme://host[:port]/`, user and password left
/// out) into `out`; false when `text` is not one (relative paths, plain text).
pub fn url_origin(text: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(sep) = memchr::memmem::find(text, b"://") else {
        return false;
    };
    let scheme = &text[..sep];
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    let rest = &text[sep + 3..];
    // Browsers read `\` as `/`.
    let authority_end = rest
        .iter()
        .position(|&c| matches!(c, b'/' | b'\\' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    // `user:password@host`: the part before the last `@` names a person.
    let host = match memchr::memrchr(b'@', authority) {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    // Only what a host and port are made of: anything else (`%40`, `;`, spaces of any
    // kind) means this is not a plain origin, and the value rules read the whole text.
    let host_ok = host
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']'));
    if !scheme_ok || host.is_empty() || !host_ok {
        return false;
    }
    out.clear();
    out.extend_from_slice(&scheme.to_ascii_lowercase());
    out.extend_from_slice(b"://");
    out.extend_from_slice(host);
    out.push(b'/');
    true
}

/// Removes the user name and password of every URL in `text` (`https://jane:pw@host/` becomes
/// `https://host/`): they name a person or are a secret, and no vendor needs them. True (new
/// text in `out`) if one went.
pub(super) fn drop_userinfo(text: &[u8], out: &mut Vec<u8>) -> bool {
    let (mut copied, mut changed) = (0, false);
    for separator in memchr::memmem::find_iter(text, b"://") {
        let authority_start = separator + 3;
        if authority_start < copied {
            continue;
        }
        let rest = &text[authority_start..];
        // Browsers read `\` as `/`; the last `@` before the path ends the userinfo.
        let authority_end = rest
            .iter()
            .position(|&c| matches!(c, b'/' | b'\\' | b'?' | b'#') || ends_url(c))
            .unwrap_or(rest.len());
        let Some(at) = memchr::memrchr(b'@', &rest[..authority_end]) else {
            continue;
        };
        if !changed {
            out.clear();
            changed = true;
        }
        out.extend_from_slice(&text[copied..authority_start]);
        copied = authority_start + at + 1;
    }
    if changed {
        out.extend_from_slice(&text[copied..]);
    }
    changed
}

/// Bytes that end a URL written inside text (all of them are `DELIMITER` cues).
pub(super) fn ends_url(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>' | b')' | b'(')
}

/// Keeps only allow-listed parameters in every query of `text`: whole URLs, relative ones
/// (`/account?name=...`), `www.` hosts, URLs inside sentences, and a bare `?a=b` search
/// string. Fragments written as parameters (`#access_token=...&email=...`, how OAuth and
/// single-page apps pass secrets) get the same allow-list; plain anchors (`#pricing`) stay.
/// Returns true (new text in `out`) if a parameter went. `one_word`: the text holds no byte
/// that ends a URL (the caller's cue pass knows), so any URL in it spans all of it.
/// With `drop_fragments`, a URL's fragment goes whole (`https://a.example/p#/account/42`
/// becomes `https://a.example/p`); a lone `#word` is not a URL and stays.
pub(super) fn filter_query(
    text: &[u8],
    one_word: bool,
    allow: &KeySet,
    drop_fragments: bool,
    out: &mut Vec<u8>,
) -> bool {
    // `out` holds the text before `copied` (once something changed); a `?` or `#` before
    // `resume` lies inside a query already handled, as part of a parameter's value.
    let (mut copied, mut resume, mut changed) = (0, 0, false);
    // The URL-like word around the current `?` or `#`, found once per word: a word with
    // many of them must not be rescanned for each (that was quadratic in its length).
    let mut word = Word::default();
    for q in memchr2_iter(b'?', b'#', text) {
        if q < resume {
            continue;
        }
        let fragment = text[q] == b'#';
        if word.end == 0 || q >= word.end {
            word = Word::around(text, q, one_word);
        }
        let (token_start, token_end) = (word.start, word.end);
        let prefix = &text[token_start..q];
        let urlish = (prefix.is_empty() && token_start == 0)
            || word.first_slash.is_some_and(|slash| slash < q)
            || starts_with_ignore_case(prefix, b"www.");
        if !urlish {
            continue;
        }
        if fragment && drop_fragments && !prefix.is_empty() {
            if !changed {
                out.clear();
                changed = true;
            }
            out.extend_from_slice(&text[copied..q]);
            (copied, resume) = (token_end, token_end);
            continue;
        }
        let query_end = if fragment {
            token_end
        } else {
            memchr::memchr(b'#', &text[q..token_end]).map_or(token_end, |h| q + h)
        };
        let query = &text[q + 1..query_end];
        // A fragment with a query of its own (`#/reset?token=...`) is handled at its `?`.
        let nested_query = fragment && memchr::memchr(b'?', query).is_some();
        if nested_query {
            continue;
        }
        if memchr::memchr(b'=', query).is_none() {
            // No parameter here, nor in any `?` or `#` inside it.
            resume = query_end;
            continue;
        }
        resume = query_end;
        // Campaign links carry only allowed parameters: nothing to write for them.
        if params(query).all(|param| allowed(param, allow)) {
            continue;
        }
        if !changed {
            out.clear();
            changed = true;
        }
        out.extend_from_slice(&text[copied..q]);
        let before = out.len();
        out.push(text[q]);
        keep_allowed_params(query, allow, out);
        if out.len() == before + 1 {
            out.pop();
        }
        copied = query_end;
    }
    if changed {
        out.extend_from_slice(&text[copied..]);
    }
    changed
}

/// A word of text that may be a URL: its bounds and its first `/`.
#[derive(Default)]
struct Word {
    start: usize,
    end: usize,
    first_slash: Option<usize>,
}

impl Word {
    /// The word holding position `q` (all of `text` when it is `one_word`).
    fn around(text: &[u8], q: usize, one_word: bool) -> Word {
        let (start, end) = if one_word {
            (0, text.len())
        } else {
            let start = text[..q]
                .iter()
                .rposition(|&c| ends_url(c))
                .map_or(0, |p| p + 1);
            let end = text[q..]
                .iter()
                .position(|&c| ends_url(c))
                .map_or(text.len(), |e| q + e);
            (start, end)
        };
        let first_slash = memchr::memchr(b'/', &text[start..end]).map(|i| start + i);
        Word {
            start,
            end,
            first_slash,
        }
    }
}

/// The non-empty `name=value` parameters of a query.
fn params(query: &[u8]) -> impl Iterator<Item = &[u8]> {
    query
        .split(|&c| c == b'&')
        .filter(|param| !param.is_empty())
}

/// Whether the allow-list keeps `param`, judged by its (decoded, normalized) name.
fn allowed(param: &[u8], allow: &KeySet) -> bool {
    let raw_name = param.split(|&c| c == b'=').next().unwrap_or(param);
    if raw_name.iter().any(|&c| c == b'%' || c == b'+') {
        with_normalized(&percent_decoded_name(raw_name), |name| allow.matches(name))
    } else {
        with_normalized(raw_name, |name| allow.matches(name))
    }
}

/// Writes the allow-listed parameters of `query` to `out`.
fn keep_allowed_params(query: &[u8], allow: &KeySet, out: &mut Vec<u8>) {
    let mut kept_any = false;
    for param in params(query).filter(|param| allowed(param, allow)) {
        if kept_any {
            out.push(b'&');
        }
        out.extend_from_slice(param);
        kept_any = true;
    }
}

/// Parameter names are tiny; decoding them lets `utm%5Fsource` match `utm_*`.
fn percent_decoded_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex_value(raw[i + 1]), hex_value(raw[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if raw[i] == b'+' { b' ' } else { raw[i] });
        i += 1;
    }
    out
}
