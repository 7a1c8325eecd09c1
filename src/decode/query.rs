//! Query strings as JSON objects and back, for events carried as query strings (Snowplow
//! pixels, Matomo and gtag hits, RudderStack's pixel): the parameters, percent-decoded,
//! become the members of a flat object, or of one nested at the names' dots; the members of
//! an object become parameters again, in order and repeats included. Knows nothing of
//! rules or vendors: which names stay whole is the caller's to say.

use super::{transform_all, DecodeError, PercentDecoder, PercentEncoder};

/// Why a query string or an object did not convert. Facts only, never payload text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Escape(#[from] DecodeError),
    #[error("a query parameter's value is not UTF-8")]
    NotText,
    #[error("query parameter names nest deeper than {limit}")]
    TooDeep { limit: usize },
    #[error("a query parameter name is both a value and a parent")]
    ValueAndParent,
    #[error("the event to write as a query is not a JSON object")]
    NotAnObject,
}

/// A parameter's name and value, percent-decoded (`+` as space).
pub type Param = (Vec<u8>, Vec<u8>);

/// The parameters of `query` (without `?`), decoded, in order. Values must be text (rules
/// read them); a name goes on as bytes, for the reader of the JSON to judge.
pub fn params(query: &str) -> Result<Vec<Param>, QueryError> {
    let mut params = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let value = percent_decoded(value)?;
        std::str::from_utf8(&value).map_err(|_| QueryError::NotText)?;
        params.push((percent_decoded(name)?, value));
    }
    Ok(params)
}

/// `text` percent-decoded, `+` as space.
pub fn percent_decoded(text: &str) -> Result<Vec<u8>, DecodeError> {
    transform_all(&mut PercentDecoder::new(true), text.as_bytes())
}

/// `bytes` as a form value: unreserved bytes kept, every other byte `%XX`.
pub fn percent_encoded(bytes: &[u8]) -> Result<String, QueryError> {
    let encoded = transform_all(&mut PercentEncoder::form(), bytes)?;
    // The encoder writes ASCII only.
    String::from_utf8(encoded).map_err(|_| QueryError::NotText)
}

/// Name-value pairs as a query string: `name=value` joined by `&`, both percent-encoded.
pub fn query_string(pairs: &[(String, String)]) -> Result<String, QueryError> {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&percent_encoded(name.as_bytes())?);
        out.push('=');
        out.push_str(&percent_encoded(value.as_bytes())?);
    }
    Ok(out)
}

/// The parameters as one flat JSON object of strings, in order, repeated names repeated.
pub fn flat_object(params: Vec<Param>) -> Vec<u8> {
    let members: Vec<(Vec<u8>, Member)> = params
        .into_iter()
        .map(|(name, value)| (name, Member::Text(value)))
        .collect();
    json_object(&members)
}

/// The parameters as a JSON object nested at their names' dots: `a.b=1&a.c=2` is
/// `{"a":{"b":"1","c":"2"}}`. A name with an empty part stays whole, and so does one
/// `keep_whole` names (one that holds personal data, such as `jane.doe@example.com`, whose
/// parts alone would escape the rules). A name used both as a value and as a parent
/// (`a=1&a.b=2`) is refused: the vendor would keep one of them, and which is not ours to
/// guess. So is a name of `max_depth` parts or more.
pub fn nested_object(
    params: Vec<Param>,
    keep_whole: impl Fn(&[u8]) -> bool,
    max_depth: usize,
) -> Result<Vec<u8>, QueryError> {
    Ok(json_object(&nested(params, keep_whole, max_depth)?))
}

/// The members of a flat JSON object as text, in order: strings as they are, any other
/// value as its JSON.
// One member's value at a time, of an event read whole within its limits.
#[allow(clippy::disallowed_types)]
pub fn flat_pairs(object: &[u8]) -> Result<Vec<(String, String)>, QueryError> {
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
    let pairs = serde::de::Deserializer::deserialize_map(&mut de, Pairs)
        .and_then(|pairs| de.end().map(|()| pairs));
    pairs.map_err(|_| QueryError::NotAnObject)
}

/// The members of a nested JSON object as dotted names again, in order and repeats
/// included, objects flattened: the inverse of [`nested_object`] (an array stays whole,
/// as its JSON).
// One array member at a time, of an event read whole within its limits.
#[allow(clippy::disallowed_types)]
pub fn dotted_pairs(object: &[u8]) -> Result<Vec<(String, String)>, QueryError> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Flatten<'a> {
        name: String,
        out: &'a mut Vec<(String, String)>,
    }
    impl<'de> DeserializeSeed<'de> for Flatten<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl Flatten<'_> {
        fn text(self, text: String) {
            self.out.push((self.name, text));
        }
    }
    impl<'de> Visitor<'de> for Flatten<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an event")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                let name = match self.name.is_empty() {
                    true => key,
                    false => format!("{}.{key}", self.name),
                };
                map.next_value_seed(Flatten {
                    name,
                    out: &mut *self.out,
                })?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<serde_json::Value>()? {
                items.push(item);
            }
            self.text(serde_json::Value::Array(items).to_string());
            Ok(())
        }
        fn visit_str<E>(self, v: &str) -> Result<(), E> {
            self.text(v.to_owned());
            Ok(())
        }
        fn visit_string<E>(self, v: String) -> Result<(), E> {
            self.text(v);
            Ok(())
        }
        fn visit_bool<E>(self, v: bool) -> Result<(), E> {
            self.text(v.to_string());
            Ok(())
        }
        fn visit_i64<E>(self, v: i64) -> Result<(), E> {
            self.text(v.to_string());
            Ok(())
        }
        fn visit_u64<E>(self, v: u64) -> Result<(), E> {
            self.text(v.to_string());
            Ok(())
        }
        fn visit_f64<E>(self, v: f64) -> Result<(), E> {
            self.text(serde_json::Value::from(v).to_string());
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            self.text("null".to_owned());
            Ok(())
        }
    }

    if object.first() != Some(&b'{') {
        return Err(QueryError::NotAnObject);
    }
    let mut pairs = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(object);
    Flatten {
        name: String::new(),
        out: &mut pairs,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|_| QueryError::NotAnObject)?;
    Ok(pairs)
}

/// A member of a query-string event: a parameter's text, or the members under a dotted
/// name's first part.
enum Member {
    Text(Vec<u8>),
    Object(Vec<(Vec<u8>, Member)>),
}

fn nested(
    params: Vec<Param>,
    keep_whole: impl Fn(&[u8]) -> bool,
    max_depth: usize,
) -> Result<Vec<(Vec<u8>, Member)>, QueryError> {
    let mut root: Vec<(Vec<u8>, Member)> = Vec::new();
    for (name, value) in params {
        let mut parts: Vec<&[u8]> = name.split(|&c| c == b'.').collect();
        if parts.len() > 1 && (parts.iter().any(|p| p.is_empty()) || keep_whole(&name)) {
            parts = vec![&name];
        }
        // Checked before anything is built: writing and dropping the members recurse.
        if parts.len() >= max_depth {
            return Err(QueryError::TooDeep { limit: max_depth });
        }
        let (leaf, parents) = parts.split_last().expect("split yields a part");
        let mut members = &mut root;
        for part in parents {
            let at = match members.iter().position(|(n, _)| n.as_slice() == *part) {
                Some(at) => at,
                None => {
                    members.push((part.to_vec(), Member::Object(Vec::new())));
                    members.len() - 1
                }
            };
            members = match &mut members[at].1 {
                Member::Object(children) => children,
                Member::Text(_) => return Err(QueryError::ValueAndParent),
            };
        }
        if members
            .iter()
            .any(|(n, m)| n.as_slice() == *leaf && matches!(m, Member::Object(_)))
        {
            return Err(QueryError::ValueAndParent);
        }
        members.push((leaf.to_vec(), Member::Text(value)));
    }
    Ok(root)
}

fn json_object(members: &[(Vec<u8>, Member)]) -> Vec<u8> {
    let mut out = Vec::new();
    write_members(members, &mut out);
    out
}

fn write_members(members: &[(Vec<u8>, Member)], out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (name, member)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(name, out);
        out.push(b':');
        match member {
            Member::Text(text) => write_json_string(text, out),
            Member::Object(children) => write_members(children, out),
        }
    }
    out.push(b'}');
}

/// `text` as a JSON string: quotes, backslashes and control bytes escaped as the scrubber
/// writes them (`scrub::write_json_string`, which this module does not name: codecs sit
/// below the scrubber), every other byte as it is; the reader checks it is UTF-8.
fn write_json_string(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in text {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0x0f)]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests;
