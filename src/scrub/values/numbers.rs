//! Detectors of digit-shaped personal data in text: IBANs, US social security numbers,
//! latitude/longitude pairs, payment cards and international phone numbers.

use super::{redact_spans, word_start, Replacement};
use crate::scrub::report::{Report, RuleKind};

/// IBANs: two letters, two check digits, 11 to 30 letters or digits (grouped by single
/// spaces or not), and a valid ISO 7064 mod-97 check.
pub(super) fn redact_ibans(
    text: &[u8],
    marker: &Replacement,
    out: &mut Vec<u8>,
    report: &mut Report,
) -> bool {
    redact_spans(text, marker, out, report, RuleKind::IbanValue, |t, from| {
        let last = t.len().saturating_sub(15);
        let mut i = from;
        while i < last {
            // Country letters, then check digits: most bytes fail the first test.
            if t[i].is_ascii_uppercase()
                && t[i + 1].is_ascii_uppercase()
                && t[i + 2].is_ascii_digit()
                && t[i + 3].is_ascii_digit()
                && word_start(t, i)
            {
                if let Some(end) = iban_at(t, i) {
                    return Some((i, end));
                }
            }
            i += 1;
        }
        None
    })
}

fn iban_at(text: &[u8], start: usize) -> Option<usize> {
    let mut chars = Vec::with_capacity(34);
    let (mut i, mut end) = (start, start);
    while i < text.len() && chars.len() < 34 {
        let c = text[i];
        if c.is_ascii_digit() || c.is_ascii_uppercase() {
            chars.push(c);
            end = i + 1;
        } else if !(c == b' ' && text.get(i + 1).is_some_and(u8::is_ascii_alphanumeric)) {
            break;
        }
        i += 1;
    }
    if !(15..=34).contains(&chars.len()) || text.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    // Move the first four to the end, read letters as 10..35, and check the remainder.
    let remainder = chars[4..].iter().chain(&chars[..4]).fold(0u32, |acc, &c| {
        let value = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        if value >= 10 {
            (acc * 100 + value) % 97
        } else {
            (acc * 10 + value) % 97
        }
    });
    (remainder == 1).then_some(end)
}

/// US social security numbers written `AAA-GG-SSSS`, without the never-issued ranges (area
/// 000, 666 or 900-999, group 00, serial 0000). Bare nine-digit runs are left alone: too
/// many ids look the same.
pub(super) fn redact_ssns(
    text: &[u8],
    marker: &Replacement,
    out: &mut Vec<u8>,
    report: &mut Report,
) -> bool {
    redact_spans(text, marker, out, report, RuleKind::SsnValue, |t, from| {
        // Anchored on the first dash: memchr skips the stretches without one.
        memchr::memchr_iter(b'-', &t[from..])
            .map(|o| from + o)
            .find_map(|dash| {
                let i = dash.checked_sub(3).filter(|i| *i >= from)?;
                let s = t.get(i..i + 11)?;
                let shaped = word_start(t, i)
                    && s.iter().enumerate().all(|(k, c)| {
                        if k == 3 || k == 6 {
                            *c == b'-'
                        } else {
                            c.is_ascii_digit()
                        }
                    })
                    && !t.get(i + 11).is_some_and(u8::is_ascii_alphanumeric);
                if !shaped {
                    return None;
                }
                let num = |r: std::ops::Range<usize>| {
                    s[r].iter().fold(0u32, |a, c| a * 10 + u32::from(c - b'0'))
                };
                let (area, group, serial) = (num(0..3), num(4..6), num(7..11));
                let valid = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
                valid.then_some((i, i + 11))
            })
    })
}

/// Latitude/longitude pairs written as decimals (`37.77,-122.41`, `48.8566, 2.3522`): two
/// places or more on both, in range, one comma and at most one space between. Whole
/// numbers and single decimals (`3,4.5`) are not a position precise enough to matter.
pub(super) fn redact_coordinates(
    text: &[u8],
    marker: &Replacement,
    out: &mut Vec<u8>,
    report: &mut Report,
) -> bool {
    redact_spans(
        text,
        marker,
        out,
        report,
        RuleKind::PreciseLocation,
        |t, from| {
            memchr::memchr_iter(b',', &t[from..])
                .map(|o| from + o)
                .find_map(|comma| {
                    let (start, lat) = decimal_ending_at(t, comma, 2)?;
                    let after = comma + 1 + usize::from(t.get(comma + 1) == Some(&b' '));
                    let (end, lon) = decimal_starting_at(t, after)?;
                    let in_range = lat.abs() <= 90.0 && lon.abs() <= 180.0;
                    (start >= from && in_range).then_some((start, end))
                })
        },
    )
}

/// A signed decimal with `max_int` integer digits or fewer and two places or more that
/// ends at `end` and stands as a word; its start and value.
fn decimal_ending_at(t: &[u8], end: usize, max_int: usize) -> Option<(usize, f64)> {
    let frac_start = end
        - t[..end]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
    if end - frac_start < 2 || frac_start == 0 || t[frac_start - 1] != b'.' {
        return None;
    }
    let dot = frac_start - 1;
    let int_start = dot
        - t[..dot]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
    if int_start == dot || dot - int_start > max_int {
        return None;
    }
    let start = match int_start.checked_sub(1).map(|i| t[i]) {
        Some(b'-' | b'+') => int_start - 1,
        _ => int_start,
    };
    let free = start == 0 || !(t[start - 1].is_ascii_alphanumeric() || t[start - 1] == b'.');
    free.then(|| Some((start, parse_decimal(&t[start..end])?)))?
}

/// The decimal (longitude: up to three integer digits) that starts at `start` as a word.
fn decimal_starting_at(t: &[u8], start: usize) -> Option<(usize, f64)> {
    let signed = matches!(t.get(start), Some(b'-' | b'+'));
    let int_start = start + usize::from(signed);
    let dot = int_start
        + t[int_start..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
    if dot == int_start || dot - int_start > 3 || t.get(dot) != Some(&b'.') {
        return None;
    }
    let end = dot
        + 1
        + t[dot + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
    let next_continues = match t.get(end) {
        Some(b'.') => t.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(c) => c.is_ascii_alphanumeric(),
        None => false,
    };
    if end - dot - 1 < 2 || next_continues {
        return None;
    }
    Some((end, parse_decimal(&t[start..end])?))
}

fn parse_decimal(digits: &[u8]) -> Option<f64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Digits in a payment card number.
pub(super) const CARD_DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

/// Finds card numbers (13 to 19 digits, single spaces or dashes between groups, a known
/// issuer prefix, a valid Luhn check digit) and writes `text` with each replaced by `marker`.
pub(super) fn redact_cards(
    text: &[u8],
    marker: &Replacement,
    out: &mut Vec<u8>,
    report: &mut Report,
) -> bool {
    if text.len() < *CARD_DIGITS.start() || longest_digit_run(text) < *CARD_DIGITS.start() {
        return false;
    }
    let mut copied = 0;
    let mut found = false;
    // One pass: a run of digits joined by single spaces or dashes becomes a candidate once it
    // holds 13 digits; only then is the Luhn and issuer check done, from the run's start.
    let (mut run_start, mut run_digits) = (0, 0);
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c.is_ascii_digit() {
            if run_digits == 0 {
                run_start = i;
            }
            run_digits += 1;
        } else if !(matches!(c, b' ' | b'-')
            && run_digits > 0
            && text.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            run_digits = 0;
        }
        i += 1;
        if run_digits < 13 {
            continue;
        }
        let starts_word = run_start == 0 || !text[run_start - 1].is_ascii_alphanumeric();
        match starts_word.then(|| card_at(text, run_start)).flatten() {
            Some(end) => {
                if !found {
                    out.clear();
                    found = true;
                }
                out.extend_from_slice(&text[copied..run_start]);
                report.count(
                    RuleKind::CardValue,
                    marker.write(&text[run_start..end], out),
                );
                copied = end;
                i = end;
                run_digits = 0;
            }
            // Not a card from here; keep scanning with a window that can still become one.
            None if run_digits >= 19 => run_digits = 0,
            None => {}
        }
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

/// Digits in the longest stretch of digits, spaces and dashes: an upper bound for any card
/// in `text`. Branch-free, because ids and timestamps alternate digits and letters at random
/// and a branchy scan mispredicts on them; most values end here.
pub(super) fn longest_digit_run(text: &[u8]) -> usize {
    let (mut run, mut longest) = (0usize, 0usize);
    for &c in text {
        let digit = usize::from(c.wrapping_sub(b'0') < 10);
        let joins = digit | usize::from(c == b' ') | usize::from(c == b'-');
        run = (run + digit) * joins;
        longest = longest.max(run);
    }
    longest
}

/// The end of a card number starting at `start`, if one is there.
fn card_at(text: &[u8], start: usize) -> Option<usize> {
    let mut digits = Vec::with_capacity(19);
    let mut i = start;
    let mut end = start;
    while i < text.len() && digits.len() < 19 {
        match text[i] {
            c @ b'0'..=b'9' => {
                digits.push(c - b'0');
                end = i + 1;
            }
            b' ' | b'-' if text.get(i + 1).is_some_and(u8::is_ascii_digit) && i > start => {}
            _ => break,
        }
        i += 1;
    }
    let followed_by_digit = text.get(end).is_some_and(u8::is_ascii_digit);
    let valid = CARD_DIGITS.contains(&digits.len())
        && !followed_by_digit
        && known_issuer(&digits)
        && luhn_valid(&digits);
    valid.then_some(end)
}

/// Visa, Mastercard, American Express, Discover, JCB, Diners Club, UnionPay.
fn known_issuer(d: &[u8]) -> bool {
    let two = u32::from(d[0]) * 10 + u32::from(d[1]);
    let four = two * 100 + u32::from(d[2]) * 10 + u32::from(d[3]);
    d[0] == 4
        || (51..=55).contains(&two)
        || (2221..=2720).contains(&four)
        || two == 34
        || two == 37
        || four == 6011
        || two == 65
        || (6440..=6499).contains(&four)
        || two == 35
        || two == 36
        || two == 38
        || (3000..=3059).contains(&four)
        || two == 62
}

fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Digits in an international number, country code included (E.164 allows at most 15).
pub(super) const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 8..=15;

/// Finds international phone numbers written with a leading `+` (`+1 415 555 0100`,
/// `+44 (20) 7946-0958`) and writes `text` with each replaced by `marker` into `out`. The `+`
/// is required: bare digit runs are too often order numbers, prices or timestamps.
pub(super) fn redact_phones(
    text: &[u8],
    marker: &Replacement,
    out: &mut Vec<u8>,
    report: &mut Report,
) -> bool {
    let mut copied = 0;
    let mut found = false;
    for plus in memchr::memchr_iter(b'+', text) {
        if plus < copied || (plus > 0 && text[plus - 1].is_ascii_alphanumeric()) {
            continue;
        }
        let Some(end) = phone_end(text, plus) else {
            continue;
        };
        if !found {
            out.clear();
            found = true;
        }
        out.extend_from_slice(&text[copied..plus]);
        report.count(RuleKind::PhoneValue, marker.write(&text[plus..end], out));
        copied = end;
    }
    if found {
        out.extend_from_slice(&text[copied..]);
    }
    found
}

/// The end of a phone number whose `+` is at `plus`, if one is there.
fn phone_end(text: &[u8], plus: usize) -> Option<usize> {
    let mut digits = 0;
    let mut last_digit_end = None;
    let mut i = plus + 1;
    if !text.get(i)?.is_ascii_digit() {
        return None;
    }
    while let Some(&c) = text.get(i) {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                last_digit_end = Some(i + 1);
            }
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => break,
        }
        i += 1;
    }
    let end = last_digit_end?;
    let followed_by_word = text.get(end).is_some_and(|c| c.is_ascii_alphanumeric());
    (PHONE_DIGITS.contains(&digits) && !followed_by_word).then_some(end)
}

/// Finds national phone numbers in the two shapes that digit runs of other kinds do not
/// take: North American `(415) 555-0100`, `415-555-0100`, `415.555.0100` (area code and
/// exchange start 2-9), and trunk-prefixed `030 1234567`, `0699-6808486` (a `0`, an area
/// code, a space or dash, 5 to 8 digits). Bare runs (`4155550100`) stay: they are too often
/// order numbers.
pub(super) fn redact_national_phones(
    text: &[u8],
    marker: &Replacement,
    out: &mut Vec<u8>,
    report: &mut Report,
) -> bool {
    redact_spans(
        text,
        marker,
        out,
        report,
        RuleKind::PhoneValue,
        |t, from| {
            (from..t.len()).find_map(|i| {
                let end = match t[i] {
                    b'(' => north_american_at(t, i),
                    b'0' if word_start(t, i) => trunk_prefixed_at(t, i),
                    b'2'..=b'9' if word_start(t, i) => north_american_at(t, i),
                    _ => None,
                }?;
                let followed_by_word = t.get(end).is_some_and(|c| c.is_ascii_alphanumeric());
                (!followed_by_word).then_some((i, end))
            })
        },
    )
}

/// `n` digits at `i`, the first of them in `first`; the index after them.
fn digits_at(t: &[u8], i: usize, n: usize, first: std::ops::RangeInclusive<u8>) -> Option<usize> {
    let run = t.get(i..i + n)?;
    (first.contains(&run[0]) && run.iter().all(u8::is_ascii_digit)).then_some(i + n)
}

fn north_american_at(t: &[u8], i: usize) -> Option<usize> {
    let (exchange, separator) = if t[i] == b'(' {
        let close = digits_at(t, i + 1, 3, b'2'..=b'9')?;
        (t.get(close) == Some(&b')')).then_some(())?;
        let after = close + 1;
        (
            if t.get(after) == Some(&b' ') {
                after + 1
            } else {
                after
            },
            b'-',
        )
    } else {
        let area = digits_at(t, i, 3, b'2'..=b'9')?;
        let separator = *t.get(area).filter(|c| matches!(c, b'-' | b'.'))?;
        (area + 1, separator)
    };
    let line = digits_at(t, exchange, 3, b'2'..=b'9')?;
    (t.get(line) == Some(&separator)).then_some(())?;
    digits_at(t, line + 1, 4, b'0'..=b'9')
}

fn trunk_prefixed_at(t: &[u8], i: usize) -> Option<usize> {
    let area_len = (3..=5).find(|&n| {
        t.get(i + 1) != Some(&b'0')
            && t.get(i..i + n)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && t.get(i + n).is_some_and(|c| matches!(c, b' ' | b'-'))
    })?;
    let number = i + area_len + 1;
    let len = t[number..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let digits = area_len + len;
    ((5..=8).contains(&len) && (9..=12).contains(&digits)).then_some(number + len)
}
