//! National identifiers with their check digits: the shapes (matchers) and the checks
//! (validators) that the detector table (`table.rs`) puts in rows. A shape that an order
//! number can also take (nine or eleven bare digits) gets a row with cue words, so that it
//! is only taken where the text names it.

use super::word_start;

/// The digits of `text`, separators skipped, into `buf`; how many.
fn digits_of(text: &[u8], buf: &mut [u8; 20]) -> usize {
    let mut n = 0;
    for &c in text {
        if c.is_ascii_digit() && n < buf.len() {
            buf[n] = c - b'0';
            n += 1;
        }
    }
    n
}

/// Whether the digit at `i` begins a number: a word start, or right after a two-letter
/// country prefix that starts the word (`PT512345678`, `BE92031545677`), as VAT and
/// cross-border forms write national numbers.
fn number_start(t: &[u8], i: usize) -> bool {
    word_start(t, i)
        || (i >= 2
            && t[i - 1].is_ascii_uppercase()
            && t[i - 2].is_ascii_uppercase()
            && word_start(t, i - 2))
}

/// A word of exactly `n` digits from `from`, the digits perhaps grouped by single spaces,
/// dots or dashes (`12 345 678 901`, `123.456.789-09`), perhaps after a country prefix.
fn digit_word(t: &[u8], from: usize, n: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i < t.len() {
        if !(t[i].is_ascii_digit() && number_start(t, i)) {
            i += 1;
            continue;
        }
        let (mut j, mut count, mut end) = (i, 0, i);
        while let Some(&c) = t.get(j) {
            if c.is_ascii_digit() {
                count += 1;
                end = j + 1;
            } else if !(matches!(c, b' ' | b'.' | b'-')
                && t.get(j + 1).is_some_and(u8::is_ascii_digit))
            {
                break;
            }
            j += 1;
        }
        let free = !t.get(end).is_some_and(u8::is_ascii_alphanumeric);
        if count == n && free {
            return Some((i, end));
        }
        i = end.max(i + 1);
    }
    None
}

pub(super) fn nine_digits(t: &[u8], from: usize) -> Option<(usize, usize)> {
    digit_word(t, from, 9)
}

pub(super) fn eleven_digits(t: &[u8], from: usize) -> Option<(usize, usize)> {
    digit_word(t, from, 11)
}

pub(super) fn fifteen_digits(t: &[u8], from: usize) -> Option<(usize, usize)> {
    digit_word(t, from, 15)
}

/// Only the written form of a CPF, `123.456.789-09`.
pub(super) fn cpf_formatted(t: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut from = from;
    while let Some((s, e)) = digit_word(t, from, 11) {
        let m = &t[s..e];
        if m.len() == 14 && m[3] == b'.' && m[7] == b'.' && m[11] == b'-' {
            return Some((s, e));
        }
        from = e;
    }
    None
}

/// Letters and digits in a fixed pattern (`D` digit, `L` letter, `A` either, `-` an
/// optional dash or space, `+` a dash or plus, `=` a dash, `.` a dot, `C` a Finnish
/// century mark), as one word; upper case only when `upper`.
fn pattern_at(t: &[u8], i: usize, pattern: &[u8], upper: bool) -> Option<usize> {
    let mut j = i;
    for &p in pattern {
        let c = t.get(j).copied();
        match p {
            b'-' => {
                if matches!(c, Some(b'-' | b' ')) {
                    j += 1;
                }
                continue;
            }
            b'D' if c?.is_ascii_digit() => {}
            b'L' if c?.is_ascii_uppercase() || !upper && c?.is_ascii_lowercase() => {}
            b'A' if c?.is_ascii_alphanumeric() => {}
            b'+' if matches!(c?, b'-' | b'+') => {}
            b'=' if c? == b'-' => {}
            b'.' if c? == b'.' => {}
            b'C' if matches!(c?, b'-' | b'+' | b'A'..=b'F' | b'U'..=b'Y') => {}
            _ => return None,
        }
        j += 1;
    }
    (!t.get(j).is_some_and(u8::is_ascii_alphanumeric)).then_some(j)
}

fn find_pattern(t: &[u8], from: usize, patterns: &[&[u8]], upper: bool) -> Option<(usize, usize)> {
    (from..t.len())
        .filter(|&i| t[i].is_ascii_alphanumeric() && word_start(t, i))
        .find_map(|i| {
            patterns
                .iter()
                .find_map(|p| Some((i, pattern_at(t, i, p, upper)?)))
        })
}

/// ES DNI `12345678Z` (or `12345678-Z`) and NIE `X1234567L`.
pub(super) fn es_dni_shape(t: &[u8], from: usize) -> Option<(usize, usize)> {
    find_pattern(t, from, &[b"DDDDDDDD-L", b"LDDDDDDD-L"], false)
}

/// The control letter of a DNI or NIE: the number (an NIE's X, Y, Z read as 0, 1, 2) mod 23.
pub(super) fn es_dni_valid(m: &[u8]) -> bool {
    let lead = match m[0].to_ascii_uppercase() {
        c @ b'0'..=b'9' => c - b'0',
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        _ => return false,
    };
    let number = m[1..8]
        .iter()
        .fold(u32::from(lead), |a, c| a * 10 + u32::from(c - b'0'));
    let letter = m[m.len() - 1].to_ascii_uppercase();
    b"TRWAGMYFPDXBNJZSQVHLCKE"[number as usize % 23] == letter
}

/// UK National Insurance numbers: `AB 12 34 56 C` (spaced) or `AB123456C`.
pub(super) fn uk_nino_shape(t: &[u8], from: usize) -> Option<(usize, usize)> {
    find_pattern(t, from, &[b"LL-DD-DD-DD-L"], true)
}

/// The letters a NINO may carry: no D, F, I, Q, U, V; no O second; not BG, GB, NK, KN, TN,
/// NT or ZZ; a suffix A to D.
pub(super) fn uk_nino_valid(m: &[u8]) -> bool {
    let (a, b, last) = (m[0], m[1], m[m.len() - 1]);
    let bad = |c: u8| b"DFIQUV".contains(&c);
    let prefix = [a, b];
    !bad(a)
        && !bad(b)
        && b != b'O'
        && ![b"BG", b"GB", b"NK", b"KN", b"TN", b"NT", b"ZZ"].contains(&&prefix)
        && (b'A'..=b'D').contains(&last)
}

/// Spaced NINOs only: the compact form is a SKU's shape and needs a cue word.
pub(super) fn uk_nino_spaced(m: &[u8]) -> bool {
    m.len() == 13 && uk_nino_valid(m)
}

/// DE Steuer-ID: eleven digits, no leading zero, no digit of the first ten more than three
/// times, and the ISO 7064 MOD 11,10 check digit. Issued numbers also repeat exactly one
/// digit, but sample and test numbers people copy do not, and the row's cue word already
/// says what the number is: the check digit is what tells it from a typo'd order number.
pub(super) fn de_steuer_id_valid(m: &[u8]) -> bool {
    let mut d = [0u8; 20];
    if digits_of(m, &mut d) != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    d[..10].iter().for_each(|&x| counts[usize::from(x)] += 1);
    if counts.iter().any(|&c| c > 3) {
        return false;
    }
    let mut product = 10u32;
    for &x in &d[..10] {
        let mut sum = (u32::from(x) + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    check == u32::from(d[10])
}

/// FR NIR (numéro de sécurité sociale): sex 1 or 2, year, month 01-12 (or 20-42, 50-99
/// for unknown months), and the key 97 - (first 13 digits mod 97). Corsica's 2A and 2B
/// are not read.
pub(super) fn fr_nir_valid(m: &[u8]) -> bool {
    let mut d = [0u8; 20];
    if digits_of(m, &mut d) != 15 || !matches!(d[0], 1 | 2) {
        return false;
    }
    let month = d[3] * 10 + d[4];
    if !matches!(month, 1..=12 | 20..=42 | 50..=99) {
        return false;
    }
    let body = d[..13].iter().fold(0u64, |a, &x| a * 10 + u64::from(x));
    let key = u64::from(d[13]) * 10 + u64::from(d[14]);
    97 - body % 97 == key
}

/// IT codice fiscale: six letters, year, month letter, day (+40 for women), place, check
/// letter (digits may be replaced by letters in homocodes).
pub(super) fn it_codice_fiscale_shape(t: &[u8], from: usize) -> Option<(usize, usize)> {
    find_pattern(t, from, &[b"LLLLLLAALAALAAAL"], false)
}

pub(super) fn it_codice_fiscale_valid(m: &[u8]) -> bool {
    const ODD: [u32; 36] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3,
        6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
    ];
    let index = |c: u8| match c.to_ascii_uppercase() {
        d @ b'0'..=b'9' => usize::from(d - b'0'),
        l => usize::from(l - b'A') + 10,
    };
    let month = m[8].to_ascii_uppercase();
    if !b"ABCDEHLMPRST".contains(&month) {
        return false;
    }
    let sum: u32 = m[..15]
        .iter()
        .enumerate()
        .map(|(k, &c)| {
            let i = index(c);
            if k % 2 == 0 {
                ODD[i]
            } else if i < 10 {
                i as u32
            } else {
                (i - 10) as u32
            }
        })
        .sum();
    u32::from(m[15].to_ascii_uppercase() - b'A') == sum % 26
}

/// NL BSN: nine digits passing the eleven test (9a + 8b + ... + 2h - i divisible by 11).
pub(super) fn nl_bsn_valid(m: &[u8]) -> bool {
    let mut d = [0u8; 20];
    if digits_of(m, &mut d) != 9 {
        return false;
    }
    let sum: i32 = (0..8)
        .map(|k| i32::from(d[k]) * (9 - k as i32))
        .sum::<i32>()
        - i32::from(d[8]);
    sum != 0 && sum % 11 == 0
}

/// BR CPF: eleven digits, not all equal, two mod-11 check digits.
pub(super) fn br_cpf_valid(m: &[u8]) -> bool {
    let mut d = [0u8; 20];
    if digits_of(m, &mut d) != 11 || d[..11].iter().all(|&x| x == d[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = (0..n)
            .map(|k| u32::from(d[k]) * (n as u32 + 1 - k as u32))
            .sum();
        let r = (sum * 10) % 11;
        if r == 10 {
            0
        } else {
            r
        }
    };
    check(9) == u32::from(d[9]) && check(10) == u32::from(d[10])
}

/// PT NIF: nine digits, a first digit that a person's or company's number takes, and a
/// mod-11 check digit.
pub(super) fn pt_nif_valid(m: &[u8]) -> bool {
    let mut d = [0u8; 20];
    if digits_of(m, &mut d) != 9 || !matches!(d[0], 1 | 2 | 3 | 5 | 6 | 8 | 9) {
        return false;
    }
    let sum: u32 = (0..8).map(|k| u32::from(d[k]) * (9 - k as u32)).sum();
    let check = match 11 - sum % 11 {
        10 | 11 => 0,
        c => c,
    };
    check == u32::from(d[8])
}

/// PL PESEL: eleven digits, a real birth date (months +20 for 2000-2099, +80 for the
/// 1800s) and the weighted check digit.
pub(super) fn pl_pesel_valid(m: &[u8]) -> bool {
    let mut d = [0u8; 20];
    if digits_of(m, &mut d) != 11 {
        return false;
    }
    let month = d[2] * 10 + d[3];
    let day = d[4] * 10 + d[5];
    if !matches!(month % 20, 1..=12) || !(1..=31).contains(&day) {
        return false;
    }
    const WEIGHTS: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = (0..10).map(|k| u32::from(d[k]) * WEIGHTS[k]).sum();
    (10 - sum % 10) % 10 == u32::from(d[10])
}

/// Whether `yy mm dd` is a calendar date (any century; February up to the 29th).
fn is_date(month: u8, day: u8) -> bool {
    let days = match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn two(d: &[u8], k: usize) -> u8 {
    d[k] * 10 + d[k + 1]
}

/// SE personnummer `YYMMDD-NNNC` (`+` past a hundred years), `YYYYMMDD-NNNC` or, after a
/// cue word, the same digits bare: a birth date (day +60 for a coordination number) and a
/// Luhn check over the ten digits from the year's last two.
pub(super) fn se_personnummer(t: &[u8], from: usize) -> Option<(usize, usize)> {
    let dashed = find_pattern(t, from, &[b"DDDDDDDD+DDDD", b"DDDDDD+DDDD"], false);
    let bare = digit_word(t, from, 10).or_else(|| digit_word(t, from, 12));
    match (dashed, bare) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(super) fn se_personnummer_valid(m: &[u8]) -> bool {
    let mut d = [0u8; 20];
    let n = digits_of(m, &mut d);
    if !matches!(n, 10 | 12) {
        return false;
    }
    let d = &d[n - 10..n];
    let day = two(d, 4);
    if !is_date(two(d, 2), if day > 60 { day - 60 } else { day }) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .enumerate()
        .map(|(k, &x)| {
            let v = u32::from(x) * if k % 2 == 0 { 2 } else { 1 };
            v / 10 + v % 10
        })
        .sum();
    sum % 10 == 0
}

/// BE national number (rijksregisternummer, numéro national) `YY.MM.DD-NNN.CC`: a birth
/// date (month +20 or +40 for the bis number; month or day 00 when unknown), and the key
/// 97 - (the first nine digits mod 97), with a 2 before them for births from 2000.
pub(super) fn be_national_written(t: &[u8], from: usize) -> Option<(usize, usize)> {
    find_pattern(t, from, &[b"DD.DD.DD=DDD.DD"], false)
}

pub(super) fn be_national_valid(m: &[u8]) -> bool {
    let mut d = [0u8; 20];
    if digits_of(m, &mut d) != 11 {
        return false;
    }
    let (month, day) = (two(&d, 2) % 20, two(&d, 4));
    if month > 12 || day > 31 {
        return false;
    }
    let body = d[..9].iter().fold(0u64, |a, &x| a * 10 + u64::from(x));
    let key = u64::from(two(&d, 9));
    97 - body % 97 == key || 97 - (2_000_000_000 + body) % 97 == key
}

/// FI henkilötunnus `DDMMYY-NNNC`: a birth date, a century mark (`+`, `-`, `A`-`F`,
/// `U`-`Y`), and a check character, the nine digits mod 31 in `0-9A-Y` without G, I, O, Q, Z.
pub(super) fn fi_hetu_shape(t: &[u8], from: usize) -> Option<(usize, usize)> {
    find_pattern(t, from, &[b"DDDDDDCDDDA"], false)
}

pub(super) fn fi_hetu_valid(m: &[u8]) -> bool {
    if m.len() != 11 {
        return false;
    }
    let mut d = [0u8; 20];
    digits_of(&m[..6], &mut d);
    if !is_date(two(&d, 2), two(&d, 0)) {
        return false;
    }
    let number = m[..6]
        .iter()
        .chain(&m[7..10])
        .fold(0u64, |a, &c| a * 10 + u64::from(c - b'0'));
    b"0123456789ABCDEFHJKLMNPRSTUVWXY"[(number % 31) as usize] == m[10].to_ascii_uppercase()
}

/// US SSN as nine bare digits (the dashed form has its own row): the issued ranges.
pub(super) fn us_ssn_bare_valid(m: &[u8]) -> bool {
    let mut d = [0u8; 20];
    if digits_of(m, &mut d) != 9 {
        return false;
    }
    let num = |r: std::ops::Range<usize>| d[r].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let (area, group, serial) = (num(0..3), num(3..5), num(5..9));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_accept_real_numbers_and_refuse_one_digit_off() {
        type Validator = fn(&[u8]) -> bool;
        let cases: [(Validator, &str, &str); 14] = [
            (es_dni_valid, "12345678Z", "12345678A"),
            (es_dni_valid, "X1234567L", "X1234567M"),
            (uk_nino_valid, "AB123456C", "AB123456E"),
            (de_steuer_id_valid, "86095742719", "86095742718"),
            (fr_nir_valid, "184127645108946", "184127645108947"),
            (
                it_codice_fiscale_valid,
                "RSSMRA85T10A562S",
                "RSSMRA85T10A562T",
            ),
            (nl_bsn_valid, "111222333", "111222334"),
            (br_cpf_valid, "529.982.247-25", "529.982.247-26"),
            (pt_nif_valid, "123456789", "123456788"),
            (pl_pesel_valid, "44051401359", "44051401358"),
            (se_personnummer_valid, "811218-9876", "811218-9875"),
            (se_personnummer_valid, "198112189876", "198113189876"),
            (be_national_valid, "85.07.30-033.28", "85.07.30-033.29"),
            (fi_hetu_valid, "131052-308T", "131052-308U"),
        ];
        for (valid, good, bad) in cases {
            assert!(valid(good.as_bytes()), "{good}");
            assert!(!valid(bad.as_bytes()), "{bad}");
        }
    }
}
