//! Single-flight: however many tasks ask for the same key at once, one runs
//! the work and the others wait for its result.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// Work in flight, by key.
pub struct SingleFlight<K, V> {
    flights: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    /// No work in flight.
    pub fn new() -> Self {
        SingleFlight {
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `work` for `key` unless a run is already in flight, in which case
    /// waits for that run's result. If the running task is cancelled, one of
    /// the waiters takes over (tokio's `OnceCell` guarantees one runner).
    pub async fn run<F, Fut>(&self, key: K, work: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = {
            let mut flights = self.flights.lock().expect("single-flight lock");
            Arc::clone(flights.entry(key.clone()).or_default())
        };
        let value = cell.get_or_init(work).await.clone();
        let mut flights = self.flights.lock().expect("single-flight lock");
        if flights
            .get(&key)
            .is_some_and(|current| Arc::ptr_eq(current, &cell))
        {
            flights.remove(&key);
        }
        value
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let flights = Arc::new(SingleFlight::<u32, u32>::new());
        let runs = Arc::new(AtomicU32::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (flights, runs) = (Arc::clone(&flights), Arc::clone(&runs));
                tokio::spawn(async move {
                    flights
                        .run(7, || async {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            42
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(
            flights.flights.lock().unwrap().is_empty(),
            "finished flights are removed"
        );
    }
}
