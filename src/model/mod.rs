//! The data model of docs/api.md: a review, its photos, a product's meta
//! and its [`characteristics`], and the typed read queries the HTTP edge
//! parses requests into.

pub mod characteristics;

use std::fmt;

pub use self::characteristics::{
    Characteristic, CharacteristicRatings, Characteristics, Refused, Scale,
};
pub use crate::text::Words;

/// Highest page number a client may ask for (docs/api.md).
pub const MAX_PAGE: u32 = 1_000_000;
/// Largest page size a client may ask for (docs/api.md).
pub const MAX_COUNT: u32 = 100;
/// Page size when the query names none.
pub const DEFAULT_COUNT: u32 = 5;
/// Seconds in the 365-day year that `relevant` weighs recency with.
pub const RELEVANCE_YEAR_SECS: i64 = 31_536_000;

/// One photo attached to a review.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Photo {
    /// Unique photo id: `(review_id - 1) * 5 + k + 1` for the k-th photo.
    pub id: u64,
    /// Where the image lives.
    pub url: String,
}

/// One review: a record of the store, with every field of docs/api.md.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// Dense id, 1..=N at seed time.
    pub review_id: u64,
    /// The product reviewed, 1..=P.
    pub product_id: u64,
    /// Stars, 1..=5.
    pub rating: u8,
    /// Headline, 1..=60 chars.
    pub summary: String,
    /// Text, 50..=1000 chars.
    pub body: String,
    /// Whether the reviewer recommends the product.
    pub recommend: bool,
    /// Reported reviews never appear in results or counts.
    pub reported: bool,
    /// Display name, 1..=60 chars.
    pub reviewer_name: String,
    /// Never returned by the API.
    pub reviewer_email: String,
    /// The seller's answer, if any.
    pub response: Option<String>,
    /// Helpful votes.
    pub helpfulness: u32,
    /// Unix seconds (UTC, whole seconds).
    pub date: i64,
    /// 0..=5 photos.
    pub photos: Vec<Photo>,
    /// Its rating of each characteristic of its product.
    pub characteristics: CharacteristicRatings,
}

/// The id of the k-th photo (0-based, k < 5) of a review: unique across reviews.
pub fn photo_id(review_id: u64, k: u64) -> u64 {
    (review_id - 1) * 5 + k + 1
}

impl Review {
    /// The stored form of a submitted review: visible, no votes, no
    /// response, dated `date`, rating its product's characteristics as
    /// `characteristics` (the resolved form of `new`'s); its photos
    /// numbered by [`photo_id`].
    pub fn submitted(
        review_id: u64,
        product_id: u64,
        date: i64,
        new: NewReview,
        characteristics: CharacteristicRatings,
    ) -> Review {
        let photos = new.photos.into_iter().enumerate();
        Review {
            review_id,
            product_id,
            rating: new.rating,
            summary: new.summary,
            body: new.body,
            recommend: new.recommend,
            reported: false,
            reviewer_name: new.name,
            reviewer_email: new.email,
            response: None,
            helpfulness: 0,
            date,
            photos: photos
                .map(|(k, url)| Photo {
                    id: photo_id(review_id, k as u64),
                    url,
                })
                .collect(),
            characteristics,
        }
    }

    /// The integer form of the `relevant` score: `helpfulness + date / year`
    /// scaled by a year, so ordering is exact and never depends on the clock.
    pub fn relevance(helpfulness: u32, date: i64) -> i64 {
        i64::from(helpfulness) * RELEVANCE_YEAR_SECS + date
    }
}

/// Per-product aggregate over visible reviews, maintained on write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meta {
    /// Visible reviews by rating: `ratings[0]` counts 1-star reviews.
    pub ratings: [u32; 5],
    /// Visible reviews that recommend the product.
    pub recommended: u32,
    /// Visible reviews that do not.
    pub not_recommended: u32,
    /// The product's characteristics, with the sums of the visible
    /// reviews' ratings of each.
    pub characteristics: Characteristics,
}

impl Meta {
    /// Number of visible reviews.
    pub fn total(&self) -> u64 {
        self.ratings.iter().map(|&n| u64::from(n)).sum()
    }

    /// Mean rating rounded to 2 decimals; `None` with no reviews.
    pub fn average(&self) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let sum: u64 = (1..=5u64)
            .zip(self.ratings.iter())
            .map(|(stars, &n)| stars * u64::from(n))
            .sum();
        Some((sum as f64 * 100.0 / total as f64).round() / 100.0)
    }

    /// Counts one visible review out (it was reported): its stars, its
    /// recommendation and its ratings of the characteristics.
    pub fn remove(&mut self, rating: u8, recommend: bool, rated: &CharacteristicRatings) {
        self.characteristics.count(rated, -1);
        let slot = &mut self.ratings[usize::from(rating.clamp(1, 5) - 1)];
        *slot = slot.saturating_sub(1);
        let side = if recommend {
            &mut self.recommended
        } else {
            &mut self.not_recommended
        };
        *side = side.saturating_sub(1);
    }

    /// Counts one visible review in (as [`Meta::remove`] counts it out).
    pub fn add(&mut self, rating: u8, recommend: bool, rated: &CharacteristicRatings) {
        self.characteristics.count(rated, 1);
        self.ratings[usize::from(rating.clamp(1, 5) - 1)] += 1;
        if recommend {
            self.recommended += 1;
        } else {
            self.not_recommended += 1;
        }
    }
}

/// The order of a page of reviews; ties always break on review_id desc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sort {
    /// Date, newest first.
    Newest,
    /// Helpfulness desc, then date desc.
    Helpful,
    /// `helpfulness + unix_seconds(date) / 31,536,000` desc (the default).
    #[default]
    Relevant,
    /// Stars desc, then date desc.
    RatingHigh,
    /// Stars asc, then date desc.
    RatingLow,
}

impl Sort {
    /// Every accepted spelling, for error messages and docs.
    pub const NAMES: [&'static str; 5] =
        ["newest", "helpful", "relevant", "rating_high", "rating_low"];

    /// Every order, in [`Sort::NAMES`] order.
    pub const ALL: [Sort; 5] = [
        Sort::Newest,
        Sort::Helpful,
        Sort::Relevant,
        Sort::RatingHigh,
        Sort::RatingLow,
    ];

    /// Parses the `sort` query value.
    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "newest" => Some(Sort::Newest),
            "helpful" => Some(Sort::Helpful),
            "relevant" => Some(Sort::Relevant),
            "rating_high" => Some(Sort::RatingHigh),
            "rating_low" => Some(Sort::RatingLow),
            _ => None,
        }
    }

    /// The sort key of a review: larger comes first.
    pub fn key(self, rating: u8, helpfulness: u32, date: i64) -> (i64, i64) {
        match self {
            Sort::Newest => (date, 0),
            Sort::Helpful => (i64::from(helpfulness), date),
            Sort::Relevant => (Review::relevance(helpfulness, date), 0),
            Sort::RatingHigh => (i64::from(rating), date),
            Sort::RatingLow => (-i64::from(rating), date),
        }
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sort::Newest => "newest",
            Sort::Helpful => "helpful",
            Sort::Relevant => "relevant",
            Sort::RatingHigh => "rating_high",
            Sort::RatingLow => "rating_low",
        })
    }
}

/// Limits of docs/api.md on what a client may write, in Unicode scalar values.
pub mod limits {
    /// Summary length.
    pub const SUMMARY: std::ops::RangeInclusive<usize> = 1..=60;
    /// Body length.
    pub const BODY: std::ops::RangeInclusive<usize> = 50..=1000;
    /// Reviewer name length.
    pub const NAME: std::ops::RangeInclusive<usize> = 1..=60;
    /// Longest email address.
    pub const EMAIL_MAX: usize = 60;
    /// Most photos on a review.
    pub const PHOTOS_MAX: usize = 5;
    /// Longest photo URL.
    pub const PHOTO_URL_MAX: usize = 2048;
    /// Largest request body, in bytes.
    pub const BODY_BYTES_MAX: usize = 64 * 1024;
}

/// A review as a client submits it, validated: past the HTTP edge, an
/// invalid one cannot exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    /// 1..=5.
    pub rating: u8,
    /// Within [`limits::SUMMARY`] (the Atelier dialect also takes an empty
    /// one).
    pub summary: String,
    /// Within [`limits::BODY`].
    pub body: String,
    /// Whether the reviewer recommends the product.
    pub recommend: bool,
    /// Stored as `reviewer_name`; within [`limits::NAME`].
    pub name: String,
    /// A plausible address of at most [`limits::EMAIL_MAX`] chars.
    pub email: String,
    /// http(s) URLs, at most [`limits::PHOTOS_MAX`].
    pub photos: Vec<String>,
    /// Its rating of each of the product's characteristics, as `(id,
    /// value)` with values 1..=5, in id order; the store checks that they
    /// are exactly the product's ([`Characteristics::resolve`]).
    pub characteristics: Vec<(u64, u8)>,
}

/// A validated request for one page of a product's visible reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// The product, ≥ 1.
    pub product_id: u64,
    /// 1-based page number, 1..=MAX_PAGE.
    pub page: u32,
    /// Page size, 1..=MAX_COUNT.
    pub count: u32,
    /// Order of the results.
    pub sort: Sort,
    /// Which reviews the page is of; `total` counts them.
    pub filter: Filter,
}

impl PageQuery {
    /// How many visible reviews precede this page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.count)
    }
}

/// Which of a product's visible reviews a page is of: every part holds
/// (AND). The default keeps every review.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// Stars kept: bit `r - 1` for rating `r`; 0 keeps every rating.
    pub stars: u8,
    /// Only reviews with at least one photo.
    pub with_photos: bool,
    /// Only reviews whose summary or body hold every word.
    pub words: Option<Words>,
}

impl Filter {
    /// Every star bit: a filter keeping every rating.
    pub const ALL_STARS: u8 = 0b1_1111;

    /// Whether the filter keeps every review.
    pub fn is_none(&self) -> bool {
        self.star_bits() == 0 && !self.with_photos && self.words.is_none()
    }

    /// The stars kept, as bits (rating `r` is bit `r - 1`); 0 when every
    /// rating is kept.
    pub fn star_bits(&self) -> u8 {
        self.stars & Self::ALL_STARS
    }

    /// Whether a review with `rating` stars and `photos` photos passes
    /// the star and photo parts (the words are checked on its text).
    pub fn keeps(&self, rating: u8, photos: usize) -> bool {
        (!self.with_photos || photos > 0) && self.keeps_stars(rating)
    }

    /// Whether `rating` is one of the stars kept.
    pub fn keeps_stars(&self, rating: u8) -> bool {
        let stars = self.star_bits();
        stars == 0 || (1..=5).contains(&rating) && stars & (1 << (rating - 1)) != 0
    }

    /// The ratings kept, ascending.
    pub fn ratings(&self) -> impl Iterator<Item = u8> + '_ {
        (1..=5).filter(|&r| self.keeps_stars(r))
    }
}

/// One page of reviews, as a store answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Visible reviews of the product in all.
    pub total: u64,
    /// The page's reviews, in order.
    pub reviews: Vec<Review>,
}

/// One photo of a [`ReviewView`], borrowed from wherever the review lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PhotoView<'a> {
    /// See [`Photo::id`].
    pub id: u64,
    /// See [`Photo::url`].
    pub url: &'a str,
}

/// What a page shows of one review, borrowed: the embedded store lends it
/// straight from its memory map, so a page is rendered without copying a
/// string (and the email, never shown, is not even looked at).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReviewView<'a> {
    /// See [`Review::review_id`].
    pub review_id: u64,
    /// See [`Review::rating`].
    pub rating: u8,
    /// See [`Review::summary`].
    pub summary: &'a str,
    /// See [`Review::body`].
    pub body: &'a str,
    /// See [`Review::recommend`].
    pub recommend: bool,
    /// See [`Review::reviewer_name`].
    pub reviewer_name: &'a str,
    /// See [`Review::response`].
    pub response: Option<&'a str>,
    /// See [`Review::helpfulness`].
    pub helpfulness: u32,
    /// See [`Review::date`].
    pub date: i64,
    /// The first [`ReviewView::photo_count`] are the review's photos.
    pub photo_slots: [PhotoView<'a>; limits::PHOTOS_MAX],
    /// How many photos the review has, at most [`limits::PHOTOS_MAX`].
    pub photo_count: u8,
    /// See [`Review::characteristics`].
    pub characteristics: CharacteristicRatings,
}

impl<'a> ReviewView<'a> {
    /// The review's photos.
    pub fn photos(&self) -> &[PhotoView<'a>] {
        &self.photo_slots[..usize::from(self.photo_count)]
    }
}

impl<'a> From<&'a Review> for ReviewView<'a> {
    fn from(r: &'a Review) -> ReviewView<'a> {
        let mut view = ReviewView {
            review_id: r.review_id,
            rating: r.rating,
            summary: &r.summary,
            body: &r.body,
            recommend: r.recommend,
            reviewer_name: &r.reviewer_name,
            response: r.response.as_deref(),
            helpfulness: r.helpfulness,
            date: r.date,
            characteristics: r.characteristics,
            ..ReviewView::default()
        };
        for (slot, photo) in view.photo_slots.iter_mut().zip(&r.photos) {
            *slot = PhotoView {
                id: photo.id,
                url: &photo.url,
            };
            view.photo_count += 1;
        }
        view
    }
}

/// One page of reviews, borrowed (see [`ReviewView`]).
#[derive(Debug, Clone, Copy)]
pub struct PageView<'v, 'a> {
    /// Visible reviews of the product in all.
    pub total: u64,
    /// The page's reviews, in order.
    pub reviews: &'v [ReviewView<'a>],
}

/// Unix seconds that display as `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDate(pub i64);

impl fmt::Display for UtcDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(bytes) = self.to_bytes() {
            return f.write_str(std::str::from_utf8(&bytes).expect("ASCII digits"));
        }
        let (days, rem) = (self.0.div_euclid(86_400), self.0.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
        write!(f, "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

impl UtcDate {
    /// The date as its 20 bytes, `YYYY-MM-DDTHH:MM:SSZ`, without the
    /// formatting machinery (a page renders one per review); `None` outside
    /// years 0..=9999, which [`fmt::Display`] still shows.
    pub fn to_bytes(self) -> Option<[u8; 20]> {
        let (days, rem) = (self.0.div_euclid(86_400), self.0.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00Z";
        let two = |out: &mut [u8; 20], at: usize, n: u32| {
            out[at] = b'0' + (n / 10) as u8;
            out[at + 1] = b'0' + (n % 10) as u8;
        };
        two(&mut out, 0, (y / 100) as u32);
        two(&mut out, 2, (y % 100) as u32);
        two(&mut out, 5, m);
        two(&mut out, 8, d);
        two(&mut out, 11, (rem / 3600) as u32);
        two(&mut out, 14, (rem / 60 % 60) as u32);
        two(&mut out, 17, (rem % 60) as u32);
        Some(out)
    }
}

impl serde::Serialize for UtcDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.to_bytes() {
            Some(bytes) => s.serialize_str(std::str::from_utf8(&bytes).expect("ASCII digits")),
            None => s.collect_str(self),
        }
    }
}

impl UtcDate {
    /// Reads an ISO 8601 date-time: `YYYY-MM-DD`, then optionally `T` (or a
    /// space) and `HH:MM`, `:SS` and a fraction, then optionally `Z` or an
    /// offset (`+02:00`, `-0500`, `+02`); no offset is UTC. The fraction is
    /// dropped (whole seconds, as the service keeps dates). `None` for
    /// anything else, or a date or time out of range.
    pub fn parse(text: &str) -> Option<UtcDate> {
        let b = text.trim().as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let digits = b.get(r)?;
            digits
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let days_in = [
            31,
            28 + i64::from(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)),
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if !(1..=12).contains(&m) || d < 1 || d > days_in[(m - 1) as usize] {
            return None;
        }
        let mut at = 10;
        let mut secs = 0;
        if matches!(b.get(at), Some(b'T' | b't' | b' ')) {
            let (hh, mm) = (num(at + 1..at + 3)?, num(at + 4..at + 6)?);
            if b.get(at + 3) != Some(&b':') || hh > 23 || mm > 59 {
                return None;
            }
            secs = hh * 3600 + mm * 60;
            at += 6;
            if b.get(at) == Some(&b':') {
                let ss = num(at + 1..at + 3)?;
                if ss > 60 {
                    return None;
                }
                secs += ss.min(59);
                at += 3;
                if matches!(b.get(at), Some(b'.' | b',')) {
                    at += 1;
                    let start = at;
                    while b.get(at).is_some_and(u8::is_ascii_digit) {
                        at += 1;
                    }
                    if at == start {
                        return None;
                    }
                }
            }
        }
        let offset = match b.get(at) {
            None => 0,
            Some(b'Z' | b'z') if at + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) => {
                let hh = num(at + 1..at + 3)?;
                let rest = &b[at + 3..];
                let mm = match rest {
                    [] => 0,
                    [b':', _, _] => num(at + 4..at + 6)?,
                    [_, _] => num(at + 3..at + 5)?,
                    _ => return None,
                };
                if hh > 23 || mm > 59 {
                    return None;
                }
                let offset = hh * 3600 + mm * 60;
                if sign == b'+' { offset } else { -offset }
            }
            _ => return None,
        };
        Some(UtcDate(
            days_from_civil(y, m as u32, d as u32) * 86_400 + secs - offset,
        ))
    }
}

/// A proleptic Gregorian (year, month, day) to days since 1970-01-01;
/// Howard Hinnant's `days_from_civil`, the inverse of `civil_from_days`.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day);
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_as_utc_seconds() {
        let show = |secs| UtcDate(secs).to_string();
        assert_eq!(show(0), "1970-01-01T00:00:00Z");
        assert_eq!(show(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(show(1_732_000_000), "2024-11-19T07:06:40Z");
        assert_eq!(show(951_782_400), "2000-02-29T00:00:00Z");
        for secs in [
            0,
            1_767_225_600,
            1_732_000_000,
            951_782_400,
            86_399,
            -1,
            253_402_300_799,
        ] {
            let bytes = UtcDate(secs).to_bytes().expect("a 4-digit year");
            assert_eq!(std::str::from_utf8(&bytes).unwrap(), show(secs));
        }
        assert_eq!(UtcDate(253_402_300_800).to_bytes(), None);
    }

    #[test]
    fn iso_dates_parse_in_every_spelling_the_exports_use() {
        let secs = |s: &str| UtcDate::parse(s).map(|d| d.0);
        for secs_at in [0, 951_782_400, 1_732_000_000, 1_767_225_599, -86_400] {
            let shown = UtcDate(secs_at).to_string();
            assert_eq!(secs(&shown), Some(secs_at), "{shown}");
        }
        assert_eq!(secs("2019-04-14T00:00:00.000Z"), Some(1_555_200_000));
        assert_eq!(secs("2019-04-14"), Some(1_555_200_000));
        assert_eq!(secs("2019-04-14 02:00:00+02:00"), Some(1_555_200_000));
        assert_eq!(secs("2019-04-13T19:00-0500"), Some(1_555_200_000));
        assert_eq!(secs("2019-04-14T00:00:00.999999Z"), Some(1_555_200_000));
        assert_eq!(secs(" 2020-02-29T12:00:00Z "), Some(1_582_977_600));
        for bad in [
            "",
            "2019-4-14",
            "2019-02-30",
            "2019-13-01",
            "2019-04-14T24:00",
            "2019-04-14T10:61",
            "2019-04-14T10:00:00.",
            "2019-04-14Z1",
            "2019-04-14T10:00:00+25:00",
            "yesterday",
            "2019-04-14T10:00:00 Z",
        ] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn meta_average_rounds_to_two_decimals() {
        let mut m = Meta::default();
        assert_eq!(m.average(), None);
        for (r, rec) in [(5, true), (4, true), (4, false)] {
            m.add(r, rec, &CharacteristicRatings::default());
        }
        assert_eq!(m.total(), 3);
        assert_eq!(m.average(), Some(4.33));
        assert_eq!((m.recommended, m.not_recommended), (2, 1));
    }

    #[test]
    fn relevance_weighs_a_year_as_one_vote() {
        let a = Review::relevance(1, 0);
        let b = Review::relevance(0, RELEVANCE_YEAR_SECS);
        assert_eq!(a, b);
        assert!(Sort::Relevant.key(3, 2, 0) > Sort::Relevant.key(3, 1, RELEVANCE_YEAR_SECS - 1));
    }
}
