//! The built-in text detectors as data: one row each (name, locales, the setting that gives
//! its action, the cheap gate on the value's cues, cue words, matcher and validator), run in
//! order by `ValueRules::scrub_builtin`. Adding a country's identifier is one row here, a
//! matcher and validator beside the others, and a test.

use super::cues::*;
use super::{coords, ids, numbers, phones, streets, text};
use super::{Replacement, ValueRules};
use crate::scrub::report::{FieldOutcome, Report, RuleKind};

/// Where a detector matches: the next span at or after a position.
type Matcher = fn(&[u8], usize) -> Option<(usize, usize)>;

pub(super) struct Detector {
    /// Its name in README's privacy table (held there by a test).
    #[cfg_attr(not(test), allow(dead_code))]
    pub name: &'static str,
    /// Where its shapes are written (`*`: everywhere).
    #[cfg_attr(not(test), allow(dead_code))]
    pub locales: &'static [&'static str],
    pub kind: RuleKind,
    /// The `[values]` setting whose action it takes (`None`: off).
    pub action: fn(&ValueRules) -> Option<&Replacement>,
    /// The marker it writes when its setting redacts, if not the setting's own.
    pub marker: Option<&'static str>,
    /// Whether the value's cues let it match at all; most values stop here.
    pub gate: fn(&Cues, &[u8], &ValueRules) -> bool,
    /// Words one of which must stand shortly before a match (`BSN: 111222333`); empty when
    /// the shape and its check are enough.
    pub cue_words: &'static [&'static str],
    pub matcher: Matcher,
    /// The check a match must pass (check digits, ranges); matchers that check as they go
    /// take `always`.
    pub validator: fn(&[u8]) -> bool,
}

fn always(_: &[u8]) -> bool {
    true
}

const NATIONAL_ID: Option<&str> = Some("[national_id]");

/// The built-in detectors, in the order they run: each sees the text the ones before it
/// wrote, so markers never feed a later match.
pub(super) static DETECTORS: &[Detector] = &[
    Detector {
        name: "street_address",
        locales: &["US", "GB", "CA", "AU", "IE"],
        kind: RuleKind::StreetValue,
        action: |r| r.street_marker.as_ref(),
        marker: None,
        gate: |c, t, _| c.has(SPACE) && c.digits > 0 && t.len() >= 6,
        cue_words: &[],
        matcher: text::find_street,
        validator: always,
    },
    Detector {
        name: "street_address_abroad",
        locales: &[
            "ES", "DE", "AT", "CH", "FR", "BE", "IT", "NL", "PT", "BR", "PL", "JP",
        ],
        kind: RuleKind::StreetValue,
        action: |r| r.street_marker.as_ref(),
        marker: None,
        gate: |c, t, _| c.digits > 0 && c.has(SPACE | HIGH) && t.len() >= 6,
        cue_words: &[],
        matcher: streets::find_street_abroad,
        validator: always,
    },
    Detector {
        name: "card",
        locales: &["*"],
        kind: RuleKind::CardValue,
        action: |r| r.card_marker.as_ref(),
        marker: None,
        gate: |c, t, _| c.digits >= *numbers::CARD_DIGITS.start() && numbers::may_hold_card(t),
        cue_words: &[],
        matcher: numbers::find_card,
        validator: always,
    },
    Detector {
        name: "phone_international",
        locales: &["*"],
        kind: RuleKind::PhoneValue,
        action: |r| r.phone_marker.as_ref(),
        marker: None,
        gate: |c, _, _| c.has(PLUS) && c.digits >= *numbers::PHONE_DIGITS.start(),
        cue_words: &[],
        matcher: numbers::find_international_phone,
        validator: always,
    },
    Detector {
        name: "phone_double_zero",
        locales: &["*"],
        kind: RuleKind::PhoneValue,
        action: |r| r.phone_marker.as_ref(),
        marker: None,
        gate: |c, _, _| c.digits >= 10,
        cue_words: &[],
        matcher: phones::find_double_zero_phone,
        validator: always,
    },
    Detector {
        name: "phone_national",
        locales: &["US", "CA", "DE", "AT", "CH", "FR", "ES", "IT", "NL", "GB"],
        kind: RuleKind::PhoneValue,
        action: |r| r.phone_marker.as_ref(),
        marker: None,
        gate: |c, _, r| r.phone_national && c.digits >= 9 && c.has(DELIMITER | DASH | DOT),
        cue_words: &[],
        matcher: numbers::find_national_phone,
        validator: always,
    },
    Detector {
        name: "phone_after_cue_word",
        locales: &["*"],
        kind: RuleKind::PhoneValue,
        action: |r| r.phone_marker.as_ref(),
        marker: None,
        gate: |c, _, r| {
            r.phone_national && c.digits >= 7 && c.has(DELIMITER | COLON | DOT | DASH | HIGH)
        },
        cue_words: &[],
        matcher: phones::find_cued_phone,
        validator: always,
    },
    Detector {
        name: "iban",
        locales: &["*"],
        kind: RuleKind::IbanValue,
        action: |r| r.iban_marker.as_ref(),
        marker: None,
        gate: |c, t, _| c.digits >= 10 && t.len() >= 15,
        cue_words: &[],
        matcher: numbers::find_iban,
        validator: always,
    },
    Detector {
        name: "us_ssn",
        locales: &["US"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: None,
        gate: |c, _, _| c.digits >= 9 && c.has(DASH),
        cue_words: &[],
        matcher: numbers::find_ssn,
        validator: always,
    },
    Detector {
        name: "us_ssn_bare",
        locales: &["US"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: None,
        gate: |c, _, _| c.digits >= 9,
        cue_words: &["ssn", "social security"],
        matcher: ids::nine_digits,
        validator: ids::us_ssn_bare_valid,
    },
    Detector {
        name: "es_dni_nie",
        locales: &["ES"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, _, _| c.digits >= 7 && c.capitals >= 1,
        cue_words: &[],
        matcher: ids::es_dni_shape,
        validator: ids::es_dni_valid,
    },
    Detector {
        name: "uk_nino",
        locales: &["GB"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, _, _| c.digits >= 6 && c.capitals >= 3 && c.has(SPACE),
        cue_words: &[],
        matcher: ids::uk_nino_shape,
        validator: ids::uk_nino_spaced,
    },
    Detector {
        name: "uk_nino_compact",
        locales: &["GB"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, _, _| c.digits >= 6 && c.capitals >= 3,
        cue_words: &[
            "nino",
            "ni number",
            "ni no",
            "national insurance",
            "insurance number",
        ],
        matcher: ids::uk_nino_shape,
        validator: ids::uk_nino_valid,
    },
    Detector {
        name: "de_steuer_id",
        locales: &["DE"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, _, _| c.digits >= 11,
        cue_words: &["steuer", "idnr", "identifikationsnummer", "tin"],
        matcher: ids::eleven_digits,
        validator: ids::de_steuer_id_valid,
    },
    Detector {
        name: "fr_nir",
        locales: &["FR"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, _, _| c.digits >= 15,
        cue_words: &[],
        matcher: ids::fifteen_digits,
        validator: ids::fr_nir_valid,
    },
    Detector {
        name: "it_codice_fiscale",
        locales: &["IT"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, t, _| c.digits >= 2 && t.len() >= 16,
        cue_words: &[],
        matcher: ids::it_codice_fiscale_shape,
        validator: ids::it_codice_fiscale_valid,
    },
    Detector {
        name: "nl_bsn",
        locales: &["NL"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, _, _| c.digits >= 9,
        cue_words: &["bsn", "burgerservicenummer", "sofinummer", "sofi"],
        matcher: ids::nine_digits,
        validator: ids::nl_bsn_valid,
    },
    Detector {
        name: "br_cpf",
        locales: &["BR"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, _, _| c.digits >= 11 && c.has(DOT) && c.has(DASH),
        cue_words: &[],
        matcher: ids::cpf_formatted,
        validator: ids::br_cpf_valid,
    },
    Detector {
        name: "br_cpf_bare",
        locales: &["BR"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, _, _| c.digits >= 11,
        cue_words: &["cpf"],
        matcher: ids::eleven_digits,
        validator: ids::br_cpf_valid,
    },
    Detector {
        name: "pt_nif",
        locales: &["PT"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, _, _| c.digits >= 9,
        cue_words: &["nif", "contribuinte", "nipc"],
        matcher: ids::nine_digits,
        validator: ids::pt_nif_valid,
    },
    Detector {
        name: "pl_pesel",
        locales: &["PL"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: |c, _, _| c.digits >= 11,
        cue_words: &["pesel"],
        matcher: ids::eleven_digits,
        validator: ids::pl_pesel_valid,
    },
    Detector {
        name: "token",
        locales: &["*"],
        kind: RuleKind::TokenValue,
        action: |r| r.token_marker.as_ref(),
        marker: None,
        gate: |c, t, _| t.len() >= 20 && c.can_hold_token(),
        cue_words: &[],
        matcher: text::find_token,
        validator: always,
    },
    Detector {
        name: "coordinates",
        locales: &["*"],
        kind: RuleKind::PreciseLocation,
        action: |r| r.location_marker.as_ref(),
        marker: None,
        gate: |c, _, _| c.digits >= 6 && c.has(COMMA) && c.has(DOT),
        cue_words: &[],
        matcher: numbers::find_decimal_pair,
        validator: always,
    },
    Detector {
        name: "coordinates_hemisphere",
        locales: &["*"],
        kind: RuleKind::PreciseLocation,
        action: |r| r.location_marker.as_ref(),
        marker: None,
        gate: |c, _, _| c.digits >= 3 && c.capitals >= 2 && c.has(DOT | HIGH),
        cue_words: &[],
        matcher: coords::find_hemisphere_pair,
        validator: always,
    },
    Detector {
        name: "email",
        locales: &["*"],
        kind: RuleKind::EmailValue,
        action: |r| r.email_marker.as_ref(),
        marker: None,
        gate: |c, t, _| c.has(AT) && text::may_hold_email(t),
        cue_words: &[],
        matcher: text::find_email,
        validator: always,
    },
];

impl Detector {
    /// The next match from `from` that passes the validator and has its cue words.
    fn next(&self, t: &[u8], from: usize) -> Option<(usize, usize)> {
        let mut from = from;
        while let Some((start, end)) = (self.matcher)(t, from) {
            if (self.validator)(&t[start..end]) && cued_by_words(t, start, self.cue_words) {
                return Some((start, end));
            }
            from = start + 1;
        }
        None
    }

    /// Writes `text` with every match replaced into `out`; true if any.
    pub(super) fn run(
        &self,
        text: &[u8],
        action: &Replacement,
        out: &mut Vec<u8>,
        report: &mut Report,
    ) -> bool {
        let own = match (action, self.marker) {
            (Replacement::Marker(_), Some(marker)) => Some(marker.as_bytes()),
            _ => None,
        };
        let (mut copied, mut from, mut found) = (0, 0, false);
        while let Some((start, end)) = self.next(text, from) {
            if !found {
                out.clear();
                found = true;
            }
            out.extend_from_slice(&text[copied..start]);
            let outcome = match own {
                Some(marker) => {
                    out.extend_from_slice(marker);
                    FieldOutcome::Redacted
                }
                None => action.write(&text[start..end], out),
            };
            report.count(self.kind, outcome);
            copied = end;
            from = end;
        }
        if found {
            out.extend_from_slice(&text[copied..]);
        }
        found
    }
}

/// How far before a match its cue word may stand (`Steuer-ID (IdNr.): `).
const CUE_REACH: usize = 40;

/// Whether one of `words` begins a word in the `CUE_REACH` bytes before `start`.
fn cued_by_words(t: &[u8], start: usize, words: &[&str]) -> bool {
    if words.is_empty() {
        return true;
    }
    let window = &t[start.saturating_sub(CUE_REACH)..start];
    words.iter().any(|w| {
        let w = w.as_bytes();
        window.windows(w.len()).enumerate().any(|(k, piece)| {
            piece.eq_ignore_ascii_case(w)
                && (k == 0 || !window[k - 1].is_ascii_alphabetic())
                && !window.get(k + w.len()).is_some_and(u8::is_ascii_alphabetic)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_detector_has_a_unique_name_locales_and_a_row_in_the_readme() {
        let readme = include_str!("../../../README.md");
        let mut names = std::collections::HashSet::new();
        for d in DETECTORS {
            assert!(names.insert(d.name), "{} twice", d.name);
            assert!(!d.locales.is_empty(), "{}", d.name);
            assert!(
                readme.contains(&format!("`{}`", d.name)),
                "README's privacy table does not list `{}`",
                d.name
            );
        }
    }

    #[test]
    fn cue_words_stand_as_words_shortly_before_the_match() {
        let t = b"BSN: 111222333";
        assert!(cued_by_words(t, 5, &["bsn"]));
        assert!(!cued_by_words(b"absn 111222333", 5, &["bsn"]));
        let far = format!("BSN {} 111222333", "x".repeat(CUE_REACH));
        assert!(!cued_by_words(far.as_bytes(), far.len() - 9, &["bsn"]));
    }
}
