//! Rules on string values wherever they appear. Works on unescaped text, writes replacements.
//! This file decides which rules can apply to a value (one cheap pass over its bytes) and runs
//! them in turn: IP addresses and URL query allow-lists first, then the text detectors of
//! `table.rs`, one row each, whose matchers live beside it: `numbers` (IBAN, SSN, decimal
//! coordinates, cards, phones), `phones` (numbering plans, `00` and cue words), `coords`
//! (hemisphere and degrees-minutes-seconds), `ids` (national identifiers), `streets`
//! (European and Japanese addresses) and `text` (tokens, English street addresses, e-mail).
//! `json_number` reads JSON numbers as the text a detector would see.

use super::ip::{self, Truncation};
use super::keys::KeySet;
use super::report::{FieldOutcome, Report, RuleKind};

mod coords;
mod cues;
mod custom;
mod ids;
mod ip_text;
mod json_number;
mod numbers;
mod phones;
mod replace;
mod shapes;
mod streets;
mod table;
mod text;
mod url;
mod views;

use cues::*;
pub use custom::{CustomDetector, CustomError};
use ip_text::{address_word, truncate_ip_list, truncate_ips_in_text};
use numbers::{longest_digit_run, CARD_DIGITS};
use replace::{redact_spans, word_start};
pub use replace::{Replacement, ValueChange};
pub use text::contains_email;
pub use url::url_origin;
use url::{drop_userinfo, filter_query};
pub use views::whole_base64_text;

/// Query parameters kept by default in URLs: campaign attribution, which carries no person.
pub const DEFAULT_URL_QUERY_ALLOW: &[&str] = &["utm_*", "gclid", "fbclid", "ref"];

/// The compiled value rules.
#[derive(Debug)]
pub struct ValueRules {
    /// Truncate string values that are entirely an IP address.
    pub ip_values: Option<Truncation>,
    /// Replacement for e-mail addresses in text; `None` keeps them.
    pub email_marker: Option<Replacement>,
    /// Query parameters kept in URL values; `None` leaves URLs alone.
    pub url_query_allow: Option<KeySet>,
    /// Replacement for street addresses in text (`1 Market St, Apt 4B`); `None` keeps them.
    pub street_marker: Option<Replacement>,
    /// Replacement for international phone numbers in text (`+1 415 555 0100`).
    pub phone_marker: Option<Replacement>,
    /// Also national formats: `(415) 555-0100`, `415-555-0100`, `030 1234567`.
    pub phone_national: bool,
    /// Replacement for payment card numbers in text (Luhn-valid, known issuer prefixes).
    pub card_marker: Option<Replacement>,
    /// Replacement for IBANs (mod-97 valid), US social security numbers (valid ranges,
    /// written with dashes) and bearer tokens / JWTs in text.
    pub iban_marker: Option<Replacement>,
    pub ssn_marker: Option<Replacement>,
    pub token_marker: Option<Replacement>,
    /// Replacement for latitude/longitude pairs in text (`37.7749,-122.4194`).
    pub location_marker: Option<Replacement>,
    /// What becomes of the vendors' user-agent fields.
    pub user_agent: UserAgentMode,
    /// URL fragments go whole, not only their parameters.
    pub url_drop_fragments: bool,
    /// Referrer fields keep only their origin (`https://www.google.com/`).
    pub referrer_origin: bool,
    /// The operator's own detectors, run after the built-in ones.
    pub custom: Vec<CustomDetector>,
    /// The vendors' latitude and longitude fields are rounded to this many decimal places;
    /// `None` removes them.
    pub coordinate_decimals: Option<u8>,
}

/// What becomes of user-agent fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserAgentMode {
    /// Browser family, major version and OS family only (as a reduced UA string).
    #[default]
    Coarse,
    Drop,
    Keep,
}

impl ValueRules {
    /// Every value rule on with its default marker and the default URL allow-list: what
    /// tests and benchmarks scrub with when they do not read a rules file.
    pub fn every_rule(ip_values: Option<Truncation>) -> ValueRules {
        let marker = |m: &str| Some(Replacement::Marker(m.as_bytes().to_vec()));
        ValueRules {
            ip_values,
            email_marker: marker("[email]"),
            url_query_allow: Some(KeySet::new(DEFAULT_URL_QUERY_ALLOW.iter().copied())),
            street_marker: marker("[address]"),
            location_marker: marker("[location]"),
            phone_marker: marker("[phone]"),
            phone_national: true,
            card_marker: marker("[card]"),
            iban_marker: marker("[iban]"),
            ssn_marker: marker("[ssn]"),
            token_marker: marker("[token]"),
            user_agent: UserAgentMode::Coarse,
            referrer_origin: true,
            url_drop_fragments: false,
            custom: Vec::new(),
            coordinate_decimals: None,
        }
    }

    /// Scrubs a member's value: like `scrub`, and says when a detector whose action is
    /// `drop` fired, so that the member goes whole.
    pub fn scrub_member(
        &self,
        text: &[u8],
        out: &mut Vec<u8>,
        tmp: &mut Vec<u8>,
        report: &mut Report,
    ) -> ValueChange {
        let drops_before = report.detector_drops();
        if !self.scrub(text, out, tmp, report) {
            ValueChange::Unchanged
        } else if report.detector_drops() != drops_before {
            ValueChange::DropMember
        } else {
            ValueChange::Changed
        }
    }

    /// Scrubs `text`. Returns true and leaves the new text in `out` when something changed.
    pub fn scrub(
        &self,
        text: &[u8],
        out: &mut Vec<u8>,
        tmp: &mut Vec<u8>,
        report: &mut Report,
    ) -> bool {
        self.scrub_at_depth(text, out, tmp, report, 0)
    }

    /// The rules on `text` as sent, then on the views of it (`views.rs`): `depth` counts
    /// the encodings already taken off.
    fn scrub_at_depth(
        &self,
        text: &[u8],
        out: &mut Vec<u8>,
        tmp: &mut Vec<u8>,
        report: &mut Report,
        depth: u8,
    ) -> bool {
        let mut may_carry_encoding = false;
        let changed = self.scrub_as_sent(text, out, tmp, report, &mut may_carry_encoding);
        let current: &[u8] = if changed { out } else { text };
        if depth >= views::MAX_VIEW_DEPTH || !may_carry_encoding {
            return changed;
        }
        let mut inner = |decoded: &[u8], scrubbed: &mut Vec<u8>| {
            let mut scratch = Vec::new();
            self.scrub_at_depth(decoded, scrubbed, &mut scratch, report, depth + 1)
        };
        let mut viewed = Vec::new();
        if !views::rewrite_views(current, &mut inner, &mut viewed) {
            return changed;
        }
        *out = viewed;
        true
    }

    /// The detectors on `text` as it is: the built-in ones, then the operator's. Sets
    /// `may_carry_encoding` from the cue pass (see `Cues::may_carry_encoding`).
    fn scrub_as_sent(
        &self,
        text: &[u8],
        out: &mut Vec<u8>,
        tmp: &mut Vec<u8>,
        report: &mut Report,
        may_carry_encoding: &mut bool,
    ) -> bool {
        let changed = self.scrub_builtin(text, out, tmp, report, may_carry_encoding);
        if self.custom.is_empty() {
            return changed;
        }
        let mut current: &[u8] = text;
        if changed {
            std::mem::swap(tmp, out);
            current = tmp;
        }
        let mut custom_changed = false;
        for detector in &self.custom {
            out.clear();
            if detector.apply(current, out, report) {
                custom_changed = true;
                std::mem::swap(tmp, out);
                current = tmp;
            }
        }
        if changed || custom_changed {
            out.clear();
            out.extend_from_slice(current);
        }
        changed || custom_changed
    }

    /// The built-in rules: a whole address first; then one cheap pass over the bytes picks
    /// which of the URL and address stages (`STAGES`) and the detector rows can match.
    fn scrub_builtin(
        &self,
        text: &[u8],
        out: &mut Vec<u8>,
        tmp: &mut Vec<u8>,
        report: &mut Report,
        may_carry_encoding: &mut bool,
    ) -> bool {
        out.clear();
        let ip_shaped = starts_like_an_address(text);
        if let (Some(t), true) = (&self.ip_values, ip_shaped) {
            // The whole value is an address, perhaps with a port (`203.0.113.42:8080`).
            if let Some((addr, host)) = address_word(text) {
                let truncated = t.apply(addr);
                if truncated != addr {
                    ip::write_ip(truncated, out);
                    out.extend_from_slice(&text[host.len()..]);
                    report.count(RuleKind::IpValue, FieldOutcome::Truncated);
                    return true;
                }
                return false;
            }
            if truncate_ip_list(text, t, out) {
                report.count(RuleKind::IpValue, FieldOutcome::Truncated);
                return true;
            }
        }
        // One pass says which detectors can match at all; replacements only remove cues, so
        // they stay valid while detectors rewrite the text. The shortest match of any is a
        // bare query, `?a=b`.
        if text.len() < 4 {
            return false;
        }
        let cues = Cues::of(text);
        *may_carry_encoding = cues.may_carry_encoding(text.len());
        // Words around a `.` or `:`, a dotted quad joined to text by other punctuation
        // (`client_ip=203.0.113.42`, `http://203.0.113.42/`), an IPv6 address wherever two
        // colons are (`ip=fe80::1`: few digits, no delimiter; a URL has one).
        let ip_cued = (cues.has(DELIMITER) && cues.has(DOT | COLON) && cues.digits >= 2)
            || (cues.has(DOT) && cues.digits >= 4)
            || (cues.has(COLON) && memchr::memchr_iter(b':', text).nth(1).is_some());
        let detectors_cued = cues.any(text.len()) || (cues.has(SPACE) && text::spells_dot(text));
        if !(detectors_cued || ip_cued) || is_plain_id_or_time(text) {
            return false;
        }
        let mut changed = false;
        let mut current: &[u8] = text;
        let read = Reading { cues, ip_cued };
        for stage in &STAGES {
            if (stage.gate)(self, &read) && (stage.run)(self, &read, current, out, report) {
                changed = true;
                std::mem::swap(tmp, out);
                current = tmp;
            }
        }
        // The text detectors, one row each; the cues of the original text stand for the
        // current one, since a replacement only removes them.
        for detector in table::DETECTORS.iter().filter(|_| detectors_cued) {
            if !detector.gate.open(&read.cues, current, self) {
                continue;
            }
            let Some(action) = (detector.action)(self) else {
                continue;
            };
            if detector.run(current, action, out, report) {
                changed = true;
                std::mem::swap(tmp, out);
                current = tmp;
            }
        }
        if changed {
            out.clear();
            out.extend_from_slice(current);
        }
        changed
    }
}

/// What the one cue pass over a value found, for the stages' gates.
struct Reading {
    cues: Cues,
    /// An address may stand inside the text (`client_ip=203.0.113.42`, `ip=fe80::1`).
    ip_cued: bool,
}

/// A rule on the structure of URLs and addresses in a value, run before the detector table
/// (whose rows then read what it left): a gate on the cues, and the rewrite into `out`.
struct Stage {
    gate: fn(&ValueRules, &Reading) -> bool,
    run: fn(&ValueRules, &Reading, &[u8], &mut Vec<u8>, &mut Report) -> bool,
}

const STAGES: [Stage; 3] = [
    // `https://jane:pw@host/`: a user name and a password, in any URL.
    Stage {
        gate: |_, read| read.cues.has_all(AT | COLON),
        run: |_, _, text, out, report| {
            let changed = drop_userinfo(text, out);
            if changed {
                report.count(RuleKind::TokenValue, FieldOutcome::Redacted);
            }
            changed
        },
    },
    // Query strings and parameter fragments keep their allow-listed parameters.
    Stage {
        gate: |rules, read| rules.url_query_allow.is_some() && read.cues.has(QUESTION),
        run: |rules, read, text, out, report| {
            let Some(allow) = &rules.url_query_allow else {
                return false;
            };
            let one_word = !read.cues.has(DELIMITER);
            let changed = filter_query(text, one_word, allow, rules.url_drop_fragments, out);
            if changed {
                report.count(RuleKind::UrlQuery, FieldOutcome::Dropped);
            }
            changed
        },
    },
    // Addresses written inside text ("from 203.0.113.42, via ..."): truncated in place.
    Stage {
        gate: |rules, read| rules.ip_values.is_some() && read.ip_cued,
        run: |rules, _, text, out, report| {
            rules
                .ip_values
                .as_ref()
                .is_some_and(|t| truncate_ips_in_text(text, t, out, report))
        },
    },
];

/// A whole UUID or timestamp with no run of digits long enough to hold a card number
/// (`2026-11-07 14:...` joins digits across a space; an all-digit UUID could hide one):
/// no text detector can match it.
fn is_plain_id_or_time(text: &[u8]) -> bool {
    shapes::is_id_or_time(text) && longest_digit_run(text) < *CARD_DIGITS.start()
}

/// Whether `text` can begin an address: a `:` (`::1`), or hex digits ended by a `.` or `:`
/// within an IPv4 octet or an IPv6 group. Ids and timestamps that merely start with a
/// digit stop here, before any parsing.
fn starts_like_an_address(text: &[u8]) -> bool {
    let head = &text[..text.len().min(5)];
    match head.iter().position(|c| !c.is_ascii_hexdigit()) {
        Some(k) => matches!(head[k], b'.' | b':'),
        None => false,
    }
}

#[cfg(test)]
mod tests;
