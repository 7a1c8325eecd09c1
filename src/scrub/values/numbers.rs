//! Detectors of digit-shaped personal data in text: IBANs, US social security numbers,
//! latitude/longitude pairs, payment cards, and phone numbers (international, and the national
//! shapes that order numbers do not take).

use super::word_start;

/// IBANs: two letters, two check digits, 11 to 30 letters or digits (compact or grouped by
/// single separators in any grouping), and a valid ISO 7064 mod-97 check.
pub(super) fn find_iban(t: &[u8], from: usize) -> Option<(usize, usize)> {
    let last = t.len().saturating_sub(15);
    let mut i = from;
    while i < last {
        // Country letters, then a check digit: most bytes fail the first test.
        if t[i].is_ascii_alphabetic()
            && t[i + 1].is_ascii_alphabetic()
            && t[i + 2].is_ascii_digit()
            && word_start(t, i)
        {
            if let Some(end) = iban_at(t, i) {
                return Some((i, end));
            }
        }
        i += 1;
    }
    None
}

/// IBAN lengths by country (ISO 13616 registry): a candidate is read to exactly its
/// country's length, so a word after a grouped IBAN is never taken into it.
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

/// The length of a separator people group IBANs with at `i`: a space or tab (a value
/// pasted from a table), dash, dot or slash, or a no-break, thin or other Unicode space
/// (`DE89 3704`, `IT55/Y030`, `pt30.0035`, `NL44\u{2009}RABO`).
fn iban_separator(text: &[u8], i: usize) -> Option<usize> {
    match *text.get(i)? {
        b' ' | b'\t' | b'-' | b'.' | b'/' => Some(1),
        0xC2 if text.get(i + 1) == Some(&0xA0) => Some(2),
        0xE2 => {
            let (b1, b2) = (*text.get(i + 1)?, *text.get(i + 2)?);
            let space = (b1 == 0x80 && (0x80..=0x8A).contains(&b2) || b2 == 0xAF)
                || (b1 == 0x81 && b2 == 0x9F);
            space.then_some(3)
        }
        0xE3 if text.get(i + 1..i + 3) == Some(&[0x80, 0x80]) => Some(3),
        _ => None,
    }
}

/// An IBAN starting at `start`, in any case, compact or grouped by single separators in any
/// grouping (`DE89 3704 ...`, `de89370400440532013000`, `pl6 061 109 ...`, `IT55/Y030/...`);
/// its end. The check digits must be digits once the separators are taken out.
fn iban_at(text: &[u8], start: usize) -> Option<usize> {
    let country = [
        text[start].to_ascii_uppercase(),
        text[start + 1].to_ascii_uppercase(),
    ];
    let &(_, len) = IBAN_LENGTHS.iter().find(|(c, _)| **c == country)?;
    let mut chars = [0u8; 34];
    let (mut n, mut i) = (0, start);
    while n < len {
        let c = *text.get(i)?;
        if c.is_ascii_alphanumeric() {
            chars[n] = c.to_ascii_uppercase();
            n += 1;
            i += 1;
            continue;
        }
        let sep = iban_separator(text, i).filter(|_| n >= 3)?;
        if !text.get(i + sep).is_some_and(u8::is_ascii_alphanumeric) {
            return None;
        }
        i += sep;
    }
    if !chars[3].is_ascii_digit() {
        return None;
    }
    if text.get(i).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    // Move the first four to the end, read letters as 10..35, and check the remainder.
    let remainder = chars[4..len]
        .iter()
        .chain(&chars[..4])
        .fold(0u32, |acc, &c| {
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
    (remainder == 1).then_some(i)
}

/// US social security numbers written `AAA-GG-SSSS`, without the never-issued ranges (area
/// 000, 666 or 900-999, group 00, serial 0000). Bare nine-digit runs are left alone: too
/// many ids look the same.
pub(super) fn find_ssn(t: &[u8], from: usize) -> Option<(usize, usize)> {
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
}

/// Latitude/longitude pairs written as decimals (`37.77,-122.41`, `48.8566, 2.3522`): two
/// places or more on both, in range, one comma and at most one space between. Whole
/// numbers and single decimals (`3,4.5`) are not a position precise enough to matter.
pub(super) fn find_decimal_pair(t: &[u8], from: usize) -> Option<(usize, usize)> {
    memchr::memchr_iter(b',', &t[from..])
        .map(|o| from + o)
        .find_map(|comma| {
            let (start, lat) = decimal_ending_at(t, comma, 2)?;
            let after = comma + 1 + usize::from(t.get(comma + 1) == Some(&b' '));
            let (end, lon) = decimal_starting_at(t, after)?;
            let in_range = lat.abs() <= 90.0 && lon.abs() <= 180.0;
            (start >= from && in_range).then_some((start, end))
        })
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
pub(super) fn find_card(text: &[u8], from: usize) -> Option<(usize, usize)> {
    // One pass: a run of digits joined by single spaces or dashes becomes a candidate once it
    // holds 13 digits; only then is the Luhn and issuer check done, from the run's start.
    let (mut run_start, mut run_digits) = (from, 0);
    let mut i = from;
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
            Some(end) => return Some((run_start, end)),
            // Not a card from here; keep scanning with a window that can still become one.
            None if run_digits >= 19 => run_digits = 0,
            None => {}
        }
    }
    None
}

/// Whether `text` has a run of digits long enough for a card: the cards' cheap gate.
pub(super) fn may_hold_card(text: &[u8]) -> bool {
    text.len() >= *CARD_DIGITS.start() && longest_digit_run(text) >= *CARD_DIGITS.start()
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

/// Issuer prefixes and the lengths their cards take (Visa, Mastercard, American Express,
/// Discover, JCB, Diners Club, UnionPay, Maestro, Mir, RuPay, Troy): a 15-digit number starting 4 or 5 is no card.
const ISSUERS: &[(u32, u32, std::ops::RangeInclusive<usize>)] = &[
    // (first prefix, last prefix, of four digits), lengths
    (4000, 4999, 13..=19),
    (5100, 5599, 16..=16),
    (2221, 2720, 16..=16),
    (3400, 3499, 15..=15),
    (3700, 3799, 15..=15),
    (6011, 6011, 16..=19),
    (6440, 6599, 16..=19),
    (3500, 3599, 16..=19),
    (3000, 3059, 14..=19),
    (3600, 3699, 14..=19),
    (3800, 3899, 14..=19),
    (6200, 6299, 16..=19),
    // Maestro (and the old Laser range), Mir, RuPay, Troy, UnionPay's 81 range.
    (5018, 5018, 13..=19),
    (5020, 5020, 13..=19),
    (5038, 5038, 13..=19),
    (5600, 5899, 13..=19),
    (6300, 6399, 13..=19),
    (6700, 6799, 13..=19),
    (2200, 2204, 16..=19),
    (6070, 6089, 16..=16),
    (9792, 9792, 16..=16),
    (8100, 8171, 16..=19),
];

fn known_issuer(d: &[u8]) -> bool {
    let four = d[..4].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let visa_length = d[0] != 4 || matches!(d.len(), 13 | 16 | 19);
    visa_length
        && ISSUERS.iter().any(|(low, high, lengths)| {
            (*low..=*high).contains(&four) && lengths.contains(&d.len())
        })
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
pub(super) fn find_international_phone(text: &[u8], from: usize) -> Option<(usize, usize)> {
    memchr::memchr_iter(b'+', &text[from..])
        .map(|o| from + o)
        .filter(|&plus| plus == 0 || !text[plus - 1].is_ascii_alphanumeric())
        .find_map(|plus| Some((plus, phone_end(text, plus)?)))
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
pub(super) fn find_national_phone(t: &[u8], from: usize) -> Option<(usize, usize)> {
    (from..t.len()).find_map(|i| {
        let end = match t[i] {
            b'(' => north_american_at(t, i).or_else(|| bracketed_trunk_at(t, i)),
            b'0' if word_start(t, i) => trunk_prefixed_at(t, i).or_else(|| paired_at(t, i)),
            b'2'..=b'9' if word_start(t, i) => north_american_at(t, i),
            _ => None,
        }?;
        let followed_by_word = t.get(end).is_some_and(|c| c.is_ascii_alphanumeric());
        (!followed_by_word).then_some((i, end))
    })
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

/// `030 1234567`, `0699-6808486`, and the two-digit prefixes of mobile numbers with eight
/// digits after them (`06-12345678`, `06 12345678`).
fn trunk_prefixed_at(t: &[u8], i: usize) -> Option<usize> {
    let area_len = (2..=5).find(|&n| {
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
    let fits = if area_len == 2 {
        len == 8
    } else {
        (5..=8).contains(&len) && (9..=12).contains(&digits)
    };
    fits.then_some(number + len)
}

/// Ten digits in pairs, as France, Belgium and Morocco write them: `06 12 34 56 78`,
/// `01.42.68.53.00`, `06-12-34-56-78` (one separator throughout).
fn paired_at(t: &[u8], i: usize) -> Option<usize> {
    digits_at(t, i, 2, b'0'..=b'0').filter(|_| t.get(i + 1) != Some(&b'0'))?;
    let separator = *t.get(i + 2).filter(|c| matches!(c, b' ' | b'.' | b'-'))?;
    let mut end = i + 2;
    for _ in 0..4 {
        (t.get(end) == Some(&separator)).then_some(())?;
        end = digits_at(t, end + 1, 2, b'0'..=b'9')?;
    }
    Some(end)
}

/// A trunk prefix in brackets, `(030) 1234567`, `(0)30 1234567`, `(089) 12 34 56`: `(0`, up
/// to four more digits, `)`, then 5 to 8 digits in at most three groups; 9 to 12 in all.
fn bracketed_trunk_at(t: &[u8], i: usize) -> Option<usize> {
    if t.get(i + 1) != Some(&b'0') || t.get(i + 2) == Some(&b'0') {
        return None;
    }
    let area = t[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    let close = i + 1 + area;
    if !(1..=5).contains(&area) || t.get(close) != Some(&b')') {
        return None;
    }
    let (end, number) = grouped_digits(t, close + 1, 3);
    (number >= 5 && (9..=12).contains(&(area + number))).then_some(end)
}

/// Digits from `i` (after one optional space) in at most `groups` groups joined by single
/// spaces or dashes; the end and the count.
fn grouped_digits(t: &[u8], i: usize, groups: usize) -> (usize, usize) {
    let mut i = i + usize::from(t.get(i) == Some(&b' '));
    let (mut end, mut digits, mut seen) = (i, 0, 0);
    while seen < groups {
        let run = t[i.min(t.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if run == 0 {
            break;
        }
        digits += run;
        end = i + run;
        seen += 1;
        match t.get(end) {
            Some(b' ' | b'-') if t.get(end + 1).is_some_and(u8::is_ascii_digit) => i = end + 1,
            _ => break,
        }
    }
    (end, digits)
}
