//! Captures everything the proxy logs (at TRACE) into one buffer, so tests can prove that no
//! payload value ever reaches a log line.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<Buffer> = OnceLock::new();

/// Installs the capturing subscriber once for the whole test binary.
pub fn init() {
    LOGS.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        buffer
    });
}

/// Everything logged so far by every test in this binary.
pub fn captured() -> String {
    init();
    let buffer = LOGS.get().unwrap();
    String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned()
}
