//! What a detector writes in place of a match (marker, pseudonym, mask, or the drop of its
//! member), and the loop the span-finding detectors share.

use crate::scrub::hash::PseudonymKey;
use crate::scrub::report::{FieldOutcome, Report, RuleKind};

/// What the value rules did to a member's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueChange {
    Unchanged,
    /// The new text is in `out`.
    Changed,
    /// A detector whose action is `drop` fired: the member goes.
    DropMember,
}

/// What a detector writes in place of what it found.
#[derive(Clone, Debug)]
pub enum Replacement {
    /// A fixed marker such as `[email]`.
    Marker(Vec<u8>),
    /// The keyed pseudonym of the match (the identifiers' HMAC key): equal values stay
    /// equal, so counts and joins still work, and none can be read back.
    Hash(PseudonymKey),
    /// `*` for every character but the last `keep_last` (all of them when the match is no
    /// longer than that).
    Mask { keep_last: usize },
    /// The whole member goes (`ValueRules::scrub_member`); where a value has no member
    /// (an array element) it becomes `null`, and in other text it becomes empty.
    Drop,
}

impl Replacement {
    /// Writes the replacement of `matched` and says what was done, for the report.
    pub fn write(&self, matched: &[u8], out: &mut Vec<u8>) -> FieldOutcome {
        match self {
            Replacement::Marker(marker) => {
                out.extend_from_slice(marker);
                FieldOutcome::Redacted
            }
            Replacement::Hash(key) => {
                key.pseudonym_into(matched, out);
                FieldOutcome::Hashed
            }
            Replacement::Mask { keep_last } => {
                mask_into(matched, *keep_last, out);
                FieldOutcome::Masked
            }
            Replacement::Drop => FieldOutcome::Dropped,
        }
    }
}

/// `matched` with each character but the last `keep_last` written as `*` (matches are
/// UTF-8 text: characters, not bytes, are counted).
fn mask_into(matched: &[u8], keep_last: usize, out: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(matched);
    let chars = text.chars().count();
    let hidden = if chars > keep_last {
        chars - keep_last
    } else {
        chars
    };
    out.extend(std::iter::repeat_n(b'*', hidden));
    let shown_from = text
        .char_indices()
        .nth(hidden)
        .map_or(text.len(), |(i, _)| i);
    out.extend_from_slice(&text.as_bytes()[shown_from..]);
}

/// Replaces every span `find` reports (start and end, searching from a position) with
/// `marker`; the shared loop of the detectors below.
pub(super) fn redact_spans(
    text: &[u8],
    marker: &Replacement,
    out: &mut Vec<u8>,
    report: &mut Report,
    rule: RuleKind,
    find: impl Fn(&[u8], usize) -> Option<(usize, usize)>,
) -> bool {
    let (mut copied, mut from, mut found) = (0, 0, false);
    while let Some((start, end)) = find(text, from) {
        if end <= start {
            // An empty match (`\b`, `x{0,3}`) replaces nothing; step past it, or it would be
            // found again forever.
            if start >= text.len() {
                break;
            }
            from = start + 1;
            continue;
        }
        if !found {
            out.clear();
            found = true;
        }
        out.extend_from_slice(&text[copied..start]);
        report.count(rule, marker.write(&text[start..end], out));
        copied = end;
        from = end;
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

pub(super) fn word_start(text: &[u8], i: usize) -> bool {
    i == 0 || !text[i - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_counts_characters_and_hides_short_matches_whole() {
        let mut out = Vec::new();
        mask_into("jörg@müller.de".as_bytes(), 3, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "***********.de");
        let mut out = Vec::new();
        mask_into(b"0100", 4, &mut out);
        assert_eq!(out, b"****");
    }
}
