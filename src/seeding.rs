//! What a load of a generated data set needs besides the store: how its
//! progress is shown (a bar on a terminal, plain lines otherwise), and the
//! scalars of every record, computed in parallel, that index and meta
//! builds start from.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::generate::{DataSet, Generator};
use crate::model::{CharacteristicRatings, Meta, Review};

/// Receives a load's progress.
pub trait Progress {
    /// A new phase starts: `done` of `total` units are already behind it.
    fn phase(&mut self, name: &'static str, total: u64, done: u64);
    /// `n` more units are done.
    fn advance(&mut self, n: u64);
    /// What the phase is doing now, for a step that has no units of its
    /// own to count (an index being built); nothing by default.
    fn note(&mut self, what: &str) {
        let _ = what;
    }
    /// The load is over.
    fn finish(&mut self);
}

/// A bar with rate and ETA when stderr is a terminal, else a plain line
/// every few seconds through `log`.
pub fn reporter(log: fn(&str)) -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar(None))
    } else {
        Box::new(Lines::new(log, Duration::from_secs(2)))
    }
}

struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn phase(&mut self, name: &'static str, total: u64, done: u64) {
        self.finish();
        let bar = ProgressBar::new(total)
            .with_position(done)
            .with_prefix(name);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>8} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.reset_eta();
        self.0 = Some(bar);
    }

    fn advance(&mut self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    fn note(&mut self, what: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(what.to_string());
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish();
        }
    }
}

/// Plain progress lines: phase, position, rate and ETA.
pub struct Lines {
    log: fn(&str),
    every: Duration,
    phase: &'static str,
    total: u64,
    done: u64,
    start_done: u64,
    started: Instant,
    last: Instant,
    /// `done` when this phase's last line was written: a line that would
    /// say the same again is not written.
    shown: Option<u64>,
}

impl Lines {
    /// Lines through `log`, at most one per `every`.
    pub fn new(log: fn(&str), every: Duration) -> Lines {
        let now = Instant::now();
        Lines {
            log,
            every,
            phase: "",
            total: 0,
            done: 0,
            start_done: 0,
            started: now,
            last: now,
            shown: None,
        }
    }

    fn line(&mut self) {
        self.shown = Some(self.done);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.done.saturating_sub(self.start_done) as f64 / secs;
        let eta = if rate > 0.0 {
            self.total.saturating_sub(self.done) as f64 / rate
        } else {
            0.0
        };
        let pct = if self.total == 0 {
            100.0
        } else {
            self.done as f64 * 100.0 / self.total as f64
        };
        (self.log)(&format!(
            "{}: {}/{} ({pct:.1}%) {rate:.0}/s eta {eta:.0}s",
            self.phase, self.done, self.total
        ));
    }
}

impl Progress for Lines {
    fn phase(&mut self, name: &'static str, total: u64, done: u64) {
        self.phase = name;
        self.total = total;
        self.done = done;
        self.start_done = done;
        self.started = Instant::now();
        self.last = self.started;
        self.shown = None;
    }

    fn advance(&mut self, n: u64) {
        self.done += n;
        if self.last.elapsed() >= self.every {
            self.last = Instant::now();
            self.line();
        }
    }

    fn note(&mut self, what: &str) {
        (self.log)(&format!("{}: {what}", self.phase));
    }

    fn finish(&mut self) {
        if self.shown != Some(self.done) {
            self.line();
        }
    }
}

/// Discards progress (tests, quiet runs).
pub struct Silent;

impl Progress for Silent {
    fn phase(&mut self, _: &'static str, _: u64, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// The scalars of one generated record, as index and meta builds need them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Row {
    /// Product id (data sets hold at most u32::MAX products).
    pub product: u32,
    /// Unix seconds.
    pub date: u32,
    /// Helpful votes.
    pub helpfulness: u32,
    /// Stars.
    pub rating: u8,
    /// Recommends the product.
    pub recommend: bool,
    /// Not reported.
    pub visible: bool,
    /// Has at least one photo.
    pub photos: bool,
}

/// The rows of records 1..=N (index i holds record i + 1), computed on
/// `threads` threads from the generator alone.
pub fn rows(set: DataSet, threads: usize) -> Vec<Row> {
    let generator = Generator::new(set);
    let mut rows = vec![Row::default(); set.records as usize];
    let per_thread = rows.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (part, slice) in rows.chunks_mut(per_thread).enumerate() {
            scope.spawn(move || {
                let first = (part * per_thread) as u64 + 1;
                for (offset, row) in slice.iter_mut().enumerate() {
                    let s = generator.scalars(first + offset as u64);
                    *row = Row {
                        product: s.product_id as u32,
                        date: s.date as u32,
                        helpfulness: s.helpfulness,
                        rating: s.rating,
                        recommend: s.recommend,
                        visible: !s.reported,
                        photos: s.photos > 0,
                    };
                }
            });
        }
    });
    rows
}

/// Every product's meta (index p holds product p + 1) over the data set,
/// its characteristics and their sums included. A review's ratings of the
/// characteristics agree with its text, so every record is generated
/// whole, on `threads` threads (about as long as generating the records
/// to store them).
pub fn metas(set: DataSet, threads: usize) -> Vec<Meta> {
    let generator = Generator::new(set);
    let mut metas: Vec<Meta> = (1..=set.products)
        .map(|p| Meta {
            characteristics: generator.characteristics(p),
            ..Meta::default()
        })
        .collect();
    let rows = rows(set, threads);
    let mut rated = vec![[0u8; 3]; rows.len()];
    let per_thread = rows.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (part, slice) in rated.chunks_mut(per_thread).enumerate() {
            scope.spawn(move || {
                let first = (part * per_thread) as u64 + 1;
                let mut review = Review::default();
                for (offset, packed) in slice.iter_mut().enumerate() {
                    generator.fill(first + offset as u64, &mut review);
                    *packed = review.characteristics.pack();
                }
            });
        }
    });
    for (row, packed) in rows.iter().zip(rated).filter(|(r, _)| r.visible) {
        let ratings = CharacteristicRatings::unpack(packed);
        metas[row.product as usize - 1].add(row.rating, row.recommend, &ratings);
    }
    metas
}

#[cfg(test)]
mod tests {
    use super::*;

    static LOGGED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

    #[test]
    fn a_finished_phase_is_not_reported_twice() {
        let mut lines = Lines::new(|l| LOGGED.lock().unwrap().push(l.into()), Duration::ZERO);
        lines.phase("index", 10, 0);
        lines.advance(10);
        lines.finish();
        let logged = LOGGED.lock().unwrap().clone();
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert!(logged[0].starts_with("index: 10/10 (100.0%)"), "{logged:?}");
    }

    #[test]
    fn a_note_is_a_line_of_its_phase() {
        static NOTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let mut lines = Lines::new(|l| NOTED.lock().unwrap().push(l.into()), Duration::ZERO);
        lines.phase("index", 5, 0);
        lines.note("building visible_newest on reviews (1 of 5): 0m 10s");
        let noted = NOTED.lock().unwrap().clone();
        assert_eq!(
            noted,
            vec!["index: building visible_newest on reviews (1 of 5): 0m 10s"]
        );
    }
}
