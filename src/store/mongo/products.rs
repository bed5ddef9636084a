//! What products are rendered from: the data set the database holds.
//! Products are a pure function of it (see [`crate::generate`]), so the
//! database keeps no product documents; `info` already names the data set.

use mongodb::bson::doc;

use super::docs::int;
use super::{MongoStore, primary};
use crate::generate::DataSet;
use crate::store::StoreError;

impl MongoStore {
    /// The completely loaded data set in `info`, read from the primary (as
    /// the product count is): a lagging secondary could still show the one
    /// before a new load.
    pub(super) async fn read_data_set(&self) -> Result<Option<DataSet>, StoreError> {
        let find = self
            .info
            .find_one(doc! { "_id": "data_set", "complete": true })
            .selection_criteria(primary());
        let Some(d) = self.bound(find).await? else {
            return Ok(None);
        };
        Ok(Some(DataSet {
            seed: int(&d, "seed")? as u64,
            records: int(&d, "records")? as u64,
            products: int(&d, "products")? as u64,
        }))
    }
}
