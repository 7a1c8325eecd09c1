//! The `scrubproxy` command: `run` serves with a rules file, `check` validates one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use scrubproxy::rules::{self, KeySource, RuleError};

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
    /// Serve trackers with the given rules (the embedded default when the file is absent).
    Run {
        /// Rules file.
        #[arg(long, short, default_value = "rules.toml")]
        config: PathBuf,
    },
    /// Validate a rules file and print every error with its TOML path.
    Check {
        /// Rules file.
        #[arg(default_value = "rules.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Run { config } => match run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scrubproxy: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn print_errors(path: &Path, errors: &[RuleError]) {
    eprintln!("{}: {} error(s)", path.display(), errors.len());
    for e in errors {
        eprintln!("  {e}");
    }
}

fn check(path: &Path) -> ExitCode {
    match rules::load(Some(path)) {
        Ok(set) => {
            println!(
                "{}: ok ({} routes){}",
                path.display(),
                set.routes.len(),
                if set.key_source == KeySource::Ephemeral {
                    "; warning: no HMAC key configured, identifiers will be hashed with a random per-process key"
                } else {
                    ""
                }
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            print_errors(path, &errors);
            ExitCode::FAILURE
        }
    }
}

fn run(path: &Path) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let source = path.exists().then_some(path);
    let set = rules::load(source).map_err(|errors| {
        print_errors(path, &errors);
        anyhow::anyhow!("rules are invalid")
    })?;
    match source {
        Some(p) => tracing::info!(rules = %p.display(), "rules loaded"),
        None => tracing::info!("no rules file found: using the embedded default rules"),
    }
    if set.key_source == KeySource::Ephemeral {
        tracing::warn!(
            "no HMAC key configured (identifiers.key_env / key_file): identifiers are hashed with a random key that changes at every restart"
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let rules_path = source.map(Path::to_path_buf);
        let running = scrubproxy::listen::start(set, rules_path.clone())
            .await
            .context("binding listeners")?;
        tokio::spawn(reload_on_hangup(running.state.clone(), rules_path));
        shutdown_signal().await;
        tracing::info!("shutting down: draining requests in flight");
        running.shutdown().await;
        Ok(())
    })
}

/// SIGHUP reloads the rules (the same path as the file watcher and `POST /admin/reload`).
async fn reload_on_hangup(
    state: std::sync::Arc<scrubproxy::state::AppState>,
    path: Option<std::path::PathBuf>,
) {
    #[cfg(unix)]
    {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading rules");
            let _ = scrubproxy::reload::reload(&state, path.as_deref());
        }
    }
    #[cfg(not(unix))]
    let _ = (state, path);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
