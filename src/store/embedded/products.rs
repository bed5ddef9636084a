//! What products are rendered from: the data set the store holds. Products
//! are a pure function of it (see [`crate::generate`]), so the store keeps
//! no product records; `info` already names the data set.

use super::EmbeddedStore;
use crate::generate::DataSet;
use crate::store::StoreError;

impl EmbeddedStore {
    /// The data set in `info`, once its load is complete.
    pub(super) fn read_data_set(&self) -> Result<Option<DataSet>, StoreError> {
        let status = self.status()?;
        Ok(status.data_set.filter(|_| status.complete))
    }
}
