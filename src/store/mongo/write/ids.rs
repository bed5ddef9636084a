//! Review ids for new reviews: blocks of [`ID_BLOCK`] that each process
//! reserves with one `$inc` on `info.counters`, outside any transaction,
//! so ids stay unique but are not dense across processes; a reservation
//! whose answer is lost, or a block left when a process stops, leaves a
//! gap.

use mongodb::bson::doc;
use mongodb::options::ReturnDocument;
use tokio::time::Instant;

use super::retry::{Next, backoff, within};
use crate::store::StoreError;
use crate::store::mongo::MongoStore;
use crate::store::mongo::docs::int;

/// Review ids a process reserves at a time.
pub const ID_BLOCK: u64 = 64;

/// Review ids reserved by this process and not used yet: `next..end`.
#[derive(Debug, Default)]
pub(in crate::store::mongo) struct IdBlock {
    next: u64,
    end: u64,
}

impl MongoStore {
    /// The next review id, from this process's block; a new block is
    /// reserved when it is used up.
    pub(super) async fn next_review_id(&self, deadline: Instant) -> Result<u64, StoreError> {
        let mut block = tokio::time::timeout_at(deadline, self.ids.lock())
            .await
            .map_err(|_| StoreError::Unavailable("MongoDB: no review id in time".into()))?;
        if block.next >= block.end {
            let start = self.reserve_ids(deadline).await?;
            *block = IdBlock {
                next: start,
                end: start + ID_BLOCK,
            };
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }

    async fn reserve_ids(&self, deadline: Instant) -> Result<u64, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reserve = self
                .info
                .find_one_and_update(
                    doc! { "_id": "counters" },
                    doc! { "$inc": { "next_review_id": ID_BLOCK as i64 } },
                )
                .return_document(ReturnDocument::Before);
            let failure = match within(deadline, reserve).await {
                Ok(Some(counters)) => return Ok(int(&counters, "next_review_id")? as u64),
                Ok(None) => {
                    return Err(StoreError::Corrupt(
                        "no review id counter: the data set was not loaded by `seed`".into(),
                    ));
                }
                Err(failure) => failure,
            };
            let pause = backoff(attempt);
            if failure.next == Next::Stop || Instant::now() + pause >= deadline {
                return Err(StoreError::Unavailable(failure.error));
            }
            tokio::time::sleep(pause).await;
        }
    }
}
