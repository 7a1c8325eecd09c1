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

/// Kinds no integration test can provoke, each with the reason and where it is checked.
const REFUSALS_NOT_PROVOKED: &[(&str, &str)] = &[
    (
        "bad_target",
        "routing refuses every path the upstream join could not take",
    ),
    (
        "client_body_error",
        "the tracker that broke its body reads no answer (fail_closed.rs checks nothing is sent)",
    ),
    ("compress_failed", "internal: an encoder failing"),
    ("used_after_finish", "internal: a codec used after its end"),
    (
        "admin_token_required",
        "needs a non-loopback peer: unit-tested in src/admin.rs",
    ),
];

/// Every refusal kind is unique (src/refusal.rs), in README's "Refusals" table (and nothing
/// else is), and asserted by some integration test unless listed above with its reason.
#[test]
fn every_refusal_kind_is_unique_documented_and_asserted_by_a_test() {
    let kinds: Vec<&str> = scrubproxy::refusal::Refusal::every_kind()
        .iter()
        .map(|r| r.kind())
        .collect();
    let unique: std::collections::BTreeSet<&str> = kinds.iter().copied().collect();
    assert_eq!(unique.len(), kinds.len(), "a kind is used twice");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let table = readme
        .split("### Refusals")
        .nth(1)
        .expect("README has a Refusals section");
    let documented: std::collections::BTreeSet<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    assert_eq!(
        documented, unique,
        "README's Refusals table and src/refusal.rs differ"
    );
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it"),
        &mut files,
    );
    let tests: String = files
        .iter()
        .filter(|f| !f.ends_with("tidy.rs"))
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for kind in unique {
        let exempt = REFUSALS_NOT_PROVOKED.iter().any(|(k, _)| *k == kind);
        let asserted = tests.contains(&format!("\"{kind}\""))
            || tests.contains(&format!("scrubproxy-error: {kind}"));
        assert!(
            exempt || asserted,
            "no integration test asserts the refusal {kind}"
        );
    }
}

/// A source file's module path: `scrub/keys.rs` is `["scrub", "keys"]`, `lib.rs` is `[]`.
fn module_of(file: &str) -> Vec<String> {
    let stem = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        parts.pop();
    }
    parts
}

/// The modules a file's code names (`crate::a::b`, `super::c`), outside its test module,
/// each resolved to the longest module path that exists.
fn named_modules(module: &[String], text: &str, modules: &[Vec<String>]) -> Vec<Vec<String>> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut named = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        for (at, _) in code.match_indices(prefix) {
            let preceded = code[..at].chars().next_back();
            if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            let path: Vec<String> = rest
                .split("::")
                .map_while(|seg| {
                    let ident: String = seg
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    (!ident.is_empty() && ident.len() == seg.len().min(ident.len()))
                        .then_some(ident)
                })
                .collect();
            let mut full = base.clone();
            full.extend(path);
            while !full.is_empty() && !modules.contains(&full) {
                full.pop();
            }
            if !full.is_empty() && full != module {
                named.push(full);
            }
        }
    }
    named
}

/// No import cycles between modules: a module and its own submodules may name each other,
/// anything else only one way (`keys` knows nothing of `plan`, `state` nothing of `reload`).
#[test]
fn modules_import_without_cycles() {
    let files = sources();
    let modules: Vec<Vec<String>> = files.iter().map(|(f, _)| module_of(f)).collect();
    let nested = |a: &[String], b: &[String]| a.starts_with(b) || b.starts_with(a);
    let edges: Vec<Vec<usize>> = files
        .iter()
        .zip(&modules)
        .map(|((_, text), module)| {
            let mut to: Vec<usize> = named_modules(module, text, &modules)
                .iter()
                .filter(|target| !nested(module, target))
                .filter_map(|target| modules.iter().position(|m| m == target))
                .collect();
            to.sort_unstable();
            to.dedup();
            to
        })
        .collect();
    // Depth-first search: a module met again while it is on the path closes a cycle.
    fn visit(
        at: usize,
        edges: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[at] = 1;
        path.push(at);
        for &next in &edges[at] {
            if state[next] == 1 {
                let from = path.iter().position(|&p| p == next).unwrap();
                return Some(path[from..].to_vec());
            }
            if state[next] == 0 {
                if let Some(cycle) = visit(next, edges, state, path) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        state[at] = 2;
        None
    }
    let mut state = vec![0u8; modules.len()];
    for start in 0..modules.len() {
        if state[start] == 0 {
            if let Some(cycle) = visit(start, &edges, &mut state, &mut Vec::new()) {
                let names: Vec<String> = cycle.iter().map(|&m| modules[m].join("/")).collect();
                panic!("an import cycle: {} -> (back)", names.join(" -> "));
            }
        }
    }
}

/// The files and whole directories (`geo/` with no list after it) one code-map row names:
/// `decode/` (`gzip.rs`, `base64.rs`) names `decode/gzip.rs` and `decode/base64.rs`.
fn code_map_row(cell: &str) -> (Vec<String>, Vec<String>) {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    let mut directory: Option<&str> = None;
    let mut list_of: Option<&str> = None;
    for (i, piece) in cell.split('`').enumerate() {
        if i % 2 == 0 {
            // Between names: a `(` after a directory opens its list, a `)` closes it.
            if piece.contains('(') {
                list_of = directory.take();
            } else if let Some(whole) = directory.take() {
                dirs.push(whole.to_owned());
            }
            if piece.contains(')') {
                list_of = None;
            }
        } else if let Some(parent) = list_of {
            files.push(format!("{parent}{piece}"));
        } else if piece.ends_with('/') {
            directory = Some(piece);
        } else {
            files.push(piece.to_owned());
        }
    }
    dirs.extend(directory.map(str::to_owned));
    (files, dirs)
}

/// ARCHITECTURE.md's code map names every file under `src/` in one row (a directory named
/// without a list stands for its files), and every file it names exists.
#[test]
fn the_code_map_names_every_source_file_once() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .unwrap();
    let map = text
        .split("## Code map")
        .nth(1)
        .expect("ARCHITECTURE.md has a code map")
        .split("\n## ")
        .next()
        .unwrap();
    let rows: Vec<(Vec<String>, Vec<String>)> = map
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|row| code_map_row(&format!("`{}", row.split(" | ").next().unwrap())))
        .collect();
    for (name, _) in sources() {
        let rows_naming = rows
            .iter()
            .filter(|(files, dirs)| {
                files.contains(&name) || dirs.iter().any(|d| name.starts_with(d.as_str()))
            })
            .count();
        assert_eq!(
            rows_naming, 1,
            "src/{name} is named in {rows_naming} code-map rows"
        );
    }
    for (files, dirs) in &rows {
        for path in files.iter().chain(dirs) {
            assert!(
                src().join(path).exists(),
                "the code map names src/{path}, which does not exist"
            );
        }
    }
}
