//! Index builds that say how far they are, for `seed`: one index per
//! `createIndexes`, in the order given, each named as it starts and ends,
//! with a note every [`NOTE_EVERY`] while it builds — how long so far and,
//! where the deployment's `$currentOp` reports one, its own progress (a
//! `mongod`'s "Index Build: scanning collection 2000000/10000000").
//!
//! One command per index rather than one for all: DocumentDB builds a
//! command's indexes one after another anyway and lists them all as soon
//! as the command starts, so only a command of one says which index is
//! under way; and a `seed` interrupted in this phase finds the indexes
//! already built there on its next run (creating an index that exists is
//! a no-op). A `mongod` would build the indexes of one command in a single
//! scan of the collection; here each build scans it again.

use std::time::Duration;

use mongodb::bson::{Bson, Document, doc};
use mongodb::{Collection, IndexModel};
use tokio::time::Instant;

use super::MongoStore;
use crate::seeding::Progress;
use crate::store::StoreError;

/// How often a build in progress is noted.
const NOTE_EVERY: Duration = Duration::from_secs(10);

impl MongoStore {
    /// Builds each index of `builds` on its collection, one at a time, as
    /// the `index` phase of `progress` (one unit per index).
    pub(super) async fn build_in_turn(
        &self,
        builds: Vec<(Collection<Document>, IndexModel)>,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let total = builds.len();
        progress.phase("index", total as u64, 0);
        for (n, (collection, model)) in builds.into_iter().enumerate() {
            let name = model
                .options
                .as_ref()
                .and_then(|o| o.name.clone())
                .unwrap_or_else(|| model.keys.to_string());
            let which = format!("{name} on {} ({} of {total})", collection.name(), n + 1);
            progress.note(&format!("building {which}"));
            let started = Instant::now();
            let build = self.slow(collection.create_index(model), "building an index");
            tokio::pin!(build);
            let mut notes = tokio::time::interval_at(Instant::now() + NOTE_EVERY, NOTE_EVERY);
            loop {
                tokio::select! {
                    built = &mut build => {
                        built?;
                        break;
                    }
                    _ = notes.tick() => {
                        let engine = self.index_build_progress(collection.name()).await;
                        let engine = engine.map(|e| format!("; the engine: {e}")).unwrap_or_default();
                        progress.note(&format!(
                            "building {which}: {}{engine}",
                            minutes(started.elapsed())
                        ));
                    }
                }
            }
            progress.advance(1);
            progress.note(&format!("built {which} in {}", minutes(started.elapsed())));
        }
        progress.finish();
        Ok(())
    }

    /// What `$currentOp` says of an index build on `collection`: its
    /// message, or how many of how many it has done; `None` when the
    /// deployment reports nothing (DocumentDB fails `$currentOp` while an
    /// index builds) or may not be asked.
    async fn index_build_progress(&self, collection: &str) -> Option<String> {
        let admin = self.client.database("admin");
        let ask = admin.aggregate([doc! { "$currentOp": {} }]).into_future();
        let mut ops = tokio::time::timeout(self.timeout, ask).await.ok()?.ok()?;
        while let Ok(true) = tokio::time::timeout(self.timeout, ops.advance())
            .await
            .ok()?
        {
            let Ok(op) = ops.deserialize_current() else {
                continue;
            };
            let building = op
                .get_document("command")
                .is_ok_and(|c| c.get_str("createIndexes") == Ok(collection));
            if !building {
                continue;
            }
            if let Ok(message) = op.get_str("msg").map(str::trim)
                && !message.is_empty()
            {
                return Some(message.to_string());
            }
            if let Ok(p) = op.get_document("progress") {
                let number = |k| match p.get(k) {
                    Some(Bson::Int32(n)) => Some(i64::from(*n)),
                    Some(Bson::Int64(n)) => Some(*n),
                    Some(Bson::Double(n)) => Some(*n as i64),
                    _ => None,
                };
                if let (Some(done), Some(total)) = (number("done"), number("total")) {
                    return Some(format!("{done}/{total}"));
                }
            }
        }
        None
    }
}

/// `d` as minutes and seconds.
fn minutes(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{}m {:02}s", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_times_read_as_minutes_and_seconds() {
        assert_eq!(minutes(Duration::from_secs(0)), "0m 00s");
        assert_eq!(minutes(Duration::from_millis(242_900)), "4m 02s");
    }
}
