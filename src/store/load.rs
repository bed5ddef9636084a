//! What loading a generated data set into a store takes and reports: the
//! options, the state a store is in, the outcome. Both backends load; how
//! progress is shown is [`crate::seeding`]'s job.

use super::StoreError;
use crate::generate::DataSet;

/// How a load runs.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Records written per transaction (embedded) or bulk insert (MongoDB).
    pub batch: u64,
    /// Generator threads (embedded) or parallel batches in flight (MongoDB).
    pub threads: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        LoadOptions {
            batch: 250_000,
            threads: cores,
        }
    }
}

/// What a store holds, as far as loading is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadStatus {
    /// The data set being or having been loaded, if any.
    pub data_set: Option<DataSet>,
    /// Records durably written so far (ids 1..=loaded).
    pub loaded: u64,
    /// Whether the load finished, indexes and meta included.
    pub complete: bool,
}

impl LoadStatus {
    /// Whether loading `set` into a store in this state has work to do:
    /// `Ok(false)` when it is there already; an error when the store holds
    /// another data set.
    pub fn needs_load(&self, set: DataSet) -> Result<bool, StoreError> {
        if let Some(held) = self.data_set.filter(|held| *held != set) {
            return Err(StoreError::Mismatch(format!(
                "the store holds another data set (seed {}, {} records, {} products); \
                 drop it first (seed --drop)",
                held.seed, held.records, held.products
            )));
        }
        Ok(!self.complete)
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The data set was already fully loaded; nothing was written.
    AlreadyLoaded,
    /// The load ran, starting after `resumed_from` records already present.
    Loaded {
        /// Records found from an interrupted earlier run (0 for a fresh load).
        resumed_from: u64,
    },
}
