//! Loader for the captured real-client requests in `tests/fixtures/real-clients/`.
//!
//! File format: see `tests/fixtures/real-clients/README.md`.

use std::path::{Path, PathBuf};

use base64::Engine as _;

/// One captured request, as a real SDK sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    /// `vendor/sdk/file.json`, e.g. `segment/browser-analytics-next/007-...json`.
    pub name: String,
    pub method: String,
    /// `path?query` exactly as sent on the request line.
    pub raw_target: String,
    pub path: String,
    pub query_string: String,
    /// Headers in wire order, as `(name, value)`; includes Host, Content-Length, ...
    pub headers: Vec<(String, String)>,
    /// Exact body bytes (still gzip-compressed when the SDK compressed them).
    pub body: Vec<u8>,
}

impl Fixture {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The SDK directory (`node-mixpanel`, `browser-analytics-next`, ...).
    pub fn sdk(&self) -> &str {
        self.name.split('/').nth(1).unwrap_or("")
    }
}

/// `<crate>/tests/fixtures/real-clients`.
pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-clients")
}

/// Every fixture of a vendor (`tests/fixtures/real-clients/<vendor>/*/*.json`), sorted by name.
/// Panics (naming the file) on a missing directory or a malformed file.
pub fn load(vendor: &str) -> Vec<Fixture> {
    let vendor_dir = fixtures_root().join(vendor);
    let sdks = std::fs::read_dir(&vendor_dir)
        .unwrap_or_else(|e| panic!("cannot read fixture dir {}: {e}", vendor_dir.display()));
    let mut out = Vec::new();
    for sdk in sdks {
        let sdk = sdk.unwrap_or_else(|e| panic!("{}: {e}", vendor_dir.display()));
        if !sdk.path().is_dir() {
            continue;
        }
        let sdk_name = sdk.file_name().to_string_lossy().into_owned();
        let files = std::fs::read_dir(sdk.path())
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", sdk.path().display()));
        for file in files {
            let file = file.unwrap_or_else(|e| panic!("{}: {e}", sdk.path().display()));
            let path = file.path();
            if !path.is_file() || path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let name = format!("{vendor}/{sdk_name}/{}", file.file_name().to_string_lossy());
            out.push(load_file(&path, name));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        !out.is_empty(),
        "no fixtures found under {}",
        vendor_dir.display()
    );
    out
}

/// Load one fixture by its `vendor/sdk/file.json` name.
pub fn load_one(name: &str) -> Fixture {
    load_file(&fixtures_root().join(name), name.to_string())
}

fn load_file(path: &Path, name: String) -> Fixture {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("fixture {name}: cannot read {}: {e}", path.display()));
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {name}: invalid JSON: {e}"));
    let str_field = |field: &str| -> String {
        match v.get(field) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None if field == "query_string" => String::new(),
            other => panic!("fixture {name}: field `{field}` must be a string, got {other:?}"),
        }
    };
    let method = str_field("method");
    let path_field = str_field("path");
    let query_string = str_field("query_string");
    let raw_target = str_field("raw_target");
    let headers = match v.get("headers") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|h| match h.as_array().map(|a| a.as_slice()) {
                Some([serde_json::Value::String(n), serde_json::Value::String(val)]) => {
                    (n.clone(), val.clone())
                }
                _ => panic!("fixture {name}: bad header entry {h}"),
            })
            .collect(),
        other => panic!("fixture {name}: `headers` must be an array, got {other:?}"),
    };
    let body = match v.get("body_base64") {
        Some(serde_json::Value::String(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .unwrap_or_else(|e| panic!("fixture {name}: bad body_base64: {e}")),
        Some(serde_json::Value::Null) | None => Vec::new(),
        other => panic!("fixture {name}: `body_base64` must be a string, got {other:?}"),
    };
    if let Some(len) = v.get("body_length").and_then(|l| l.as_u64()) {
        assert_eq!(
            len as usize,
            body.len(),
            "fixture {name}: body_length does not match body_base64"
        );
    }
    Fixture {
        name,
        method,
        raw_target,
        path: path_field,
        query_string,
        headers,
        body,
    }
}
