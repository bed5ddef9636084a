//! Counters for `GET /metrics` (Prometheus text): one coherent view of the
//! whole port, whichever worker answers the scrape.
//!
//! Everything is a fixed set of atomics, so recording costs a few relaxed
//! adds and no lock. The atomics live in a [`Region`]: one block of counters
//! per worker slot ([`SlotCounters`], the cache's included) and one gauge
//! cell per live worker process ([`Cell`]). Under a supervisor the region
//! is memory shared by every process of the port; a scrape, answered by any
//! worker, sums every slot, so ten scrapes in a row give the same totals.
//! A worker that replaces another (after a crash, or on SIGHUP) counts on in
//! its slot's block, so counters never go back while the supervisor runs.
//! Requests in flight are a gauge per process: the supervisor zeroes a
//! worker's cell once it is reaped, so a killed worker's requests do not
//! linger in the sum.
//!
//! Per-process series (`process_cpu_seconds_total`, `process_open_fds`,
//! `process_resident_memory_bytes`, `process_start_time_seconds`) are
//! labelled `worker="<slot>"` for each slot's current worker and
//! `worker="supervisor"`, read from `/proc` at scrape time: they describe one
//! process each, so a replaced worker starts its slot's CPU seconds afresh,
//! with a new start time, as Prometheus expects of process series. A process
//! alone reports them without labels. Two series describe the process that
//! answered, not the port: `reviews_process_info` and
//! `reviews_redis_breaker_state` (each worker has its own breakers on the
//! same Redis: one per server, the most open of them reported).
//!
//! The edge counts requests, the service counts store calls, the cache
//! counts into the [`Stats`] this module hands it ([`Metrics::cache_stats`]),
//! and the change-log follower its [`Background`] reads, rendered per worker
//! slot beside which process follows (`reviews_follower_info`): on a healthy
//! port one slot's reads grow. The region also holds the follower's feed
//! ([`Metrics::feed`]).

mod process;
mod region;

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

pub use self::process::{Usage, usage};
pub use self::region::Region;
use crate::breaker::BreakerState;
use crate::cache::feed::Feed;
use crate::cache::stats::{Counters, Stats, StatsSnapshot};

/// The routes requests are counted by, as the `route` label names them.
pub const ROUTES: [&str; 11] = [
    "reviews",
    "meta",
    "post_review",
    "helpful",
    "report",
    "healthz",
    "readyz",
    "ops",
    "products",
    "photos",
    "unknown",
];

/// A request's `route` label: an index of [`ROUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteLabel {
    /// `GET /reviews/:id`.
    Reviews,
    /// `GET /reviews/:id/meta`.
    Meta,
    /// `POST /reviews/:id`.
    PostReview,
    /// `PUT /reviews/:id/helpful`.
    Helpful,
    /// `PUT /reviews/:id/report`.
    Report,
    /// `/healthz`.
    Healthz,
    /// `/readyz`.
    Readyz,
    /// `/metrics`, `/openapi.json` and the widget's files.
    Ops,
    /// `GET /products` and `GET /products/:id`.
    Products,
    /// `GET /photos/...`: generated pictures.
    Photos,
    /// Any other path.
    Unknown,
}
/// The statuses counted one by one; any other lands in `other`.
const STATUSES: [u16; 18] = [
    200, 201, 204, 304, 400, 404, 405, 408, 413, 414, 415, 422, 429, 431, 500, 503, 505, 0,
];
/// The `read` label of each [`Background`] read.
const BACKGROUND: [&str; 2] = ["change_log", "product_count"];

/// A store read made for the whole port rather than for a request (see
/// [`crate::cache::follower`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// A poll of the change log.
    ChangeLog,
    /// A read of the product count.
    ProductCount,
}

/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A latency histogram.
#[repr(C)]
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }
}

/// A histogram summed over slots.
#[derive(Default)]
struct HistogramTotals {
    counts: [u64; BUCKETS.len() + 1],
    sum_micros: u64,
}

impl HistogramTotals {
    fn add(&mut self, histogram: &Histogram) {
        for (total, count) in self.counts.iter_mut().zip(&histogram.counts) {
            *total += count.load(Ordering::Relaxed);
        }
        self.sum_micros += histogram.sum_micros.load(Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".into()])
            .enumerate()
        {
            cumulative += self.counts[i];
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let sum = self.sum_micros as f64 / 1e6;
        let labels = labels.trim_end_matches(',');
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{labels} {sum}");
        let _ = writeln!(out, "{name}_count{labels} {cumulative}");
    }
}

/// The counters of one worker slot: what every worker that ever served the
/// slot counted. `repr(C)`, 64-byte aligned (no two slots share a cache
/// line) and nothing but atomics, so a block can sit in shared memory.
#[repr(C, align(64))]
pub struct SlotCounters {
    requests: [[AtomicU64; STATUSES.len()]; ROUTES.len()],
    latency: [Histogram; ROUTES.len()],
    shed: AtomicU64,
    store: Histogram,
    store_errors: AtomicU64,
    cache: Counters,
    /// Reads the slot's workers made for the whole port, by [`Background`].
    background: [AtomicU64; BACKGROUND.len()],
    /// Documents those reads fetched, by [`Background`].
    background_documents: [AtomicU64; BACKGROUND.len()],
    /// The pid of the slot's current worker (0: none), for the process
    /// series; set by the supervisor.
    pid: AtomicU64,
}

impl SlotCounters {
    /// Records `pid` as the slot's current worker (0: none).
    pub fn set_pid(&self, pid: u32) {
        self.pid.store(u64::from(pid), Ordering::Relaxed);
    }

    fn pid(&self) -> Option<u32> {
        u32::try_from(self.pid.load(Ordering::Relaxed))
            .ok()
            .filter(|&pid| pid != 0)
    }
}

/// The gauges of one live worker process. 64-byte aligned: workers on
/// different cores never write the same cache line.
#[repr(C, align(64))]
pub struct Cell {
    in_flight: AtomicI64,
}

impl Cell {
    /// Forgets the gauges of a worker that is gone.
    pub fn clear(&self) {
        self.in_flight.store(0, Ordering::Relaxed);
    }
}

/// Names the layout of [`Region`]'s contents, so that a worker never maps
/// counters laid out by a build whose series differ (a SIGHUP may start a
/// new binary under an old supervisor). Sizes and label sets are hashed in;
/// the first word is the layout's version, to bump by hand when fields move
/// without changing a size.
fn layout_id() -> u64 {
    let mut words = vec![
        4,
        size_of::<SlotCounters>() as u64,
        size_of::<Cell>() as u64,
        size_of::<crate::cache::feed::Feed>() as u64,
    ];
    words.extend(STATUSES.iter().map(|&s| u64::from(s)));
    words.extend(BUCKETS.iter().map(|b| b.to_bits()));
    words.extend(ROUTES.iter().flat_map(|r| r.bytes().map(u64::from)));
    // FNV-1a over the words.
    words.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &word| {
        (hash ^ word).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A per-process series: name, type, help, and its value in a [`Usage`].
type ProcessSeries = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Usage) -> String,
);

/// Where this process counts requests in flight.
enum Gauge {
    /// In the region's cell of this index.
    Cell(usize),
    /// In this process only (the supervisor had no cell to lend).
    Own(AtomicI64),
}

/// Where this process counts, and how it renders the port's totals.
pub struct Metrics {
    region: Arc<Region>,
    /// This process's block in the region.
    slot: usize,
    in_flight: Gauge,
    /// The `worker` label of `reviews_process_info`.
    worker: String,
}

/// The port's rate-limit buckets, kept alive with the region they are in.
struct Buckets(Arc<Region>);

impl AsRef<[std::sync::atomic::AtomicU64]> for Buckets {
    fn as_ref(&self) -> &[std::sync::atomic::AtomicU64] {
        self.0.buckets()
    }
}

/// The port's feed, kept alive with the region it is in.
struct FeedIn(Arc<Region>);

impl AsRef<Feed> for FeedIn {
    fn as_ref(&self) -> &Feed {
        self.0.feed()
    }
}

/// A slot's cache counters, as the cache's [`Stats`] borrow them.
struct SlotCache {
    region: Arc<Region>,
    slot: usize,
}

impl AsRef<Counters> for SlotCache {
    fn as_ref(&self) -> &Counters {
        &self.region.slots()[self.slot].cache
    }
}

impl Metrics {
    /// Counters of a process alone; `worker` names it in
    /// `reviews_process_info`.
    pub fn new(worker: Option<&str>) -> Metrics {
        Metrics {
            region: Arc::new(Region::private(1, 1)),
            slot: 0,
            in_flight: Gauge::Cell(0),
            worker: worker.unwrap_or("none").to_string(),
        }
    }

    /// Counters of the worker of `slot` in a supervisor's `region`, its
    /// in-flight gauge in `cell`; `None` if the region has no such slot.
    pub fn in_region(
        region: Arc<Region>,
        slot: usize,
        cell: Option<usize>,
        worker: &str,
    ) -> Option<Metrics> {
        if slot >= region.slots().len() {
            return None;
        }
        let in_flight = match cell.filter(|&c| c < region.cells().len()) {
            Some(cell) => Gauge::Cell(cell),
            None => Gauge::Own(AtomicI64::new(0)),
        };
        Some(Metrics {
            region,
            slot,
            in_flight,
            worker: worker.to_string(),
        })
    }

    /// The counters the cache counts into: this process's slot's.
    pub fn cache_stats(&self) -> Stats {
        Stats::kept_by(Arc::new(SlotCache {
            region: Arc::clone(&self.region),
            slot: self.slot,
        }))
    }

    /// The rate-limit buckets of the port (of this process alone, when it
    /// serves alone): shared by every worker, as the counters are.
    pub fn limit_buckets(&self) -> Arc<dyn AsRef<[AtomicU64]> + Send + Sync> {
        Arc::new(Buckets(Arc::clone(&self.region)))
    }

    /// The port's feed (of this process alone, when it serves alone): what
    /// the port's change-log follower tells every worker.
    pub fn feed(&self) -> Arc<dyn AsRef<Feed> + Send + Sync> {
        Arc::new(FeedIn(Arc::clone(&self.region)))
    }

    /// Counts `n` background reads of `kind` made by this process.
    pub fn background_reads(&self, kind: Background, n: u64) {
        self.mine().background[kind as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` documents fetched by background reads of `kind` made by
    /// this process.
    pub fn background_documents(&self, kind: Background, n: u64) {
        self.mine().background_documents[kind as usize].fetch_add(n, Ordering::Relaxed);
    }

    fn mine(&self) -> &SlotCounters {
        &self.region.slots()[self.slot]
    }

    fn in_flight(&self) -> &AtomicI64 {
        match &self.in_flight {
            Gauge::Cell(cell) => &self.region.cells()[*cell].in_flight,
            Gauge::Own(gauge) => gauge,
        }
    }

    /// Counts a finished request.
    pub fn request(&self, route: RouteLabel, status: u16, took: Duration) {
        let route = route as usize;
        let slot = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len() - 1);
        let mine = self.mine();
        mine.requests[route][slot].fetch_add(1, Ordering::Relaxed);
        mine.latency[route].observe(took);
    }

    /// One more request in flight; returns how many this process has now.
    pub fn enter(&self) -> i64 {
        self.in_flight().fetch_add(1, Ordering::Relaxed) + 1
    }

    /// One request fewer in flight.
    pub fn leave(&self) {
        self.in_flight().fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a request refused because too many were in flight.
    pub fn shed(&self) {
        self.mine().shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Times one store call.
    pub fn store_call(&self, took: Duration, ok: bool) {
        let mine = self.mine();
        mine.store.observe(took);
        if !ok {
            mine.store_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition of the whole port: every slot summed;
    /// `breaker` is this process's Redis breaker.
    pub fn render(&self, breaker: Option<BreakerState>) -> String {
        let mut requests = [[0u64; STATUSES.len()]; ROUTES.len()];
        let mut latency: [HistogramTotals; ROUTES.len()] = Default::default();
        let (mut shed, mut store_errors) = (0, 0);
        let mut store = HistogramTotals::default();
        let mut cache = StatsSnapshot::default();
        for block in self.region.slots() {
            for (totals, counters) in requests.iter_mut().zip(&block.requests) {
                for (total, counter) in totals.iter_mut().zip(counters) {
                    *total += counter.load(Ordering::Relaxed);
                }
            }
            for (totals, histogram) in latency.iter_mut().zip(&block.latency) {
                totals.add(histogram);
            }
            shed += block.shed.load(Ordering::Relaxed);
            store.add(&block.store);
            store_errors += block.store_errors.load(Ordering::Relaxed);
            cache += block.cache.snapshot();
        }
        let mut in_flight: i64 = self
            .region
            .cells()
            .iter()
            .map(|c| c.in_flight.load(Ordering::Relaxed))
            .sum();
        if let Gauge::Own(gauge) = &self.in_flight {
            in_flight += gauge.load(Ordering::Relaxed);
        }

        let mut out = String::with_capacity(16 * 1024);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        // One unlabelled series: its help, its type and its value.
        let single = |out: &mut String,
                      name: &str,
                      kind: &str,
                      help: &str,
                      value: &dyn std::fmt::Display| {
            head(out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        };
        head(
            &mut out,
            "reviews_http_requests_total",
            "counter",
            "Requests answered, by route and status.",
        );
        for (route, counts) in ROUTES.iter().zip(&requests) {
            for (status, &n) in STATUSES.iter().zip(counts) {
                if n > 0 {
                    let status = if *status == 0 {
                        "other".to_string()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        out,
                        "reviews_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        head(
            &mut out,
            "reviews_http_request_duration_seconds",
            "histogram",
            "Time to answer, by route.",
        );
        for (route, totals) in ROUTES.iter().zip(&latency) {
            let labels = format!("route=\"{route}\",");
            totals.render(&mut out, "reviews_http_request_duration_seconds", &labels);
        }
        single(
            &mut out,
            "reviews_http_in_flight",
            "gauge",
            "Requests being answered now.",
            &in_flight,
        );
        let help = "Requests refused with 503 because too many were in flight.";
        single(&mut out, "reviews_http_shed_total", "counter", help, &shed);
        head(
            &mut out,
            "reviews_cache_lookups_total",
            "counter",
            "Cached reads, by outcome.",
        );
        for (result, n) in [
            ("hit_l1", cache.l1_hits),
            ("hit_redis", cache.redis_hits),
            ("miss", cache.misses),
            ("stale", cache.stale),
        ] {
            let _ = writeln!(
                out,
                "reviews_cache_lookups_total{{result=\"{result}\"}} {n}"
            );
        }
        let help = "Reads the cache sent to the store.";
        single(
            &mut out,
            "reviews_store_queries_total",
            "counter",
            help,
            &cache.store_queries,
        );
        let help = "Of those, looks: reads answering a min_version the process had not \
                    heard of (at most 20 a second per product).";
        single(
            &mut out,
            "reviews_store_unheard_reads_total",
            "counter",
            help,
            &cache.unheard_reads,
        );
        single(
            &mut out,
            "reviews_store_errors_total",
            "counter",
            "Store calls that failed.",
            &store_errors,
        );
        let help = "Time of store calls (reads and writes).";
        head(
            &mut out,
            "reviews_store_duration_seconds",
            "histogram",
            help,
        );
        store.render(&mut out, "reviews_store_duration_seconds", "");
        let help = "Redis calls that failed or timed out.";
        single(
            &mut out,
            "reviews_redis_errors_total",
            "counter",
            help,
            &cache.redis_errors,
        );
        let help = "Redis calls skipped by the open breaker.";
        single(
            &mut out,
            "reviews_redis_skipped_total",
            "counter",
            help,
            &cache.redis_skipped,
        );
        let state = match breaker {
            None => -1,
            Some(BreakerState::Closed) => 0,
            Some(BreakerState::HalfOpen) => 1,
            Some(BreakerState::Open) => 2,
        };
        let help = "The answering worker's Redis breaker (on a cluster, the most open of its masters'): 0 closed, 1 half-open, 2 open, -1 no Redis.";
        single(
            &mut out,
            "reviews_redis_breaker_state",
            "gauge",
            help,
            &state,
        );
        head(
            &mut out,
            "reviews_process_info",
            "gauge",
            "Which process answered this scrape.",
        );
        let worker = &self.worker;
        let pid = std::process::id();
        let _ = writeln!(
            out,
            "reviews_process_info{{pid=\"{pid}\",worker=\"{worker}\"}} 1"
        );
        self.render_background(&mut out);
        self.render_processes(&mut out);
        out
    }

    /// The store reads made for the whole port and the documents they
    /// fetched, by the worker slot that made them (or by this process
    /// alone), and which process follows the change log now.
    fn render_background(&self, out: &mut String) {
        let alone = self.region.supervisor().is_none();
        let families = [
            (
                "reviews_store_background_reads_total",
                "Store reads made for the whole port (change-log polls, product counts), by worker.",
                false,
            ),
            (
                "reviews_store_background_documents_total",
                "Documents those background reads fetched (change-log entries, the product count's), by worker.",
                true,
            ),
        ];
        for (name, help, documents) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (i, block) in self.region.slots().iter().enumerate() {
                let worker = if alone {
                    String::new()
                } else {
                    format!(",worker=\"{i}\"")
                };
                let counts = if documents {
                    &block.background_documents
                } else {
                    &block.background
                };
                for (read, n) in BACKGROUND.iter().zip(counts) {
                    let n = n.load(Ordering::Relaxed);
                    let _ = writeln!(out, "{name}{{read=\"{read}\"{worker}}} {n}");
                }
            }
        }
        let help = "The process that follows the change log for the port.";
        let _ = writeln!(
            out,
            "# HELP reviews_follower_info {help}\n# TYPE reviews_follower_info gauge"
        );
        if let Some((pid, _)) = self.region.feed().lease() {
            let slot = self
                .region
                .slots()
                .iter()
                .position(|s| s.pid() == Some(pid));
            let worker = match slot {
                Some(i) => format!(",worker=\"{i}\""),
                None => String::new(),
            };
            let _ = writeln!(out, "reviews_follower_info{{pid=\"{pid}\"{worker}}} 1");
        }
    }

    /// The per-process series: each slot's current worker and the
    /// supervisor, or this process alone.
    fn render_processes(&self, out: &mut String) {
        let processes: Vec<(String, Usage)> = match self.region.supervisor() {
            None => usage(std::process::id())
                .map(|u| (String::new(), u))
                .into_iter()
                .collect(),
            Some(supervisor) => {
                let workers = self.region.slots().iter().enumerate().filter_map(|(i, s)| {
                    // A pid reused by a process that is not our worker is skipped.
                    let usage = usage(s.pid()?).filter(|u| u.parent == supervisor)?;
                    Some((format!("{{worker=\"{i}\"}}"), usage))
                });
                let sup = usage(supervisor).map(|u| ("{worker=\"supervisor\"}".to_string(), u));
                workers.chain(sup).collect()
            }
        };
        let series: [ProcessSeries; 4] = [
            (
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time, seconds.",
                |u| u.cpu_seconds.to_string(),
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident set size, bytes.",
                |u| u.resident_bytes.to_string(),
            ),
            ("process_open_fds", "gauge", "Open file descriptors.", |u| {
                u.open_fds.to_string()
            }),
            (
                "process_start_time_seconds",
                "gauge",
                "Start time, seconds since the Unix epoch.",
                |u| u.start_time_seconds.to_string(),
            ),
        ];
        for (name, kind, help, value) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, usage) in &processes {
                let _ = writeln!(out, "{name}{labels} {}", value(usage));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::new(Some("1"));
        m.request(RouteLabel::Reviews, 200, Duration::from_micros(80));
        m.request(RouteLabel::Reviews, 200, Duration::from_millis(3));
        m.request(RouteLabel::Meta, 404, Duration::from_millis(30));
        m.request(RouteLabel::Unknown, 418, Duration::from_millis(1));
        let text = m.render(None);
        assert!(text.contains("reviews_http_requests_total{route=\"reviews\",status=\"200\"} 2"));
        assert!(text.contains("reviews_http_requests_total{route=\"meta\",status=\"404\"} 1"));
        assert!(text.contains("reviews_http_requests_total{route=\"unknown\",status=\"other\"} 1"));
        assert!(text.contains(
            "reviews_http_request_duration_seconds_bucket{route=\"reviews\",le=\"0.0001\"} 1"
        ));
        assert!(text.contains(
            "reviews_http_request_duration_seconds_bucket{route=\"reviews\",le=\"0.005\"} 2"
        ));
        assert!(text.contains("reviews_http_request_duration_seconds_count{route=\"reviews\"} 2"));
        assert!(text.contains("reviews_redis_breaker_state -1"));
        assert!(text.contains("worker=\"1\""));
        assert!(text.contains("\nprocess_resident_memory_bytes "));
        assert!(text.contains("\nprocess_cpu_seconds_total "));
    }

    #[test]
    fn a_shared_region_sums_every_slot_and_clears_a_dead_workers_gauge() {
        let region = Arc::new(Region::shared(2, 4).unwrap());
        let a = Metrics::in_region(Arc::clone(&region), 0, Some(0), "0").unwrap();
        let b = Metrics::in_region(Arc::clone(&region), 1, Some(1), "1").unwrap();
        // A replacement of slot 1, still starting while b drains.
        let b2 = Metrics::in_region(Arc::clone(&region), 1, Some(2), "1").unwrap();
        a.request(RouteLabel::Meta, 200, Duration::from_millis(1));
        b.request(RouteLabel::Meta, 200, Duration::from_millis(1));
        b2.request(RouteLabel::Meta, 200, Duration::from_millis(1));
        crate::cache::stats::bump(&b.cache_stats().l1_hits);
        assert_eq!((a.enter(), b.enter(), b.enter()), (1, 1, 2));
        for m in [&a, &b, &b2] {
            let text = m.render(None);
            assert!(text.contains("reviews_http_requests_total{route=\"meta\",status=\"200\"} 3"));
            assert!(text.contains("reviews_cache_lookups_total{result=\"hit_l1\"} 1"));
            assert!(text.contains("reviews_http_in_flight 3"), "{text}");
        }
        // b is killed with two requests in flight: the supervisor clears its cell.
        region.cells()[1].clear();
        assert!(a.render(None).contains("reviews_http_in_flight 1"));
        // A mapping of the same memory sees the same counts.
        let fd = region.fd().unwrap().try_clone_to_owned().unwrap();
        let again = Arc::new(Region::inherit(fd).unwrap());
        let c = Metrics::in_region(again, 0, None, "0").unwrap();
        assert!(
            c.render(None)
                .contains("reviews_http_requests_total{route=\"meta\",status=\"200\"} 3")
        );
        assert!(Metrics::in_region(region, 2, None, "2").is_none());
    }
}
