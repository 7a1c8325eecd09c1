//! One request body's way through the core: content decoding (gzip, deflate), the vendor's
//! payload envelope (Mixpanel `data=` forms, base64), the scrubber, and re-encoding, chained
//! as a single push/finish transform. Sans-IO like the core: bytes in, bytes out.

use std::sync::Arc;

use crate::decode::{
    Base64Decoder, Base64Encoder, DecodeError, DeflateDecoder, GzipDecoder, PercentDecoder,
    PercentEncoder, Transform,
};
use crate::scrub::{BodyPlan, CoreLimits, JsonScrubber, Report, ScrubEnv, ScrubError};
use crate::vendor::{BodyFormat, FormOutput};

/// Longest non-`data` form field kept (`verbose=1`, `ip=0`, `api_key=...`).
pub const MAX_FORM_FIELD_BYTES: usize = 4096;

/// Why a body was refused. Facts only, never payload bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Scrub(#[from] ScrubError),
    #[error("content encoding is not supported (gzip, deflate or identity only)")]
    UnsupportedEncoding,
    #[error("form body has no data field")]
    MissingData,
    #[error("a form field exceeds {limit} bytes")]
    FormFieldTooLarge { limit: usize },
    #[error("this endpoint carries its payload in the query; the body must be empty")]
    UnexpectedBody,
}

impl PipelineError {
    /// A stable label for metrics and the `scrubproxy-error` header.
    pub fn kind(&self) -> &'static str {
        match self {
            PipelineError::Decode(e) => e.kind(),
            PipelineError::Scrub(e) => e.kind(),
            PipelineError::UnsupportedEncoding => "unsupported_encoding",
            PipelineError::MissingData => "missing_data",
            PipelineError::FormFieldTooLarge { .. } => "form_field_too_large",
            PipelineError::UnexpectedBody => "unexpected_body",
        }
    }

    /// The HTTP status the tracker gets: its input was at fault, never the vendor.
    pub fn status(&self) -> u16 {
        match self {
            PipelineError::Decode(DecodeError::DecodedTooLarge { .. })
            | PipelineError::Scrub(ScrubError::EventTooLarge { .. })
            | PipelineError::FormFieldTooLarge { .. } => 413,
            PipelineError::UnsupportedEncoding | PipelineError::Decode(_) => 415,
            _ => 400,
        }
    }
}

/// What the pipeline needs to know about one request.
pub struct BodySpec {
    pub format: BodyFormat,
    pub plan: Arc<BodyPlan>,
    pub env: ScrubEnv,
    pub limits: CoreLimits,
    pub max_decoded_bytes: u64,
    /// The request's Content-Encoding, lower-cased (`None` when absent).
    pub content_encoding: Option<String>,
    /// The vendor said (in the query) that the payload is lz-string base64.
    pub lz64: bool,
    /// Parameters added to each query-string event of a bulk body (Matomo `cip`).
    pub event_params: Vec<(&'static str, String)>,
    /// Members added to a bulk body's envelope (Matomo `token_auth`).
    pub envelope_params: Vec<(&'static str, String)>,
}

/// Bytes that went through the scrubber. Only this module makes them, and `forward` sends
/// nothing else: unscrubbed bytes cannot reach a vendor by mistake.
#[derive(Debug, Default)]
pub struct Scrubbed(bytes::Bytes);

impl Scrubbed {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn into_bytes(self) -> bytes::Bytes {
        self.0
    }

    /// Joins scrubbed pieces of one body: still scrubbed.
    pub fn concat(parts: Vec<Scrubbed>) -> Scrubbed {
        let len = parts.iter().map(Scrubbed::len).sum();
        let mut out = Vec::with_capacity(len);
        for part in parts {
            out.extend_from_slice(&part.0);
        }
        Scrubbed(out.into())
    }
}

/// The body transform for one request.
pub struct BodyPipeline {
    content: ContentStage,
    payload: PayloadStage,
    decoded: Vec<u8>,
    out: Vec<u8>,
}

enum ContentStage {
    /// Not yet known: no Content-Encoding header, waiting for two bytes to sniff gzip.
    Sniffing {
        head: Vec<u8>,
        limit: u64,
    },
    Identity,
    Decoder(Box<dyn Transform + Send>),
}

enum PayloadStage {
    /// Waiting for the first bytes to tell a form, plain JSON and base64 apart.
    Undecided {
        head: Vec<u8>,
        spec: Box<(Arc<BodyPlan>, ScrubEnv, CoreLimits)>,
        output: FormOutput,
    },
    Json(Box<JsonScrubber>),
    /// The whole body is base64 of JSON (beacons that skip the form).
    Base64(Box<(Base64Decoder, JsonScrubber)>, Vec<u8>),
    Form(Box<FormStage>),
    /// Query-string events in a form or bulk JSON body, held (bounded) until the body ends.
    QueryBody(Box<QueryBody>),
    /// lz-string base64, which only decodes whole: held (bounded) until the body ends.
    Lz64 {
        body: Vec<u8>,
        limit: u64,
        scrubber: Box<JsonScrubber>,
    },
    /// A query-carried payload: the body must stay empty.
    Empty,
}

impl BodyPipeline {
    pub fn new(spec: BodySpec) -> Result<Self, PipelineError> {
        let content = match spec.content_encoding.as_deref() {
            None | Some("") | Some("identity") => ContentStage::Sniffing {
                head: Vec::new(),
                limit: spec.max_decoded_bytes,
            },
            Some("gzip") | Some("x-gzip") => {
                ContentStage::Decoder(Box::new(GzipDecoder::new(spec.max_decoded_bytes)))
            }
            Some("deflate") => {
                ContentStage::Decoder(Box::new(DeflateDecoder::new(spec.max_decoded_bytes)))
            }
            Some(_) => return Err(PipelineError::UnsupportedEncoding),
        };
        let payload = match spec.format {
            BodyFormat::Json => PayloadStage::Json(Box::new(JsonScrubber::new(
                spec.plan,
                spec.env,
                spec.limits,
            ))),
            BodyFormat::DataForm { .. } if spec.lz64 => PayloadStage::Lz64 {
                body: Vec::new(),
                limit: spec.max_decoded_bytes,
                scrubber: Box::new(JsonScrubber::new(spec.plan, spec.env, spec.limits)),
            },
            BodyFormat::DataForm { output } => PayloadStage::Undecided {
                head: Vec::new(),
                spec: Box::new((spec.plan, spec.env, spec.limits)),
                output,
            },
            BodyFormat::DataQuery | BodyFormat::Passthrough | BodyFormat::QueryEvent => {
                PayloadStage::Empty
            }
            BodyFormat::QueryEventBody => PayloadStage::QueryBody(Box::new(QueryBody {
                body: Vec::new(),
                limit: spec.max_decoded_bytes,
                plan: spec.plan,
                env: spec.env,
                limits: spec.limits,
                event_params: spec.event_params,
                envelope_params: spec.envelope_params,
                report: Report::default(),
                form: false,
            })),
        };
        Ok(BodyPipeline {
            content,
            payload,
            decoded: Vec::new(),
            out: Vec::new(),
        })
    }

    /// The Content-Type of what this pipeline writes.
    pub fn output_content_type(&self) -> &'static str {
        match &self.payload {
            PayloadStage::Form(f) if !f.unwrap => "application/x-www-form-urlencoded",
            PayloadStage::QueryBody(q) if q.form => "application/x-www-form-urlencoded",
            _ => "application/json",
        }
    }

    /// Scrubs what `chunk` completes. On error, discard the body: nothing of it may go on.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Scrubbed, PipelineError> {
        if chunk.is_empty() {
            // An empty push means nothing; only `finish` ends the body.
            return Ok(Scrubbed::default());
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        // The output leaves as `Bytes`, so each chunk needs a fresh buffer: sized once, it
        // does not grow (and copy) while the chunk is scrubbed.
        out.reserve(chunk.len() + chunk.len() / 4);
        let result = if matches!(self.content, ContentStage::Identity) {
            // Plain bodies (nearly all) go to the payload stage without a copy.
            self.payload_push(chunk, &mut out)
        } else {
            let mut decoded = std::mem::take(&mut self.decoded);
            decoded.clear();
            let result = self
                .decode_content(chunk, false, &mut decoded)
                .and_then(|()| self.payload_push(&decoded, &mut out));
            self.decoded = decoded;
            result
        };
        result.map(|()| Scrubbed(out.into()))
    }

    /// Ends the body, returning the last scrubbed bytes, or the error that voids it.
    pub fn finish(&mut self) -> Result<Scrubbed, PipelineError> {
        let mut out = Vec::new();
        let mut decoded = std::mem::take(&mut self.decoded);
        decoded.clear();
        self.decode_content(&[], true, &mut decoded)?;
        self.payload_push(&decoded, &mut out)?;
        self.payload_finish(&mut out)?;
        Ok(Scrubbed(out.into()))
    }

    /// What the rules did (after `finish`).
    pub fn report(&self) -> Report {
        match &self.payload {
            PayloadStage::Json(s) => s.report().clone(),
            PayloadStage::Form(f) => f.scrubber.report().clone(),
            PayloadStage::Base64(stage, _) => stage.1.report().clone(),
            PayloadStage::Lz64 { scrubber, .. } => scrubber.report().clone(),
            PayloadStage::QueryBody(q) => q.report.clone(),
            _ => Report::default(),
        }
    }

    fn decode_content(
        &mut self,
        chunk: &[u8],
        last: bool,
        decoded: &mut Vec<u8>,
    ) -> Result<(), PipelineError> {
        if let ContentStage::Sniffing { head, limit } = &mut self.content {
            head.extend_from_slice(chunk);
            if head.len() < 2 && !last {
                return Ok(());
            }
            let head = std::mem::take(head);
            // Senders label gzip badly or not at all (posthog-js, Mixpanel replays): the
            // magic bytes decide, so compressed bytes are never mistaken for a payload.
            self.content = if crate::decode::looks_like_gzip(&head) {
                ContentStage::Decoder(Box::new(GzipDecoder::new(*limit)))
            } else {
                ContentStage::Identity
            };
            return self.decode_content(&head, last, decoded);
        }
        match &mut self.content {
            ContentStage::Decoder(d) => {
                d.push(chunk, decoded)?;
                if last {
                    d.finish(decoded)?;
                }
            }
            _ => decoded.extend_from_slice(chunk),
        }
        Ok(())
    }

    fn payload_push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), PipelineError> {
        if let PayloadStage::Undecided { head, .. } = &mut self.payload {
            head.extend_from_slice(bytes);
            let start = head.iter().position(|c| !c.is_ascii_whitespace());
            // Three bytes tell base64 of `{"`/`[` (`eyJ`, `W3s`, ...) from a form field name;
            // at the end of the body whatever is there decides.
            let Some(start) = start.filter(|s| head.len() >= s + 3 || bytes.is_empty()) else {
                return Ok(());
            };
            let PayloadStage::Undecided { head, spec, output } =
                std::mem::replace(&mut self.payload, PayloadStage::Empty)
            else {
                return Ok(());
            };
            let (plan, env, limits) = *spec;
            let scrubber = JsonScrubber::new(plan, env, limits);
            self.payload = match head[start] {
                b'{' | b'[' => PayloadStage::Json(Box::new(scrubber)),
                _ if looks_like_base64_json(&head[start..]) => {
                    PayloadStage::Base64(Box::new((Base64Decoder::new(), scrubber)), Vec::new())
                }
                _ => PayloadStage::Form(Box::new(FormStage::new(scrubber, output))),
            };
            return self.payload_push(&head, out);
        }
        match &mut self.payload {
            PayloadStage::Json(s) => s.push(bytes, out)?,
            PayloadStage::Base64(stage, json) => {
                let (decoder, scrubber) = &mut **stage;
                json.clear();
                let trimmed = trim_trailing_whitespace(bytes);
                decoder.push(trimmed, json)?;
                scrubber.push(json, out)?;
            }
            PayloadStage::Form(f) => f.push(bytes, out)?,
            PayloadStage::QueryBody(q) => {
                q.body.extend_from_slice(bytes);
                if q.body.len() as u64 > q.limit {
                    return Err(
                        crate::decode::DecodeError::DecodedTooLarge { limit: q.limit }.into(),
                    );
                }
            }
            PayloadStage::Lz64 { body, limit, .. } => {
                body.extend_from_slice(bytes);
                if body.len() as u64 > *limit {
                    return Err(
                        crate::decode::DecodeError::DecodedTooLarge { limit: *limit }.into(),
                    );
                }
            }
            PayloadStage::Empty if !bytes.is_empty() => return Err(PipelineError::UnexpectedBody),
            _ => {}
        }
        Ok(())
    }

    fn payload_finish(&mut self, out: &mut Vec<u8>) -> Result<(), PipelineError> {
        match &mut self.payload {
            PayloadStage::Json(s) => s.finish(out)?,
            PayloadStage::Base64(stage, json) => {
                let (decoder, scrubber) = &mut **stage;
                json.clear();
                decoder.finish(json)?;
                scrubber.push(json, out)?;
                scrubber.finish(out)?;
            }
            PayloadStage::Form(f) => f.finish(out)?,
            PayloadStage::QueryBody(q) => q.finish(out)?,
            PayloadStage::Lz64 {
                body,
                limit,
                scrubber,
            } => {
                let json =
                    crate::decode::lz_string::decompress_from_base64(&lz64_value(body)?, *limit)?;
                scrubber.push(&json, out)?;
                scrubber.finish(out)?;
            }
            PayloadStage::Undecided { head, .. } if head.iter().all(u8::is_ascii_whitespace) => {
                return Err(ScrubError::EmptyBody.into())
            }
            PayloadStage::Undecided { .. } => {
                // A body shorter than the sniffing window: decide on it now, then finish.
                self.payload_push(&[], out)?;
                if matches!(self.payload, PayloadStage::Undecided { .. }) {
                    return Err(ScrubError::UnexpectedShape.into());
                }
                return self.payload_finish(out);
            }
            PayloadStage::Empty => {}
        }
        Ok(())
    }
}

/// A body of query-string events: a form (one event) or Matomo's bulk JSON.
struct QueryBody {
    body: Vec<u8>,
    limit: u64,
    plan: Arc<BodyPlan>,
    env: ScrubEnv,
    limits: CoreLimits,
    event_params: Vec<(&'static str, String)>,
    envelope_params: Vec<(&'static str, String)>,
    report: Report,
    /// The output is a form (not JSON).
    form: bool,
}

impl QueryBody {
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), PipelineError> {
        let body = std::mem::take(&mut self.body);
        let text = std::str::from_utf8(trim_trailing_whitespace(&body))
            .map_err(|_| ScrubError::InvalidUtf8)?;
        if text.trim_start().is_empty() {
            return Ok(());
        }
        if !text.trim_start().starts_with('{') {
            // One hit per line: a form is one line; gtag batches several.
            self.form = true;
            let mut wrote = false;
            for line in text.split('\n').filter(|l| !l.trim().is_empty()) {
                if let Some(event) = self.event(line.trim_end_matches('\r'))? {
                    if wrote {
                        out.push(b'\n');
                    }
                    out.extend_from_slice(event.as_bytes());
                    wrote = true;
                }
            }
            return Ok(());
        }
        // Bulk: small by nature (a page of hits), so parsed whole, within the decoded limit.
        let mut bulk: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|_| ScrubError::MalformedJson)?;
        let requests = bulk
            .get("requests")
            .and_then(serde_json::Value::as_array)
            .ok_or(ScrubError::UnexpectedShape)?
            .clone();
        let mut scrubbed = Vec::with_capacity(requests.len());
        for request in requests {
            let query = request.as_str().ok_or(ScrubError::UnexpectedShape)?;
            if let Some(event) = self.event(query.strip_prefix('?').unwrap_or(query))? {
                scrubbed.push(serde_json::Value::String(format!("?{event}")));
            }
        }
        bulk.insert("requests".into(), serde_json::Value::Array(scrubbed));
        // Only the proxy's own credential may authorize a bulk; never the sender's.
        bulk.retain(|k, _| k == "requests");
        for (name, value) in &self.envelope_params {
            bulk.insert((*name).into(), serde_json::Value::String(value.clone()));
        }
        serde_json::to_writer(&mut *out, &bulk).map_err(|_| ScrubError::MalformedJson)?;
        Ok(())
    }

    /// One event: scrubbed, plus the proxy's own parameters; `None` when the rules removed it.
    fn event(&mut self, query: &str) -> Result<Option<String>, PipelineError> {
        let (mut event, report) = scrub_query_event(query, &self.plan, &self.env, self.limits)?;
        self.report.events_dropped += report.events_dropped;
        if report.events_dropped > 0 {
            return Ok(None);
        }
        for (name, value) in &self.event_params {
            event.push('&');
            event.push_str(name);
            event.push('=');
            event.push_str(&percent_encoded(value.as_bytes())?);
        }
        self.report.events += report.events;
        merge(&mut self.report, &report);
        Ok(Some(event))
    }
}

fn merge(into: &mut Report, from: &Report) {
    for (rule, outcome, n) in from.nonzero() {
        for _ in 0..n {
            into.count(rule, outcome);
        }
    }
}

/// Base64 of `{"`, `{}`, `[{`, `["` or `[]`: a whole body of base64 JSON.
fn looks_like_base64_json(head: &[u8]) -> bool {
    const OPENINGS: &[&[u8]] = &[b"eyJ", b"e30", b"W3s", b"WyJ", b"W10"];
    OPENINGS.iter().any(|o| head.starts_with(o))
}

fn trim_trailing_whitespace(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |e| e + 1);
    &bytes[..end]
}

/// The lz-string text of a body: the form's `data` value, or the whole body.
fn lz64_value(body: &[u8]) -> Result<Vec<u8>, PipelineError> {
    let text = trim_trailing_whitespace(body);
    let value = text
        .split(|&c| c == b'&')
        .find_map(|field| field.strip_prefix(b"data="))
        .unwrap_or(text);
    let decoded = crate::decode::transform_all(&mut PercentDecoder::new(true), value)?;
    // Form decoding turned unescaped `+` into spaces; the alphabet has no space.
    Ok(decoded
        .into_iter()
        .map(|c| if c == b' ' { b'+' } else { c })
        .collect())
}

/// A streaming `application/x-www-form-urlencoded` body whose `data` field is the payload.
struct FormStage {
    scrubber: JsonScrubber,
    /// Send the payload on as plain JSON instead of a form.
    unwrap: bool,
    state: FormState,
    name: Vec<u8>,
    value: Vec<u8>,
    wrote_field: bool,
    seen_data: bool,
    data: Option<DataField>,
    json: Vec<u8>,
    scrubbed: Vec<u8>,
}

#[derive(PartialEq, Eq)]
enum FormState {
    Name,
    Data,
    Other,
}

/// The `data` value's decoders: percent-decoding, then base64 unless it is plain JSON.
struct DataField {
    percent: PercentDecoder,
    base64: Option<Base64Decoder>,
    decided: bool,
    /// Leading blanks seen before the format was decided (a `+` in base64 decodes to one).
    held: Vec<u8>,
    decoded: Vec<u8>,
    encoder: PercentEncoder,
}

impl FormStage {
    fn new(scrubber: JsonScrubber, output: FormOutput) -> Self {
        FormStage {
            scrubber,
            unwrap: output == FormOutput::Json,
            state: FormState::Name,
            name: Vec::new(),
            value: Vec::new(),
            wrote_field: false,
            seen_data: false,
            data: None,
            json: Vec::new(),
            scrubbed: Vec::new(),
        }
    }

    fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), PipelineError> {
        while !input.is_empty() {
            let amp = memchr::memchr(b'&', input);
            let (part, rest) = match amp {
                Some(i) => (&input[..i], &input[i + 1..]),
                None => (input, &input[input.len()..]),
            };
            match self.state {
                FormState::Name => {
                    let eq = memchr::memchr(b'=', part);
                    let name_part = eq.map_or(part, |i| &part[..i]);
                    self.name.extend_from_slice(name_part);
                    if self.name.len() > MAX_FORM_FIELD_BYTES {
                        return Err(PipelineError::FormFieldTooLarge {
                            limit: MAX_FORM_FIELD_BYTES,
                        });
                    }
                    match eq {
                        Some(i) => {
                            self.start_value(out)?;
                            // Re-enter with the rest of this part as the value.
                            let value_rest = &part[i + 1..];
                            self.value_bytes(value_rest, out)?;
                        }
                        None if amp.is_some() => {
                            // A bare `name&`: keep it as a flag field.
                            self.start_value(out)?;
                        }
                        None => {}
                    }
                }
                FormState::Data | FormState::Other => self.value_bytes(part, out)?,
            }
            if amp.is_some() {
                self.end_field(out)?;
            }
            input = rest;
        }
        Ok(())
    }

    fn start_value(&mut self, out: &mut Vec<u8>) -> Result<(), PipelineError> {
        // Compared decoded: a form decoder reads `d%61ta` as `data` too.
        let name = crate::decode::transform_all(&mut PercentDecoder::new(true), &self.name)?;
        if name == b"data" {
            if self.seen_data {
                return Err(ScrubError::UnexpectedShape.into());
            }
            self.seen_data = true;
            self.state = FormState::Data;
            self.data = Some(DataField {
                percent: PercentDecoder::new(true),
                base64: None,
                decided: false,
                held: Vec::new(),
                decoded: Vec::new(),
                encoder: PercentEncoder::form(),
            });
            if !self.unwrap {
                if self.wrote_field {
                    out.push(b'&');
                }
                out.extend_from_slice(b"data=");
                self.wrote_field = true;
            }
        } else {
            self.state = FormState::Other;
            self.value.clear();
        }
        Ok(())
    }

    fn value_bytes(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), PipelineError> {
        match self.state {
            FormState::Data => self.data_bytes(bytes, false, out),
            FormState::Other => {
                self.value.extend_from_slice(bytes);
                if self.value.len() > MAX_FORM_FIELD_BYTES {
                    return Err(PipelineError::FormFieldTooLarge {
                        limit: MAX_FORM_FIELD_BYTES,
                    });
                }
                Ok(())
            }
            FormState::Name => Ok(()),
        }
    }

    fn data_bytes(
        &mut self,
        bytes: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), PipelineError> {
        let Some(data) = self.data.as_mut() else {
            return Ok(());
        };
        data.decoded.clear();
        data.percent.push(bytes, &mut data.decoded)?;
        if last {
            data.percent.finish(&mut data.decoded)?;
        }
        if !data.decided {
            match data.decoded.iter().find(|c| !c.is_ascii_whitespace()) {
                Some(&first) => {
                    data.decided = true;
                    if !matches!(first, b'{' | b'[') {
                        data.base64 = Some(Base64Decoder::new());
                    }
                    if !data.held.is_empty() {
                        let mut all = std::mem::take(&mut data.held);
                        all.extend_from_slice(&data.decoded);
                        data.decoded = all;
                    }
                }
                None if !last => {
                    // Keep blanks until the format is known, so every split gives one result.
                    data.held.extend_from_slice(&data.decoded);
                    if data.held.len() > MAX_FORM_FIELD_BYTES {
                        return Err(PipelineError::FormFieldTooLarge {
                            limit: MAX_FORM_FIELD_BYTES,
                        });
                    }
                    return Ok(());
                }
                None => {}
            }
        }
        self.json.clear();
        match data.base64.as_mut() {
            Some(b64) => {
                // Some SDKs put base64 in a form without escaping `+`, which form decoding
                // turned into spaces; base64 has no spaces, so this undoes it losslessly.
                for c in data.decoded.iter_mut() {
                    if *c == b' ' {
                        *c = b'+';
                    }
                }
                b64.push(&data.decoded, &mut self.json)?;
                if last {
                    b64.finish(&mut self.json)?;
                }
            }
            None if data.decided => self.json.extend_from_slice(&data.decoded),
            None => {}
        }
        self.scrubbed.clear();
        self.scrubber.push(&self.json, &mut self.scrubbed)?;
        if last {
            self.scrubber.finish(&mut self.scrubbed)?;
        }
        if self.unwrap {
            out.extend_from_slice(&self.scrubbed);
            return Ok(());
        }
        data.encoder.push(&self.scrubbed, out)?;
        if last {
            data.encoder.finish(out)?;
        }
        Ok(())
    }

    fn end_field(&mut self, out: &mut Vec<u8>) -> Result<(), PipelineError> {
        match self.state {
            FormState::Data => {
                self.data_bytes(&[], true, out)?;
                self.data = None;
            }
            FormState::Other | FormState::Name if !self.name.is_empty() && !self.unwrap => {
                if self.wrote_field {
                    out.push(b'&');
                }
                out.extend_from_slice(&self.name);
                if self.state == FormState::Other {
                    out.push(b'=');
                    out.extend_from_slice(&self.value);
                }
                self.wrote_field = true;
            }
            _ => {}
        }
        self.name.clear();
        self.value.clear();
        self.state = FormState::Name;
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), PipelineError> {
        self.end_field(out)?;
        if !self.seen_data {
            return Err(PipelineError::MissingData);
        }
        Ok(())
    }
}

/// A scrubbed query string and what the rules did to it.
pub struct ScrubbedQuery {
    pub query: String,
    pub report: Report,
    /// Whether a `data` payload parameter was found (and scrubbed).
    pub had_payload: bool,
}

/// Scrubs a query string. With `data_is_payload` (Mixpanel, PostHog), a `data` parameter is
/// an event payload (base64 or JSON), scrubbed like a body and re-encoded as base64; the other
/// parameters, and all of them otherwise, get the parameter rules. Names are compared
/// decoded, so `d%61ta` is `data` too.
pub fn scrub_query(
    query: &str,
    plan: &Arc<BodyPlan>,
    env: &ScrubEnv,
    limits: CoreLimits,
    data_is_payload: bool,
) -> Result<ScrubbedQuery, PipelineError> {
    let mut out = String::with_capacity(query.len());
    let mut report = Report::default();
    let mut had_payload = false;
    let mut replaced = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = param.split_once('=').unwrap_or((param, ""));
        let name = percent_decoded(raw_name)?;
        let value = percent_decoded(raw_value)?;
        let text = if data_is_payload && name == b"data" {
            if had_payload {
                return Err(ScrubError::UnexpectedShape.into());
            }
            had_payload = true;
            let (encoded, payload_report) = scrub_data_value(value, plan, env, limits)?;
            report = payload_report;
            format!("data={encoded}")
        } else {
            match plan
                .event
                .scrub_param(&name, &value, &mut replaced, &mut report)
            {
                crate::scrub::ParamOutcome::Drop => continue,
                crate::scrub::ParamOutcome::Keep => param.to_owned(),
                crate::scrub::ParamOutcome::Replace => {
                    format!("{raw_name}={}", percent_encoded(&replaced)?)
                }
            }
        };
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&text);
    }
    Ok(ScrubbedQuery {
        query: out,
        report,
        had_payload,
    })
}

fn percent_decoded(text: &str) -> Result<Vec<u8>, PipelineError> {
    Ok(crate::decode::transform_all(
        &mut PercentDecoder::new(true),
        text.as_bytes(),
    )?)
}

pub(crate) fn percent_encoded(bytes: &[u8]) -> Result<String, PipelineError> {
    let encoded = crate::decode::transform_all(&mut PercentEncoder::form(), bytes)?;
    // The encoder writes ASCII only.
    String::from_utf8(encoded).map_err(|_| ScrubError::InvalidUtf8.into())
}

/// A `data` payload value (decoded from the query): JSON or base64 JSON in, scrubbed base64
/// (percent-encoded for the query) out.
fn scrub_data_value(
    mut decoded: Vec<u8>,
    plan: &Arc<BodyPlan>,
    env: &ScrubEnv,
    limits: CoreLimits,
) -> Result<(String, Report), PipelineError> {
    let is_json = matches!(
        decoded.iter().find(|c| !c.is_ascii_whitespace()),
        Some(b'{' | b'[')
    );
    let json = if is_json {
        decoded
    } else {
        for c in decoded.iter_mut() {
            if *c == b' ' {
                *c = b'+';
            }
        }
        crate::decode::transform_all(&mut Base64Decoder::new(), &decoded)?
    };
    let mut scrubber = JsonScrubber::new(plan.clone(), env.clone(), limits);
    let mut scrubbed = Vec::new();
    scrubber.push(&json, &mut scrubbed)?;
    scrubber.finish(&mut scrubbed)?;
    let b64 = crate::decode::transform_all(&mut Base64Encoder::standard(), &scrubbed)?;
    Ok((percent_encoded(&b64)?, scrubber.report().clone()))
}

/// Scrubs a query string that is itself one event (Snowplow `GET /i`, Matomo hits): the
/// parameters become a flat JSON object, the vendor's event plan scrubs it like any event,
/// and the result is written back as a query string (members the plan adds at the end).
pub fn scrub_query_event(
    query: &str,
    plan: &Arc<BodyPlan>,
    env: &ScrubEnv,
    limits: CoreLimits,
) -> Result<(String, Report), PipelineError> {
    let mut object = Vec::with_capacity(query.len() + 16);
    object.push(b'{');
    for (i, param) in query.split('&').filter(|p| !p.is_empty()).enumerate() {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if i > 0 {
            object.push(b',');
        }
        crate::scrub::write_json_string(&percent_decoded(name)?, &mut object);
        object.push(b':');
        let value = percent_decoded(value)?;
        std::str::from_utf8(&value).map_err(|_| ScrubError::InvalidUtf8)?;
        crate::scrub::write_json_string(&value, &mut object);
    }
    object.push(b'}');
    let mut scrubber = JsonScrubber::new(plan.clone(), env.clone(), limits);
    let mut scrubbed = Vec::new();
    scrubber.push(&object, &mut scrubbed)?;
    scrubber.finish(&mut scrubbed)?;
    if scrubber.report().events_dropped > 0 {
        // The rules removed the event: no query at all (the report says why).
        return Ok((String::new(), scrubber.report().clone()));
    }
    let pairs = flat_pairs(&scrubbed)?;
    let mut out = String::with_capacity(query.len());
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&percent_encoded(name.as_bytes())?);
        out.push('=');
        out.push_str(&percent_encoded(value.as_bytes())?);
    }
    Ok((out, scrubber.report().clone()))
}

/// The members of a flat JSON object, in order, with every value as text.
fn flat_pairs(object: &[u8]) -> Result<Vec<(String, String)>, PipelineError> {
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a flat object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                pairs.push((k, text));
            }
            Ok(pairs)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(object);
    serde::de::Deserializer::deserialize_map(&mut de, Pairs)
        .map_err(|_| ScrubError::MalformedJson.into())
}

/// Sets query parameter `name` to `value` (replacing every occurrence, or appending it).
pub fn set_query_param(query: &str, name: &str, value: &str) -> String {
    let mut out: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(name))
        .map(str::to_owned)
        .collect();
    out.push(format!("{name}={value}"));
    out.join("&")
}
