//! The fuzz oracles (`fuzz/oracles.rs`) over the committed seeds and every input a fuzz run
//! ever failed on (`fuzz/regressions/`), in the normal test run: what fuzzing found once stays
//! fixed, without a fuzzer on the machine.

use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../../fuzz/oracles.rs"]
mod oracles;

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["seeds", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) {
            files.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    files.sort();
    files
}

fn replay(target: &str, oracle: fn(&[u8])) -> usize {
    let files = inputs(target);
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| oracle(&data));
        assert!(
            outcome.is_ok(),
            "{target} oracle failed on {}",
            file.display()
        );
    }
    files.len()
}

#[test]
fn pipeline_seeds_and_regressions_hold() {
    assert!(replay("pipeline", oracles::pipeline) >= 50);
}

#[test]
fn decoder_seeds_and_regressions_hold() {
    assert!(replay("decoders", oracles::decoders) >= 30);
}
