//! Single flight: however many tasks ask for the same key at once, one runs
//! the work and the others wait for its result.
//!
//! A cell leaves the map when its flight ends, and also when the last task
//! holding it is cancelled before the work finished (a client that closed
//! its connection while the store or Redis was slow), so abandoned keys do
//! not pile up.

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
        // The guard holds this task's only handle on the cell.
        let leave = Leave {
            flights: &self.flights,
            key,
            cell,
        };
        leave.cell.get_or_init(work).await.clone()
    }

    /// Keys with work in flight (or abandoned and not yet cleared).
    pub fn len(&self) -> usize {
        self.flights.lock().expect("single-flight lock").len()
    }

    /// Whether no work is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// Removes a flight's cell when its last task leaves, done or cancelled.
struct Leave<'a, K: Eq + Hash, V> {
    flights: &'a Mutex<HashMap<K, Arc<OnceCell<V>>>>,
    key: K,
    cell: Arc<OnceCell<V>>,
}

impl<K: Eq + Hash, V> Drop for Leave<'_, K, V> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().expect("single-flight lock");
        let current = flights.get(&self.key);
        let done = self.cell.initialized();
        // Tasks clone the cell under this lock: two holders left (the map's
        // and ours) means no other task waits on it.
        if current.is_some_and(|c| Arc::ptr_eq(c, &self.cell))
            && (done || Arc::strong_count(&self.cell) == 2)
        {
            flights.remove(&self.key);
        }
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
        assert!(flights.is_empty(), "finished flights are removed");
    }

    #[tokio::test]
    async fn a_cancelled_flight_leaves_nothing_behind() {
        let flights = Arc::new(SingleFlight::<u32, u32>::new());
        for key in 0..100 {
            let run = flights.run(key, || async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                1
            });
            // The client goes away while the work waits.
            assert!(
                tokio::time::timeout(Duration::from_millis(1), run)
                    .await
                    .is_err()
            );
        }
        assert!(flights.is_empty(), "{} cells left", flights.len());
    }
}
