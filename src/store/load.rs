//! What loading a data set into a store takes and reports: the options,
//! the state a store is in, the outcome; and what an import of reviews
//! from files hands a store ([`ImportedProduct`], see
//! [`crate::transfer`]). Both backends load; how progress is shown is
//! [`crate::seeding`]'s job.

use super::StoreError;
use crate::generate::DataSet;
use crate::model::{Characteristics, Review};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadStatus {
    /// The data set being or having been loaded, if any.
    pub data_set: Option<DataSet>,
    /// Records durably written so far (ids 1..=loaded).
    pub loaded: u64,
    /// Whether the load finished, indexes and meta included.
    pub complete: bool,
    /// Where the data set came from, when it was imported from files.
    pub source: Option<Source>,
}

impl LoadStatus {
    /// Whether loading `set` into a store in this state has work to do:
    /// `Ok(false)` when it is there already; an error when the store holds
    /// another data set.
    pub fn needs_load(&self, set: DataSet) -> Result<bool, StoreError> {
        if let Some(source) = &self.source {
            return Err(StoreError::Mismatch(format!(
                "the store holds reviews imported from {}; drop it first (seed --drop)",
                source.format
            )));
        }
        if let Some(held) = self.data_set.filter(|held| *held != set) {
            return Err(StoreError::Mismatch(format!(
                "the store holds another data set (seed {}, {} records, {} products); \
                 drop it first (seed --drop)",
                held.seed, held.records, held.products
            )));
        }
        Ok(!self.complete)
    }

    /// Whether importing from `source` into a store in this state has work
    /// to do: `Ok(false)` when that import is complete; an error when the
    /// store holds anything else.
    pub fn needs_import(&self, source: &Source) -> Result<bool, StoreError> {
        match (&self.source, self.data_set) {
            (Some(held), _) if held == source => Ok(!self.complete),
            (Some(held), _) => Err(StoreError::Mismatch(format!(
                "the store holds another import (from {}, files {}); drop it first (seed --drop)",
                held.format, held.fingerprint
            ))),
            (None, Some(held)) => Err(StoreError::Mismatch(format!(
                "the store holds a generated data set (seed {}, {} records); drop it first \
                 (seed --drop)",
                held.seed, held.records
            ))),
            (None, None) => Ok(true),
        }
    }

    /// The error a server gives for a store whose import did not finish:
    /// it is never half-served.
    pub fn unfinished_import(&self) -> Option<String> {
        let source = self.source.as_ref().filter(|_| !self.complete)?;
        Some(format!(
            "the store holds an import from {} that did not finish: run the same `seed` command \
             again to finish it (or `seed --drop` to start over)",
            source.format
        ))
    }
}

/// Where an imported data set came from: its format and a fingerprint of
/// its files, so an interrupted import is finished only with the same
/// files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// `atelier CSV` or `JSON Lines`.
    pub format: String,
    /// See [`crate::transfer::fingerprint`].
    pub fingerprint: String,
}

/// What an import loads besides its products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportPlan {
    /// The data set the store holds once loaded: products 1..=`products`
    /// exist, and generated product names and pictures follow it.
    pub data_set: DataSet,
    /// The id the next new review gets: after the largest imported.
    pub next_review_id: u64,
}

/// One product of an import with all it holds, handed to a store in
/// product order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportedProduct {
    /// The product.
    pub product_id: u64,
    /// Its characteristics (nothing counted: the store counts its reviews).
    pub characteristics: Characteristics,
    /// Its reviews, reported ones too, each with its photos and
    /// characteristic ratings, in the embedded store's encoding (see
    /// [`super::embedded::codec`]), end to end: the embedded store writes
    /// them as they are.
    pub records: Vec<u8>,
    /// Each review's id and where its record ends in `records`, in id
    /// order.
    pub ends: Vec<(u64, usize)>,
}

impl ImportedProduct {
    /// Each review's id and record, in id order.
    pub fn records(&self) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(_, end)| end));
        self.ends
            .iter()
            .zip(starts)
            .map(|(&(id, end), start)| (id, &self.records[start..end]))
    }

    /// How many reviews it holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it holds no review.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each review, decoded.
    pub fn reviews(&self) -> Result<Vec<Review>, StoreError> {
        self.records()
            .map(|(id, raw)| super::embedded::codec::decode(id, raw).map_err(StoreError::Corrupt))
            .collect()
    }
}

/// What a store export visits: the store's data set and next id first,
/// then every product's characteristics, then every review.
pub enum Exported<'a> {
    /// What the store holds: its data set and the next review id.
    Header {
        /// The data set products are rendered from.
        data_set: DataSet,
        /// The id the next new review gets.
        next_review_id: u64,
    },
    /// A product with characteristics.
    Product {
        /// The product.
        product_id: u64,
        /// Its characteristics (sums as counted now).
        characteristics: &'a Characteristics,
    },
    /// A review, reported ones too, with every stored field.
    Review(&'a Review),
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
