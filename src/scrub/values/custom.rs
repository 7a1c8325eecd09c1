//! Detectors the operator defines in `rules.toml` (`[[values.custom]]`): a regular
//! expression, or a list of literal strings matched without regard to ASCII case by one
//! automaton. They run after the built-in detectors, on every text value.

use aho_corasick::{AhoCorasick, MatchKind};

use super::{redact_spans, Replacement};
use crate::scrub::report::{Report, RuleKind};

/// One operator-defined detector.
#[derive(Clone, Debug)]
pub struct CustomDetector {
    /// The operator's name for it (shown by `check`, never a value).
    pub name: String,
    matcher: Matcher,
    replacement: Replacement,
}

#[derive(Clone, Debug)]
enum Matcher {
    Pattern(regex::bytes::Regex),
    Literals(AhoCorasick),
}

/// Why a detector's definition was refused.
#[derive(Debug, thiserror::Error)]
pub enum CustomError {
    #[error("not a valid regular expression: {0}")]
    Pattern(String),
    #[error("matches empty text, so it would match everywhere")]
    MatchesEmpty,
    #[error("the literal list cannot be compiled")]
    Literals,
    #[error("give exactly one of `pattern` and `literals` (a non-empty list)")]
    NoMatcher,
}

impl CustomDetector {
    /// A detector from a regular expression or a literal list (exactly one of them).
    pub fn new(
        name: &str,
        pattern: Option<&str>,
        literals: &[String],
        replacement: Replacement,
    ) -> Result<Self, CustomError> {
        let matcher = match (pattern, literals.is_empty()) {
            (Some(pattern), true) => {
                let regex = regex::bytes::Regex::new(pattern)
                    .map_err(|e| CustomError::Pattern(e.to_string()))?;
                if regex.is_match(b"") {
                    return Err(CustomError::MatchesEmpty);
                }
                Matcher::Pattern(regex)
            }
            (None, false) => {
                if literals.iter().any(String::is_empty) {
                    return Err(CustomError::MatchesEmpty);
                }
                let automaton = AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(literals)
                    .map_err(|_| CustomError::Literals)?;
                Matcher::Literals(automaton)
            }
            _ => return Err(CustomError::NoMatcher),
        };
        Ok(CustomDetector {
            name: name.to_owned(),
            matcher,
            replacement,
        })
    }

    /// Writes `text` with every match replaced into `out`; false (and `out` untouched) when
    /// nothing matched.
    pub(super) fn apply(&self, text: &[u8], out: &mut Vec<u8>, report: &mut Report) -> bool {
        let rule = RuleKind::CustomValue;
        match &self.matcher {
            Matcher::Pattern(regex) => {
                redact_spans(text, &self.replacement, out, report, rule, |t, from| {
                    regex.find_at(t, from).map(|m| (m.start(), m.end()))
                })
            }
            Matcher::Literals(automaton) => {
                redact_spans(text, &self.replacement, out, report, rule, |t, from| {
                    let input = aho_corasick::Input::new(t).range(from..);
                    automaton.find(input).map(|m| (m.start(), m.end()))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(detector: &CustomDetector, text: &str) -> Option<String> {
        let mut out = Vec::new();
        let mut report = Report::default();
        detector
            .apply(text.as_bytes(), &mut out, &mut report)
            .then(|| String::from_utf8(out).unwrap())
    }

    fn marker(m: &str) -> Replacement {
        Replacement::Marker(m.as_bytes().to_vec())
    }

    #[test]
    fn patterns_and_literal_lists_replace_every_match() {
        let ids = CustomDetector::new("employee", Some(r"\bEMP-[0-9]{6}\b"), &[], marker("[emp]"))
            .unwrap();
        assert_eq!(
            run(&ids, "EMP-123456 and EMP-654321, not EMP-12").as_deref(),
            Some("[emp] and [emp], not EMP-12")
        );
        assert_eq!(run(&ids, "nothing here"), None);

        let words = ["Project Falcon".to_string(), "falcon".to_string()];
        let code = CustomDetector::new("codename", None, &words, marker("[x]")).unwrap();
        assert_eq!(
            run(&code, "see PROJECT FALCON and falcon").as_deref(),
            Some("see [x] and [x]")
        );
    }

    #[test]
    fn patterns_that_can_match_empty_text_somewhere_still_end() {
        // `\b` and `{0,3}` match zero bytes between words; each must be stepped over.
        let caps = CustomDetector::new("x", Some(r"[A-Z]{0,3}\b"), &[], marker("[x]")).unwrap();
        assert_eq!(
            run(&caps, "order 42 for ABC").as_deref(),
            Some("order 42 for [x]")
        );
        let either =
            CustomDetector::new("x", Some(r"\bEMP-[0-9]{6}|\b"), &[], marker("[x]")).unwrap();
        assert_eq!(
            run(&either, "id EMP-123456 ok").as_deref(),
            Some("id [x] ok")
        );
        let drop = CustomDetector::new("x", Some(r"[A-Z]{0,3}\b"), &[], Replacement::Drop).unwrap();
        assert_eq!(run(&drop, "order 42"), None);
    }

    #[test]
    fn definitions_that_would_match_everywhere_or_nothing_are_refused() {
        let bad =
            |p: Option<&str>, l: &[String]| CustomDetector::new("x", p, l, marker("")).is_err();
        assert!(bad(Some("a*"), &[]), "matches empty text");
        assert!(bad(Some("(unclosed"), &[]));
        assert!(bad(None, &[]), "neither");
        assert!(bad(Some("a"), &["b".to_string()]), "both");
        assert!(bad(None, &[String::new()]));
    }
}
