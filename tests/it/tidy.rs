//! The house rules that the compiler does not check, checked as ordinary tests.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
        .into_iter()
        .map(|p| {
            let name = p
                .strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The core and everything it needs to decide on bytes stays free of I/O, so it can be
/// tested, fuzzed and benchmarked alone.
#[test]
fn the_core_is_sans_io() {
    let sans_io = [
        "scrub",
        "decode",
        "consent",
        "vendor",
        "pipeline",
        "request.rs",
        "rules",
        "client_ip.rs",
    ];
    for (name, text) in sources() {
        if sans_io.iter().any(|p| name.starts_with(p)) {
            for word in ["hyper", "tokio"] {
                assert!(!text.contains(word), "{name} names {word}");
            }
        }
    }
}

/// Only the pipeline makes `Scrubbed` bytes, and only `forward` builds the upstream client.
#[test]
fn only_scrubbed_bytes_can_leave() {
    for (name, text) in sources() {
        if !name.starts_with("pipeline") {
            assert!(
                !text.contains("Scrubbed("),
                "{name} builds Scrubbed bytes itself"
            );
        }
        if name != "forward.rs" {
            assert!(
                !text.contains("Client::builder"),
                "{name} builds an HTTP client"
            );
        }
    }
}

/// Library code logs with tracing (and never payload values), not with prints.
#[test]
fn no_prints_or_stubs_in_library_code() {
    for (name, text) in sources() {
        for bad in ["todo!(", "unimplemented!(", "dbg!("] {
            assert!(!text.contains(bad), "{name} contains {bad}");
        }
        if name != "main.rs" {
            for bad in ["println!(", "eprintln!("] {
                assert!(!text.contains(bad), "{name} contains {bad}");
            }
        }
    }
}

/// Every module says what it owns in its first line.
#[test]
fn every_module_opens_with_a_doc_comment() {
    for (name, text) in sources() {
        assert!(text.starts_with("//!"), "{name} has no //! header");
    }
}

/// The deny list compiled in as the default is the one the shipped rules.toml shows.
#[test]
fn shipped_deny_list_is_the_built_in_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules.toml");
    let file = scrubproxy::rules::read(Some(&path)).unwrap();
    let built_in: Vec<String> = scrubproxy::rules::DEFAULT_DENY
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(file.properties.deny, built_in);
}
