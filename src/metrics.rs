//! Per-process counters in Prometheus text format (`GET /metrics`).
//!
//! Everything is a fixed set of atomics: recording costs a few relaxed adds
//! and no lock. Counters are per worker process; behind one port, scrape
//! each worker (see the README) or sum the series a scrape sees over time.
//! The edge counts requests, the service counts store calls.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::breaker::BreakerState;
use crate::cache::StatsSnapshot;

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
/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A latency histogram.
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

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".into()])
            .enumerate()
        {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
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

/// Everything this process counts besides the cache's own counters.
pub struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; ROUTES.len()],
    latency: [Histogram; ROUTES.len()],
    in_flight: AtomicI64,
    shed: AtomicU64,
    store: Histogram,
    store_errors: AtomicU64,
    /// The `worker` label of `reviews_process_info`.
    worker: String,
}

impl Metrics {
    /// Counters of one process; `worker` is its slot under a supervisor.
    pub fn new(worker: Option<&str>) -> Metrics {
        Metrics {
            requests: Default::default(),
            latency: Default::default(),
            in_flight: AtomicI64::new(0),
            shed: AtomicU64::new(0),
            store: Histogram::default(),
            store_errors: AtomicU64::new(0),
            worker: worker.unwrap_or("none").to_string(),
        }
    }

    /// Counts a finished request.
    pub fn request(&self, route: RouteLabel, status: u16, took: Duration) {
        let route = route as usize;
        let slot = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len() - 1);
        self.requests[route][slot].fetch_add(1, Ordering::Relaxed);
        self.latency[route].observe(took);
    }

    /// One more request in flight; returns how many are now.
    pub fn enter(&self) -> i64 {
        self.in_flight.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// One request fewer in flight.
    pub fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a request refused because too many were in flight.
    pub fn shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Times one store call.
    pub fn store_call(&self, took: Duration, ok: bool) {
        self.store.observe(took);
        if !ok {
            self.store_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition of this process.
    pub fn render(&self, cache: &StatsSnapshot, breaker: Option<BreakerState>) -> String {
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
        for (r, route) in ROUTES.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = self.requests[r][s].load(Ordering::Relaxed);
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
        for (r, route) in ROUTES.iter().enumerate() {
            let labels = format!("route=\"{route}\",");
            self.latency[r].render(&mut out, "reviews_http_request_duration_seconds", &labels);
        }
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        single(
            &mut out,
            "reviews_http_in_flight",
            "gauge",
            "Requests being answered now.",
            &in_flight,
        );
        let shed = self.shed.load(Ordering::Relaxed);
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
        let errors = self.store_errors.load(Ordering::Relaxed);
        single(
            &mut out,
            "reviews_store_errors_total",
            "counter",
            "Store calls that failed.",
            &errors,
        );
        let help = "Time of store calls (reads and writes).";
        head(
            &mut out,
            "reviews_store_duration_seconds",
            "histogram",
            help,
        );
        self.store
            .render(&mut out, "reviews_store_duration_seconds", "");
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
        let help = "0 closed, 1 half-open, 2 open, -1 no Redis.";
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
        let help = "Resident set size of this process.";
        single(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            help,
            &resident_bytes(),
        );
        out
    }
}

/// This process's RSS, from /proc/self/statm (0 where unavailable).
fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page
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
        let text = m.render(&StatsSnapshot::default(), None);
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
        assert!(resident_bytes() > 0);
    }
}
