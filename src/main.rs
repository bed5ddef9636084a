//! The `reviews` server binary: parses flags, then serves until SIGTERM or
//! Ctrl-C as one process (`--workers 1`), as the supervisor of N workers, or
//! as one of those workers (see `reviews::supervisor`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;
use reviews::config::Config;
use reviews::service::Store;
use reviews::startup::{self, Application};

/// mimalloc: a request allocates a few small blocks (headers, a reply)
/// and frees them at once, the pattern it serves fastest (see the README's
/// Benchmark for what it measured against the system allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(feature = "mongodb")]
use reviews::store::mongo::MongoStore;
use reviews::supervisor::{self, Supervisor};
use reviews::telemetry;

fn main() -> ExitCode {
    reviews::config::forget_empty_env(&<Config as clap::CommandFactory>::command());
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
    telemetry::init(config.log_format == "json");
    raise_open_file_limit();
    match serve(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reviews: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: &Config) -> anyhow::Result<()> {
    #[cfg(not(feature = "mongodb"))]
    if config.mongodb_uri.is_some() {
        anyhow::bail!(
            "--mongodb-uri: this build has no MongoDB backend (built without the default `mongodb` feature)"
        );
    }
    if let Some(listener) = supervisor::inherited_listener() {
        // A worker of a supervisor: the socket (and a seeded embedded store)
        // are ready. One process per core, so one thread per worker: no work
        // stealing across cores, no cross-thread wakeups. Every line it
        // writes carries its span, spawned tasks' too.
        let id = supervisor::worker_id().unwrap_or_default();
        let span = tracing::info_span!("worker", id);
        let _in_worker = span.enter();
        let runtime = telemetry::runtime_in(&span)?;
        let serving = async {
            #[cfg(feature = "mongodb")]
            if let Some(mongo) = config.mongo() {
                let store = MongoStore::connect(&mongo).await?;
                return work(Application::with_listener(config, listener, store)?).await;
            }
            work(Application::for_worker(config, listener)?).await
        };
        return runtime.block_on(serving);
    }
    #[cfg(feature = "mongodb")]
    if let Some(mongo) = config.mongo() {
        // Refused before any worker starts: an import that did not finish
        // is never served (its message says how to finish it).
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async {
                let store = MongoStore::connect(&mongo).await?;
                match store.status().await?.unfinished_import() {
                    Some(unfinished) => anyhow::bail!("{unfinished}"),
                    None => Ok(()),
                }
            })?;
    }
    if config.workers > 1 {
        let port = supervisor::Port::bind(&config.listen, config.workers as usize)?;
        let store = match config.mongodb_uri {
            Some(_) => None,
            None => Some(startup::prepare_store(config)?),
        };
        let drain = Duration::from_secs(config.shutdown_timeout);
        let mut supervisor = Supervisor::new(port, drain)?;
        if let Some(store) = store {
            // A worker killed inside a read leaves its LMDB reader slot
            // behind: clear such slots after every worker's death.
            supervisor.housekeeping(move || match store.clear_stale_readers() {
                Ok(0) => {}
                Ok(n) => tracing::info!("cleared {n} stale LMDB reader slots"),
                Err(e) => tracing::warn!("cannot clear stale LMDB reader slots: {e}"),
            });
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(supervisor.run());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    #[cfg(feature = "mongodb")]
    if let Some(mongo) = config.mongo() {
        return runtime.block_on(async {
            let store = MongoStore::connect(&mongo).await?;
            single(Application::with_store(config, store)?).await
        });
    }
    let app = Application::build(config)?;
    runtime.block_on(single(app))
}

/// Raises the soft limit on open files to the hard limit: every client
/// connection is a file, and the common default soft limit of 1,024 is
/// far below what one process serves.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                ..limit
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                tracing::warn!(
                    "cannot raise the open-file limit: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

/// One process serving alone.
async fn single<S: Store>(app: Application<S>) -> anyhow::Result<()> {
    tracing::info!("listening on http://{}", app.local_addr());
    app.run_until(shutdown_signal()).await
}

/// A worker: tells the supervisor it serves, then serves.
async fn work<S: Store>(app: Application<S>) -> anyhow::Result<()> {
    supervisor::report_ready();
    app.run_until(shutdown_signal()).await
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C), saying which. A worker is sent
/// SIGTERM by its supervisor, whatever the supervisor itself received (it
/// logs that), and says so.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let from = if supervisor::worker_id().is_some() {
        " from the supervisor"
    } else {
        ""
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM{from} received: draining"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT (Ctrl-C) received: draining"),
    }
}
