//! Streaming base64 (RFC 4648) decoding of the standard and URL-safe alphabets with
//! optional padding, and streaming encoding to either alphabet.

use super::{DecodeError, Phase, Transform};

/// Decodes base64 in either the standard (`+/`) or the URL-safe (`-_`) alphabet.
///
/// Strictness, so that arbitrary text is rejected rather than decoded to garbage:
/// - any byte outside the alphabet (including whitespace and line breaks) is an error;
/// - one body must stick to one alphabet: mixing `+`/`/` with `-`/`_` is an error;
/// - padding is optional, and may also be partial (`Zg=`), but never more than the
///   final group needs, and nothing may follow it;
/// - a final group of one character is an error;
/// - non-canonical trailing bits (`Zh==`, which would also decode to `f`) are an error,
///   so each byte string has exactly one accepted encoding per alphabet and padding style.
#[derive(Debug, Clone)]
pub struct Base64Decoder {
    /// Sextet values of an incomplete quad.
    carry: [u8; 4],
    carry_len: usize,
    /// `=` still allowed; `Some` once padding has started, after which only `=` may follow.
    pad_left: Option<u8>,
    /// Union of the alphabet-specific flags seen so far.
    alphabet: u16,
    phase: Phase,
}

const VALUE_MASK: u16 = 0x3f;
const STD_ONLY: u16 = 0x100;
const URL_ONLY: u16 = 0x200;
const ALPHABET_MASK: u16 = STD_ONLY | URL_ONLY;
/// Set for every byte the fast path cannot handle, so one test per quad suffices.
const SPECIAL: u16 = 0x8000;
const INVALID: u16 = SPECIAL;
const PAD: u16 = SPECIAL | 0x4000;

const DECODE: [u16; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[STD_ALPHABET[i] as usize] = i as u16;
        t[URL_ALPHABET[i] as usize] = i as u16;
        i += 1;
    }
    t[b'+' as usize] |= STD_ONLY;
    t[b'/' as usize] |= STD_ONLY;
    t[b'-' as usize] |= URL_ONLY;
    t[b'_' as usize] |= URL_ONLY;
    t[b'=' as usize] = PAD;
    t
};

impl Default for Base64Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Base64Decoder {
    /// Accepts either alphabet; which one is fixed by the first alphabet-specific byte.
    pub fn new() -> Self {
        Base64Decoder {
            carry: [0; 4],
            carry_len: 0,
            pad_left: None,
            alphabet: 0,
            phase: Phase::Open,
        }
    }

    fn note_alphabet(&mut self, entry: u16) -> Result<(), DecodeError> {
        self.alphabet |= entry & ALPHABET_MASK;
        if self.alphabet == ALPHABET_MASK {
            return Err(DecodeError::BadBase64);
        }
        Ok(())
    }

    fn decode(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        out.reserve(input.len() / 4 * 3 + 3);
        loop {
            // Byte-wise until quad-aligned again (or padding has begun).
            while self.carry_len != 0 || self.pad_left.is_some() {
                let Some((&b, rest)) = input.split_first() else {
                    return Ok(());
                };
                self.step(b, out)?;
                input = rest;
            }
            let used = self.decode_quads(input, out)?;
            input = &input[used..];
            if input.is_empty() {
                return Ok(());
            }
            // A quad with padding or a bad byte, or a short tail: byte-wise handles both.
            let n = input.len().min(4);
            for &b in &input[..n] {
                self.step(b, out)?;
            }
            input = &input[n..];
        }
    }

    /// Decodes whole quads of plain alphabet bytes; stops before the first quad that
    /// holds anything else. Returns the number of input bytes consumed.
    fn decode_quads(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, DecodeError> {
        let start = out.len();
        out.resize(start + input.len() / 4 * 3, 0);
        let mut quads = 0;
        let mut seen = 0;
        for (src, dst) in input.chunks_exact(4).zip(out[start..].chunks_exact_mut(3)) {
            let a = DECODE[usize::from(src[0])];
            let b = DECODE[usize::from(src[1])];
            let c = DECODE[usize::from(src[2])];
            let d = DECODE[usize::from(src[3])];
            let all = a | b | c | d;
            if all & SPECIAL != 0 {
                break;
            }
            seen |= all;
            let n = (u32::from(a & VALUE_MASK) << 18)
                | (u32::from(b & VALUE_MASK) << 12)
                | (u32::from(c & VALUE_MASK) << 6)
                | u32::from(d & VALUE_MASK);
            dst.copy_from_slice(&n.to_be_bytes()[1..]);
            quads += 1;
        }
        out.truncate(start + quads * 3);
        self.note_alphabet(seen)?;
        Ok(quads * 4)
    }

    fn step(&mut self, byte: u8, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let entry = DECODE[usize::from(byte)];
        if let Some(left) = self.pad_left {
            return match (entry, left) {
                (PAD, 1..) => {
                    self.pad_left = Some(left - 1);
                    Ok(())
                }
                _ => Err(DecodeError::BadBase64),
            };
        }
        match entry {
            PAD => {
                self.emit_tail(out)?;
                // The `=` just read is the first of the `4 - carry_len` the group needs.
                let needed = 4 - self.carry_len;
                self.pad_left = u8::try_from(needed - 1).ok();
                self.carry_len = 0;
                Ok(())
            }
            e if e & SPECIAL != 0 => Err(DecodeError::BadBase64),
            e => {
                self.note_alphabet(e)?;
                self.carry[self.carry_len] = (e & VALUE_MASK) as u8;
                self.carry_len += 1;
                if self.carry_len == 4 {
                    let [a, b, c, d] = self.carry.map(u32::from);
                    let n = (a << 18) | (b << 12) | (c << 6) | d;
                    out.extend_from_slice(&n.to_be_bytes()[1..]);
                    self.carry_len = 0;
                }
                Ok(())
            }
        }
    }

    /// Emits the bytes of a final group of `carry_len` characters (padded or not).
    fn emit_tail(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let [a, b, c, _] = self.carry.map(u32::from);
        let n = (a << 18) | (b << 12) | (c << 6);
        let [_, x, y, _] = n.to_be_bytes();
        match self.carry_len {
            2 if b & 0x0f == 0 => out.push(x),
            3 if c & 0x03 == 0 => out.extend_from_slice(&[x, y]),
            _ => return Err(DecodeError::BadBase64),
        }
        Ok(())
    }
}

impl Transform for Base64Decoder {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        let r = self.decode(input, out);
        self.phase.after_push(r)
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        let r = if self.carry_len == 0 {
            Ok(())
        } else {
            self.emit_tail(out)
        };
        self.phase.after_finish(r)
    }
}

const STD_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Streaming base64 encoder; carries up to two bytes between pushes.
#[derive(Debug, Clone)]
pub struct Base64Encoder {
    alphabet: &'static [u8; 64],
    pad: bool,
    carry: [u8; 2],
    carry_len: usize,
    phase: Phase,
}

impl Base64Encoder {
    /// Standard alphabet (`+/`) with `=` padding.
    pub fn standard() -> Self {
        Self::with(STD_ALPHABET, true)
    }

    /// URL-safe alphabet (`-_`) without padding, as Snowplow sends.
    pub fn url_safe_no_pad() -> Self {
        Self::with(URL_ALPHABET, false)
    }

    fn with(alphabet: &'static [u8; 64], pad: bool) -> Self {
        Base64Encoder {
            alphabet,
            pad,
            carry: [0; 2],
            carry_len: 0,
            phase: Phase::Open,
        }
    }

    fn quad(&self, a: u8, b: u8, c: u8) -> [u8; 4] {
        let n = u32::from_be_bytes([0, a, b, c]);
        let sym = |shift: u32| self.alphabet[((n >> shift) & 0x3f) as usize];
        [sym(18), sym(12), sym(6), sym(0)]
    }

    fn encode(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if self.carry_len > 0 {
            let mut group = [0u8; 3];
            group[..self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
            let take = (3 - self.carry_len).min(input.len());
            group[self.carry_len..self.carry_len + take].copy_from_slice(&input[..take]);
            input = &input[take..];
            if self.carry_len + take < 3 {
                self.carry_len += take;
                self.carry[..self.carry_len].copy_from_slice(&group[..self.carry_len]);
                return;
            }
            out.extend_from_slice(&self.quad(group[0], group[1], group[2]));
            self.carry_len = 0;
        }
        let groups = input.len() / 3;
        let start = out.len();
        out.resize(start + groups * 4, 0);
        for (src, dst) in input.chunks_exact(3).zip(out[start..].chunks_exact_mut(4)) {
            dst.copy_from_slice(&self.quad(src[0], src[1], src[2]));
        }
        let rest = &input[groups * 3..];
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carry_len = rest.len();
    }

    fn encode_tail(&mut self, out: &mut Vec<u8>) {
        let [a, b] = self.carry;
        let q = self.quad(a, if self.carry_len == 2 { b } else { 0 }, 0);
        match self.carry_len {
            1 => {
                out.extend_from_slice(&q[..2]);
                if self.pad {
                    out.extend_from_slice(b"==");
                }
            }
            2 => {
                out.extend_from_slice(&q[..3]);
                if self.pad {
                    out.push(b'=');
                }
            }
            _ => {}
        }
        self.carry_len = 0;
    }
}

impl Transform for Base64Encoder {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        self.encode(input, out);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        self.encode_tail(out);
        self.phase.after_finish(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{cut, run_chunks, split_invariant};
    use super::*;
    use ::base64::alphabet;
    use ::base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use ::base64::Engine as _;
    use proptest::prelude::*;

    /// Name, input, expected result.
    type DecodeCase = (
        &'static str,
        &'static [u8],
        Result<&'static [u8], DecodeError>,
    );
    /// Name, input, standard encoding, URL-safe unpadded encoding.
    type EncodeCase = (&'static str, &'static [u8], &'static [u8], &'static [u8]);

    #[test]
    fn decoder_table() {
        use DecodeError::BadBase64 as Bad;
        let cases: &[DecodeCase] = &[
            ("empty", b"", Ok(b"")),
            ("rfc f padded", b"Zg==", Ok(b"f")),
            ("rfc fo padded", b"Zm8=", Ok(b"fo")),
            ("rfc foo", b"Zm9v", Ok(b"foo")),
            ("rfc foob padded", b"Zm9vYg==", Ok(b"foob")),
            ("rfc fooba padded", b"Zm9vYmE=", Ok(b"fooba")),
            ("rfc foobar", b"Zm9vYmFy", Ok(b"foobar")),
            ("f unpadded", b"Zg", Ok(b"f")),
            ("fo unpadded", b"Zm8", Ok(b"fo")),
            ("foob unpadded", b"Zm9vYg", Ok(b"foob")),
            ("partial padding", b"Zg=", Ok(b"f")),
            ("standard specials", b"+/+/", Ok(b"\xfb\xff\xbf")),
            ("url-safe specials", b"-_-_", Ok(b"\xfb\xff\xbf")),
            ("url-safe unpadded tail", b"-_8", Ok(b"\xfb\xff")),
            ("snowplow-like", b"eyJlIjoicHYifQ", Ok(b"{\"e\":\"pv\"}")),
            ("single char", b"Z", Err(Bad)),
            ("five chars", b"Zm9vY", Err(Bad)),
            ("pad after one char", b"Z===", Err(Bad)),
            ("only padding", b"====", Err(Bad)),
            ("lone pad", b"=", Err(Bad)),
            ("too much padding", b"Zm8==", Err(Bad)),
            ("three pads", b"Zg===", Err(Bad)),
            ("data after padding", b"Zg==Zg==", Err(Bad)),
            ("data after partial padding", b"Zg=a", Err(Bad)),
            ("newline", b"Zm9v\n", Err(Bad)),
            ("inner space", b"Zm 9v", Err(Bad)),
            ("bad byte mid quad", b"Zm9vY!Fy", Err(Bad)),
            ("nul", b"Zm9v\0", Err(Bad)),
            ("non-ascii", b"Zm9v\xc3\xa9", Err(Bad)),
            ("mixed alphabets", b"+/-_", Err(Bad)),
            ("mixed alphabets across quads", b"Zm9+Zm9-", Err(Bad)),
            ("mixed alphabets in tail", b"Zm9vYmF/-A", Err(Bad)),
            ("non-canonical two", b"Zh==", Err(Bad)),
            ("non-canonical two unpadded", b"Zh", Err(Bad)),
            ("non-canonical three", b"Zm9=", Err(Bad)),
            ("json is not base64", b"{\"a\":1}", Err(Bad)),
        ];
        for (name, input, want) in cases {
            let got = split_invariant(Base64Decoder::new, input, name);
            assert_eq!(got, want.clone().map(<[u8]>::to_vec), "{name}");
        }
    }

    #[test]
    fn encoder_table() {
        let cases: &[EncodeCase] = &[
            ("empty", b"", b"", b""),
            ("f", b"f", b"Zg==", b"Zg"),
            ("fo", b"fo", b"Zm8=", b"Zm8"),
            ("foo", b"foo", b"Zm9v", b"Zm9v"),
            ("foob", b"foob", b"Zm9vYg==", b"Zm9vYg"),
            ("fooba", b"fooba", b"Zm9vYmE=", b"Zm9vYmE"),
            ("foobar", b"foobar", b"Zm9vYmFy", b"Zm9vYmFy"),
            ("specials", b"\xfb\xff\xbf", b"+/+/", b"-_-_"),
        ];
        for (name, input, std, url) in cases {
            let got = split_invariant(Base64Encoder::standard, input, name);
            assert_eq!(got.as_deref(), Ok(*std), "{name} standard");
            let got = split_invariant(Base64Encoder::url_safe_no_pad, input, name);
            assert_eq!(got.as_deref(), Ok(*url), "{name} url-safe");
        }
    }

    #[test]
    fn long_input_through_fast_path() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let enc = ::base64::engine::general_purpose::STANDARD.encode(&data);
        for size in [1, 2, 3, 5, 4096, 100_000] {
            let chunks: Vec<&[u8]> = enc.as_bytes().chunks(size).collect();
            assert_eq!(
                run_chunks(Base64Decoder::new(), &chunks).as_deref(),
                Ok(&data[..])
            );
            let chunks: Vec<&[u8]> = data.chunks(size).collect();
            assert_eq!(
                run_chunks(Base64Encoder::standard(), &chunks),
                Ok(enc.clone().into_bytes())
            );
        }
    }

    fn reference(alphabet: &alphabet::Alphabet) -> GeneralPurpose {
        let config = GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(false);
        GeneralPurpose::new(alphabet, config)
    }

    proptest! {
        #[test]
        fn round_trip(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            enc_cuts in proptest::collection::vec(any::<usize>(), 0..6),
            dec_cuts in proptest::collection::vec(any::<usize>(), 0..6),
            url_safe in any::<bool>(),
        ) {
            let (enc, reference) = if url_safe {
                (Base64Encoder::url_safe_no_pad(), ::base64::engine::general_purpose::URL_SAFE_NO_PAD)
            } else {
                (Base64Encoder::standard(), ::base64::engine::general_purpose::STANDARD)
            };
            let encoded = run_chunks(enc, &cut(&data, &enc_cuts)).unwrap();
            let expected = reference.encode(&data);
            prop_assert_eq!(&encoded, expected.as_bytes());
            let dec = run_chunks(Base64Decoder::new(), &cut(&encoded, &dec_cuts));
            prop_assert_eq!(dec, Ok(data));
        }

        /// Same accept/reject decisions and output as the `base64` crate configured with
        /// optional padding and no trailing bits, on short strings over one alphabet.
        #[test]
        fn agrees_with_reference_decoder(
            text in proptest::collection::vec(
                prop_oneof![
                    8 => proptest::sample::select(STD_ALPHABET.to_vec()),
                    1 => Just(b'='),
                    1 => Just(b'!'),
                ],
                0..14,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..4),
            url_safe in any::<bool>(),
        ) {
            let (text, alpha) = if url_safe {
                let t: Vec<u8> = text
                    .iter()
                    .map(|&b| match b { b'+' => b'-', b'/' => b'_', b => b })
                    .collect();
                (t, alphabet::URL_SAFE)
            } else {
                (text, alphabet::STANDARD)
            };
            let want = reference(&alpha).decode(&text).map_err(|_| DecodeError::BadBase64);
            let got = run_chunks(Base64Decoder::new(), &cut(&text, &cuts));
            prop_assert_eq!(got, want);
        }

        #[test]
        fn decoder_split_invariant_on_arbitrary_input(
            data in proptest::collection::vec(
                prop_oneof![
                    6 => proptest::sample::select(STD_ALPHABET.to_vec()),
                    1 => Just(b'='), 1 => Just(b'-'), 1 => Just(b'_'), 1 => any::<u8>(),
                ],
                0..40,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..5),
        ) {
            let whole = run_chunks(Base64Decoder::new(), &[&data]);
            prop_assert_eq!(run_chunks(Base64Decoder::new(), &cut(&data, &cuts)), whole);
        }
    }
}
