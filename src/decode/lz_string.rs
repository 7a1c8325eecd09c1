//! lz-string's `compressFromBase64` format, as legacy posthog-js sends it with
//! `compression=lz64`. The format is a dictionary coder over UTF-16 code units written as
//! base64 digits; it cannot be decoded incrementally, so a whole value is decoded at once
//! (bounded by the decoded-size limit).

use super::DecodeError;

/// lz-string's own base64 digit order (standard alphabet; `=` counts as digit 64).
const ALPHABET: &[u8; 65] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

/// Bits per input digit.
const DIGIT_BITS: u32 = 6;

struct BitReader<'a> {
    digits: &'a [u8],
    value: u32,
    mask: u32,
    next: usize,
}

impl BitReader<'_> {
    fn digit(&self, i: usize) -> Result<u32, DecodeError> {
        match self.digits.get(i) {
            // Past the end the reference decoder reads zeros.
            None => Ok(0),
            Some(&c) => ALPHABET
                .iter()
                .position(|&a| a == c)
                .map(|p| p as u32)
                .ok_or(DecodeError::BadLzString),
        }
    }

    fn bits(&mut self, n: u32) -> Result<u32, DecodeError> {
        let mut out = 0;
        for bit in 0..n {
            let set = self.value & self.mask != 0;
            self.mask >>= 1;
            if self.mask == 0 {
                self.mask = 1 << (DIGIT_BITS - 1);
                self.value = self.digit(self.next)?;
                self.next += 1;
            }
            out |= u32::from(set) << bit;
        }
        Ok(out)
    }
}

/// Decodes `input` (lz-string base64) to UTF-8; `limit` bounds the decoded size.
pub fn decompress_from_base64(input: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let units = decompress_units(input, limit)?;
    String::from_utf16(&units)
        .map(String::into_bytes)
        .map_err(|_| DecodeError::BadLzString)
}

fn decompress_units(input: &[u8], limit: u64) -> Result<Vec<u16>, DecodeError> {
    let mut reader = BitReader {
        digits: input,
        value: 0,
        mask: 1 << (DIGIT_BITS - 1),
        next: 1,
    };
    reader.value = reader.digit(0)?;
    // Entries 0-2 stand for the three control codes; real entries start at 3.
    let mut dictionary: Vec<Vec<u16>> = vec![Vec::new(), Vec::new(), Vec::new()];
    let mut budget = limit.saturating_mul(2);
    let first = match reader.bits(2)? {
        0 => reader.bits(8)? as u16,
        1 => reader.bits(16)? as u16,
        _ => return Ok(Vec::new()),
    };
    dictionary.push(vec![first]);
    let mut previous = vec![first];
    let mut out = vec![first];
    let mut num_bits = 3;
    let mut enlarge_in: u64 = 4;
    loop {
        if reader.next > input.len() + 1 {
            return Err(DecodeError::TruncatedCompression);
        }
        let mut code = reader.bits(num_bits)? as usize;
        match code {
            0 | 1 => {
                let width = if code == 0 { 8 } else { 16 };
                dictionary.push(vec![reader.bits(width)? as u16]);
                code = dictionary.len() - 1;
                enlarge_in -= 1;
            }
            2 => return Ok(out),
            _ => {}
        }
        if enlarge_in == 0 {
            enlarge_in = 1 << num_bits;
            num_bits += 1;
        }
        let entry = if code < dictionary.len() {
            dictionary[code].clone()
        } else if code == dictionary.len() {
            let mut e = previous.clone();
            e.push(previous[0]);
            e
        } else {
            return Err(DecodeError::BadLzString);
        };
        out.extend_from_slice(&entry);
        let mut new_entry = previous;
        new_entry.push(entry[0]);
        budget = budget.saturating_sub(new_entry.len() as u64 + entry.len() as u64);
        if out.len() as u64 * 2 > limit.saturating_mul(2) || budget == 0 {
            return Err(DecodeError::DecodedTooLarge { limit });
        }
        dictionary.push(new_entry);
        enlarge_in -= 1;
        previous = entry;
        if enlarge_in == 0 {
            enlarge_in = 1 << num_bits;
            num_bits += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs produced by the reference implementation (npm lz-string 1.5.0,
    /// `LZString.compressToBase64`).
    const REFERENCE: &[(&str, &str)] = &[
        ("hello", "BYUwNmD2Q==="),
        (
            "{\"event\":\"$pageview\"}",
            "N4IgpgbmB2AuIC4QBIAOBDA5pAlmA7iAL5A=",
        ),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "IY18ZJA="),
        ("ünï ☃ 😀", "D8Ow9wBIwGQYvBuAB7Q="),
    ];

    #[test]
    fn matches_the_reference_implementation() {
        for (text, compressed) in REFERENCE {
            let got = decompress_from_base64(compressed.as_bytes(), 1 << 20).unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), *text, "{compressed}");
        }
    }

    #[test]
    fn rejects_garbage_and_bounds_output() {
        assert!(decompress_from_base64(b"!!!!", 1 << 20).is_err());
        let compressed = REFERENCE[2].1.as_bytes();
        assert_eq!(
            decompress_from_base64(compressed, 10),
            Err(DecodeError::DecodedTooLarge { limit: 10 })
        );
    }
}
