//! The `reviews` server binary: parses flags, then serves until SIGTERM or
//! Ctrl-C as one process (`--workers 1`), as the supervisor of N workers, or
//! as one of those workers (see `reviews::supervisor`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;
use reviews::config::Config;
use reviews::startup::{self, Application};
use reviews::supervisor::{self, Supervisor};
use reviews::telemetry;
use tracing::Instrument;

fn main() -> ExitCode {
    let config = match Config::try_parse() {
        Ok(config) => config,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            let text = e.to_string();
            eprintln!(
                "reviews: {}",
                text.lines().next().unwrap_or("invalid arguments")
            );
            return ExitCode::from(2);
        }
    };
    telemetry::init();
    match serve(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reviews: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: &Config) -> anyhow::Result<()> {
    if let Some(listener) = supervisor::inherited_listener() {
        // A worker of a supervisor: the socket and the seeded store are ready.
        let app = Application::for_worker(config, listener)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let id = std::env::var(supervisor::WORKER_ENV).unwrap_or_default();
        let serving = async {
            supervisor::report_ready();
            app.run_until(shutdown_signal()).await
        };
        return runtime.block_on(serving.instrument(tracing::info_span!("worker", id)));
    }
    if config.workers > 1 {
        let (listeners, addr) = supervisor::bind_group(&config.listen, config.workers as usize)?;
        startup::prepare_store(config)?;
        let drain = Duration::from_secs(config.shutdown_timeout);
        let supervisor = Supervisor::new(listeners, drain)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(supervisor.run(addr));
    }
    let app = Application::build(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tracing::info!("listening on http://{}", app.local_addr());
        app.run_until(shutdown_signal()).await
    })
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
    }
}
