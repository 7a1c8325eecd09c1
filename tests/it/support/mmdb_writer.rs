//! A minimal MaxMind DB writer (format 2.0, IPv4 tree, 24-bit records): enough to build a
//! City-shaped database for the tests, read back by the real `maxminddb` reader. Shared by
//! the unit tests of `geo.rs` and the integration tests.
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

pub struct Writer {
    nodes: Vec<[Rec; 2]>,
    data: Vec<u8>,
}

pub enum Value<'a> {
    Str(&'a str),
    Map(Vec<(&'a str, Value<'a>)>),
    Array(Vec<Value<'a>>),
    U16(u16),
    U32(u32),
    U64(u64),
}

fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    assert!(size < 29, "small values only");
    if kind <= 7 {
        out.push(kind << 5 | size as u8);
    } else {
        out.push(size as u8);
        out.push(kind - 7);
    }
}

fn encode(value: &Value<'_>, out: &mut Vec<u8>) {
    let uint = |out: &mut Vec<u8>, kind: u8, n: u64| {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        control(out, kind, bytes.len());
        out.extend(bytes);
    };
    match value {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Map(members) => {
            control(out, 7, members.len());
            for (key, value) in members {
                encode(&Value::Str(key), out);
                encode(value, out);
            }
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            items.iter().for_each(|item| encode(item, out));
        }
        Value::U16(n) => uint(out, 5, u64::from(*n)),
        Value::U32(n) => uint(out, 6, u64::from(*n)),
        Value::U64(n) => uint(out, 9, *n),
    }
}

impl Writer {
    pub fn new() -> Self {
        Writer {
            nodes: vec![[Rec::Empty, Rec::Empty]],
            data: Vec::new(),
        }
    }

    /// `network/len` holds `record` (networks must not overlap).
    pub fn insert(&mut self, network: std::net::Ipv4Addr, len: u32, record: &Value<'_>) {
        let offset = self.data.len();
        encode(record, &mut self.data);
        let bits = u32::from(network);
        let mut node = 0;
        for depth in 0..len {
            let bit = (bits >> (31 - depth) & 1) as usize;
            if depth + 1 == len {
                self.nodes[node][bit] = Rec::Data(offset);
            } else {
                node = match self.nodes[node][bit] {
                    Rec::Node(next) => next,
                    _ => {
                        self.nodes.push([Rec::Empty, Rec::Empty]);
                        let next = self.nodes.len() - 1;
                        self.nodes[node][bit] = Rec::Node(next);
                        next
                    }
                };
            }
        }
    }

    pub fn finish(self, database_type: &str) -> Vec<u8> {
        let count = self.nodes.len();
        let mut out = Vec::new();
        for node in &self.nodes {
            for rec in node {
                let value = match rec {
                    Rec::Empty => count,
                    Rec::Node(i) => *i,
                    Rec::Data(offset) => count + 16 + offset,
                } as u32;
                out.extend_from_slice(&value.to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let metadata = Value::Map(vec![
            ("node_count", Value::U32(count as u32)),
            ("record_size", Value::U16(24)),
            ("ip_version", Value::U16(4)),
            ("database_type", Value::Str(database_type)),
            ("languages", Value::Array(vec![Value::Str("en")])),
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(1_790_000_000)),
            ("description", Value::Map(vec![("en", Value::Str("test"))])),
        ]);
        encode(&metadata, &mut out);
        out
    }
}
