//! `seed`: generates the deterministic reviews of the reference data set
//! (README.md, "The generated data") into a store, or brings reviews in
//! and out of one as files: the Atelier CSV export (`--from-atelier`),
//! JSON Lines (`--from-jsonl`, `--to-jsonl`); and writes the generated data
//! set in the Atelier layout (`--to-atelier`). Interrupted and run again
//! with the same flags, a load or an import finishes the job without
//! duplicates.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use reviews::generate::DataSet;
use reviews::seeding::{self, Progress};
use reviews::store::StoreError;
use reviews::store::embedded::{ById, EmbeddedStore, serving};
use reviews::store::load::{Exported, LoadOptions, LoadOutcome, Source};
#[cfg(feature = "mongodb")]
use reviews::store::mongo::{MongoConfig, MongoStore};
use reviews::transfer::assemble::{self, Assembled};
use reviews::transfer::{ImportError, ImportOptions, Imported, Rejects, atelier, jsonl};

/// Products an import makes ahead of the store writing them (each holds
/// its reviews' records, a few KiB for a typical product).
const READ_AHEAD: usize = 16;

/// Generate deterministic, realistic product reviews into a store; or
/// import, export and write reviews as files.
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

    /// Import the Atelier CSV export in DIR (reviews.csv; reviews_photos.csv,
    /// characteristics.csv, characteristic_reviews.csv if there) instead of
    /// generating.
    #[arg(long, value_name = "DIR", group = "mode")]
    from_atelier: Option<PathBuf>,

    /// Import a JSON Lines export (a file, or - for standard input) instead
    /// of generating.
    #[arg(long, value_name = "FILE", group = "mode")]
    from_jsonl: Option<String>,

    /// Export the whole store as JSON Lines (a file, or - for standard
    /// output), one consistent snapshot even while it is served; the store
    /// is left as it is.
    #[arg(long, value_name = "FILE", group = "mode")]
    to_jsonl: Option<String>,

    /// Write the generated data set (--records, --products, --seed) in the
    /// Atelier CSV layout into DIR; no store is touched.
    #[arg(long, value_name = "DIR", group = "mode")]
    to_atelier: Option<PathBuf>,

    /// Where an import lists the rows it rejects (file, line, reason, row).
    #[arg(long, value_name = "FILE", default_value = "seed-rejects.csv")]
    rejects: PathBuf,

    /// Rows an import may reject before it fails (leaving the store
    /// unfinished, and refused by `reviews`, until run again).
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_rejects: u64,

    /// Where an import keeps its temporary sorted runs (about the size of
    /// the input files; the system's temporary directory by default).
    #[arg(long, value_name = "DIR")]
    temp_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    reviews::config::forget_empty_env(&<Args as clap::CommandFactory>::command());
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
    if let Some(dir) = &args.to_atelier {
        return write_atelier(args, dir);
    }
    if let Some(target) = &args.to_jsonl {
        return export_jsonl(args, target);
    }
    if let Some(dir) = &args.from_atelier {
        let files = atelier::Files::find(dir)?;
        let source = Source {
            format: "atelier CSV".into(),
            fingerprint: reviews::transfer::fingerprint(&files.all())?,
        };
        // Every file and header is checked before the store is touched.
        let opened = assemble::Opened::atelier(&files)?;
        return import(args, source, move |options, rejects, progress| {
            assemble::atelier(opened, options, rejects, progress)
        });
    }
    if let Some(input) = &args.from_jsonl {
        let fingerprint = match input.as_str() {
            "-" => "standard input".to_string(),
            path => reviews::transfer::fingerprint(&[PathBuf::from(path)])?,
        };
        let source = Source {
            format: "JSON Lines".into(),
            fingerprint,
        };
        return import(args, source, |options, rejects, progress| {
            let (mut reader, name): (Box<dyn BufRead>, String) = match input.as_str() {
                "-" => (Box::new(std::io::stdin().lock()), "stdin".into()),
                path => (
                    Box::new(BufReader::with_capacity(
                        1 << 20,
                        std::fs::File::open(path)?,
                    )),
                    file_name(Path::new(path)),
                ),
            };
            assemble::jsonl(&mut reader, &name, options, rejects, progress)
        });
    }
    let set = DataSet::new(args.seed, args.records, args.products);
    let started = Instant::now();
    let mut progress = seeding::reporter(|line| eprintln!("{line}"));
    let (outcome, place) = match &args.mongodb_uri {
        #[cfg(feature = "mongodb")]
        Some(uri) => {
            let options = load_options(args, true);
            let (runtime, store) = open_mongo(uri, options, args.drop)?;
            let outcome = runtime.block_on(store.load(set, options, progress.as_mut()))?;
            (outcome, "MongoDB".to_string())
        }
        #[cfg(not(feature = "mongodb"))]
        Some(_) => anyhow::bail!(
            "--mongodb-uri: this build has no MongoDB backend (built without the default `mongodb` feature)"
        ),
        None => {
            let store = open_embedded(args)?;
            let outcome = store.load(set, load_options(args, false), progress.as_mut())?;
            (outcome, place(args)?)
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

/// The last part of `path`, as the rejects file names a file.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The options of loads and imports: `--batch` (per store) and
/// `--concurrency`.
fn load_options(args: &Args, mongodb: bool) -> LoadOptions {
    let mut options = LoadOptions::default();
    if let Some(threads) = args.concurrency {
        options.threads = threads as usize;
    }
    options.batch = args.batch.unwrap_or(if mongodb { 10_000 } else { 250_000 });
    options
}

/// Imports from `source`: readies the store (refusing one that holds
/// anything else), reads and joins the files with `assemble`, loads the
/// products, lists the rejects; one closing line.
fn import(
    args: &Args,
    source: Source,
    assemble: impl FnOnce(&ImportOptions, &Rejects, &mut dyn Progress) -> Result<Assembled, ImportError>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut options = ImportOptions::new(args.rejects.clone());
    options.max_rejects = args.max_rejects;
    if let Some(dir) = &args.temp_dir {
        options.temp_dir = dir.clone();
    }
    let mut progress = seeding::reporter(|line| eprintln!("{line}"));
    let rejects = Rejects::new(&options.rejects, options.max_rejects, &options.temp_dir);
    let finish_rejects = |rejects: &Rejects| -> anyhow::Result<()> {
        rejects
            .finish()
            .map_err(|e| anyhow::anyhow!("{}: {e}", rejects.file().display()))
    };
    let (imported, place) = match &args.mongodb_uri {
        #[cfg(feature = "mongodb")]
        Some(uri) => {
            let load = load_options(args, true);
            let (runtime, store) = open_mongo(uri, load, args.drop)?;
            let resumed_from = match runtime.block_on(store.begin_import(&source))? {
                LoadOutcome::AlreadyLoaded => {
                    eprintln!("MongoDB already holds this import; nothing to do");
                    return Ok(());
                }
                LoadOutcome::Loaded { resumed_from } => resumed_from,
            };
            let assembled = assemble(&options, &rejects, progress.as_mut());
            finish_rejects(&rejects)?;
            let Assembled {
                plan,
                products,
                imported,
                ..
            } = assembled?;
            runtime.block_on(store.load_import(
                plan,
                Box::new(products.read_ahead(READ_AHEAD)),
                resumed_from,
                load,
                progress.as_mut(),
            ))?;
            (imported, "MongoDB".to_string())
        }
        #[cfg(not(feature = "mongodb"))]
        Some(_) => anyhow::bail!(
            "--mongodb-uri: this build has no MongoDB backend (built without the default `mongodb` feature)"
        ),
        None => {
            let store = open_embedded(args)?;
            let resumed_from = match store.begin_import(&source)? {
                LoadOutcome::AlreadyLoaded => {
                    eprintln!(
                        "{} already holds this import; nothing to do",
                        args.data_dir.display()
                    );
                    return Ok(());
                }
                LoadOutcome::Loaded { resumed_from } => resumed_from,
            };
            let assembled = assemble(&options, &rejects, progress.as_mut());
            finish_rejects(&rejects)?;
            let Assembled {
                plan,
                products,
                by_id,
                imported,
            } = assembled?;
            let mut given = by_id.as_ref().map(|by_id| by_id.iter());
            let by_id = match &mut given {
                Some(entries) => ById::Given {
                    entries,
                    count: imported.reviews,
                },
                None => ById::Sort {
                    temp: &options.temp_dir,
                },
            };
            store.load_import(
                plan,
                &mut products.read_ahead(READ_AHEAD),
                resumed_from,
                load_options(args, false),
                by_id,
                progress.as_mut(),
            )?;
            (imported, place(args)?)
        }
    };
    let Imported {
        reviews,
        photos,
        ratings,
        products,
        ..
    } = imported;
    eprintln!(
        "imported {reviews} reviews ({photos} photos, {ratings} characteristic ratings) of \
         {products} products; rejected {} rows (see {}) into {place} in {:.1}s",
        rejects.count(),
        rejects.file().display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The MongoDB store at `uri` and a runtime to drive it on; emptied first
/// when `drop` (`--drop` on a load).
#[cfg(feature = "mongodb")]
fn open_mongo(
    uri: &str,
    options: LoadOptions,
    drop: bool,
) -> anyhow::Result<(tokio::runtime::Runtime, MongoStore)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let store = runtime.block_on(async {
        let store = MongoStore::connect(&mongo_config(uri, options)).await?;
        if drop {
            store.drop_all().await?;
        }
        Ok::<_, StoreError>(store)
    })?;
    Ok((runtime, store))
}

/// The embedded store in `--data-dir`, to load into: refused while a
/// server has it open (unless `--while-serving`), emptied with `--drop`.
fn open_embedded(args: &Args) -> anyhow::Result<EmbeddedStore> {
    if !args.while_serving {
        serving::ensure_not_served(&args.data_dir)?;
    }
    if args.drop {
        EmbeddedStore::destroy(&args.data_dir)?;
    }
    Ok(EmbeddedStore::open(&args.data_dir)?)
}

/// The embedded store's directory and size on disk, for a closing line.
fn place(args: &Args) -> anyhow::Result<String> {
    let disk = std::fs::metadata(args.data_dir.join("data.mdb"))?.blocks() * 512;
    Ok(format!(
        "{} ({:.2} GiB on disk)",
        args.data_dir.display(),
        disk as f64 / (1u64 << 30) as f64
    ))
}

#[cfg(feature = "mongodb")]
fn mongo_config(uri: &str, options: LoadOptions) -> MongoConfig {
    MongoConfig {
        uri: uri.to_string(),
        read_preference: "primary".into(),
        pool_size: options.threads as u32 * 2 + 2,
        timeout: std::time::Duration::from_secs(10),
    }
}

/// Exports the store whole as JSON Lines into `target` (`-`: standard
/// output); one closing line on standard error.
fn export_jsonl(args: &Args, target: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let out: Box<dyn Write + Send> = match target {
        "-" => Box::new(std::io::stdout()),
        path => Box::new(std::fs::File::create(path)?),
    };
    let mut writer = jsonl::Writer::new(BufWriter::with_capacity(1 << 20, out));
    let (mut reviews, mut products) = (0u64, 0u64);
    let mut visit = |item: Exported<'_>| -> Result<(), StoreError> {
        let written = match item {
            Exported::Header {
                data_set,
                next_review_id,
            } => writer.header(jsonl::Header {
                data_set,
                next_review_id,
            }),
            Exported::Product {
                product_id,
                characteristics,
            } => {
                products += 1;
                writer.product(product_id, characteristics)
            }
            Exported::Review(review) => {
                reviews += 1;
                writer.review(review)
            }
        };
        written.map_err(|e| StoreError::Unavailable(format!("writing {target}: {e}")))
    };
    let place = match &args.mongodb_uri {
        #[cfg(feature = "mongodb")]
        Some(uri) => {
            // Reading only: never dropped, whatever the flags.
            let (runtime, store) = open_mongo(uri, load_options(args, true), false)?;
            runtime.block_on(store.export(&mut visit))?;
            "MongoDB".to_string()
        }
        #[cfg(not(feature = "mongodb"))]
        Some(_) => anyhow::bail!(
            "--mongodb-uri: this build has no MongoDB backend (built without the default `mongodb` feature)"
        ),
        None => {
            // Reading only: a server may go on serving (and writing) it.
            EmbeddedStore::open(&args.data_dir)?.export(&mut visit)?;
            args.data_dir.display().to_string()
        }
    };
    writer.finish()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "exported {reviews} reviews ({products} products with characteristics) from {place} to \
         {target} in {secs:.1}s ({:.0} reviews/s)",
        reviews as f64 / secs.max(1e-3)
    );
    Ok(())
}

/// Writes the generated data set in the Atelier layout into `dir`.
fn write_atelier(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let set = DataSet::new(args.seed, args.records, args.products);
    let threads = load_options(args, false).threads;
    let mut progress = seeding::reporter(|line| eprintln!("{line}"));
    let written = atelier::write_generated(set, dir, threads, progress.as_mut())?;
    eprintln!(
        "wrote {} reviews ({} photos, {} characteristic ratings) of {} products (seed {}) as an \
         Atelier export into {} in {:.1}s",
        written.reviews,
        written.photos,
        written.ratings,
        set.products,
        set.seed,
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn resumed(after: u64) -> String {
    if after > 0 {
        format!(", resumed after {after}")
    } else {
        String::new()
    }
}
