//! Resumable framing of a request body into events: walks the envelope as chunks arrive and
//! hands out one complete event at a time, so memory is bounded by one event, not the batch.
//! The framer writes the envelope's punctuation itself; events and envelope members are
//! rewritten by its sink.

use super::json;
use super::ScrubError;

mod lookahead;

/// Largest event accepted by default, in bytes of JSON (Mixpanel's own per-event limit).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

/// How a vendor wraps its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// The body is exactly one event object (Segment `/v1/t`).
    Event,
    /// A top-level array of events, one event object, or newline-delimited event objects.
    Events,
    /// An object whose member `key` is the array of events; its other members are the
    /// envelope, scrubbed on their own (Segment `{"batch":[...],"writeKey":...}`).
    Batch { key: &'static str },
    /// A batch envelope (as `Batch`) when the object's first key is one of `envelope_keys`
    /// and it has a `key` member, otherwise a single event; or a top-level array of events
    /// (PostHog's `/e/` takes all three, and both its batches and its documented single
    /// events write `api_key` first).
    BatchOrEvent {
        key: &'static str,
        envelope_keys: &'static [&'static str],
    },
}

/// Receives what the framer cuts out.
pub trait FrameSink {
    /// Rewrites the event at the start of `data` into `out`; returns its length. On error
    /// it may have written to `out` (the framer truncates) but must count nothing.
    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<super::EventWritten, ScrubError>;
    /// Rewrites one envelope member, given as a one-member object `{"key":value}`; writes the
    /// member without braces into `out`, or nothing when it is dropped.
    fn envelope_member(&mut self, member: &[u8], out: &mut Vec<u8>) -> Result<(), ScrubError>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    ArrayFirst,
    ArrayNext,
    ArrayItem,
    AfterTop,
    ObjectFirst,
    ObjectNext,
    ObjectKey,
    BatchFirst,
    BatchNext,
    BatchItem,
    End,
}

/// Progress through one JSON value, kept across chunks so no byte is scanned twice.
#[derive(Clone, Copy, Debug, Default)]
struct ValueScan {
    pos: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl ValueScan {
    /// Continues over the container or string starting at `data[0]`; `Some(end)` once complete.
    fn scan(&mut self, data: &[u8], max_depth: usize) -> Result<Option<usize>, ScrubError> {
        let mut i = self.pos;
        loop {
            if self.in_string {
                if self.escaped {
                    if i >= data.len() {
                        break;
                    }
                    i += 1;
                    self.escaped = false;
                }
                match json::find_quote_or_escape(&data[i.min(data.len())..]) {
                    None => {
                        i = data.len();
                        break;
                    }
                    Some(off) => {
                        i += off;
                        if data[i] == b'"' {
                            self.in_string = false;
                            i += 1;
                            if self.depth == 0 {
                                return Ok(Some(i));
                            }
                        } else {
                            self.escaped = true;
                            i += 1;
                        }
                    }
                }
                continue;
            }
            let Some(&c) = data.get(i) else { break };
            i += 1;
            match c {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    if self.depth > max_depth {
                        return Err(ScrubError::TooDeep { limit: max_depth });
                    }
                }
                b'}' | b']' => {
                    self.depth = self.depth.checked_sub(1).ok_or(ScrubError::MalformedJson)?;
                    if self.depth == 0 {
                        return Ok(Some(i));
                    }
                }
                _ => {}
            }
        }
        self.pos = i;
        Ok(None)
    }
}

/// What one step of framing achieved.
enum Step {
    /// Consumed input up to this offset; keep going.
    Advanced(usize),
    /// Cannot continue before more input arrives.
    NeedMore,
}

/// Frames a body of one `Envelope` shape. Feed it with `push`, end with `finish`.
pub struct Framer {
    envelope: Envelope,
    state: State,
    pending: Vec<u8>,
    scan: ValueScan,
    /// The current event did not fit in the bytes at hand: it is being scanned to its end.
    scanning: bool,
    member: Vec<u8>,
    wrote_item: bool,
    wrote_member: bool,
    seen_batch: bool,
    max_event_bytes: usize,
    max_depth: usize,
    /// Input bytes of the last event framed: the guess for the next one's size.
    last_event_len: usize,
    /// The body length at which a batch-or-event body is looked at again.
    decide_at: usize,
}

impl Framer {
    /// Bytes held between pushes (an event cut by a chunk's end, an envelope member).
    pub fn held_bytes(&self) -> usize {
        self.pending.capacity() + self.member.capacity()
    }

    pub fn new(envelope: Envelope, max_event_bytes: usize, max_depth: usize) -> Self {
        Framer {
            envelope,
            state: State::Start,
            pending: Vec::new(),
            scan: ValueScan::default(),
            scanning: false,
            member: Vec::new(),
            wrote_item: false,
            wrote_member: false,
            seen_batch: false,
            max_event_bytes,
            max_depth,
            last_event_len: 0,
            decide_at: 0,
        }
    }

    pub fn push(
        &mut self,
        input: &[u8],
        sink: &mut dyn FrameSink,
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        if self.pending.is_empty() {
            // Common case: whole events inside this chunk are framed straight from it.
            let consumed = self.advance(input, false, sink, out)?;
            self.pending.extend_from_slice(&input[consumed..]);
        } else if self.scanning {
            self.finish_cut_event(input, sink, out)?;
        } else {
            let mut data = std::mem::take(&mut self.pending);
            data.extend_from_slice(input);
            let consumed = self.advance(&data, false, sink, out)?;
            data.drain(..consumed);
            self.pending = data;
        }
        Ok(())
    }

    /// An event was cut by the previous chunk's end: copy only the rest of that event from
    /// `input` (found by continuing the scan), finish it, and frame the remainder directly.
    fn finish_cut_event(
        &mut self,
        input: &[u8],
        sink: &mut dyn FrameSink,
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        let mut continued = ValueScan {
            pos: 0,
            ..self.scan
        };
        let Some(end) = continued.scan(input, self.max_depth)? else {
            self.pending.extend_from_slice(input);
            self.scan = ValueScan {
                pos: self.pending.len(),
                ..continued
            };
            if self.pending.len() > self.max_event_bytes {
                return Err(ScrubError::EventTooLarge {
                    limit: self.max_event_bytes,
                });
            }
            return Ok(());
        };
        self.pending.extend_from_slice(&input[..end]);
        let mut data = std::mem::take(&mut self.pending);
        let consumed = self.advance(&data, false, sink, out)?;
        data.drain(..consumed);
        if data.is_empty() {
            self.pending = data;
            return self.push(&input[end..], sink, out);
        }
        data.extend_from_slice(&input[end..]);
        let consumed = self.advance(&data, false, sink, out)?;
        data.drain(..consumed);
        self.pending = data;
        Ok(())
    }

    pub fn finish(
        &mut self,
        sink: &mut dyn FrameSink,
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        let data = std::mem::take(&mut self.pending);
        let consumed = self.advance(&data, true, sink, out)?;
        let complete = matches!(self.state, State::AfterTop | State::End);
        if !complete || json::skip_ws(&data, consumed) != data.len() {
            return Err(if self.state == State::Start && data.is_empty() {
                ScrubError::EmptyBody
            } else {
                ScrubError::Truncated
            });
        }
        if matches!(self.envelope, Envelope::Batch { .. }) && !self.seen_batch {
            return Err(ScrubError::UnexpectedShape);
        }
        Ok(())
    }

    fn advance(
        &mut self,
        data: &[u8],
        last: bool,
        sink: &mut dyn FrameSink,
        out: &mut Vec<u8>,
    ) -> Result<usize, ScrubError> {
        let mut at = 0;
        loop {
            at = json::skip_ws(data, at);
            if at == data.len() {
                return Ok(at);
            }
            match self.step(&data[at..], last, sink, out)? {
                Step::Advanced(n) => at += n,
                Step::NeedMore => return Ok(at),
            }
        }
    }

    /// One unit of progress on `data` (which starts at a non-space byte).
    fn step(
        &mut self,
        data: &[u8],
        last: bool,
        sink: &mut dyn FrameSink,
        out: &mut Vec<u8>,
    ) -> Result<Step, ScrubError> {
        let c = data[0];
        match (self.state, self.envelope, c) {
            (State::Start, Envelope::Batch { .. }, b'{') => {
                out.push(b'{');
                self.enter(State::ObjectFirst)
            }
            (State::Start, Envelope::BatchOrEvent { key, envelope_keys }, b'{') => {
                // Each look reads the body from its start: the next waits until the body
                // has doubled, so a sender of tiny chunks costs at most twice the body, not
                // its square.
                if !last && data.len() < self.decide_at {
                    return self.need_more(data, last);
                }
                match lookahead::batch_or_event(data, key, envelope_keys)? {
                    Some(envelope) => {
                        // Decided once; from then on the body is one or the other.
                        self.envelope = envelope;
                        Ok(Step::Advanced(0))
                    }
                    None => {
                        self.decide_at = data.len().saturating_mul(2);
                        self.need_more(data, last)
                    }
                }
            }
            (State::Start, Envelope::BatchOrEvent { .. }, b'[') => {
                self.envelope = Envelope::Events;
                Ok(Step::Advanced(0))
            }
            (State::Start, Envelope::Events, b'[') => {
                out.push(b'[');
                self.enter(State::ArrayFirst)
            }
            (State::Start, _, b'{') | (State::AfterTop, Envelope::Events, b'{') => {
                self.event(data, State::AfterTop, sink, out)
            }
            (State::ArrayFirst, _, b']') | (State::ArrayNext, _, b']') => {
                out.push(b']');
                self.enter(State::End)
            }
            (State::ArrayFirst | State::ArrayItem, _, b'{') => {
                self.event(data, State::ArrayNext, sink, out)
            }
            (State::ArrayNext, _, b',') => self.enter(State::ArrayItem),
            (State::ObjectFirst | State::ObjectKey, Envelope::Batch { key }, b'"') => {
                self.envelope_member(data, key, last, sink, out)
            }
            (State::ObjectFirst | State::ObjectNext, _, b'}') => {
                out.push(b'}');
                self.enter(State::End)
            }
            (State::ObjectNext, _, b',') => self.enter(State::ObjectKey),
            (State::BatchFirst | State::BatchNext, _, b']') => {
                out.push(b']');
                self.enter(State::ObjectNext)
            }
            (State::BatchFirst | State::BatchItem, _, b'{') => {
                self.event(data, State::BatchNext, sink, out)
            }
            (State::BatchNext, _, b',') => self.enter(State::BatchItem),
            _ => Err(if self.state == State::Start {
                ScrubError::UnexpectedShape
            } else {
                ScrubError::MalformedJson
            }),
        }
    }

    fn enter(&mut self, state: State) -> Result<Step, ScrubError> {
        self.state = state;
        Ok(Step::Advanced(1))
    }

    /// Rewrites the event starting at `data[0]` and moves to `next`. Fast path: rewrite
    /// straight away, since the event is usually whole in the bytes at hand. If that fails,
    /// the resumable scanner tells an event cut by the chunk end (wait for more) from a
    /// malformed one; so each byte is scanned at most once and rewritten at most twice.
    fn event(
        &mut self,
        data: &[u8],
        next: State,
        sink: &mut dyn FrameSink,
        out: &mut Vec<u8>,
    ) -> Result<Step, ScrubError> {
        let mark = out.len();
        if self.wrote_item {
            // A second top-level object means newline-delimited JSON.
            out.push(if next == State::AfterTop { b'\n' } else { b',' });
        }
        if !self.scanning {
            // The end of a chunk usually cuts an event: when fewer bytes remain than the last
            // event took, finding its end first costs less than a rewrite failing at the cut.
            if data.len() >= self.last_event_len {
                match sink.event(data, out) {
                    Ok(written) => return self.event_done(written, mark, next, out),
                    Err(_) => out.truncate(mark),
                }
            }
            self.scanning = true;
        }
        let Some(end) = self.scan.scan(data, self.max_depth)? else {
            out.truncate(mark);
            if self.scan.pos > self.max_event_bytes {
                return Err(ScrubError::EventTooLarge {
                    limit: self.max_event_bytes,
                });
            }
            return Ok(Step::NeedMore);
        };
        if end > self.max_event_bytes {
            return Err(ScrubError::EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        self.scan = ValueScan::default();
        self.scanning = false;
        let written = sink.event(&data[..end], out)?;
        if written.len != end {
            return Err(ScrubError::MalformedJson);
        }
        self.event_done(written, mark, next, out)
    }

    fn event_done(
        &mut self,
        written: super::EventWritten,
        mark: usize,
        next: State,
        out: &mut Vec<u8>,
    ) -> Result<Step, ScrubError> {
        if written.len > self.max_event_bytes {
            return Err(ScrubError::EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        self.last_event_len = written.len;
        if written.kept {
            self.wrote_item = true;
        } else {
            // Removed whole: no trace of it, separator included.
            out.truncate(mark);
        }
        self.state = next;
        Ok(Step::Advanced(written.len))
    }

    /// A member of the batch envelope: the events array, or anything else (scrubbed alone).
    fn envelope_member(
        &mut self,
        data: &[u8],
        batch_key: &str,
        last: bool,
        sink: &mut dyn FrameSink,
        out: &mut Vec<u8>,
    ) -> Result<Step, ScrubError> {
        // Keys and the colon are short: re-read them from the member start on each attempt.
        let Ok(key) = json::string_at(data, 0) else {
            return self.need_more(data, last);
        };
        let colon = json::skip_ws(data, key.end);
        let value_start = json::skip_ws(data, colon + 1);
        if colon >= data.len() || value_start >= data.len() {
            return self.need_more(data, last);
        }
        if data[colon] != b':' {
            return Err(ScrubError::MalformedJson);
        }
        let raw_key = key.raw(data);
        // Vendors decode escapes and some match keys without case: `b\u0061tch` and `BATCH`
        // are the batch too (and a second one is refused), never an unscrubbed envelope member.
        let mut unescaped = Vec::new();
        json::unescape_into(raw_key, &mut unescaped)?;
        if unescaped.eq_ignore_ascii_case(batch_key.as_bytes()) {
            if self.seen_batch || data[value_start] != b'[' {
                return Err(ScrubError::UnexpectedShape);
            }
            self.seen_batch = true;
            self.comma_before_member(out);
            self.wrote_member = true;
            // In the vendor's own spelling: the proxy read it as the batch, so the vendor
            // must too (an escaped key written back as raw bytes would double its backslash).
            json::write_string(batch_key.as_bytes(), out);
            out.extend_from_slice(b":[");
            self.wrote_item = false;
            self.state = State::BatchFirst;
            return Ok(Step::Advanced(value_start + 1));
        }
        let Some(value_end) = self.scalar_or_value_end(&data[value_start..], last)? else {
            if value_start + self.scan.pos > self.max_event_bytes {
                return Err(ScrubError::EventTooLarge {
                    limit: self.max_event_bytes,
                });
            }
            return Ok(Step::NeedMore);
        };
        self.scan = ValueScan::default();
        let end = value_start + value_end;
        self.member.clear();
        self.member.push(b'{');
        self.member.extend_from_slice(&data[..end]);
        self.member.push(b'}');
        let before = out.len();
        self.comma_before_member(out);
        let with_comma = out.len();
        sink.envelope_member(&self.member, out)?;
        if out.len() == with_comma {
            out.truncate(before);
        } else {
            self.wrote_member = true;
        }
        self.state = State::ObjectNext;
        Ok(Step::Advanced(end))
    }

    fn comma_before_member(&self, out: &mut Vec<u8>) {
        if self.wrote_member {
            out.push(b',');
        }
    }

    fn scalar_or_value_end(
        &mut self,
        data: &[u8],
        last: bool,
    ) -> Result<Option<usize>, ScrubError> {
        match data[0] {
            b'{' | b'[' | b'"' => self.scan.scan(data, self.max_depth),
            _ => {
                let end = data
                    .iter()
                    .position(|&c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'));
                match end {
                    Some(end) => Ok(Some(end)),
                    None if last => Err(ScrubError::Truncated),
                    None if data.len() > self.max_event_bytes => Err(ScrubError::EventTooLarge {
                        limit: self.max_event_bytes,
                    }),
                    None => Ok(None),
                }
            }
        }
    }

    fn need_more(&self, data: &[u8], last: bool) -> Result<Step, ScrubError> {
        if last {
            return Err(ScrubError::Truncated);
        }
        if data.len() > self.max_event_bytes {
            return Err(ScrubError::EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(Step::NeedMore)
    }
}
