//! Phone numbers that need more than their shape: the international `00` prefix and bare
//! digit runs, both told from order numbers by a known country's numbering plan (its code
//! and its national length), and numbers a cue word (`Tel.:`, `Handy`, `電話`) announces.

use super::word_start;

/// Country calling codes with the length of their national significant numbers and the
/// digits those can start with (ITU-T E.164 national plans; mobile and geographic numbers).
/// A digit run that fits one of these is a phone number, not an id.
const NUMBERING_PLANS: &[(&[u8], std::ops::RangeInclusive<usize>, &[u8])] = &[
    (b"1", 10..=10, b"23456789"),
    (b"7", 10..=10, b"3489"),
    (b"20", 10..=10, b"1"),
    (b"27", 9..=9, b"1234678"),
    (b"30", 10..=10, b"26"),
    (b"31", 9..=9, b"1234567"),
    (b"32", 8..=9, b"123456789"),
    (b"33", 9..=9, b"123456789"),
    (b"34", 9..=9, b"6789"),
    (b"36", 8..=9, b"123456789"),
    (b"39", 9..=10, b"03"),
    (b"40", 9..=9, b"237"),
    (b"41", 9..=9, b"2345789"),
    (b"43", 9..=12, b"123456789"),
    (b"44", 10..=10, b"12378"),
    (b"45", 8..=8, b"23456789"),
    (b"46", 7..=9, b"123456789"),
    (b"47", 8..=8, b"2345789"),
    (b"48", 9..=9, b"123456789"),
    (b"49", 8..=11, b"123456789"),
    (b"52", 10..=10, b"123456789"),
    (b"54", 10..=10, b"123456789"),
    (b"55", 10..=11, b"123456789"),
    (b"61", 9..=9, b"23478"),
    (b"64", 9..=10, b"2"),
    (b"65", 8..=8, b"689"),
    (b"81", 10..=10, b"123456789"),
    (b"82", 9..=10, b"123456789"),
    (b"86", 11..=11, b"1"),
    (b"90", 10..=10, b"2345"),
    (b"91", 10..=10, b"6789"),
    (b"351", 9..=9, b"29"),
    (b"352", 8..=9, b"246"),
    (b"353", 9..=9, b"12345678"),
    (b"358", 9..=10, b"123456789"),
    (b"380", 9..=9, b"3456789"),
    (b"420", 9..=9, b"234567"),
    (b"421", 9..=9, b"2345689"),
    (b"971", 9..=9, b"2345679"),
    (b"972", 9..=9, b"23489"),
];

/// Whether `digits` (country code first, no `+`) is a number some country's plan can hold.
pub(super) fn plausible_e164(digits: &[u8]) -> bool {
    NUMBERING_PLANS.iter().any(|(code, national, first)| {
        digits.starts_with(code)
            && national.contains(&(digits.len() - code.len()))
            && digits.get(code.len()).is_some_and(|d| first.contains(d))
            && (*code != b"1" || digits.get(4).is_some_and(|d| (b'2'..=b'9').contains(d)))
    })
}

/// Bytes between the digits of a written phone number.
fn is_phone_separator(c: u8) -> bool {
    matches!(c, b' ' | b'-' | b'.' | b'/' | b'(' | b')')
}

/// The digits of a phone-shaped run at `start` (digits and single separators, at most 15
/// digits), written into `digits`; the run's end.
fn phone_run(t: &[u8], start: usize, digits: &mut [u8; 16]) -> Option<(usize, usize)> {
    let (mut n, mut end, mut i) = (0, start, start);
    while let Some(&c) = t.get(i) {
        if c.is_ascii_digit() {
            if n == 16 {
                return None;
            }
            digits[n] = c;
            n += 1;
            end = i + 1;
        } else if !(is_phone_separator(c) && separators_before(t, start, i) < 2) {
            break;
        }
        i += 1;
    }
    let followed_by_word = t.get(end).is_some_and(u8::is_ascii_alphanumeric);
    (!followed_by_word && n > 0).then_some((end, n))
}

/// How many separators stand right before `i` (at most two, as in `(11) 98765`).
fn separators_before(t: &[u8], start: usize, i: usize) -> usize {
    t[start..i]
        .iter()
        .rev()
        .take(2)
        .take_while(|c| is_phone_separator(**c))
        .count()
}

/// International numbers dialled with `00` instead of `+` (`0049 30 901820`,
/// `0044 20 7946 0958`), when the rest fits a country's numbering plan.
pub(super) fn find_double_zero_phone(t: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut search = from;
    while let Some(off) = memchr::memmem::find(&t[search..], b"00") {
        let i = search + off;
        search = i + 1;
        if !word_start(t, i) || !t.get(i + 2).is_some_and(|c| (b'1'..=b'9').contains(c)) {
            continue;
        }
        let mut digits = [0u8; 16];
        let Some((end, n)) = phone_run(t, i + 2, &mut digits) else {
            continue;
        };
        if plausible_e164(&digits[..n]) {
            return Some((i, end));
        }
    }
    None
}

/// Words that announce a phone number, lower case (ASCII letters compared in any case).
const PHONE_CUES: &[&[u8]] = &[
    b"tel",
    b"tel.",
    b"tlf",
    b"tfn",
    b"phone",
    b"telephone",
    b"telefon",
    b"telefone",
    b"telefono",
    "teléfono".as_bytes(),
    "téléphone".as_bytes(),
    "tél".as_bytes(),
    "tél.".as_bytes(),
    b"telefoon",
    b"mobile",
    b"mobil",
    b"mob",
    "móvil".as_bytes(),
    b"movil",
    "telemóvel".as_bytes(),
    b"cellulare",
    b"cell",
    b"handy",
    b"portable",
    b"fax",
    b"whatsapp",
    b"gsm",
    b"sms",
    // Verbs that ask for a call (`bel 06-12345678`); English `call` and `ring` also count
    // API calls and rings of a menu, so they are left out.
    b"bel",
    b"bellen",
    b"llama",
    b"llamar",
    b"chiama",
    b"chiamare",
    b"appelez",
    b"appeler",
    b"anrufen",
    b"ligue",
    b"ligar",
    "zadzwoń".as_bytes(),
    "電話".as_bytes(),
    "電話番号".as_bytes(),
    "携帯".as_bytes(),
];

/// A run of 7 to 15 digits (separators allowed) right after a phone cue word and at most
/// `: `, `.`, `#`, `-` or `=` (`Tel.: 030/1234567`, `Handy 01711234567`, `電話: 03-1234-5678`).
pub(super) fn find_cued_phone(t: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i < t.len() {
        let c = t[i];
        let starts = (c.is_ascii_digit() || c == b'(' || c == b'+') && word_start(t, i);
        if !starts {
            i += 1;
            continue;
        }
        let mut digits = [0u8; 16];
        let first = i + usize::from(c == b'+');
        match phone_run(t, first, &mut digits) {
            Some((end, n)) if (7..=15).contains(&n) && cue_word_before(t, i) => {
                return Some((i, end));
            }
            Some((end, _)) => i = end.max(i + 1),
            None => i += 1,
        }
    }
    None
}

/// Whether a phone cue word ends just before `i`, across at most three bytes of `:.#-= `.
fn cue_word_before(t: &[u8], i: usize) -> bool {
    let gap = t[..i]
        .iter()
        .rev()
        .take(3)
        .take_while(|c| matches!(c, b' ' | b':' | b'.' | b'#' | b'-' | b'=' | b'\t'))
        .count();
    let end = i - gap;
    let start = end
        - t[..end]
            .iter()
            .rev()
            .take(12)
            .take_while(|c| c.is_ascii_alphabetic() || **c >= 0x80)
            .count();
    let word = &t[start..end];
    let cue = |w: &[u8]| !w.is_empty() && PHONE_CUES.iter().any(|cue| w.eq_ignore_ascii_case(cue));
    if cue(word) {
        return true;
    }
    // `appelez le 06...`, `llama al 680...`: one article between the verb and the number.
    if !ARTICLES.contains(&word) || start == 0 || t[start - 1] != b' ' {
        return false;
    }
    let before = start - 1;
    let verb_start = before
        - t[..before]
            .iter()
            .rev()
            .take(12)
            .take_while(|c| c.is_ascii_alphabetic() || **c >= 0x80)
            .count();
    cue(&t[verb_start..before])
}

/// Articles and prepositions that stand between a verb of calling and its number.
const ARTICLES: &[&[u8]] = &[
    b"le", b"la", b"al", b"el", b"au", b"op", b"an", b"am", b"ao", b"no", b"o",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_plans_tell_phones_from_ids() {
        for phone in [
            "14155550100",
            "4915112345678",
            "447946095812",
            "33612345678",
            "34612345678",
        ] {
            assert!(plausible_e164(phone.as_bytes()), "{phone}");
        }
        for id in [
            "1795342958",
            "1795342958448",
            "4215550100",
            "12345",
            "99912345678",
            "10415550100",
        ] {
            assert!(!plausible_e164(id.as_bytes()), "{id}");
        }
    }
}
