//! Gzip and deflate decoding: real encoder output, every split, bombs and corrupt input.

use super::super::test_support::{cut, run_chunks, split_invariant};
use super::*;
use proptest::prelude::*;
use std::io::Write;

use flate2::Compression;

/// Name, input, expected result.
type Case = (&'static str, Vec<u8>, Result<Vec<u8>, DecodeError>);

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// gzip via flate2's own encoder, an independent producer for interop.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn crc_of(data: &[u8]) -> Crc {
    let mut c = Crc::new();
    c.update(data);
    c
}

/// A member with hand-set flags and optional fields, for header-parsing cases.
fn member(flags: u8, extra: &[u8], name: &[u8], comment: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = vec![0x1f, 0x8b, 8, flags, 1, 2, 3, 4, 0, 3];
    if flags & FEXTRA != 0 {
        m.extend_from_slice(&u16::try_from(extra.len()).unwrap().to_le_bytes());
        m.extend_from_slice(extra);
    }
    if flags & FNAME != 0 {
        m.extend_from_slice(name);
        m.push(0);
    }
    if flags & FCOMMENT != 0 {
        m.extend_from_slice(comment);
        m.push(0);
    }
    if flags & FHCRC != 0 {
        let hcrc = crc_of(&m).sum() as u16;
        m.extend_from_slice(&hcrc.to_le_bytes());
    }
    m.extend_from_slice(&raw_deflate(data));
    let c = crc_of(data);
    m.extend_from_slice(&c.sum().to_le_bytes());
    m.extend_from_slice(&c.amount().to_le_bytes());
    m
}

fn with(mut v: Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    f(&mut v);
    v
}

const EVENT: &[u8] = br#"{"event":"$pageview","properties":{"$current_url":"https://example.com/a?b=c","distinct_id":"u-1"}}"#;

#[test]
fn gzip_decoder_table() {
    use DecodeError::{BadGzip as Bad, TruncatedCompression as Trunc};
    let plain = gzip(EVENT);
    let two = [gzip(b"first "), gzip(b"second")].concat();
    let cases: Vec<Case> = vec![
        ("flate2 member", plain.clone(), Ok(EVENT.to_vec())),
        ("empty payload", gzip(b""), Ok(vec![])),
        (
            "bare member",
            member(0, b"", b"", b"", EVENT),
            Ok(EVENT.to_vec()),
        ),
        (
            "all optional fields",
            member(
                FEXTRA | FNAME | FCOMMENT | FHCRC | 1,
                b"ab\x02\x00xy",
                b"event.json",
                b"a comment",
                EVENT,
            ),
            Ok(EVENT.to_vec()),
        ),
        (
            "empty extra",
            member(FEXTRA, b"", b"", b"", b"x"),
            Ok(b"x".to_vec()),
        ),
        ("two members", two.clone(), Ok(b"first second".to_vec())),
        (
            "three members, middle empty",
            [gzip(b"a"), gzip(b""), gzip(b"b")].concat(),
            Ok(b"ab".to_vec()),
        ),
        ("empty body", vec![], Err(Trunc)),
        ("header only", plain[..10].to_vec(), Err(Trunc)),
        (
            "missing trailer",
            plain[..plain.len() - 8].to_vec(),
            Err(Trunc),
        ),
        (
            "half trailer",
            plain[..plain.len() - 3].to_vec(),
            Err(Trunc),
        ),
        (
            "partial second member",
            [plain.clone(), vec![0x1f, 0x8b, 8]].concat(),
            Err(Trunc),
        ),
        (
            "truncated name",
            member(FNAME, b"", b"abc", b"", b"")[..12].to_vec(),
            Err(Trunc),
        ),
        ("plain json", b"{\"a\":1}".to_vec(), Err(Bad)),
        ("zlib not gzip", zlib(EVENT), Err(Bad)),
        ("second magic byte wrong", vec![0x1f, 0x8c], Err(Bad)),
        (
            "method not deflate",
            with(plain.clone(), |v| v[2] = 7),
            Err(Bad),
        ),
        (
            "reserved flag",
            with(plain.clone(), |v| v[3] = 0x20),
            Err(Bad),
        ),
        (
            "header crc wrong",
            with(member(FHCRC, b"", b"", b"", b"x"), |v| v[10] ^= 1),
            Err(Bad),
        ),
        (
            "reserved deflate block type",
            [&plain[..10], &[0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0]].concat(),
            Err(Bad),
        ),
        (
            "body crc wrong",
            with(plain.clone(), |v| {
                let n = v.len();
                v[n - 8] ^= 1
            }),
            Err(Bad),
        ),
        (
            "isize wrong",
            with(plain.clone(), |v| {
                let n = v.len();
                v[n - 1] ^= 1
            }),
            Err(Bad),
        ),
        (
            "trailing garbage",
            [plain.clone(), b"x".to_vec()].concat(),
            Err(Bad),
        ),
        (
            "trailing zero padding",
            [plain.clone(), vec![0; 4]].concat(),
            Err(Bad),
        ),
        (
            "trailing newline",
            [plain.clone(), b"\n".to_vec()].concat(),
            Err(Bad),
        ),
        (
            "garbage after two members",
            [two, b"zz".to_vec()].concat(),
            Err(Bad),
        ),
    ];
    for (name, input, want) in cases {
        let got = split_invariant(|| GzipDecoder::new(1 << 20), &input, name);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn gzip_every_prefix_is_truncated() {
    let full = member(FEXTRA | FNAME | FCOMMENT | FHCRC, b"xx", b"n", b"c", EVENT);
    for end in 0..full.len() {
        assert_eq!(
            run_chunks(GzipDecoder::new(1 << 20), &[&full[..end]]),
            Err(DecodeError::TruncatedCompression),
            "prefix of {end} bytes"
        );
    }
}

#[test]
fn gzip_corruption_never_yields_wrong_bytes() {
    // Any single-bit flip must fail (BadGzip, or Truncated where the flip makes the
    // deflate stream look longer) or, for the few bits no check covers (the final
    // deflate byte's padding), still decode to the original. FHCRC is set so that
    // header flips are covered too.
    let full = member(FNAME | FHCRC, b"", b"n", b"", EVENT);
    let mut undetected = 0;
    for i in 0..full.len() {
        for bit in 0..8 {
            let bad = with(full.clone(), |v| v[i] ^= 1 << bit);
            match run_chunks(GzipDecoder::new(1 << 20), &[&bad]) {
                Err(DecodeError::BadGzip | DecodeError::TruncatedCompression) => {}
                Ok(same) if same == EVENT => undetected += 1,
                other => panic!("byte {i} bit {bit}: {other:?}"),
            }
        }
    }
    assert!(undetected < 8, "{undetected} flips went unnoticed");
}

#[test]
fn deflate_decoder_table() {
    use DecodeError::{BadDeflate as Bad, TruncatedCompression as Trunc};
    let z = zlib(EVENT);
    let cases: Vec<Case> = vec![
        ("zlib stream", z.clone(), Ok(EVENT.to_vec())),
        ("empty payload", zlib(b""), Ok(vec![])),
        ("empty body", vec![], Err(Trunc)),
        ("header only", z[..2].to_vec(), Err(Trunc)),
        ("missing adler", z[..z.len() - 4].to_vec(), Err(Trunc)),
        (
            "adler wrong",
            with(z.clone(), |v| {
                let n = v.len();
                v[n - 1] ^= 1
            }),
            Err(Bad),
        ),
        (
            "header check bits wrong",
            with(z.clone(), |v| v[1] ^= 1),
            Err(Bad),
        ),
        ("method not deflate", vec![0x77, 0x01 + 0x1c], Err(Bad)),
        ("preset dictionary", vec![0x78, 0xbb, 0, 0, 0, 1], Err(Bad)),
        ("raw deflate", raw_deflate(EVENT), Err(Bad)),
        ("gzip", gzip(EVENT), Err(Bad)),
        (
            "trailing garbage",
            [z.clone(), b"x".to_vec()].concat(),
            Err(Bad),
        ),
        ("two streams", [z.clone(), z].concat(), Err(Bad)),
    ];
    for (name, input, want) in cases {
        let got = split_invariant(|| DeflateDecoder::new(1 << 20), &input, name);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn limit_is_inclusive() {
    let data = vec![b'a'; 1000];
    for (limit, ok) in [(1000, true), (999, false), (0, false)] {
        let want = if ok {
            Ok(data.clone())
        } else {
            Err(DecodeError::DecodedTooLarge { limit })
        };
        let g = split_invariant(|| GzipDecoder::new(limit), &gzip(&data), "gzip limit");
        assert_eq!(g, want, "gzip limit {limit}");
        let z = split_invariant(|| DeflateDecoder::new(limit), &zlib(&data), "zlib limit");
        assert_eq!(z, want, "zlib limit {limit}");
    }
    // The cap is on the sum over members.
    let two = [gzip(&data), gzip(&data)].concat();
    assert_eq!(
        run_chunks(GzipDecoder::new(1500), &[&two]),
        Err(DecodeError::DecodedTooLarge { limit: 1500 })
    );
    assert_eq!(run_chunks(GzipDecoder::new(0), &[&gzip(b"")]), Ok(vec![]));
}

#[test]
fn gzip_bomb_stops_at_limit() {
    const LIMIT: u64 = 1 << 20;
    let bomb = gzip(&vec![0u8; 10 << 20]);
    assert!(bomb.len() < 20 * 1024, "bomb is {} bytes", bomb.len());
    let mut d = GzipDecoder::new(LIMIT);
    let mut out = Vec::new();
    let mut result = Ok(());
    for chunk in bomb.chunks(4096) {
        result = d.push(chunk, &mut out);
        assert!(
            out.len() as u64 <= LIMIT + 64 * 1024,
            "out grew to {}",
            out.len()
        );
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(DecodeError::DecodedTooLarge { limit: LIMIT }));
    assert!(out.len() as u64 <= LIMIT);
    // One-shot push of the whole bomb is capped just the same.
    let mut out = Vec::new();
    let r = GzipDecoder::new(LIMIT).push(&bomb, &mut out);
    assert_eq!(r, Err(DecodeError::DecodedTooLarge { limit: LIMIT }));
    assert!(out.len() as u64 <= LIMIT);
    let zbomb = zlib(&vec![0u8; 10 << 20]);
    let mut out = Vec::new();
    let r = DeflateDecoder::new(LIMIT).push(&zbomb, &mut out);
    assert_eq!(r, Err(DecodeError::DecodedTooLarge { limit: LIMIT }));
    assert!(out.len() as u64 <= LIMIT);
}

#[test]
fn large_body_crosses_scratch_buffer_many_times() {
    let data: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
        .collect();
    let gz = gzip(&data);
    for size in [1000, 65536, gz.len()] {
        let chunks: Vec<&[u8]> = gz.chunks(size).collect();
        assert_eq!(
            run_chunks(GzipDecoder::new(1 << 21), &chunks).as_deref(),
            Ok(&data[..]),
            "chunk size {size}"
        );
    }
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        // Low-entropy data, so that back-references and long matches occur.
        proptest::collection::vec(0u8..4, 0..20_000),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn gzip_round_trip(
        data in payload(),
        dec_cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let enc = gzip(&data);
        let dec = run_chunks(GzipDecoder::new(u64::MAX), &cut(&enc, &dec_cuts));
        prop_assert_eq!(dec, Ok(data));
    }

    #[test]
    fn zlib_round_trip(
        data in payload(),
        dec_cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let enc = zlib(&data);
        let dec = run_chunks(DeflateDecoder::new(u64::MAX), &cut(&enc, &dec_cuts));
        prop_assert_eq!(dec, Ok(data));
    }

    /// Damaged streams fail identically however they are split.
    #[test]
    fn damaged_gzip_split_invariant(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        at in any::<usize>(),
        xor in 1u8..,
        truncate in any::<bool>(),
        limit in prop_oneof![Just(u64::MAX), 0u64..300],
        cuts in proptest::collection::vec(any::<usize>(), 0..5),
    ) {
        let mut gz = gzip(&data);
        let i = at % gz.len();
        if truncate { gz.truncate(i) } else { gz[i] ^= xor }
        let whole = run_chunks(GzipDecoder::new(limit), &[&gz]);
        prop_assert_eq!(run_chunks(GzipDecoder::new(limit), &cut(&gz, &cuts)), whole);
    }
}
