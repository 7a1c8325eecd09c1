//! Percent-encoding: `%XX` (and optional `+` as space) decoding with escapes split
//! across pushes, and form-value encoding that keeps only RFC 3986 unreserved bytes.

use super::{DecodeError, Phase, Transform};

/// Decodes `%XX` escapes (either hex case) and, for form bodies, `+` as space.
/// Every other byte, including non-ASCII, passes through unchanged.
#[derive(Debug, Clone)]
pub struct PercentDecoder {
    plus_as_space: bool,
    pending: Pending,
    phase: Phase,
}

/// How much of an escape the previous push ended inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    Percent,
    /// Holds the already-decoded high nibble.
    High(u8),
}

impl PercentDecoder {
    /// `plus_as_space` selects application/x-www-form-urlencoded semantics.
    pub fn new(plus_as_space: bool) -> Self {
        PercentDecoder {
            plus_as_space,
            pending: Pending::None,
            phase: Phase::Open,
        }
    }

    fn decode(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        // Decoding never grows the data, so one reservation covers the whole push.
        out.reserve(input.len());
        while self.pending != Pending::None {
            let Some((&b, rest)) = input.split_first() else {
                return Ok(());
            };
            input = rest;
            let v = hex_value(b).ok_or(DecodeError::BadPercentEscape)?;
            self.pending = match self.pending {
                Pending::Percent => Pending::High(v),
                Pending::High(hi) => {
                    out.push((hi << 4) | v);
                    Pending::None
                }
                Pending::None => Pending::None,
            };
        }
        loop {
            let special = if self.plus_as_space {
                memchr::memchr2(b'%', b'+', input)
            } else {
                memchr::memchr(b'%', input)
            };
            let Some(i) = special else {
                out.extend_from_slice(input);
                return Ok(());
            };
            out.extend_from_slice(&input[..i]);
            if input[i] == b'+' {
                out.push(b' ');
                input = &input[i + 1..];
                continue;
            }
            match input.get(i + 1..i + 3) {
                Some(&[h, l]) => {
                    let hi = hex_value(h).ok_or(DecodeError::BadPercentEscape)?;
                    let lo = hex_value(l).ok_or(DecodeError::BadPercentEscape)?;
                    out.push((hi << 4) | lo);
                    input = &input[i + 3..];
                }
                _ => {
                    // Fewer than two bytes follow the `%`: validate what is here now so
                    // the error does not depend on where the chunk boundary fell.
                    self.pending = match input.get(i + 1) {
                        None => Pending::Percent,
                        Some(&h) => {
                            Pending::High(hex_value(h).ok_or(DecodeError::BadPercentEscape)?)
                        }
                    };
                    return Ok(());
                }
            }
        }
    }
}

impl Transform for PercentDecoder {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        let r = self.decode(input, out);
        self.phase.after_push(r)
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        let r = match self.pending {
            Pending::None => Ok(()),
            Pending::Percent | Pending::High(_) => Err(DecodeError::TruncatedPercentEscape),
        };
        self.phase.after_finish(r)
    }
}

/// The value of one hex digit, either case.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Encodes bytes for a form value: `A-Z a-z 0-9 - _ . ~` are kept, everything else
/// becomes uppercase `%XX` (space is `%20`, never `+`, so the output reads the same
/// whether or not the receiver treats `+` as space).
#[derive(Debug, Clone)]
pub struct PercentEncoder {
    phase: Phase,
}

impl PercentEncoder {
    /// Encoder for application/x-www-form-urlencoded values.
    pub fn form() -> Self {
        PercentEncoder { phase: Phase::Open }
    }
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

const KEEP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        i += 1;
    }
    t
};

impl Transform for PercentEncoder {
    fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        out.reserve(input.len());
        while !input.is_empty() {
            let kept = input
                .iter()
                .position(|&b| !KEEP[usize::from(b)])
                .unwrap_or(input.len());
            out.extend_from_slice(&input[..kept]);
            input = &input[kept..];
            let escaped = input
                .iter()
                .position(|&b| KEEP[usize::from(b)])
                .unwrap_or(input.len());
            for &b in &input[..escaped] {
                out.extend_from_slice(&[
                    b'%',
                    UPPER_HEX[usize::from(b >> 4)],
                    UPPER_HEX[usize::from(b & 0x0f)],
                ]);
            }
            input = &input[escaped..];
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        self.phase.after_finish(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{cut, run_chunks, split_invariant};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decoder_table() {
        use DecodeError::{BadPercentEscape as Bad, TruncatedPercentEscape as Trunc};
        type Case = (
            &'static str,
            bool,
            &'static [u8],
            Result<&'static [u8], DecodeError>,
        );
        let cases: &[Case] = &[
            ("empty", false, b"", Ok(b"")),
            ("plain", false, b"event=pageview", Ok(b"event=pageview")),
            ("upper hex", false, b"%41%42", Ok(b"AB")),
            ("lower hex", false, b"%4a%6b", Ok(b"Jk")),
            ("mixed case hex", false, b"%4A%4a", Ok(b"JJ")),
            ("escape at start and end", false, b"%20x%20", Ok(b" x ")),
            ("percent itself", false, b"100%25", Ok(b"100%")),
            ("high byte escape", false, b"%FF%00%e9", Ok(b"\xff\x00\xe9")),
            ("utf8 escapes", false, b"caf%C3%A9", Ok("café".as_bytes())),
            (
                "raw non-ascii passes",
                false,
                b"\xc3\xa9\xff",
                Ok(b"\xc3\xa9\xff"),
            ),
            ("plus kept", false, b"a+b", Ok(b"a+b")),
            ("plus as space", true, b"a+b++", Ok(b"a b  ")),
            ("escaped plus stays plus", true, b"%2B+%2b", Ok(b"+ +")),
            (
                "escaped percent not re-decoded",
                false,
                b"%2541",
                Ok(b"%41"),
            ),
            ("dangling percent", false, b"abc%", Err(Trunc)),
            ("dangling percent hex", false, b"abc%4", Err(Trunc)),
            ("only percent", true, b"%", Err(Trunc)),
            ("non-hex first", false, b"%G1", Err(Bad)),
            ("non-hex second", false, b"%1G", Err(Bad)),
            ("double percent", false, b"%%", Err(Bad)),
            ("percent space", false, b"% 1", Err(Bad)),
            ("plus in escape", true, b"%+1", Err(Bad)),
            ("bad second at end", false, b"%4x", Err(Bad)),
            ("bad first at end", false, b"ab%x", Err(Bad)),
            ("bad escape then truncated", false, b"%zz%", Err(Bad)),
        ];
        for (name, plus, input, want) in cases {
            let got = split_invariant(|| PercentDecoder::new(*plus), input, name);
            assert_eq!(got, want.clone().map(<[u8]>::to_vec), "{name}");
        }
    }

    #[test]
    fn encoder_table() {
        let cases: &[(&str, &[u8], &[u8])] = &[
            ("empty", b"", b""),
            ("unreserved kept", b"AZaz09-_.~", b"AZaz09-_.~"),
            ("space is %20", b"a b", b"a%20b"),
            ("form specials", b"a=b&c+d*", b"a%3Db%26c%2Bd%2A"),
            ("percent", b"100%", b"100%25"),
            ("utf8 uppercase hex", "é".as_bytes(), b"%C3%A9"),
            ("control and high", b"\x00\x7f\xff", b"%00%7F%FF"),
            ("slash and tilde", b"/~", b"%2F~"),
        ];
        for (name, input, want) in cases {
            let got = split_invariant(PercentEncoder::form, input, name);
            assert_eq!(got.as_deref(), Ok(*want), "{name}");
        }
    }

    #[test]
    fn encoder_covers_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let enc = run_chunks(PercentEncoder::form(), &[&all]).unwrap();
        assert!(enc.iter().all(|&b| KEEP[usize::from(b)] || b == b'%'));
        assert_eq!(run_chunks(PercentDecoder::new(true), &[&enc]), Ok(all));
    }

    proptest! {
        #[test]
        fn round_trip(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            enc_cuts in proptest::collection::vec(any::<usize>(), 0..6),
            dec_cuts in proptest::collection::vec(any::<usize>(), 0..6),
            plus in any::<bool>(),
        ) {
            let enc = run_chunks(PercentEncoder::form(), &cut(&data, &enc_cuts)).unwrap();
            let dec = run_chunks(PercentDecoder::new(plus), &cut(&enc, &dec_cuts));
            prop_assert_eq!(dec, Ok(data));
        }

        #[test]
        fn decoder_split_invariant_on_arbitrary_input(
            data in proptest::collection::vec(
                prop_oneof![Just(b'%'), Just(b'+'), Just(b'a'), Just(b'F'), Just(b'9'), any::<u8>()],
                0..40,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..5),
            plus in any::<bool>(),
        ) {
            let whole = run_chunks(PercentDecoder::new(plus), &[&data]);
            prop_assert_eq!(run_chunks(PercentDecoder::new(plus), &cut(&data, &cuts)), whole);
        }
    }
}
