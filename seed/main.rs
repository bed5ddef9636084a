//! `seed`: generates the deterministic reviews of SPEC §2 into a store.
//! Interrupted and run again with the same flags, it finishes the job
//! without duplicates.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use reviews::generate::DataSet;
use reviews::seeding::{self, LoadOptions, LoadOutcome};
use reviews::store::embedded::EmbeddedStore;

/// Generate deterministic, realistic product reviews into a store.
#[derive(Debug, Parser)]
#[command(name = "seed", version)]
struct Args {
    /// Number of reviews (ids 1..=N).
    #[arg(long, default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(1..=4_294_967_295))]
    records: u64,

    /// Number of products (ids 1..=P); default N/10.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4_294_967_295))]
    products: Option<u64>,

    /// Random seed: the same seed gives byte-identical records.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Directory of the embedded LMDB store.
    #[arg(long, env = "REVIEWS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,

    /// Delete what the store holds first (no server may have it open).
    #[arg(long)]
    drop: bool,

    /// Records written per transaction.
    #[arg(long, default_value_t = 250_000, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,

    /// Generator threads; default: the number of cores.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
    concurrency: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let set = DataSet::new(args.seed, args.records, args.products);
    if args.drop {
        EmbeddedStore::destroy(&args.data_dir)?;
    }
    let store = EmbeddedStore::open(&args.data_dir)?;
    let mut options = LoadOptions {
        batch: args.batch,
        ..LoadOptions::default()
    };
    if let Some(threads) = args.concurrency {
        options.threads = threads as usize;
    }
    let started = Instant::now();
    let mut progress = seeding::reporter(|line| eprintln!("{line}"));
    match store.load(set, options, progress.as_mut())? {
        LoadOutcome::AlreadyLoaded => {
            eprintln!(
                "{} already holds this data set; nothing to do",
                args.data_dir.display()
            );
        }
        LoadOutcome::Loaded { resumed_from } => {
            let secs = started.elapsed().as_secs_f64();
            let written = set.records - resumed_from;
            let disk = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(
                args.data_dir.join("data.mdb"),
            )?) * 512;
            eprintln!(
                "seeded {} reviews of {} products (seed {}) into {} in {secs:.1}s \
                 ({:.0} records/s{}); {:.2} GiB on disk",
                set.records,
                set.products,
                set.seed,
                args.data_dir.display(),
                written as f64 / secs,
                if resumed_from > 0 {
                    format!(", resumed after {resumed_from}")
                } else {
                    String::new()
                },
                disk as f64 / (1u64 << 30) as f64,
            );
        }
    }
    Ok(())
}
