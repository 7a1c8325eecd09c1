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
    pub gate: Gate,
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

/// A gate's check beyond the counts (a run of digits long enough, a setting).
type CloserLook = fn(&Cues, &[u8], &ValueRules) -> bool;

/// What a value must hold for a detector to run: counts and cue bytes read from the one
/// pass (`cues.rs`), checked inline, then an optional closer look.
pub(super) struct Gate {
    digits: usize,
    capitals: usize,
    /// At least one of these cues (0: none needed).
    any_of: u16,
    /// Every one of these cues.
    all_of: u16,
    min_len: usize,
    extra: Option<CloserLook>,
}

impl Gate {
    const fn digits(digits: usize) -> Gate {
        Gate {
            digits,
            capitals: 0,
            any_of: 0,
            all_of: 0,
            min_len: 0,
            extra: None,
        }
    }

    #[inline]
    pub(super) fn open(&self, c: &Cues, t: &[u8], rules: &ValueRules) -> bool {
        c.digits >= self.digits
            && c.capitals >= self.capitals
            && t.len() >= self.min_len
            && (self.any_of == 0 || c.has(self.any_of))
            && c.has_all(self.all_of)
            && self.extra.is_none_or(|extra| extra(c, t, rules))
    }
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
        gate: Gate {
            all_of: SPACE,
            min_len: 6,
            ..Gate::digits(1)
        },
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
        gate: Gate {
            any_of: SPACE | HIGH,
            min_len: 6,
            extra: Some(|_, t, _| streets::may_hold_house_number(t)),
            ..Gate::digits(1)
        },
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
        gate: Gate {
            extra: Some(|_, t, _| numbers::may_hold_card(t)),
            ..Gate::digits(*numbers::CARD_DIGITS.start())
        },
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
        gate: Gate {
            all_of: PLUS,
            ..Gate::digits(*numbers::PHONE_DIGITS.start())
        },
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
        gate: Gate::digits(10),
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
        gate: Gate {
            any_of: DELIMITER | DASH | DOT,
            extra: Some(|_, _, r| r.phone_national),
            ..Gate::digits(9)
        },
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
        gate: Gate {
            any_of: SPACE | COLON | HIGH,
            extra: Some(|_, _, r| r.phone_national),
            ..Gate::digits(7)
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
        gate: Gate {
            min_len: 15,
            ..Gate::digits(10)
        },
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
        gate: Gate {
            all_of: DASH,
            ..Gate::digits(9)
        },
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
        // The cue word stands apart from the number: `BSN: 111222333`.
        gate: Gate {
            any_of: SPACE | COLON,
            ..Gate::digits(9)
        },
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
        gate: Gate {
            capitals: 1,
            ..Gate::digits(7)
        },
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
        gate: Gate {
            capitals: 3,
            all_of: SPACE,
            ..Gate::digits(6)
        },
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
        // The cue word stands apart from the number: `BSN: 111222333`.
        gate: Gate {
            capitals: 3,
            any_of: SPACE | COLON,
            ..Gate::digits(6)
        },
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
        // The cue word stands apart from the number: `BSN: 111222333`.
        gate: Gate {
            any_of: SPACE | COLON,
            ..Gate::digits(11)
        },
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
        gate: Gate::digits(15),
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
        // Seven digits and nine letters, written in capitals.
        gate: Gate {
            capitals: 9,
            min_len: 16,
            ..Gate::digits(5)
        },
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
        // The cue word stands apart from the number: `BSN: 111222333`.
        gate: Gate {
            any_of: SPACE | COLON,
            ..Gate::digits(9)
        },
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
        gate: Gate {
            all_of: DOT | DASH,
            ..Gate::digits(11)
        },
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
        // The cue word stands apart from the number: `BSN: 111222333`.
        gate: Gate {
            any_of: SPACE | COLON,
            ..Gate::digits(11)
        },
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
        // The cue word stands apart from the number: `BSN: 111222333`.
        gate: Gate {
            any_of: SPACE | COLON,
            ..Gate::digits(9)
        },
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
        // The cue word stands apart from the number: `BSN: 111222333`.
        gate: Gate {
            any_of: SPACE | COLON,
            ..Gate::digits(11)
        },
        cue_words: &["pesel"],
        matcher: ids::eleven_digits,
        validator: ids::pl_pesel_valid,
    },
    Detector {
        name: "se_personnummer",
        locales: &["SE"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        // A date and four digits is also an order number's shape (`241105-0042`): the cue
        // word, apart from the number, says which it is.
        gate: Gate {
            any_of: SPACE | COLON,
            ..Gate::digits(10)
        },
        cue_words: &["personnummer", "personnr", "pnr", "samordningsnummer"],
        matcher: ids::se_personnummer,
        validator: ids::se_personnummer_valid,
    },
    Detector {
        name: "be_national_number",
        locales: &["BE"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        gate: Gate {
            all_of: DOT | DASH,
            ..Gate::digits(11)
        },
        cue_words: &[],
        matcher: ids::be_national_written,
        validator: ids::be_national_valid,
    },
    Detector {
        name: "be_national_number_bare",
        locales: &["BE"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        // The cue word stands apart from the number: `BSN: 111222333`.
        gate: Gate {
            any_of: SPACE | COLON,
            ..Gate::digits(11)
        },
        cue_words: &[
            "rijksregisternummer",
            "rijksregister",
            "numéro national",
            "numero national",
            "registre national",
            "national number",
            "insz",
            "niss",
            "nn",
        ],
        matcher: ids::eleven_digits,
        validator: ids::be_national_valid,
    },
    Detector {
        name: "fi_hetu",
        locales: &["FI"],
        kind: RuleKind::SsnValue,
        action: |r| r.ssn_marker.as_ref(),
        marker: NATIONAL_ID,
        // A date, a mark and four characters is also an order number's shape
        // (`251206-6433`): the cue word says which it is.
        gate: Gate {
            min_len: 11,
            any_of: SPACE | COLON,
            extra: Some(|c, _, _| c.capitals > 0 || c.has(DASH | PLUS)),
            ..Gate::digits(9)
        },
        cue_words: &[
            "henkilötunnus",
            "hetu",
            "sotu",
            "personbeteckning",
            "identity code",
        ],
        matcher: ids::fi_hetu_shape,
        validator: ids::fi_hetu_valid,
    },
    Detector {
        name: "token",
        locales: &["*"],
        kind: RuleKind::TokenValue,
        action: |r| r.token_marker.as_ref(),
        marker: None,
        gate: Gate {
            min_len: 20,
            extra: Some(|c, _, _| c.can_hold_token()),
            ..Gate::digits(0)
        },
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
        gate: Gate {
            all_of: COMMA | DOT,
            ..Gate::digits(6)
        },
        cue_words: &[],
        matcher: numbers::find_decimal_pair,
        validator: always,
    },
    Detector {
        name: "coordinates_spaced",
        locales: &["*"],
        kind: RuleKind::PreciseLocation,
        action: |r| r.location_marker.as_ref(),
        marker: None,
        // Two numbers of a digit and three places or more.
        gate: Gate {
            any_of: DOT | COMMA,
            ..Gate::digits(8)
        },
        cue_words: &[],
        matcher: coords::find_loose_pair,
        validator: always,
    },
    Detector {
        name: "coordinates_hemisphere",
        locales: &["*"],
        kind: RuleKind::PreciseLocation,
        action: |r| r.location_marker.as_ref(),
        marker: None,
        gate: Gate {
            capitals: 2,
            any_of: DOT | HIGH,
            ..Gate::digits(3)
        },
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
        gate: Gate {
            all_of: AT,
            extra: Some(|_, t, _| text::may_hold_email(t)),
            ..Gate::digits(0)
        },
        cue_words: &[],
        matcher: text::find_email,
        validator: always,
    },
    Detector {
        name: "email_obfuscated",
        locales: &["*"],
        kind: RuleKind::EmailValue,
        action: |r| r.email_marker.as_ref(),
        marker: None,
        // An `@` spelled in brackets (`(at)`), spaced (`lars @ example.se`), or a dot
        // spelled out (`jane at example dot com`).
        gate: Gate {
            min_len: 10,
            extra: Some(|_, t, _| text::may_hold_obfuscated_email(t)),
            ..Gate::digits(0)
        },
        cue_words: &[],
        matcher: text::find_obfuscated_email,
        validator: always,
    },
];

impl Detector {
    /// Writes `text` with every match replaced into `out`; true if any. A detector with
    /// cue words costs nothing on text that names none of them.
    pub(super) fn run(
        &self,
        text: &[u8],
        action: &Replacement,
        out: &mut Vec<u8>,
        report: &mut Report,
    ) -> bool {
        if !self.cue_words.is_empty() && !self.cue_words.iter().any(|w| mentions(text, w)) {
            return false;
        }
        self.replace_all(text, action, out, report)
    }

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

    fn replace_all(
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

/// Whether `word` (ASCII letters in any case) occurs in `text`: its first letter found by
/// memchr, the rest compared there.
fn mentions(text: &[u8], word: &str) -> bool {
    let word = word.as_bytes();
    let (lower, upper) = (word[0].to_ascii_lowercase(), word[0].to_ascii_uppercase());
    memchr::memchr2_iter(lower, upper, text).any(|i| {
        text.get(i..i + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    })
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
