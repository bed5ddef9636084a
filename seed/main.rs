//! `seed`: generates the deterministic reviews of the reference data set
//! (README.md, "The generated data") into a store.
//! Interrupted and run again with the same flags, it finishes the job
//! without duplicates.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use reviews::generate::DataSet;
use reviews::seeding;
use reviews::store::embedded::{EmbeddedStore, serving};
use reviews::store::load::{LoadOptions, LoadOutcome};
#[cfg(feature = "mongodb")]
use reviews::store::mongo::{MongoConfig, MongoStore};

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

    /// Load into MongoDB instead (the URI's database, `reviews` if it names none).
    #[arg(long, env = "MONGODB_URI")]
    mongodb_uri: Option<String>,

    /// Delete what the store holds first (MongoDB: drops the database).
    #[arg(long)]
    drop: bool,

    /// Load into (or with --drop, replace) an embedded store that a running
    /// `reviews` server has open; refused without it, since a replaced
    /// store goes on being served, and written, from the old file.
    #[arg(long)]
    while_serving: bool,

    /// Records per transaction (embedded; default 250,000) or per unordered
    /// bulk insert (MongoDB; default 10,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    batch: Option<u64>,

    /// Generator threads (embedded) or bulk inserts in flight (MongoDB);
    /// default: the number of cores.
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
    let mut options = LoadOptions::default();
    if let Some(threads) = args.concurrency {
        options.threads = threads as usize;
    }
    let started = Instant::now();
    let mut progress = seeding::reporter(|line| eprintln!("{line}"));
    let (outcome, place) = match &args.mongodb_uri {
        #[cfg(feature = "mongodb")]
        Some(uri) => {
            options.batch = args.batch.unwrap_or(10_000);
            let config = MongoConfig {
                uri: uri.clone(),
                read_preference: "primary".into(),
                pool_size: options.threads as u32 * 2 + 2,
                timeout: std::time::Duration::from_secs(10),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let outcome = runtime.block_on(async {
                let store = MongoStore::connect(&config).await?;
                if args.drop {
                    store.drop_all().await?;
                }
                store.load(set, options, progress.as_mut()).await
            })?;
            (outcome, "MongoDB".to_string())
        }
        #[cfg(not(feature = "mongodb"))]
        Some(_) => anyhow::bail!(
            "--mongodb-uri: this build has no MongoDB backend (built without the default `mongodb` feature)"
        ),
        None => {
            options.batch = args.batch.unwrap_or(250_000);
            if !args.while_serving {
                serving::ensure_not_served(&args.data_dir)?;
            }
            if args.drop {
                EmbeddedStore::destroy(&args.data_dir)?;
            }
            let store = EmbeddedStore::open(&args.data_dir)?;
            let outcome = store.load(set, options, progress.as_mut())?;
            let disk = std::fs::metadata(args.data_dir.join("data.mdb"))?.blocks() * 512;
            let place = format!(
                "{} ({:.2} GiB on disk)",
                args.data_dir.display(),
                disk as f64 / (1u64 << 30) as f64
            );
            (outcome, place)
        }
    };
    match outcome {
        LoadOutcome::AlreadyLoaded => {
            eprintln!("{place} already holds this data set; nothing to do")
        }
        LoadOutcome::Loaded { resumed_from } => {
            let secs = started.elapsed().as_secs_f64();
            // A run that resumes after the last review (indexes, meta or an
            // upgrade were left) has no insert rate to speak of.
            let inserted = set.records - resumed_from;
            let pace = if inserted > 0 {
                format!("{:.0} records/s", inserted as f64 / secs)
            } else {
                "all reviews were there".to_string()
            };
            eprintln!(
                "seeded {} reviews of {} products (seed {}) into {place} in {secs:.1}s ({pace}{})",
                set.records,
                set.products,
                set.seed,
                resumed(resumed_from),
            );
        }
    }
    Ok(())
}

fn resumed(after: u64) -> String {
    if after > 0 {
        format!(", resumed after {after}")
    } else {
        String::new()
    }
}
