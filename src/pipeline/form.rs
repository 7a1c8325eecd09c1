//! Form bodies (`application/x-www-form-urlencoded`) whose `data` field is the event payload
//! (Mixpanel, PostHog legacy): streamed field by field, the payload scrubbed as it arrives.

use crate::decode::{Base64Decoder, PercentDecoder, PercentEncoder, Transform};
use crate::scrub::{JsonScrubber, ParamOutcome, ScrubError};
use crate::vendor::FormOutput;

use super::*;

/// A streaming `application/x-www-form-urlencoded` body whose `data` field is the payload.
pub(super) struct FormStage {
    pub(super) scrubber: JsonScrubber,
    /// Send the payload on as plain JSON instead of a form.
    pub(super) unwrap: bool,
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
    pub(super) fn new(scrubber: JsonScrubber, output: FormOutput) -> Self {
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

    pub(super) fn push(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), PipelineError> {
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
                self.other_field(out)?;
            }
            _ => {}
        }
        self.name.clear();
        self.value.clear();
        self.state = FormState::Name;
        Ok(())
    }

    /// A field beside `data` (`verbose`, `ip`, `api_key`, or anything a client adds): the
    /// rules judge it like a query parameter, since whatever it holds goes upstream too.
    fn other_field(&mut self, out: &mut Vec<u8>) -> Result<(), PipelineError> {
        let name = crate::decode::transform_all(&mut PercentDecoder::new(true), &self.name)?;
        let value = crate::decode::transform_all(&mut PercentDecoder::new(true), &self.value)?;
        super::query::require_text(&name, &value)?;
        let mut replaced = Vec::new();
        let value_text: &[u8] = match self.scrubber.scrub_param(&name, &value, &mut replaced) {
            ParamOutcome::Drop => return Ok(()),
            ParamOutcome::Keep => &self.value,
            ParamOutcome::Replace => {
                replaced = crate::decode::transform_all(&mut PercentEncoder::form(), &replaced)?;
                &replaced
            }
        };
        if self.wrote_field {
            out.push(b'&');
        }
        out.extend_from_slice(&self.name);
        if self.state == FormState::Other {
            out.push(b'=');
            out.extend_from_slice(value_text);
        }
        self.wrote_field = true;
        Ok(())
    }

    pub(super) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), PipelineError> {
        self.end_field(out)?;
        if !self.seen_data {
            return Err(PipelineError::MissingData);
        }
        Ok(())
    }
}
