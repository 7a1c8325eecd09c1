//! Whole values of a shape no detector can find a person in: the UUIDs and ISO 8601
//! timestamps every event of every vendor carries (message ids, insert ids, device ids,
//! event times). Recognising them is cheaper than the number detectors they would wake
//! (their digits look like the start of a card, an SSN or an IBAN). `values.rs` still runs
//! the detectors on one whose digits could hold a card number (an all-digit UUID).

/// A UUID in its canonical text form, `8-4-4-4-12` hex digits, any case.
fn is_uuid(text: &[u8]) -> bool {
    let hex = |range: std::ops::Range<usize>| text[range].iter().all(u8::is_ascii_hexdigit);
    text.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| text[i] == b'-')
        && hex(0..8)
        && hex(9..13)
        && hex(14..18)
        && hex(19..23)
        && hex(24..36)
}

/// `n` ASCII digits at the start of `text`; the rest after them.
fn digits(text: &[u8], n: usize) -> Option<&[u8]> {
    let (head, rest) = text.split_at_checked(n)?;
    head.iter().all(u8::is_ascii_digit).then_some(rest)
}

fn byte<'a>(text: &'a [u8], expected: &[u8]) -> Option<&'a [u8]> {
    let (&first, rest) = text.split_first()?;
    expected.contains(&first).then_some(rest)
}

/// An ISO 8601 date and time: `2026-11-07T14:03:05.198Z`, with `T` or a space, optional
/// seconds and fraction, and `Z`, `+hh:mm`, `+hhmm` or no offset.
fn is_timestamp(text: &[u8]) -> bool {
    let time = (|| {
        let rest = byte(digits(text, 4)?, b"-")?;
        let rest = byte(digits(rest, 2)?, b"-")?;
        let rest = byte(digits(rest, 2)?, b"T ")?;
        let rest = byte(digits(rest, 2)?, b":")?;
        let mut rest = digits(rest, 2)?;
        if let Some(seconds) = byte(rest, b":") {
            rest = digits(seconds, 2)?;
            if let Some(fraction) = byte(rest, b".") {
                let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
                if !(1..=9).contains(&n) {
                    return None;
                }
                rest = &fraction[n..];
            }
        }
        Some(rest)
    })();
    let Some(offset) = time else { return false };
    match offset {
        [] | [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] | [b'+' | b'-', h1, h2, m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// Whether the whole of `text` is a UUID or a timestamp.
pub(super) fn is_id_or_time(text: &[u8]) -> bool {
    is_uuid(text) || is_timestamp(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let yes = [
            "38ea376a-3524-4e23-99db-d130931989e3",
            "38EA376A-3524-4E23-99DB-D130931989E3",
            "2026-11-07T14:03:05.198Z",
            "2026-11-07T14:03:05Z",
            "2026-11-07T14:03:05",
            "2026-11-07 14:03",
            "2026-11-07T14:03:05.123456789+01:00",
            "2026-11-07T14:03:05-0800",
        ];
        let no = [
            "38ea376a-3524-4e23-99db-d130931989e",
            "38ea376a-3524-4e23-99db-d130931989e3x",
            "38ea376a 3524-4e23-99db-d130931989e3",
            "g8ea376a-3524-4e23-99db-d130931989e3",
            "2026-11-07",
            "2026-11-07T14:03:05.Z",
            "2026-11-07T14:03:05.1234567890Z",
            "2026-11-07T14:03:05Z jane@example.com",
            "2026-11-07T14:03:05+01",
            "4111-1111-1111-1111",
            "+1 415 555 0100",
            "",
        ];
        for text in yes {
            assert!(is_id_or_time(text.as_bytes()), "{text}");
        }
        for text in no {
            assert!(!is_id_or_time(text.as_bytes()), "{text}");
        }
    }
}
