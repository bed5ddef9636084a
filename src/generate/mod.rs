//! The deterministic review generator of docs/api.md.
//!
//! Every record is a pure function of `(seed, review_id)` (and the data set's
//! product count): [`Generator::record`] rebuilds any one of them alone, so
//! tests can predict what the store holds, and `seed` can resume anywhere.
//!
//! Shape of the data:
//! - products: review counts follow a log-normal law (σ ≈ 1.18, median ≈
//!   half the mean), drawn per review by inverse transform, so at 10M/1M the
//!   median product has ~5 reviews and the largest over 1,000; low product
//!   ids are the popular ones;
//! - ratings skew to 4–5 stars, each product leaning good, middling or poor;
//! - dates are uniform over the five years before 2026-01-01T00:00:00Z;
//! - ~10% of reviews have 1–5 photos, ~20% a seller response, ~2% are reported.

mod dist;
mod words;

use std::fmt::Write;

pub use dist::Rng;
use dist::{normal_cdf, normal_quantile};
use words::*;

use crate::model::{Photo, Review, photo_id};

/// 2021-01-01T00:00:00Z: the first instant a generated review can have.
pub const DATE_START: i64 = 1_609_459_200;
/// 2026-01-01T00:00:00Z: the fixed reference generated dates stay before.
pub const DATE_END: i64 = 1_767_225_600;
/// Spread of the log-normal law of reviews per product.
const PRODUCT_SIGMA: f64 = 1.18;

const DOMAIN_REVIEW: u64 = 1;
const DOMAIN_PRODUCT: u64 = 2;

/// Rating weights (1..5 stars, cumulative) of good, middling and poor products.
const RATING_PROFILES: [[u32; 5]; 3] = [
    [3, 7, 15, 40, 100],
    [7, 15, 30, 60, 100],
    [23, 40, 60, 80, 100],
];
/// How often a product is good, middling or poor (cumulative).
const PROFILE_WEIGHTS: [u32; 3] = [55, 90, 100];

/// The parameters that define a generated data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataSet {
    /// The random seed.
    pub seed: u64,
    /// Number of reviews, ids 1..=records.
    pub records: u64,
    /// Number of products, ids 1..=products.
    pub products: u64,
}

impl DataSet {
    /// A data set with docs/operations.md's default of one product per ten reviews.
    pub fn new(seed: u64, records: u64, products: Option<u64>) -> DataSet {
        let products = products.unwrap_or(records / 10).max(1);
        DataSet {
            seed,
            records,
            products,
        }
    }
}

/// The fields of a record that ordering, counting and indexing need; cheap to
/// compute without generating any text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scalars {
    /// The review id.
    pub review_id: u64,
    /// The product it belongs to.
    pub product_id: u64,
    /// Stars, 1..=5.
    pub rating: u8,
    /// Whether the reviewer recommends the product.
    pub recommend: bool,
    /// Hidden from results and counts.
    pub reported: bool,
    /// Helpful votes.
    pub helpfulness: u32,
    /// Unix seconds.
    pub date: i64,
}

/// Builds the records of one [`DataSet`].
#[derive(Debug, Clone, Copy)]
pub struct Generator {
    set: DataSet,
}

/// What every review of one product shares.
struct ProductTraits {
    profile: usize,
    category: &'static Category,
    noun: &'static str,
}

#[derive(Clone, Copy)]
enum Tone {
    Good,
    Mixed,
    Bad,
}

impl Generator {
    /// A generator for `set`.
    pub fn new(set: DataSet) -> Generator {
        Generator { set }
    }

    /// The data set this generator builds.
    pub fn data_set(&self) -> DataSet {
        self.set
    }

    /// The scalar fields of review `review_id` (1-based).
    pub fn scalars(&self, review_id: u64) -> Scalars {
        self.draw(review_id).0
    }

    /// Review `review_id` (1-based), whole.
    pub fn record(&self, review_id: u64) -> Review {
        let mut out = Review::default();
        self.fill(review_id, &mut out);
        out
    }

    /// Writes review `review_id` into `out`, reusing its allocations.
    pub fn fill(&self, review_id: u64, out: &mut Review) {
        let (s, mut rng) = self.draw(review_id);
        let product = self.product(s.product_id);
        out.review_id = s.review_id;
        out.product_id = s.product_id;
        out.rating = s.rating;
        out.recommend = s.recommend;
        out.reported = s.reported;
        out.helpfulness = s.helpfulness;
        out.date = s.date;

        let tone = match s.rating {
            4..=5 => Tone::Good,
            3 => Tone::Mixed,
            _ => Tone::Bad,
        };
        let (first, first_ascii) = rng.pick(FIRST);
        let (last, last_ascii) = rng.pick(LAST);
        let ctx = Context {
            product: &product,
            first,
        };

        out.summary.clear();
        let summaries = match tone {
            Tone::Good => SUMMARY_GOOD,
            Tone::Mixed => SUMMARY_MIXED,
            Tone::Bad => SUMMARY_BAD,
        };
        ctx.render(&mut out.summary, rng.pick(summaries), &mut rng);

        out.body.clear();
        let target = (170f64.ln() + 0.75 * normal_quantile(rng.unit())).exp();
        let target = target.clamp(50.0, 1000.0) as usize;
        while out.body.len() < target {
            if !out.body.is_empty() {
                out.body.push(' ');
            }
            let sentences = match (s.rating, rng.below(100)) {
                (5, 0..85) | (4, 0..65) | (3, 0..25) | (2, 0..5) => GOOD,
                (5, _) | (4, 0..95) | (3, 0..75) | (2, 0..40) | (1, 0..15) => MIXED,
                _ => BAD,
            };
            ctx.render(&mut out.body, rng.pick(sentences), &mut rng);
        }
        if out.body.chars().count() > 1000 {
            let cut = out.body.char_indices().nth(999).map_or(0, |(i, _)| i);
            let cut = out.body[..cut].rfind(' ').unwrap_or(cut);
            out.body.truncate(cut);
            out.body.push('.');
        }

        out.reviewer_name.clear();
        let number = rng.below(1000);
        match rng.below(100) {
            0..40 => write!(out.reviewer_name, "{first} {}.", initial(last)),
            40..65 => write!(out.reviewer_name, "{first} {last}"),
            65..85 => write!(out.reviewer_name, "{first_ascii}_{last_ascii}{number}"),
            _ => write!(out.reviewer_name, "{first}"),
        }
        .expect("write to String");

        out.reviewer_email.clear();
        let domain = rng.pick(DOMAINS);
        match rng.below(3) {
            0 => write!(out.reviewer_email, "{first_ascii}.{last_ascii}@{domain}"),
            1 => write!(
                out.reviewer_email,
                "{first_ascii}{last_ascii}{number}@{domain}"
            ),
            _ => write!(out.reviewer_email, "{first_ascii}{number}@{domain}"),
        }
        .expect("write to String");

        out.response = if rng.chance(0.2) {
            let mut text = out.response.take().unwrap_or_default();
            text.clear();
            let answers = match tone {
                Tone::Good | Tone::Mixed => RESPONSE_GOOD,
                Tone::Bad => RESPONSE_BAD,
            };
            ctx.render(&mut text, rng.pick(answers), &mut rng);
            Some(text)
        } else {
            None
        };

        out.photos.clear();
        if rng.chance(0.1) {
            let n = 1 + (rng.unit().powi(2) * 5.0) as u64;
            for k in 0..n.min(5) {
                out.photos.push(Photo {
                    id: photo_id(s.review_id, k),
                    url: format!(
                        "https://images.storefront.example/reviews/{}/{}-{k}-{:08x}.jpg",
                        s.product_id,
                        s.review_id,
                        rng.next_u64() as u32
                    ),
                });
            }
        }
    }

    /// The scalars of a review and the stream positioned after them, from
    /// which the text is drawn.
    fn draw(&self, review_id: u64) -> (Scalars, Rng) {
        let mut rng = Rng::new(self.set.seed, DOMAIN_REVIEW, review_id);
        // Inverse transform of the log-normal popularity law: a product at
        // quantile y draws reviews with CDF F(y) = Φ(σ + Φ⁻¹(y)).
        let y = normal_cdf(normal_quantile(rng.unit()) - PRODUCT_SIGMA);
        let products = self.set.products;
        let product_id = ((y * products as f64) as u64).min(products - 1) + 1;
        let date = DATE_START + rng.below((DATE_END - DATE_START) as u64) as i64;
        let helpfulness = if rng.chance(0.4) {
            0
        } else {
            // Pareto tail (α = 1.5): most reviews get a few votes, a few get thousands.
            (rng.unit().powf(-1.0 / 1.5) as u32).min(20_000)
        };
        let profile = self.product(product_id).profile;
        let rating = rng.weighted(&RATING_PROFILES[profile]) as u8 + 1;
        let recommend = rng.chance([0.04, 0.12, 0.45, 0.88, 0.97][usize::from(rating - 1)]);
        let reported = rng.chance(0.02);
        let scalars = Scalars {
            review_id,
            product_id,
            rating,
            recommend,
            reported,
            helpfulness,
            date,
        };
        (scalars, rng)
    }

    fn product(&self, product_id: u64) -> ProductTraits {
        let mut rng = Rng::new(self.set.seed, DOMAIN_PRODUCT, product_id);
        let profile = rng.weighted(&PROFILE_WEIGHTS);
        let category = &CATEGORIES[rng.below(CATEGORIES.len() as u64) as usize];
        let noun = rng.pick(category.nouns);
        ProductTraits {
            profile,
            category,
            noun,
        }
    }
}

fn initial(name: &str) -> char {
    name.chars().next().unwrap_or('X')
}

/// What a template's placeholders are filled from.
struct Context<'a> {
    product: &'a ProductTraits,
    first: &'a str,
}

impl Context<'_> {
    /// Appends `template` to `out`, filling each `{x}` placeholder.
    fn render(&self, out: &mut String, template: &str, rng: &mut Rng) {
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let key = rest.as_bytes().get(open + 1).copied();
            let word: &str = match key {
                Some(b'n') => self.product.noun,
                Some(b'a') => rng.pick(self.product.category.aspects),
                Some(b'g') => rng.pick(ADJ_GOOD),
                Some(b'b') => rng.pick(ADJ_BAD),
                Some(b't') => rng.pick(TIMES),
                Some(b'w') => rng.pick(WHO),
                Some(b'f') => self.first,
                _ => "",
            };
            if out.is_empty() {
                let mut chars = word.chars();
                if let Some(c) = chars.next() {
                    out.extend(c.to_uppercase());
                    out.push_str(chars.as_str());
                }
            } else {
                out.push_str(word);
            }
            rest = &rest[(open + 3).min(rest.len())..];
        }
        out.push_str(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Generator {
        Generator::new(DataSet::new(42, 200_000, None))
    }

    #[test]
    fn records_are_deterministic_and_independent() {
        let g = small();
        let a = g.record(12_345);
        let mut reused = g.record(7);
        g.fill(12_345, &mut reused);
        assert_eq!(a, reused, "fill over another record gives the same record");
        assert_eq!(
            a,
            Generator::new(DataSet::new(42, 200_000, None)).record(12_345)
        );
        assert_ne!(
            a,
            Generator::new(DataSet::new(43, 200_000, None)).record(12_345)
        );
        assert_eq!(g.scalars(12_345).date, a.date);
    }

    #[test]
    fn records_respect_the_field_rules() {
        let g = small();
        for id in 1..=20_000 {
            let r = g.record(id);
            assert_eq!(r.review_id, id);
            assert!((1..=20_000).contains(&r.product_id));
            assert!((1..=5).contains(&r.rating));
            let chars = |s: &str| s.chars().count();
            assert!((1..=60).contains(&chars(&r.summary)), "{:?}", r.summary);
            assert!(
                (50..=1000).contains(&chars(&r.body)),
                "{} chars",
                chars(&r.body)
            );
            assert!((1..=60).contains(&chars(&r.reviewer_name)));
            assert!(r.reviewer_email.len() <= 60 && r.reviewer_email.matches('@').count() == 1);
            assert!(r.response.as_deref().is_none_or(|s| chars(s) <= 1000));
            assert!(r.photos.len() <= 5);
            assert!((DATE_START..DATE_END).contains(&r.date));
        }
    }

    #[test]
    fn ratings_skew_high_and_extras_have_their_shares() {
        let g = small();
        let n = 50_000u64;
        let (mut high, mut photos, mut responses, mut reported) = (0, 0, 0, 0);
        for id in 1..=n {
            let r = g.record(id);
            high += u64::from(r.rating >= 4);
            photos += u64::from(!r.photos.is_empty());
            responses += u64::from(r.response.is_some());
            reported += u64::from(r.reported);
        }
        let share = |k: u64| k as f64 / n as f64;
        assert!(share(high) > 0.6, "4-5 stars: {}", share(high));
        assert!(
            (0.08..0.12).contains(&share(photos)),
            "photos: {}",
            share(photos)
        );
        assert!(
            (0.18..0.22).contains(&share(responses)),
            "responses: {}",
            share(responses)
        );
        assert!(
            (0.01..0.03).contains(&share(reported)),
            "reported: {}",
            share(reported)
        );
    }

    #[test]
    fn reviews_per_product_are_long_tailed() {
        let g = small();
        let set = g.data_set();
        let mut counts = vec![0u32; set.products as usize + 1];
        for id in 1..=set.records {
            counts[g.scalars(id).product_id as usize] += 1;
        }
        let mut sorted = counts[1..].to_vec();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        let max = *sorted.last().unwrap();
        assert!((3..=7).contains(&median), "median {median}");
        assert!(max >= 300, "largest product has {max}");
        assert!(sorted[0] == 0, "some products have no reviews");
    }
}
