//! gzip (RFC 1952) and zlib (RFC 1950) decompression with an output-size cap. The gzip
//! framing is parsed here so that header, body and trailer may be split across pushes
//! anywhere; flate2 only inflates.

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::{DecodeError, Phase, Transform};

/// Inflate output is produced into a fixed buffer of this size and only appended to
/// the caller's `Vec` after the size cap has been checked, so a bomb can never make
/// `out` grow past the cap.
const SCRATCH_LEN: usize = 32 * 1024;

/// Raw-deflate or zlib inflater that enforces a cap on total output.
#[derive(Debug)]
struct Inflater {
    raw: Decompress,
    scratch: Vec<u8>,
    limit: u64,
    produced: u64,
}

impl Inflater {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one raw inflater, capped by `limit` in `inflate`"
    )]
    fn new(zlib_header: bool, limit: u64) -> Self {
        Inflater {
            raw: Decompress::new(zlib_header),
            scratch: Vec::new(),
            limit,
            produced: 0,
        }
    }

    /// Inflates until `input` is used up or the compressed stream ends. Returns the
    /// number of input bytes consumed and whether the stream ended. Every produced
    /// byte is appended to `out` and fed to `crc`.
    fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        mut crc: Option<&mut Crc>,
        bad: DecodeError,
    ) -> Result<(usize, bool), DecodeError> {
        if self.scratch.is_empty() {
            self.scratch.resize(SCRATCH_LEN, 0);
        }
        let mut consumed = 0;
        loop {
            let in_before = self.raw.total_in();
            let out_before = self.raw.total_out();
            let status = self
                .raw
                .decompress(input, &mut self.scratch, FlushDecompress::None);
            let used = usize::try_from(self.raw.total_in() - in_before).map_err(|_| bad.clone())?;
            let made =
                usize::try_from(self.raw.total_out() - out_before).map_err(|_| bad.clone())?;
            // Count output before checking for a stream error: a failing call may still
            // have produced output, and how much depends on where the chunks were split,
            // so counting it first keeps the reported error independent of the split.
            self.produced += made as u64;
            if self.produced > self.limit {
                return Err(DecodeError::DecodedTooLarge { limit: self.limit });
            }
            let status = status.map_err(|_| bad.clone())?;
            let produced = &self.scratch[..made];
            out.extend_from_slice(produced);
            if let Some(crc) = crc.as_deref_mut() {
                crc.update(produced);
            }
            input = &input[used..];
            consumed += used;
            match status {
                Status::StreamEnd => return Ok((consumed, true)),
                Status::Ok | Status::BufError => {
                    // A full scratch buffer may mean more output is pending inside the
                    // inflater even when all input has been taken.
                    if made == self.scratch.len() {
                        continue;
                    }
                    if input.is_empty() {
                        return Ok((consumed, false));
                    }
                    if used == 0 && made == 0 {
                        // No progress despite input and output room: never expected
                        // from a sane inflater; refuse rather than spin.
                        return Err(bad);
                    }
                }
            }
        }
    }
}

/// FTEXT | FHCRC | FEXTRA | FNAME | FCOMMENT; the other bits are reserved.
const KNOWN_FLAGS: u8 = 0x1f;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

/// Where the gzip parser is within the current member.
#[derive(Debug, Clone, Copy)]
enum GzState {
    /// ID1 ID2 CM FLG MTIME(4) XFL OS.
    Fixed {
        buf: [u8; 10],
        have: usize,
    },
    ExtraLen {
        buf: [u8; 2],
        have: usize,
    },
    Extra {
        left: usize,
    },
    Name,
    Comment,
    HeaderCrc {
        buf: [u8; 2],
        have: usize,
    },
    Body,
    /// CRC32(4) ISIZE(4), both little-endian.
    Trailer {
        buf: [u8; 8],
        have: usize,
    },
    /// A whole member has been verified; more input must be another member.
    MemberDone,
}

/// Decodes a gzip body, capping the decoded size.
///
/// Concatenated members (RFC 1952 §2.2, as `cat a.gz b.gz` produces) are supported and
/// their outputs concatenated; the cap applies to the total. Anything after a member
/// that is not another complete member is an error: non-gzip bytes (including zero
/// padding) are `BadGzip`, a partial member is `TruncatedCompression` at finish. An
/// empty body is `TruncatedCompression`. Header CRC (FHCRC), body CRC32 and ISIZE are
/// all verified.
#[derive(Debug)]
pub struct GzipDecoder {
    state: GzState,
    flags: u8,
    header_crc: Crc,
    body_crc: Crc,
    inflater: Inflater,
    phase: Phase,
}

impl GzipDecoder {
    /// `limit`: the most decoded bytes accepted; one more is `DecodedTooLarge`.
    pub fn new(limit: u64) -> Self {
        GzipDecoder {
            state: GzState::Fixed {
                buf: [0; 10],
                have: 0,
            },
            flags: 0,
            header_crc: Crc::new(),
            body_crc: Crc::new(),
            inflater: Inflater::new(false, limit),
            phase: Phase::Open,
        }
    }

    fn decode(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        while !input.is_empty() {
            let used = match self.state {
                GzState::Fixed { mut buf, mut have } => {
                    let n = fill(&mut buf, &mut have, input);
                    self.header_crc.update(&input[..n]);
                    check_fixed_prefix(&buf[..have])?;
                    self.state = if have == buf.len() {
                        self.flags = buf[3];
                        self.after_fixed()
                    } else {
                        GzState::Fixed { buf, have }
                    };
                    n
                }
                GzState::ExtraLen { mut buf, mut have } => {
                    let n = fill(&mut buf, &mut have, input);
                    self.header_crc.update(&input[..n]);
                    self.state = if have == buf.len() {
                        GzState::Extra {
                            left: usize::from(u16::from_le_bytes(buf)),
                        }
                    } else {
                        GzState::ExtraLen { buf, have }
                    };
                    n
                }
                GzState::Extra { left } => {
                    let n = left.min(input.len());
                    self.header_crc.update(&input[..n]);
                    self.state = if n == left {
                        self.after_extra()
                    } else {
                        GzState::Extra { left: left - n }
                    };
                    n
                }
                GzState::Name | GzState::Comment => {
                    let (n, ended) = match memchr::memchr(0, input) {
                        Some(i) => (i + 1, true),
                        None => (input.len(), false),
                    };
                    self.header_crc.update(&input[..n]);
                    if ended {
                        self.state = match self.state {
                            GzState::Name => self.after_name(),
                            _ => self.after_comment(),
                        };
                    }
                    n
                }
                GzState::HeaderCrc { mut buf, mut have } => {
                    let n = fill(&mut buf, &mut have, input);
                    self.state = if have == buf.len() {
                        // FHCRC holds the low 16 bits of the CRC32 of the header bytes.
                        if u32::from(u16::from_le_bytes(buf)) != self.header_crc.sum() & 0xffff {
                            return Err(DecodeError::BadGzip);
                        }
                        self.start_body()
                    } else {
                        GzState::HeaderCrc { buf, have }
                    };
                    n
                }
                GzState::Body => {
                    let (n, ended) = self.inflater.inflate(
                        input,
                        out,
                        Some(&mut self.body_crc),
                        DecodeError::BadGzip,
                    )?;
                    if ended {
                        self.state = GzState::Trailer {
                            buf: [0; 8],
                            have: 0,
                        };
                    }
                    n
                }
                GzState::Trailer { mut buf, mut have } => {
                    let n = fill(&mut buf, &mut have, input);
                    self.state = if have == buf.len() {
                        let [c0, c1, c2, c3, s0, s1, s2, s3] = buf;
                        let crc_ok = u32::from_le_bytes([c0, c1, c2, c3]) == self.body_crc.sum();
                        // ISIZE is the member's size modulo 2^32, as is `amount`.
                        let size_ok =
                            u32::from_le_bytes([s0, s1, s2, s3]) == self.body_crc.amount();
                        if !(crc_ok && size_ok) {
                            return Err(DecodeError::BadGzip);
                        }
                        GzState::MemberDone
                    } else {
                        GzState::Trailer { buf, have }
                    };
                    n
                }
                GzState::MemberDone => {
                    self.header_crc.reset();
                    self.state = GzState::Fixed {
                        buf: [0; 10],
                        have: 0,
                    };
                    0
                }
            };
            input = &input[used..];
        }
        Ok(())
    }

    fn after_fixed(&mut self) -> GzState {
        if self.flags & FEXTRA != 0 {
            GzState::ExtraLen {
                buf: [0; 2],
                have: 0,
            }
        } else {
            self.after_extra()
        }
    }

    fn after_extra(&mut self) -> GzState {
        if self.flags & FNAME != 0 {
            GzState::Name
        } else {
            self.after_name()
        }
    }

    fn after_name(&mut self) -> GzState {
        if self.flags & FCOMMENT != 0 {
            GzState::Comment
        } else {
            self.after_comment()
        }
    }

    fn after_comment(&mut self) -> GzState {
        if self.flags & FHCRC != 0 {
            GzState::HeaderCrc {
                buf: [0; 2],
                have: 0,
            }
        } else {
            self.start_body()
        }
    }

    fn start_body(&mut self) -> GzState {
        self.inflater.raw.reset(false);
        self.body_crc.reset();
        GzState::Body
    }
}

/// Validates as much of the fixed header as has arrived, so that a non-gzip body is
/// rejected as `BadGzip` even if it is shorter than the header.
fn check_fixed_prefix(prefix: &[u8]) -> Result<(), DecodeError> {
    let ok = match prefix {
        [] => true,
        [0x1f] | [0x1f, 0x8b] => true,
        // CM 8 is deflate, the only method defined; FLG bits 5-7 are reserved and must be zero.
        [0x1f, 0x8b, cm, rest @ ..] => {
            *cm == 8 && rest.first().is_none_or(|f| f & !KNOWN_FLAGS == 0)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::BadGzip)
    }
}

/// Copies as much of `input` as fits into `buf[*have..]`; returns the count copied.
fn fill<const N: usize>(buf: &mut [u8; N], have: &mut usize, input: &[u8]) -> usize {
    let n = (N - *have).min(input.len());
    buf[*have..*have + n].copy_from_slice(&input[..n]);
    *have += n;
    n
}

impl Transform for GzipDecoder {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        let r = self.decode(input, out);
        self.phase.after_push(r)
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        let r = match self.state {
            GzState::MemberDone => Ok(()),
            _ => Err(DecodeError::TruncatedCompression),
        };
        self.phase.after_finish(r)
    }
}

/// Decodes a zlib-wrapped deflate body (RFC 1950, what `Content-Encoding: deflate`
/// means and what PostHog's Python client sends), capping the decoded size. The
/// Adler-32 trailer is verified. Raw deflate without the zlib wrapper is rejected as
/// `BadDeflate`. Any byte after the zlib stream is `BadDeflate`.
#[derive(Debug)]
pub struct DeflateDecoder {
    inflater: Inflater,
    ended: bool,
    phase: Phase,
}

impl DeflateDecoder {
    /// `limit`: the most decoded bytes accepted; one more is `DecodedTooLarge`.
    pub fn new(limit: u64) -> Self {
        DeflateDecoder {
            inflater: Inflater::new(true, limit),
            ended: false,
            phase: Phase::Open,
        }
    }

    fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        if input.is_empty() {
            return Ok(());
        }
        if self.ended {
            return Err(DecodeError::BadDeflate);
        }
        let (used, ended) = self
            .inflater
            .inflate(input, out, None, DecodeError::BadDeflate)?;
        self.ended = ended;
        if used < input.len() {
            return Err(DecodeError::BadDeflate);
        }
        Ok(())
    }
}

impl Transform for DeflateDecoder {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        let r = self.decode(input, out);
        self.phase.after_push(r)
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.phase.ensure_open()?;
        let r = if self.ended {
            Ok(())
        } else {
            Err(DecodeError::TruncatedCompression)
        };
        self.phase.after_finish(r)
    }
}

#[cfg(test)]
mod tests;
