//! Sans-IO, push-based byte transforms for request bodies: gzip/zlib (de)compression,
//! percent-decoding/encoding and base64, plus lz-string (whole values only) and query
//! strings as JSON objects and back (`query`). Owns the shared `Transform` contract, the
//! `DecodeError` vocabulary and the call-order rules.

mod base64;
mod gzip;
pub mod lz_string;
mod percent;
pub mod query;
pub(crate) use percent::hex_value;

// `self::` because the crate also depends on the `base64` crate, and a bare
// `base64::` path would be ambiguous between the two.
pub use self::base64::{Base64Decoder, Base64Encoder};
pub use self::gzip::{DeflateDecoder, GzipDecoder};
pub use self::percent::{PercentDecoder, PercentEncoder};

/// A push-based byte transform. Chunk boundaries may fall anywhere (inside a %XX escape,
/// a base64 quad, a gzip header); the concatenated output must be identical for every split.
///
/// Call order: any number of `push`, then one `finish`. Once a call has failed, every
/// later call returns the same error; any call after `finish` returns
/// [`DecodeError::UsedAfterFinish`]. On error, bytes already appended to `out` by the
/// failing call are unspecified and must be discarded with the rest of the body.
pub trait Transform {
    /// Consume `input`, append produced bytes to `out`.
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError>;
    /// No more input: flush; error if the input ended in the middle of a unit (truncated gzip, dangling %X, partial base64 quad that cannot be valid).
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), DecodeError>;
}

/// Why a transform rejected its input. Messages describe the failure only: they never
/// quote body bytes, so they are safe to log and to use as metric labels (see [`Self::kind`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum DecodeError {
    #[error("compressed body is not valid gzip")]
    BadGzip,
    #[error("compressed body is not valid deflate")]
    BadDeflate,
    #[error("compressed body ends before its end marker")]
    TruncatedCompression,
    #[error("decoded body exceeds {limit} bytes")]
    DecodedTooLarge { limit: u64 },
    #[error("invalid percent escape")]
    BadPercentEscape,
    #[error("percent escape cut off at end of input")]
    TruncatedPercentEscape,
    #[error("invalid base64")]
    BadBase64,
    #[error("invalid lz-string data")]
    BadLzString,
    #[error("compressor reported an internal error")]
    CompressFailed,
    #[error("transform used after finish")]
    UsedAfterFinish,
}

impl DecodeError {
    /// Stable snake_case label, suitable for metrics and structured logs.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::BadGzip => "bad_gzip",
            DecodeError::BadDeflate => "bad_deflate",
            DecodeError::TruncatedCompression => "truncated_compression",
            DecodeError::DecodedTooLarge { .. } => "decoded_too_large",
            DecodeError::BadPercentEscape => "bad_percent_escape",
            DecodeError::TruncatedPercentEscape => "truncated_percent_escape",
            DecodeError::BadBase64 => "bad_base64",
            DecodeError::BadLzString => "bad_lz_string",
            DecodeError::CompressFailed => "compress_failed",
            DecodeError::UsedAfterFinish => "used_after_finish",
        }
    }
}

/// Pushes all of `input` and finishes, returning everything produced.
pub fn transform_all(t: &mut dyn Transform, input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(input.len());
    t.push(input, &mut out)?;
    t.finish(&mut out)?;
    Ok(out)
}

/// A form-encoded value (`+` as space) as text, for reading rather than forwarding:
/// invalid UTF-8 is replaced, and a value that does not decode is an error.
pub fn form_decoded_text(raw: &[u8]) -> Result<String, DecodeError> {
    let bytes = transform_all(&mut PercentDecoder::new(true), raw)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// True if `prefix` starts with the gzip magic bytes `1f 8b`.
pub fn looks_like_gzip(prefix: &[u8]) -> bool {
    prefix.starts_with(&[0x1f, 0x8b])
}

/// Enforces the call-order rules of [`Transform`] in one place, so that no transform
/// can resume parsing from a half-updated state after an error.
#[derive(Debug, Clone, Default)]
enum Phase {
    #[default]
    Open,
    Failed(DecodeError),
    Finished,
}

impl Phase {
    fn ensure_open(&self) -> Result<(), DecodeError> {
        match self {
            Phase::Open => Ok(()),
            Phase::Failed(e) => Err(e.clone()),
            Phase::Finished => Err(DecodeError::UsedAfterFinish),
        }
    }

    /// Records the outcome of a `push`.
    fn after_push(&mut self, r: Result<(), DecodeError>) -> Result<(), DecodeError> {
        if let Err(e) = &r {
            *self = Phase::Failed(e.clone());
        }
        r
    }

    /// Records the outcome of a `finish`.
    fn after_finish(&mut self, r: Result<(), DecodeError>) -> Result<(), DecodeError> {
        *self = match &r {
            Ok(()) => Phase::Finished,
            Err(e) => Phase::Failed(e.clone()),
        };
        r
    }
}

#[cfg(test)]
mod test_support {
    use super::{DecodeError, Transform};

    pub fn run_chunks<T: Transform>(mut t: T, chunks: &[&[u8]]) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        for c in chunks {
            t.push(c, &mut out)?;
        }
        t.finish(&mut out)?;
        Ok(out)
    }

    /// Returns the one-shot result after asserting that every two-chunk split, and
    /// byte-at-a-time feeding interleaved with empty pushes, give the same result.
    pub fn split_invariant<T: Transform>(
        make: impl Fn() -> T,
        input: &[u8],
        case: &str,
    ) -> Result<Vec<u8>, DecodeError> {
        let whole = run_chunks(make(), &[input]);
        let mut t = make();
        assert_eq!(
            super::transform_all(&mut t, input),
            whole,
            "{case}: transform_all"
        );
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(run_chunks(make(), &[a, b]), whole, "{case}: split at {i}");
        }
        let singles: Vec<&[u8]> = input.chunks(1).flat_map(|c| [c, &[][..]]).collect();
        assert_eq!(
            run_chunks(make(), &singles),
            whole,
            "{case}: byte at a time"
        );
        whole
    }

    /// Cuts `input` at the given offsets (taken modulo `len + 1`, in any order).
    pub fn cut<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::with_capacity(at.len() + 1);
        let mut prev = 0;
        for a in at {
            chunks.push(&input[prev..a]);
            prev = a;
        }
        chunks.push(&input[prev..]);
        chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_distinct_snake_case() {
        let all = [
            DecodeError::BadGzip,
            DecodeError::BadDeflate,
            DecodeError::TruncatedCompression,
            DecodeError::DecodedTooLarge { limit: 1 },
            DecodeError::BadPercentEscape,
            DecodeError::TruncatedPercentEscape,
            DecodeError::BadBase64,
            DecodeError::BadLzString,
            DecodeError::CompressFailed,
            DecodeError::UsedAfterFinish,
        ];
        let mut kinds: Vec<&str> = all.iter().map(DecodeError::kind).collect();
        for k in &kinds {
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{k}"
            );
        }
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), all.len());
    }

    #[test]
    fn too_large_message_names_the_limit() {
        let e = DecodeError::DecodedTooLarge { limit: 1024 };
        assert_eq!(e.to_string(), "decoded body exceeds 1024 bytes");
    }

    #[test]
    fn gzip_magic() {
        assert!(looks_like_gzip(&[0x1f, 0x8b]));
        assert!(looks_like_gzip(&[0x1f, 0x8b, 0x08, 0x00]));
        assert!(!looks_like_gzip(&[0x1f]));
        assert!(!looks_like_gzip(&[]));
        assert!(!looks_like_gzip(b"{\"event\":1}"));
    }

    #[test]
    fn errors_are_sticky_and_finish_is_final() {
        let mut d = PercentDecoder::new(false);
        let mut out = Vec::new();
        assert_eq!(d.push(b"%zz", &mut out), Err(DecodeError::BadPercentEscape));
        assert_eq!(d.push(b"ok", &mut out), Err(DecodeError::BadPercentEscape));
        assert_eq!(d.finish(&mut out), Err(DecodeError::BadPercentEscape));

        let mut e = Base64Encoder::standard();
        let mut out = Vec::new();
        e.push(b"a", &mut out).unwrap();
        e.finish(&mut out).unwrap();
        assert_eq!(out, b"YQ==");
        assert_eq!(e.push(b"a", &mut out), Err(DecodeError::UsedAfterFinish));
        assert_eq!(e.finish(&mut out), Err(DecodeError::UsedAfterFinish));
        assert_eq!(out, b"YQ==");
    }

    #[test]
    fn transforms_are_send_and_object_safe() {
        fn is_send<T: Send>(_: &T) {}
        let mut all: Vec<Box<dyn Transform + Send>> = vec![
            Box::new(GzipDecoder::new(10)),
            Box::new(DeflateDecoder::new(10)),
            Box::new(PercentDecoder::new(true)),
            Box::new(PercentEncoder::form()),
            Box::new(Base64Decoder::new()),
            Box::new(Base64Encoder::standard()),
            Box::new(Base64Encoder::url_safe_no_pad()),
        ];
        is_send(&all);
        let mut out = Vec::new();
        for t in &mut all {
            t.push(&[], &mut out).unwrap();
        }
    }
}
