//! JSON numbers read as the digits a person wrote: a card number sent as a float
//! (`4111111111111111.0`), in exponent form (`4.111111111111111e15`) or negative, and a phone
//! number sent as an integer (`4915112345678`), go through the same detectors as text.

use super::phones::plausible_e164;
use super::{ValueChange, ValueRules};
use crate::scrub::report::{Report, RuleKind};

/// Fewer digits than this can hold neither a card nor a phone number with its country code.
const MIN_DIGITS: usize = 10;
/// Digits of a phone number written as a bare JSON integer.
const MIN_PHONE_DIGITS: usize = 11;
/// More than this is no card (19) and no phone (15).
const MAX_DIGITS: usize = 19;

/// The integer a JSON number denotes, as decimal digits without sign or leading zeros,
/// written into `buf`; `None` when it is no integer or has not 10 to 19 digits.
pub(super) fn integer_digits<'a>(number: &[u8], buf: &'a mut [u8; 40]) -> Option<&'a [u8]> {
    let unsigned = number.strip_prefix(b"-").unwrap_or(number);
    let (mantissa, exponent) = match unsigned.iter().position(|c| matches!(c, b'e' | b'E')) {
        Some(e) => {
            let exp = std::str::from_utf8(&unsigned[e + 1..])
                .ok()?
                .parse::<i32>()
                .ok()?;
            (&unsigned[..e], exp)
        }
        None => (unsigned, 0),
    };
    let (int, frac) = match mantissa.iter().position(|&c| c == b'.') {
        Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
        None => (mantissa, &b""[..]),
    };
    // The decimal point moves `exponent` places right: digits before it form the integer,
    // the ones after it must all be zeros.
    let point = i64::try_from(int.len()).ok()? + i64::from(exponent);
    let all = int.len() + frac.len();
    if point <= 0 || point > 40 || all > 64 {
        return None;
    }
    let point = point as usize;
    let digit = |k: usize| {
        if k < int.len() {
            int[k]
        } else if k - int.len() < frac.len() {
            frac[k - int.len()]
        } else {
            b'0'
        }
    };
    if (point..all).any(|k| digit(k) != b'0') {
        return None;
    }
    let mut n = 0;
    for k in 0..point {
        let d = digit(k);
        if n == 0 && d == b'0' {
            continue;
        }
        buf[n] = d;
        n += 1;
    }
    (MIN_DIGITS..=MAX_DIGITS).contains(&n).then_some(&buf[..n])
}

impl ValueRules {
    /// Scrubs a JSON number as text: its integer's digits go through the text detectors, and
    /// an integer that fits a country's numbering plan is a phone number. What a detector
    /// finds replaces the number with a string.
    pub fn scrub_number(
        &self,
        number: &[u8],
        out: &mut Vec<u8>,
        tmp: &mut Vec<u8>,
        report: &mut Report,
    ) -> ValueChange {
        // Most numbers are counts, prices and timestamps: too short to matter.
        if number.len() < MIN_DIGITS {
            return ValueChange::Unchanged;
        }
        let mut buf = [0u8; 40];
        let Some(digits) = integer_digits(number, &mut buf) else {
            return ValueChange::Unchanged;
        };
        let change = self.scrub_member(digits, out, tmp, report);
        if change != ValueChange::Unchanged {
            return change;
        }
        // Ten-digit integers are too often ids: a phone needs its country code and eleven
        // digits or more (every mobile plan but a few small countries').
        let phone = digits.len() >= MIN_PHONE_DIGITS && plausible_e164(digits);
        match (&self.phone_marker, phone) {
            (Some(action), true) => {
                out.clear();
                let outcome = action.write(digits, out);
                report.count(RuleKind::PhoneValue, outcome);
                if matches!(action, super::Replacement::Drop) {
                    ValueChange::DropMember
                } else {
                    ValueChange::Changed
                }
            }
            _ => ValueChange::Unchanged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(number: &str) -> Option<String> {
        let mut buf = [0u8; 40];
        integer_digits(number.as_bytes(), &mut buf).map(|d| String::from_utf8(d.to_vec()).unwrap())
    }

    #[test]
    fn every_json_spelling_of_an_integer_gives_its_digits() {
        for form in [
            "4111111111111111",
            "4111111111111111.0",
            "4111111111111111.000",
            "-4111111111111111",
            "4.111111111111111e15",
            "4.111111111111111E+15",
            "0.4111111111111111e16",
            "41111111111111110e-1",
            "-4.111111111111111e15",
        ] {
            assert_eq!(digits(form).as_deref(), Some("4111111111111111"), "{form}");
        }
        assert_eq!(digits("4.1e15").as_deref(), Some("4100000000000000"));
        for not_one in [
            "4111111111111111.5",
            "1e30",
            "123456789",
            "1.5e-3",
            "12345678901234567890123",
        ] {
            assert_eq!(digits(not_one), None, "{not_one}");
        }
    }
}
