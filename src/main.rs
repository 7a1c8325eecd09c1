//! The `scrubproxy` command: `run` serves with a rules file, `check` validates one and runs
//! its `[[test]]` cases, `scrub` runs one request offline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use scrubproxy::rules::{self, KeySource, RuleError};

mod logs;

#[derive(Parser)]
#[command(
    name = "scrubproxy",
    version,
    about = "A privacy proxy for product analytics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve trackers with the given rules.
    Run {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Validate a rules file, print every error with its TOML path, and run its `[[test]]`
    /// cases; exits non-zero on any error or failed case.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// The rules file as a bare argument (the old spelling of `--config`).
        #[arg(hide = true, conflicts_with = "config")]
        file: Option<PathBuf>,
    },
    /// Run one request offline, as the proxy would: the body on stdin, the scrubbed body on
    /// stdout, and the request line and what each rule did (counts, never values) on stderr.
    Scrub {
        #[command(flatten)]
        config: ConfigArg,
        /// Vendor protocol: segment, mixpanel, amplitude, posthog, ga4, matomo, snowplow,
        /// plausible, rudderstack.
        #[arg(long)]
        vendor: String,
        /// The vendor's path, such as /v1/t or /track.
        #[arg(long)]
        path: String,
        #[arg(long, default_value = "POST")]
        method: String,
        /// The request's query string, without `?`.
        #[arg(long, default_value = "")]
        query: String,
        /// A request header, `Name: value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
    },
}

/// The one spelling of the rules file for every command.
#[derive(clap::Args)]
struct ConfigArg {
    /// Rules file. Named here, it must be readable (or the command fails); without it,
    /// ./rules.toml when present, else the embedded default rules.
    #[arg(long, short, alias = "rules", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Where the rules come from: `Some(path)` a file, `None` the embedded default.
#[derive(Debug)]
struct RulesSource(Option<PathBuf>);

/// The file looked for when no `--config` is given.
const DEFAULT_RULES_FILE: &str = "rules.toml";

impl RulesSource {
    /// An explicit path must be a readable file: a mistyped mount must stop the start, not
    /// silently serve other rules. Without one, `./rules.toml` if present, else embedded.
    fn resolve(explicit: Option<PathBuf>) -> anyhow::Result<Self> {
        let Some(path) = explicit else {
            let default = Path::new(DEFAULT_RULES_FILE);
            return Ok(RulesSource(
                default.is_file().then(|| default.to_path_buf()),
            ));
        };
        match std::fs::File::open(&path).and_then(|f| f.metadata()) {
            Ok(meta) if meta.is_file() => Ok(RulesSource(Some(path))),
            Ok(_) => anyhow::bail!("cannot read the rules file {}: not a file", path.display()),
            Err(e) => anyhow::bail!(
                "cannot read the rules file {}: {}",
                path.display(),
                e.kind()
            ),
        }
    }

    fn path(&self) -> Option<&Path> {
        self.0.as_deref()
    }

    /// How errors and summaries name the source.
    fn name(&self) -> String {
        self.path().map_or_else(
            || "embedded default rules".into(),
            |p| p.display().to_string(),
        )
    }
}

/// jemalloc, with a background thread that returns freed memory to the system about a second
/// after a burst (`.cargo/config.toml` sets its decay): glibc's allocator kept most of the
/// peak (README, "Sizing").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Check { config, file } => {
            RulesSource::resolve(file.or(config.config)).map(|source| check(&source))
        }
        Command::Scrub {
            config,
            vendor,
            path,
            method,
            query,
            headers,
        } => RulesSource::resolve(config.config).and_then(|source| {
            scrub(&source, &vendor, &path, &method, &query, &headers)?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Run { config } => RulesSource::resolve(config.config).and_then(|source| {
            run(&source)?;
            Ok(ExitCode::SUCCESS)
        }),
    };
    outcome.unwrap_or_else(|e| {
        eprintln!("scrubproxy: {e:#}");
        ExitCode::FAILURE
    })
}

fn print_errors(source: &RulesSource, errors: &[RuleError]) {
    eprintln!("{}: {} error(s)", source.name(), errors.len());
    for e in errors {
        eprintln!("  {e}");
    }
}

/// Prints a line, ignoring a closed pipe (`check | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn check(source: &RulesSource) -> ExitCode {
    let mut file = match rules::read(source.path()) {
        Ok(file) => file,
        Err(errors) => {
            print_errors(source, &errors);
            return ExitCode::FAILURE;
        }
    };
    let tests = std::mem::take(&mut file.tests);
    let set = match rules::compile(file) {
        Ok(set) => set,
        Err(errors) => {
            print_errors(source, &errors);
            return ExitCode::FAILURE;
        }
    };
    say!("{}: ok ({} routes)", source.name(), set.routes.len());
    if set.key_source == KeySource::Ephemeral {
        say!(
            "warning: no HMAC key configured; identifiers are hashed with a random per-process key"
        );
    }
    for route in set.routes.iter().filter(|r| r.shadow) {
        say!(
            "warning: route {} is in shadow mode: its events are forwarded unscrubbed",
            route.prefix
        );
    }
    if !set.upstream.verify {
        say!("warning: upstream.tls_verify = false: vendor certificates are not verified");
    }
    if let Some(warning) = set.geo.precision_warning() {
        say!("warning: {warning}");
    }
    let mut failed = 0;
    for case in &tests {
        match scrubproxy::check::run_test(&set, case) {
            Ok(()) => say!("test {:?}: ok", case.name),
            Err(reasons) => {
                failed += 1;
                say!("test {:?}: FAILED", case.name);
                for reason in reasons {
                    say!("  {reason}");
                }
            }
        }
    }
    if !tests.is_empty() {
        say!("{} tests, {} failed", tests.len(), failed);
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn scrub(
    source: &RulesSource,
    vendor: &str,
    path: &str,
    method: &str,
    query: &str,
    headers: &[String],
) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let set = rules::load(source.path()).map_err(|errors| {
        print_errors(source, &errors);
        anyhow::anyhow!("rules are invalid")
    })?;
    // One small value, until the vendor table parses names (issue 20, item 2).
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    let vendor: scrubproxy::vendor::VendorKind =
        serde_json::from_value(serde_json::Value::String(vendor.to_owned()))
            .map_err(|_| anyhow::anyhow!("unknown vendor {vendor:?}"))?;
    let mut header_map = http::HeaderMap::new();
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("a header is `Name: value`"))?;
        header_map.append(
            http::HeaderName::from_bytes(name.trim().as_bytes())?,
            http::HeaderValue::from_str(value.trim())?,
        );
    }
    let mut body = Vec::new();
    std::io::stdin().read_to_end(&mut body)?;
    let offline =
        scrubproxy::check::scrub_request(&set, vendor, method, path, query, &header_map, &body)?;
    // stdout carries the body exactly as it would be sent, so it can be piped on; the
    // request line (with the scrubbed query) and the report go to stderr.
    match &offline.body {
        Some(sent) => {
            let separator = if offline.query.is_empty() { "" } else { "?" };
            eprintln!("{method} {path}{separator}{}", offline.query);
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(sent)?;
            stdout.flush()?;
        }
        None => eprintln!("(nothing sent: the rules removed every event)"),
    }
    eprint!("{}", scrubproxy::check::summary(&offline.report));
    Ok(())
}

fn run(source: &RulesSource) -> anyhow::Result<()> {
    let set = rules::load(source.path()).map_err(|errors| {
        print_errors(source, &errors);
        anyhow::anyhow!("rules are invalid")
    })?;
    logs::init(set.log_format);
    match source.path() {
        Some(p) => tracing::info!(rules = %p.display(), "rules loaded"),
        None => tracing::info!("no --config and no ./rules.toml: using the embedded default rules"),
    }
    if set.key_source == KeySource::Ephemeral {
        tracing::warn!(
            "no HMAC key configured (identifiers.key_env / key_file): identifiers are hashed with a random key that changes at every restart"
        );
    }
    // The trackers' traffic runs on the listener's worker threads; this thread only
    // accepts, serves the admin port, watches the rules and waits for signals.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        // Registered before the listeners bind: a SIGHUP or SIGTERM sent once the proxy
        // says `listening` must find its handler, not the default action (exit at once).
        let hangups = listen_for(Signal::Hangup);
        let terms = listen_for(Signal::Terminate);
        let rules_path = source.path().map(Path::to_path_buf);
        let running = scrubproxy::listen::start(set, rules_path)
            .await
            .context("binding listeners")?;
        tokio::spawn(reload_on_hangup(running.state.clone(), hangups));
        shutdown_signal(terms).await;
        tracing::info!("shutting down: draining requests in flight");
        running.shutdown().await;
        Ok(())
    })
}

enum Signal {
    Hangup,
    Terminate,
}

#[cfg(unix)]
type SignalStream = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type SignalStream = ();

/// Installs the handler of `signal` now; its stream is read later.
#[cfg(unix)]
fn listen_for(signal: Signal) -> SignalStream {
    use tokio::signal::unix::{signal as install, SignalKind};
    let kind = match signal {
        Signal::Hangup => SignalKind::hangup(),
        Signal::Terminate => SignalKind::terminate(),
    };
    install(kind).ok()
}

#[cfg(not(unix))]
fn listen_for(_: Signal) -> SignalStream {}

/// The next delivery of a signal (never, without a handler).
async fn delivered(stream: &mut SignalStream) -> bool {
    #[cfg(unix)]
    if let Some(stream) = stream {
        return stream.recv().await.is_some();
    }
    let _ = stream;
    std::future::pending().await
}

/// SIGHUP reloads the rules (the same path as the file watcher and `POST /admin/reload`).
async fn reload_on_hangup(
    state: std::sync::Arc<scrubproxy::state::AppState>,
    mut hangups: SignalStream,
) {
    while delivered(&mut hangups).await {
        tracing::info!("SIGHUP: reloading rules");
        let _ = scrubproxy::reload::reload(state.clone()).await;
    }
}

async fn shutdown_signal(mut terms: SignalStream) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = delivered(&mut terms) => {},
    }
}
