//! The deterministic generator of the reference data set: reviews, the
//! products they are of, and the pictures of both.
//!
//! Every record is a pure function of `(seed, review_id)` (and the data set's
//! product count): [`Generator::record`] rebuilds any one of them alone, so
//! tests can predict what the store holds, and `seed` can resume anywhere.
//! A product is likewise a pure function of `(seed, product_id)`
//! ([`Generator::product`]), and so is every generated picture
//! ([`photo`]); [`catalog`] searches the products by name.
//!
//! Shape of the data:
//! - products: review counts follow a log-normal law (σ ≈ 1.18, median ≈
//!   half the mean), drawn per review by inverse transform, so at 10M/1M the
//!   median product has ~5 reviews and the largest over 1,000; low product
//!   ids are the popular ones;
//! - ratings skew to 4–5 stars, each product leaning good, middling or poor;
//! - dates are uniform over the five years before 2026-01-01T00:00:00Z;
//! - ~10% of reviews have 1–5 photos, ~20% a seller response, ~2% are reported.
//!
//! Review text is coherent: the headline, the body, the closing sentence
//! and the seller's answer are chosen by the stars and the recommendation
//! together, so they agree; a body mentions one span of time and one
//! relative at most, talks about each aspect of the product once, and
//! never repeats a sentence (templates are drawn without replacement).

pub mod catalog;
mod dist;
pub mod photo;
mod words;

use std::fmt::Write;

pub use dist::Rng;
use dist::{normal_cdf, normal_quantile};
use words::*;

use crate::model::{
    Characteristic, CharacteristicRatings, Characteristics, Photo, Review, photo_id,
};

/// 2021-01-01T00:00:00Z: the first instant a generated review can have.
pub const DATE_START: i64 = 1_609_459_200;
/// 2026-01-01T00:00:00Z: the fixed reference generated dates stay before.
pub const DATE_END: i64 = 1_767_225_600;
/// Spread of the log-normal law of reviews per product.
const PRODUCT_SIGMA: f64 = 1.18;

const DOMAIN_REVIEW: u64 = 1;
const DOMAIN_PRODUCT: u64 = 2;
/// A review's characteristic ratings: a stream of their own, so the draws
/// of every other field are those of the data set before characteristics.
const DOMAIN_CHARACTERISTICS: u64 = 3;
/// Ids a product's characteristics take: product p's k-th is
/// `(p - 1) * CHARACTERISTIC_IDS + k + 1`.
const CHARACTERISTIC_IDS: u64 = 4;

/// Rating weights (1..5 stars, cumulative) of good, middling and poor products.
const RATING_PROFILES: [[u32; 5]; 3] = [
    [3, 7, 15, 40, 100],
    [7, 15, 30, 60, 100],
    [23, 40, 60, 80, 100],
];
/// How often a product is good, middling or poor (cumulative).
const PROFILE_WEIGHTS: [u32; 3] = [55, 90, 100];
/// Room a body leaves for its closing sentence: more than the longest.
const CLOSING_ROOM: usize = 80;
/// The shortest closing sentence, plus its space.
const CLOSING_MIN: usize = 16;

/// The parameters that define a generated data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

    /// Eight hex digits that tell this data set's pictures from another's:
    /// generated photo paths carry it, so a path never names two images.
    pub fn tag(&self) -> String {
        format!("{:08x}", self.tag_value())
    }

    fn tag_value(&self) -> u32 {
        let products = self.products << 40;
        crate::hash::mix(self.seed ^ crate::hash::mix(self.records ^ products)) as u32
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
    /// Photos attached, 0..=5.
    pub photos: u64,
}

/// A generated product as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Its id, 1..=products.
    pub product_id: u64,
    /// Brand, line, series, kind and variant: "Kestrel Glide 3 Running
    /// Shoes, Slate Gray".
    pub name: String,
    /// The category's display name.
    pub category: &'static str,
}

/// Which words a product's name is made of: indexes into the vocabulary
/// (the category's own lists for all but `brand`). What [`catalog`] indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductParts {
    /// Good, middling or poor (0, 1, 2): how its ratings lean.
    pub profile: u8,
    /// Index of its category.
    pub category: u8,
    /// Index of its noun in the category.
    pub noun: u8,
    /// Index of its brand.
    pub brand: u8,
    /// Index of its line in the category.
    pub line: u8,
    /// Index of its series in the category.
    pub series: u8,
    /// Index of its variant in the category.
    pub variant: u8,
}

impl ProductParts {
    fn category(&self) -> &'static Category {
        &CATEGORIES[usize::from(self.category)]
    }

    fn noun(&self) -> &'static Noun {
        &self.category().nouns[usize::from(self.noun)]
    }

    /// The product's name: "Brand Line Series Noun, Variant".
    pub fn name(&self) -> String {
        let c = self.category();
        let mut name = String::with_capacity(64);
        name.push_str(BRANDS[usize::from(self.brand)]);
        name.push(' ');
        name.push_str(c.lines[usize::from(self.line)]);
        let series = c.series[usize::from(self.series)];
        if !series.is_empty() {
            name.push(' ');
            name.push_str(series);
        }
        name.push(' ');
        name.push_str(self.noun().title);
        name.push_str(", ");
        name.push_str(c.variants[usize::from(self.variant)].name);
        name
    }

    /// The category's display name.
    pub fn category_name(&self) -> &'static str {
        self.category().name
    }

    /// The colour the product's pictures are drawn in.
    pub fn color(&self) -> &'static str {
        self.category().variants[usize::from(self.variant)].color
    }
}

/// Builds the records of one [`DataSet`].
#[derive(Debug, Clone, Copy)]
pub struct Generator {
    set: DataSet,
    /// [`DataSet::tag`] as a number, for photo paths.
    tag: u32,
}

/// The tone of a review's words: what its stars allow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tone {
    Good,
    Mixed,
    Bad,
}

impl Tone {
    fn of(rating: u8) -> Tone {
        match rating {
            4..=5 => Tone::Good,
            3 => Tone::Mixed,
            _ => Tone::Bad,
        }
    }
}

/// What one sentence of a body is, from the best to the worst.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Praise of an aspect or, in a happy review, of the whole product.
    Good,
    /// Lukewarm words.
    Mixed,
    /// A small complaint about an aspect.
    Gripe,
    /// A complaint.
    Bad,
}

impl Generator {
    /// A generator for `set`.
    pub fn new(set: DataSet) -> Generator {
        Generator {
            set,
            tag: set.tag_value(),
        }
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

    /// Product `product_id`, or `None` outside 1..=products.
    pub fn product(&self, product_id: u64) -> Option<Product> {
        if !(1..=self.set.products).contains(&product_id) {
            return None;
        }
        let parts = self.parts(product_id);
        Some(Product {
            product_id,
            name: parts.name(),
            category: parts.category_name(),
        })
    }

    /// The characteristics of product `product_id`, with no ratings
    /// counted: those of its category, with ids
    /// `(product_id - 1) * 4 + k + 1` for the k-th (unique across products).
    pub fn characteristics(&self, product_id: u64) -> Characteristics {
        let (_, category, _) = self.product_kind(product_id);
        let base = (product_id - 1) * CHARACTERISTIC_IDS;
        let kinds = CATEGORIES[category].characteristics.iter();
        Characteristics::new((base + 1..).zip(kinds).map(|(id, &(kind, _))| (kind, id)))
            .expect("a category names each characteristic once")
    }

    /// The words product `product_id` is named from (any id gives parts;
    /// only 1..=products are the data set's).
    pub fn parts(&self, product_id: u64) -> ProductParts {
        let mut rng = Rng::new(self.set.seed, DOMAIN_PRODUCT, product_id);
        let (profile, category, noun) = Self::kind(&mut rng);
        let c = &CATEGORIES[category];
        let mut index = |n: usize| rng.below(n as u64) as u8;
        ProductParts {
            profile: profile as u8,
            category: category as u8,
            noun: noun as u8,
            brand: index(BRANDS.len()),
            line: index(c.lines.len()),
            series: index(c.series.len()),
            variant: index(c.variants.len()),
        }
    }

    /// How many photos review `review_id` has (0..=5), without generating it.
    pub fn photo_count(&self, review_id: u64) -> u64 {
        self.draw(review_id).0.photos
    }

    /// The first draw after the scalars: how many photos a review has.
    fn photos(rng: &mut Rng) -> u64 {
        if rng.chance(0.1) {
            1 + (rng.unit().powi(2) * 5.0) as u64
        } else {
            0
        }
    }

    /// Where the service serves photo `photo_id` of a generated review:
    /// `/photos/{tag}/{photo_id}.svg`.
    pub fn photo_path(&self, photo_id: u64) -> String {
        format!("{}{:08x}/{photo_id}.svg", photo::PREFIX, self.tag)
    }

    /// Where the service serves the picture of product `product_id`:
    /// `/photos/{tag}/p{product_id}.svg`.
    pub fn product_image_path(&self, product_id: u64) -> String {
        format!("{}{:08x}/p{product_id}.svg", photo::PREFIX, self.tag)
    }

    /// Writes review `review_id` into `out`, reusing its allocations.
    pub fn fill(&self, review_id: u64, out: &mut Review) {
        let (s, mut rng, (category, noun)) = self.draw(review_id);
        let photos = s.photos;
        out.review_id = s.review_id;
        out.product_id = s.product_id;
        out.rating = s.rating;
        out.recommend = s.recommend;
        out.reported = s.reported;
        out.helpfulness = s.helpfulness;
        out.date = s.date;

        // Which way each centred characteristic is off, should the text
        // complain of it (see `Text::runs`).
        let mut rated = Rng::new(self.set.seed, DOMAIN_CHARACTERISTICS, review_id);
        let leans = rated.next_u64();
        let (first, first_ascii) = rng.pick(FIRST);
        let (last, last_ascii) = rng.pick(LAST);
        let mut text = Text {
            category: &CATEGORIES[category],
            noun: &CATEGORIES[category].nouns[noun],
            first,
            time: rng.below(TIMES.len() as u64) as usize,
            who: rng.pick(WHO),
            aspects: 0,
            words: [0; 3],
            complained: None,
            said: [None; Characteristic::COUNT],
            leans,
        };
        let stars = usize::from(s.rating - 1);
        let tone = Tone::of(s.rating);

        out.summary.clear();
        let headline = rng.pick(SUMMARIES[stars][usize::from(s.recommend)]);
        text.render(&mut out.summary, headline, None, &mut rng);

        out.body.clear();
        text.body(&mut out.body, s.rating, s.recommend, &mut rng);
        out.characteristics = text.ratings(s.rating, &mut rated);

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
            let mut answer = out.response.take().unwrap_or_default();
            answer.clear();
            let (templates, aspect) = match (tone, text.complained) {
                (Tone::Good, _) => (RESPONSE_GOOD, None),
                (Tone::Mixed, _) => (RESPONSE_MIXED, None),
                (Tone::Bad, Some(aspect)) => (RESPONSE_BAD, Some(aspect)),
                (Tone::Bad, None) => (RESPONSE_BAD_GENERAL, None),
            };
            text.render(&mut answer, rng.pick(templates), aspect, &mut rng);
            Some(answer)
        } else {
            None
        };

        out.photos.clear();
        for k in 0..photos {
            let id = photo_id(s.review_id, k);
            out.photos.push(Photo {
                id,
                url: self.photo_path(id),
            });
        }
    }

    /// The scalars of a review, the stream positioned after them, from
    /// which the text is drawn, and its product's category and noun.
    fn draw(&self, review_id: u64) -> (Scalars, Rng, (usize, usize)) {
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
        let (profile, category, noun) = self.product_kind(product_id);
        let rating = rng.weighted(&RATING_PROFILES[profile]) as u8 + 1;
        let recommend = rng.chance([0.04, 0.12, 0.45, 0.88, 0.97][usize::from(rating - 1)]);
        let reported = rng.chance(0.02);
        let photos = Self::photos(&mut rng);
        let scalars = Scalars {
            review_id,
            product_id,
            rating,
            recommend,
            reported,
            helpfulness,
            date,
            photos,
        };
        (scalars, rng, (category, noun))
    }

    /// A product's profile, category and noun: the first draws of its
    /// stream, all a review needs.
    fn product_kind(&self, product_id: u64) -> (usize, usize, usize) {
        Self::kind(&mut Rng::new(self.set.seed, DOMAIN_PRODUCT, product_id))
    }

    fn kind(rng: &mut Rng) -> (usize, usize, usize) {
        let profile = rng.weighted(&PROFILE_WEIGHTS);
        let category = rng.below(CATEGORIES.len() as u64) as usize;
        let noun = rng.below(CATEGORIES[category].nouns.len() as u64) as usize;
        (profile, category, noun)
    }
}

fn initial(name: &str) -> char {
    name.chars().next().unwrap_or('X')
}

/// What one review's text is written from, and what it has used so far.
struct Text<'a> {
    category: &'static Category,
    noun: &'static Noun,
    first: &'a str,
    /// Index into [`TIMES`]: the one span of time the review mentions.
    time: usize,
    /// The one relative the review mentions.
    who: &'static str,
    /// Aspects already talked about (bit i: the category's i-th aspect).
    aspects: u32,
    /// Words of praise, complaint and mild complaint already used.
    words: [u32; 3],
    /// The last aspect complained about, for the seller's answer.
    complained: Option<&'static str>,
    /// What the body said of each characteristic (by kind), through the
    /// aspects that speak of it: the worst kind of sentence.
    said: [Option<Kind>; Characteristic::COUNT],
    /// Bit k: the k-th kind of characteristic, if centred and complained
    /// of, is off on the high side (too big, wide, long or loose).
    leans: u64,
}

/// The position of the first `{` in `s`, eight bytes at a time (the
/// generator's hottest loop).
fn find_brace(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ (ONES * u64::from(b'{'));
        // A byte of x is zero where s has a `{`: the lowest flag is exact.
        let zero = x.wrapping_sub(ONES) & !x & (ONES << 7);
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = chunks.remainder();
    rest.iter().position(|&b| b == b'{').map(|p| at + p)
}

/// Templates of one list already used in a body (bit i: the i-th).
#[derive(Default)]
struct Used {
    good_aspect: u32,
    good_general: u32,
    mixed_aspect: u32,
    mixed_general: u32,
    gripe: u32,
    bad_aspect: u32,
    bad_general: u32,
}

/// Index of an unused item of a list of `len` (bit i of `used`: taken):
/// the first free one at or after a start drawn from 16 random bits `r`,
/// wrapping round (cheaper than an exactly uniform draw, and as varied);
/// marks it used. `None` when all are taken.
fn pick_unused(r: u64, len: usize, used: &mut u32) -> Option<usize> {
    let free = !*used & ((1u64 << len) - 1) as u32;
    if free == 0 {
        return None;
    }
    let start = (((r & 0xffff) * len as u64) >> 16) as u32;
    let after = free >> start;
    let i = if after != 0 {
        start + after.trailing_zeros()
    } else {
        free.trailing_zeros()
    };
    *used |= 1 << i;
    Some(i as usize)
}

impl Text<'_> {
    /// Writes a body of 50..=1000 characters for `rating` and `recommend`:
    /// maybe an opener, sentences whose tone the stars set, maybe one about
    /// how the product held up, and a closing that agrees with the
    /// recommendation (always there when the two could seem at odds).
    fn body(&mut self, out: &mut String, rating: u8, recommend: bool, rng: &mut Rng) {
        let target = (170f64.ln() + 0.75 * normal_quantile(rng.unit())).exp();
        let target = target.clamp(50.0, 1000.0) as usize;
        let tone = Tone::of(rating);
        let expected = match tone {
            Tone::Good => recommend,
            Tone::Mixed => true,
            Tone::Bad => !recommend,
        };
        let closing = if !expected || rng.chance(0.65) {
            Some(rng.pick(CLOSINGS[usize::from(rating - 1)][usize::from(recommend)]))
        } else {
            None
        };
        let mut held_up = rng.chance(0.5);
        // A happy review's one gripe, at this sentence.
        let mut gripe_at = if rating == 4 && rng.chance(0.6) {
            Some(rng.below(3) as usize)
        } else {
            None
        };
        if rng.chance(0.35) {
            self.render(out, rng.pick(OPENERS), None, rng);
        }
        let room = if closing.is_some() { CLOSING_MIN } else { 0 };
        let mut used = Used::default();
        let mut sentences = 0;
        while out.len() + room < target || sentences == 0 {
            let before = out.len();
            if !out.is_empty() {
                out.push(' ');
            }
            let wrote = if sentences == 1 && std::mem::take(&mut held_up) {
                self.held_up(out, tone, rng);
                true
            } else if gripe_at == Some(sentences) {
                gripe_at = None;
                self.sentence(out, Kind::Gripe, rating, &mut used, rng)
                    || self.sentence(out, Kind::Good, rating, &mut used, rng)
            } else {
                let kinds: &[Kind] = match rating {
                    5 | 4 => &[Kind::Good],
                    3 => match rng.below(10) {
                        0..3 => &[Kind::Good, Kind::Mixed, Kind::Gripe],
                        3..8 => &[Kind::Mixed, Kind::Gripe, Kind::Good],
                        _ => &[Kind::Gripe, Kind::Mixed, Kind::Good],
                    },
                    2 => match rng.below(10) {
                        0..7 => &[Kind::Bad, Kind::Mixed],
                        _ => &[Kind::Mixed, Kind::Bad],
                    },
                    _ => &[Kind::Bad],
                };
                kinds
                    .iter()
                    .any(|&kind| self.sentence(out, kind, rating, &mut used, rng))
            };
            if !wrote || out.len() + CLOSING_ROOM > 1000 {
                out.truncate(before);
                break;
            }
            sentences += 1;
        }
        if let Some(closing) = closing {
            out.push(' ');
            self.render(out, closing, None, rng);
        }
    }

    /// One sentence of `kind`, about an aspect not talked about yet or
    /// about the whole product, from a template not used yet in this body;
    /// false when none is left.
    fn sentence(
        &mut self,
        out: &mut String,
        kind: Kind,
        rating: u8,
        used: &mut Used,
        rng: &mut Rng,
    ) -> bool {
        // Praise of the whole product would contradict a middling review.
        let (aspect, aspect_used, general, general_used): (_, _, &[&str], _) = match kind {
            Kind::Good if rating >= 4 => (
                GOOD_ASPECT,
                &mut used.good_aspect,
                GOOD_GENERAL,
                &mut used.good_general,
            ),
            Kind::Good => (
                GOOD_ASPECT,
                &mut used.good_aspect,
                &[],
                &mut used.good_general,
            ),
            // Lukewarm words on the whole product would soften a poor one.
            Kind::Mixed if rating <= 2 => (
                MIXED_ASPECT,
                &mut used.mixed_aspect,
                &[],
                &mut used.mixed_general,
            ),
            Kind::Mixed => (
                MIXED_ASPECT,
                &mut used.mixed_aspect,
                MIXED_GENERAL,
                &mut used.mixed_general,
            ),
            // "My one small complaint" only where it is the one.
            Kind::Gripe if rating == 4 => (GRIPES, &mut used.gripe, &[], &mut used.bad_general),
            Kind::Gripe => (
                &GRIPES[ONLY_GRIPES..],
                &mut used.gripe,
                &[],
                &mut used.bad_general,
            ),
            Kind::Bad => (
                BAD_ASPECT,
                &mut used.bad_aspect,
                BAD_GENERAL,
                &mut used.bad_general,
            ),
        };
        // One draw makes every choice of the sentence, 16 bits each.
        let bits = rng.next_u64();
        let aspects = self.category.aspects.len();
        let aspects_left = aspects as u32 > self.aspects.count_ones();
        let general_left = general.len() as u32 > general_used.count_ones();
        // An aspect 55% of the time (36,045 / 65,536), while any are left.
        if aspects_left
            && (!general_left || bits & 0xffff < 36_045)
            && let Some(t) = pick_unused(bits >> 16, aspect.len(), aspect_used)
        {
            let a = pick_unused(bits >> 32, aspects, &mut self.aspects).expect("an aspect is left");
            let a = self.category.aspects[a];
            if matches!(kind, Kind::Bad | Kind::Gripe) {
                self.complained = Some(a);
            }
            self.render(out, aspect[t], Some(a), rng);
            self.tell(out, a, kind);
            return true;
        }
        match pick_unused(bits >> 48, general.len(), general_used) {
            Some(t) => {
                self.render(out, general[t], None, rng);
                true
            }
            None => false,
        }
    }

    /// Notes what a sentence of `kind` about aspect `a` said of the
    /// characteristic it speaks of, if any; a sentence finding fault with a
    /// centred one says which way it is off ("…; they run a little
    /// small."), so the rating given agrees with the words.
    fn tell(&mut self, out: &mut String, a: &str, kind: Kind) {
        let Some(&(c, _)) = self
            .category
            .characteristics
            .iter()
            .find(|(_, aspects)| aspects.contains(&a))
        else {
            return;
        };
        let said = &mut self.said[c.index()];
        *said = Some(said.map_or(kind, |k| k.max(kind)));
        if c.centred() && kind != Kind::Good && out.ends_with('.') {
            out.pop();
            out.push_str("; ");
            let high = self.leans >> c.index() & 1 == 1;
            out.push_str(["it runs ", "they run "][usize::from(self.noun.plural)]);
            if kind != Kind::Bad {
                out.push_str("a little ");
            }
            out.push_str(runs(c, high));
            out.push('.');
        }
    }

    /// The review's rating of each of its product's characteristics, drawn
    /// from `rng` to agree with its stars and with what the body said: an
    /// aspect praised rates its characteristic well (3 on a centred
    /// scale), one complained of badly (on the side the body named); one
    /// not spoken of follows the stars.
    fn ratings(&self, stars: u8, rng: &mut Rng) -> CharacteristicRatings {
        let mut out = CharacteristicRatings::default();
        for &(c, _) in self.category.characteristics {
            let high = self.leans >> c.index() & 1 == 1;
            let off = |by: u8| if high { 3 + by } else { 3 - by };
            let value = match (c.centred(), self.said[c.index()]) {
                (true, Some(Kind::Good)) => 3,
                (true, Some(Kind::Mixed | Kind::Gripe)) => off(1),
                (true, Some(Kind::Bad)) => off(2),
                (true, None) => {
                    let perfect = [0.35, 0.45, 0.55, 0.7, 0.8][usize::from(stars - 1)];
                    match rng.unit() {
                        p if p < perfect => 3,
                        _ if stars <= 2 && rng.chance(0.3) => off(2),
                        _ => off(1),
                    }
                }
                (false, Some(Kind::Good)) => 4 + u8::from(rng.chance(0.55)),
                (false, Some(Kind::Mixed | Kind::Gripe)) => 3 - u8::from(rng.chance(0.3)),
                (false, Some(Kind::Bad)) => 1 + u8::from(rng.chance(0.4)),
                (false, None) => {
                    let step = match rng.below(10) {
                        0..2 => -1,
                        2..8 => 0,
                        _ => 1,
                    };
                    // Never far from the stars: a happy review rates no
                    // quality poor, an unhappy one none perfect.
                    let (low, high) = match stars {
                        5 => (3, 5),
                        4 => (3, 5),
                        3 => (2, 4),
                        2 => (1, 3),
                        _ => (1, 3),
                    };
                    (i16::from(stars) + step).clamp(low, high) as u8
                }
            };
            out.set(c, value);
        }
        out
    }

    /// The one sentence on how the product held up over the review's span.
    fn held_up(&mut self, out: &mut String, tone: Tone, rng: &mut Rng) {
        let long = usize::from(self.time >= SHORT_TIMES);
        let templates = match tone {
            Tone::Good => USE_GOOD[long],
            Tone::Mixed => USE_MIXED[long],
            Tone::Bad => USE_BAD[long],
        };
        self.render(out, rng.pick(templates), None, rng);
    }

    /// Appends `template` to `out`, filling each `{x}` placeholder (see
    /// [`words`]); a placeholder that starts the template is capitalized.
    fn render(&mut self, out: &mut String, template: &str, aspect: Option<&str>, rng: &mut Rng) {
        let plural = self.noun.plural;
        let mut rest = template;
        while let Some(open) = find_brace(rest.as_bytes()) {
            out.push_str(&rest[..open]);
            let key = rest.as_bytes().get(open + 1).copied();
            let word: &str = match key {
                Some(b'n') => self.noun.word,
                Some(b'd') => ["this", "these"][usize::from(plural)],
                Some(b'i') => ["it", "they"][usize::from(plural)],
                Some(b'o') => ["it", "them"][usize::from(plural)],
                Some(b'v') => ["is", "are"][usize::from(plural)],
                Some(b's') => ["s", ""][usize::from(plural)],
                Some(b'a') => aspect.unwrap_or("quality"),
                Some(b'g') => self.word(0, ADJ_GOOD, rng),
                Some(b'b') => self.word(1, ADJ_BAD, rng),
                Some(b'm') => self.word(2, ADJ_MILD, rng),
                Some(b't') => TIMES[self.time],
                Some(b'w') => self.who,
                Some(b'f') => self.first,
                _ => "",
            };
            if open == 0 && rest.len() == template.len() {
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

    /// A word of `list` not used yet in this review (any, once all are).
    fn word(&mut self, which: usize, list: &[&'static str], rng: &mut Rng) -> &'static str {
        let used = &mut self.words[which];
        match pick_unused(rng.next_u64(), list.len(), used) {
            Some(i) => list[i],
            None => rng.pick(list),
        }
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

    /// Sentences of a text: split after each `.`, `!` or `?` and a space.
    fn sentences(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if matches!(c, '.' | '!' | '?') && text[i + 1..].starts_with(' ') {
                out.push(text[start..=i].trim());
                start = i + 2;
            }
        }
        out.push(text[start..].trim());
        out
    }

    #[test]
    fn text_agrees_with_the_stars_and_the_recommendation() {
        let g = small();
        let praise = [
            "exceeded my expectations",
            "I love the",
            "impressed",
            "Great value",
            "the best",
            "no complaints",
            "so far so good",
            "still look great",
            "Love it",
        ];
        let complaints = [
            "disappointed",
            "Disappointed",
            "regret",
            "Not worth",
            "returned",
            "sent it back",
            "sent them back",
            "gave up",
            "worn out",
            "cheaply made",
            "Waste of money",
            "Do not buy",
        ];
        let yes = [
            "I would recommend",
            "highly recommend",
            "Highly recommend",
            "Would recommend",
            "still recommend",
            "happily buy",
            "in a heartbeat",
            "Would buy again",
            "Worth every penny",
        ];
        let no = [
            "not recommend",
            "cannot recommend",
            "Save your money",
            "Do not buy",
            "Avoid",
            "not buy again",
            "not buy it again",
            "not buy them again",
            "Look elsewhere",
            "look elsewhere",
        ];
        let mut shown = 0;
        for id in 1..=30_000 {
            let r = g.record(id);
            let text = format!("{} | {}", r.summary, r.body);
            let has = |words: &[&'static str]| words.iter().find(|w| text.contains(*w)).copied();
            if r.rating >= 4 {
                assert_eq!(has(&complaints), None, "{} stars: {text}", r.rating);
            }
            if r.rating <= 2 {
                assert_eq!(has(&praise), None, "{} stars: {text}", r.rating);
            }
            if r.recommend {
                assert_eq!(has(&no), None, "recommends: {text}");
            } else {
                assert_eq!(has(&yes), None, "does not recommend: {text}");
            }
            let times: Vec<&str> = TIMES
                .iter()
                .filter(|t| r.body.contains(*t))
                .copied()
                .collect();
            assert!(
                times.len() <= 1,
                "one span of time: {times:?} in {}",
                r.body
            );
            let mut seen = std::collections::HashSet::new();
            for sentence in sentences(&r.body) {
                assert!(seen.insert(sentence), "{sentence:?} repeats in {}", r.body);
                assert_ne!(sentence.trim_end_matches('.'), r.summary, "{}", r.body);
            }
            assert!(r.body.is_ascii());
            if id <= 3 {
                shown += 1;
                eprintln!("{} stars, recommend {}: {text}", r.rating, r.recommend);
            }
        }
        assert_eq!(shown, 3);
    }

    #[test]
    fn characteristic_ratings_agree_with_the_text_and_the_stars() {
        let g = small();
        let (mut said, mut five_star_quality) = (0, Vec::new());
        for id in 1..=30_000 {
            let r = g.record(id);
            let product = g.characteristics(r.product_id);
            assert!((3..=4).contains(&product.len()), "product {}", r.product_id);
            let rated: Vec<Characteristic> = r.characteristics.iter().map(|(k, _)| k).collect();
            let expected: Vec<Characteristic> = product.iter().map(|s| s.kind).collect();
            let mut sorted = expected.clone();
            sorted.sort();
            assert_eq!(
                rated, sorted,
                "review {id} rates its product's characteristics"
            );
            for s in product.iter() {
                assert_eq!(
                    s.id,
                    (r.product_id - 1) * 4
                        + product.iter().position(|t| t == s).unwrap() as u64
                        + 1
                );
            }
            for (kind, value) in r.characteristics.iter() {
                assert!((1..=5).contains(&value));
                if kind.centred() {
                    let (low, high) = (runs(kind, false), runs(kind, true));
                    for (word, side) in [(low, -1), (high, 1)] {
                        let told = [" run ", " runs ", " run a little ", " runs a little "]
                            .iter()
                            .any(|verb| r.body.contains(&format!("{verb}{word}.")));
                        if told {
                            said += 1;
                            let off = i16::from(value) - 3;
                            assert_eq!(off.signum(), side, "{kind} {value}: {}", r.body);
                        }
                    }
                }
            }
            if r.rating == 5
                && let Some(q) = r.characteristics.get(Characteristic::Quality)
            {
                five_star_quality.push(q);
            }
        }
        assert!(
            said > 300,
            "{said} reviews say which way a characteristic is off"
        );
        assert!(five_star_quality.iter().all(|&q| q >= 3));
        let mean = five_star_quality.iter().map(|&q| f64::from(q)).sum::<f64>()
            / five_star_quality.len() as f64;
        assert!(
            mean > 4.0,
            "5-star reviews rate quality {mean:.2} on average"
        );
        assert_eq!(g.characteristics(2), g.characteristics(2));
    }

    #[test]
    fn products_have_varied_plausible_names() {
        let g = small();
        let mut names = std::collections::HashSet::new();
        let mut categories = std::collections::HashSet::new();
        for id in 1..=20_000 {
            let p = g.product(id).unwrap();
            assert_eq!(p, g.product(id).unwrap());
            assert!(p.name.len() <= 80 && p.name.contains(", "), "{}", p.name);
            names.insert(p.name);
            categories.insert(p.category);
        }
        assert!(names.len() > 19_500, "{} distinct names", names.len());
        assert_eq!(categories.len(), CATEGORIES.len());
        assert_eq!(g.product(0), None);
        assert_eq!(g.product(20_001), None);
        let (_, category, noun) = g.product_kind(77);
        let parts = g.parts(77);
        assert_eq!((category, noun), (parts.category.into(), parts.noun.into()));
    }

    #[test]
    fn braces_are_found_wherever_they_are() {
        for len in 0..20 {
            for at in 0..=len {
                let mut s = vec![b'x'; len];
                if at < len {
                    s[at] = b'{';
                    s.extend_from_slice(b"{{");
                }
                let expected = s.iter().position(|&b| b == b'{');
                assert_eq!(find_brace(&s), expected, "{len} {at}");
            }
        }
        assert_eq!(find_brace("é{".as_bytes()), Some(2));
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
