//! Telling a batch from a single event when both start alike: PostHog's batches and its
//! documented single events both write `api_key` first, and only a `batch` member makes a
//! batch. Read ahead over the object's own members, within a bound.

use super::{Envelope, ValueScan};
use crate::scrub::json;
use crate::scrub::ScrubError;

/// How far the framer reads ahead for a `batch` member before it takes the body for a
/// batch: a single event that long before its end is refused as a batch without `batch`
/// (fail closed, never a single event with an unscrubbed batch inside).
const MAX_LOOKAHEAD: usize = 64 << 10;

/// What reading ahead over an object's own members found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lookahead {
    /// A member named as asked.
    Found,
    /// The object ended without one.
    Absent,
    /// `data` ended first.
    More,
}

/// Whether the object at `data[0]` is a batch envelope (its first key is one of
/// `envelope_keys` and it has a `key` member) or one event; `None` until `data` tells.
pub(super) fn batch_or_event(
    data: &[u8],
    key: &'static str,
    envelope_keys: &[&str],
) -> Result<Option<Envelope>, ScrubError> {
    let first = json::skip_ws(data, 1);
    match data.get(first) {
        None => return Ok(None),
        Some(b'"') => {}
        Some(_) => return Ok(Some(Envelope::Event)),
    }
    let Ok(first_key) = json::string_at(data, first) else {
        return Ok(None);
    };
    let mut first_name = Vec::new();
    json::unescape_into(first_key.raw(data), &mut first_name)?;
    let is_envelope = envelope_keys
        .iter()
        .any(|k| first_name.eq_ignore_ascii_case(k.as_bytes()));
    if !is_envelope {
        return Ok(Some(Envelope::Event));
    }
    let is_batch = match top_level_key(data, key)? {
        Lookahead::Found => true,
        Lookahead::Absent => false,
        Lookahead::More if data.len() > MAX_LOOKAHEAD => true,
        Lookahead::More => return Ok(None),
    };
    Ok(Some(match is_batch {
        true => Envelope::Batch { key },
        false => Envelope::Event,
    }))
}

/// Whether the object at `data[0]` has a member named `key` (exact spelling, escapes
/// decoded) among its own members.
fn top_level_key(data: &[u8], key: &str) -> Result<Lookahead, ScrubError> {
    let mut scratch = Vec::new();
    let mut i = json::skip_ws(data, 1);
    loop {
        match data.get(i) {
            None => return Ok(Lookahead::More),
            Some(b'}') => return Ok(Lookahead::Absent),
            Some(b'"') => {}
            Some(_) => return Err(ScrubError::MalformedJson),
        }
        let Ok(name) = json::string_at(data, i) else {
            return Ok(Lookahead::More);
        };
        if name.text(data, &mut scratch)? == key.as_bytes() {
            return Ok(Lookahead::Found);
        }
        i = json::skip_ws(data, name.end);
        match data.get(i) {
            None => return Ok(Lookahead::More),
            Some(b':') => i = json::skip_ws(data, i + 1),
            Some(_) => return Err(ScrubError::MalformedJson),
        }
        let value_end = match data.get(i) {
            None => None,
            Some(b'{' | b'[' | b'"') => ValueScan::default().scan(&data[i..], usize::MAX)?,
            Some(_) => data[i..].iter().position(|&c| matches!(c, b',' | b'}')),
        };
        let Some(len) = value_end else {
            return Ok(Lookahead::More);
        };
        i = json::skip_ws(data, i + len);
        match data.get(i) {
            None => return Ok(Lookahead::More),
            Some(b',') => i = json::skip_ws(data, i + 1),
            Some(b'}') => return Ok(Lookahead::Absent),
            Some(_) => return Err(ScrubError::MalformedJson),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FrameSink, Framer};
    use super::*;

    #[test]
    fn a_batch_is_told_by_its_own_batch_member() {
        let cases = [
            (r#"{"api_key":"k","batch":["#, Lookahead::Found),
            (r#"{"api_key":"k","b\u0061tch":[]}"#, Lookahead::Found),
            (
                r#"{"api_key":"k","event":"e","properties":{"batch":1}}"#,
                Lookahead::Absent,
            ),
            (
                r#"{"api_key":"\"batch\"","n":-1.5e3,"t":true}"#,
                Lookahead::Absent,
            ),
            (r#"{"api_key":"k","ev"#, Lookahead::More),
            (r#"{"api_key":"k","n":12"#, Lookahead::More),
            (r#"{"api_key":"k","#, Lookahead::More),
            (r#"{"api_key":"k","p":{"a":["#, Lookahead::More),
            (r#"{"api_key":"k"}"#, Lookahead::Absent),
        ];
        for (body, want) in cases {
            assert_eq!(top_level_key(body.as_bytes(), "batch"), Ok(want), "{body}");
        }
        for malformed in [r#"{"api_key" 1}"#, r#"{"api_key":"k" "x":1}"#, r#"{1:2}"#] {
            assert!(
                top_level_key(malformed.as_bytes(), "batch").is_err(),
                "{malformed}"
            );
        }
    }

    /// Takes envelope members, refuses events: enough to see how a body is framed.
    struct EnvelopeOnly;
    impl FrameSink for EnvelopeOnly {
        fn event(
            &mut self,
            _: &[u8],
            _: &mut Vec<u8>,
        ) -> Result<crate::scrub::EventWritten, ScrubError> {
            Err(ScrubError::MalformedJson)
        }
        fn envelope_member(&mut self, _: &[u8], _: &mut Vec<u8>) -> Result<(), ScrubError> {
            Ok(())
        }
    }

    /// Pushes `body` in `chunk`-byte pieces into a PostHog-like framer: how long it took,
    /// and the framer.
    fn pushed(body: &[u8], chunk: usize) -> (std::time::Duration, Framer) {
        let envelope = Envelope::BatchOrEvent {
            key: "batch",
            envelope_keys: &["api_key"],
        };
        let mut framer = Framer::new(envelope, 2 << 20, 64);
        let started = std::time::Instant::now();
        for piece in body.chunks(chunk) {
            let _ = framer.push(piece, &mut EnvelopeOnly, &mut Vec::new());
        }
        (started.elapsed(), framer)
    }

    #[test]
    fn a_long_single_event_is_read_ahead_a_bounded_way_and_fails_closed() {
        let mut body = br#"{"api_key":"k","event":"e","properties":{"x":""#.to_vec();
        body.extend(std::iter::repeat_n(b'a', 256 << 10));
        body.extend_from_slice(br#""}}"#);
        let (took, mut framer) = pushed(&body, 64);
        assert!(took < std::time::Duration::from_secs(3), "{took:?}");
        // No `batch` within the look-ahead: a batch, refused for lacking one.
        assert!(framer.finish(&mut EnvelopeOnly, &mut Vec::new()).is_err());
    }

    /// Tiny chunks with a long first member, and a first key a megabyte long: each chunk
    /// once re-read the body (seconds to a minute here).
    #[test]
    fn tiny_chunks_cost_the_decision_no_more_than_twice_the_body() {
        let mut array = br#"{"api_key":"k","properties":["#.to_vec();
        while array.len() < 63_000 {
            array.extend_from_slice(b"0,");
        }
        array.extend_from_slice(b"0]}");
        let mut long_key = br#"{""#.to_vec();
        while long_key.len() < 1_000_000 {
            long_key.extend_from_slice(br"\n");
        }
        long_key.extend_from_slice(br#"":1}"#);
        for (body, chunk) in [(array, 1), (long_key, 1024)] {
            let (took, _) = pushed(&body, chunk);
            assert!(took < std::time::Duration::from_secs(3), "{took:?}");
        }
    }
}
