//! Characteristics: the named 1–5 scales a product is rated on besides its
//! stars (Size, Width, Comfort, Quality, Length, Fit), as the Atelier
//! reviews API has them.
//!
//! A product has a few of them, at most one of each kind, each with an id
//! unique across products ([`Characteristics`], kept in the product's
//! meta with the sum and count of its ratings); a review rates each of its
//! product's characteristics ([`CharacteristicRatings`], kept by kind in the
//! review). Four of the scales are centred — 3 is "Perfect", 1 and 5 the
//! two ways of being off (too small, too big) — and two run from bad to
//! good ([`Characteristic::centred`]).

use std::fmt;

/// One kind of characteristic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Characteristic {
    /// "A size too small" … "A size too wide".
    #[default]
    Size,
    /// "Too narrow" … "Too wide".
    Width,
    /// "Uncomfortable" … "Perfect".
    Comfort,
    /// "Poor" … "Perfect".
    Quality,
    /// "Runs short" … "Runs long".
    Length,
    /// "Runs tight" … "Runs long".
    Fit,
}

impl Characteristic {
    /// How many kinds there are: a product has at most this many.
    pub const COUNT: usize = 6;

    /// Every kind, in the order of [`Characteristic::index`].
    pub const ALL: [Characteristic; Self::COUNT] = [
        Characteristic::Size,
        Characteristic::Width,
        Characteristic::Comfort,
        Characteristic::Quality,
        Characteristic::Length,
        Characteristic::Fit,
    ];

    /// Its name, as the APIs show it ("Size").
    pub fn name(self) -> &'static str {
        match self {
            Characteristic::Size => "Size",
            Characteristic::Width => "Width",
            Characteristic::Comfort => "Comfort",
            Characteristic::Quality => "Quality",
            Characteristic::Length => "Length",
            Characteristic::Fit => "Fit",
        }
    }

    /// The kind a name names, in any letter case; `None` for another name.
    pub fn parse(name: &str) -> Option<Characteristic> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Its place in [`Characteristic::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// What each of the five points of its scale means, from 1 to 5 (the
    /// labels storefronts show beside the scale).
    pub fn labels(self) -> [&'static str; 5] {
        match self {
            Characteristic::Size => [
                "A size too small",
                "½ a size too small",
                "Perfect",
                "½ a size too big",
                "A size too wide",
            ],
            Characteristic::Width => [
                "Too narrow",
                "Slightly narrow",
                "Perfect",
                "Slightly wide",
                "Too wide",
            ],
            Characteristic::Comfort => [
                "Uncomfortable",
                "Slightly uncomfortable",
                "Ok",
                "Comfortable",
                "Perfect",
            ],
            Characteristic::Quality => [
                "Poor",
                "Below average",
                "What I expected",
                "Pretty great",
                "Perfect",
            ],
            Characteristic::Length => [
                "Runs short",
                "Runs slightly short",
                "Perfect",
                "Runs slightly long",
                "Runs long",
            ],
            Characteristic::Fit => [
                "Runs tight",
                "Runs slightly tight",
                "Perfect",
                "Runs slightly long",
                "Runs long",
            ],
        }
    }

    /// Whether 3 is the best point of the scale (Size, Width, Length, Fit)
    /// rather than 5 (Comfort, Quality).
    pub fn centred(self) -> bool {
        !matches!(self, Characteristic::Comfort | Characteristic::Quality)
    }
}

impl fmt::Display for Characteristic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One characteristic of a product and what its visible reviews said of
/// it: the sum and the count of their ratings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scale {
    /// Which characteristic.
    pub kind: Characteristic,
    /// Its id, unique across products.
    pub id: u64,
    /// The sum of the visible reviews' ratings of it.
    pub sum: u64,
    /// How many visible reviews rated it.
    pub count: u64,
}

impl Scale {
    /// The mean rating, exactly, as a decimal with 16 places
    /// ("3.1818181818181818", rounded half up: what the Atelier API's
    /// PostgreSQL `avg` answered); `None` when no review rated it.
    pub fn average_decimal(&self) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        const PLACES: u128 = 10_u128.pow(16);
        let (sum, count) = (u128::from(self.sum), u128::from(self.count));
        let scaled = (sum * PLACES * 2 + count) / (2 * count);
        Some(format!("{}.{:016}", scaled / PLACES, scaled % PLACES))
    }

    /// The mean rating rounded to 2 decimals; `None` when no review rated it.
    pub fn average(&self) -> Option<f64> {
        (self.count > 0).then(|| (self.sum as f64 * 100.0 / self.count as f64).round() / 100.0)
    }
}

/// A product's characteristics, in id order, each with its sums: at most
/// one of each kind. Small and `Copy`, as meta is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Characteristics {
    len: u8,
    items: [Scale; Characteristic::COUNT],
}

/// Why a set of characteristics or of ratings of them is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Characteristics {
    /// The characteristics `(kind, id)`, with no ratings yet, put in id
    /// order; refused when a kind or an id comes twice.
    pub fn new(
        defined: impl IntoIterator<Item = (Characteristic, u64)>,
    ) -> Result<Characteristics, Refused> {
        let mut out = Characteristics::default();
        for (kind, id) in defined {
            out.define(kind, id)?;
        }
        Ok(out)
    }

    /// Adds characteristic `kind` with `id` (no ratings yet), keeping id
    /// order; refused when the product has that kind or that id already.
    pub fn define(&mut self, kind: Characteristic, id: u64) -> Result<(), Refused> {
        if let Some(have) = self.iter().find(|s| s.kind == kind || s.id == id) {
            return Err(Refused(format!(
                "the product has characteristic {} ({}) already",
                have.id, have.kind
            )));
        }
        let at = self.iter().position(|s| s.id > id).unwrap_or(self.len());
        let len = self.len();
        self.items.copy_within(at..len, at + 1);
        self.items[at] = Scale {
            kind,
            id,
            sum: 0,
            count: 0,
        };
        self.len += 1;
        Ok(())
    }

    /// Sets the sums of a characteristic as stored (see [`Scale`]).
    pub fn set_sums(&mut self, kind: Characteristic, sum: u64, count: u64) {
        let len = self.len();
        if let Some(s) = self.items[..len].iter_mut().find(|s| s.kind == kind) {
            s.sum = sum;
            s.count = count;
        }
    }

    /// The characteristics, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Scale> + '_ {
        self.items[..self.len()].iter()
    }

    /// How many the product has.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the product has none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The characteristic with `id`, if the product has it.
    pub fn by_id(&self, id: u64) -> Option<&Scale> {
        self.iter().find(|s| s.id == id)
    }

    /// The characteristic of `kind`, if the product has it.
    pub fn by_kind(&self, kind: Characteristic) -> Option<&Scale> {
        self.iter().find(|s| s.kind == kind)
    }

    /// Counts a review's ratings in (`by` = 1) or out (-1): each rated
    /// characteristic the product has.
    pub fn count(&mut self, ratings: &CharacteristicRatings, by: i64) {
        for s in self.items[..usize::from(self.len)].iter_mut() {
            if let Some(value) = ratings.get(s.kind) {
                s.sum = s.sum.saturating_add_signed(by * i64::from(value));
                s.count = s.count.saturating_add_signed(by);
            }
        }
    }

    /// A new review's ratings, given as `(id, value)` pairs (values already
    /// checked to be 1..=5): refused, naming the id, unless each of the
    /// product's characteristics is rated exactly once and nothing else is.
    pub fn resolve(&self, given: &[(u64, u8)]) -> Result<CharacteristicRatings, Refused> {
        let mut ratings = CharacteristicRatings::default();
        for &(id, value) in given {
            let Some(scale) = self.by_id(id) else {
                return Err(Refused(format!(
                    "characteristics: {id} is not a characteristic of this product; {}",
                    self.takes()
                )));
            };
            if ratings.get(scale.kind).is_some() {
                return Err(Refused(format!(
                    "characteristics: {id} ({}) is rated twice",
                    scale.kind
                )));
            }
            ratings.set(scale.kind, value);
        }
        if let Some(missing) = self.iter().find(|s| ratings.get(s.kind).is_none()) {
            return Err(Refused(format!(
                "characteristics: missing a rating of {} ({}); {}",
                missing.id,
                missing.kind,
                self.takes()
            )));
        }
        Ok(ratings)
    }

    /// "it takes 5 (Size), 6 (Width)…": what a refusal tells the client.
    fn takes(&self) -> String {
        if self.is_empty() {
            return "the product has no characteristics: send none".into();
        }
        let each: Vec<String> = self
            .iter()
            .map(|s| format!("{} ({})", s.id, s.kind))
            .collect();
        format!(
            "the product takes a rating from 1 to 5 of each of {}",
            each.join(", ")
        )
    }
}

/// A review's rating of each characteristic of its product, kept by kind
/// (a product has at most one of each); 0 where it rated none (reviews
/// written before characteristics, or of a product without them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CharacteristicRatings(pub [u8; Characteristic::COUNT]);

impl CharacteristicRatings {
    /// The rating of `kind`, 1..=5, if the review gave one.
    pub fn get(&self, kind: Characteristic) -> Option<u8> {
        Some(self.0[kind.index()]).filter(|&v| v != 0)
    }

    /// Rates `kind` with `value` (1..=5; 0 takes the rating away).
    pub fn set(&mut self, kind: Characteristic, value: u8) {
        self.0[kind.index()] = value;
    }

    /// The ratings given, in [`Characteristic::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Characteristic, u8)> + '_ {
        Characteristic::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|v| (k, v)))
    }

    /// Whether the review rated nothing.
    pub fn is_empty(&self) -> bool {
        self.0 == [0; Characteristic::COUNT]
    }

    /// Three bytes, a nibble a kind: how stores keep them.
    pub fn pack(&self) -> [u8; 3] {
        let r = &self.0;
        [r[0] | r[1] << 4, r[2] | r[3] << 4, r[4] | r[5] << 4]
    }

    /// The ratings [`CharacteristicRatings::pack`] kept; nibbles above 5
    /// read as none.
    pub fn unpack(b: [u8; 3]) -> CharacteristicRatings {
        let nib = |n: u8| if n <= 5 { n } else { 0 };
        CharacteristicRatings([
            nib(b[0] & 15),
            nib(b[0] >> 4),
            nib(b[1] & 15),
            nib(b[1] >> 4),
            nib(b[2] & 15),
            nib(b[2] >> 4),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_are_exact_decimals_with_sixteen_places() {
        let scale = |sum, count| Scale {
            kind: Characteristic::Fit,
            id: 1,
            sum,
            count,
        };
        assert_eq!(
            scale(35, 11).average_decimal().as_deref(),
            Some("3.1818181818181818")
        );
        assert_eq!(
            scale(8, 2).average_decimal().as_deref(),
            Some("4.0000000000000000")
        );
        assert_eq!(
            scale(5, 3).average_decimal().as_deref(),
            Some("1.6666666666666667")
        );
        assert_eq!(scale(0, 0).average_decimal(), None);
        assert_eq!(scale(35, 11).average(), Some(3.18));
    }

    #[test]
    fn a_new_review_rates_each_characteristic_once_and_nothing_else() {
        use Characteristic::*;
        let c = Characteristics::new([(Quality, 8), (Size, 5), (Comfort, 7)]).unwrap();
        let ids: Vec<u64> = c.iter().map(|s| s.id).collect();
        assert_eq!(ids, [5, 7, 8], "kept in id order");
        let r = c.resolve(&[(5, 1), (7, 4), (8, 5)]).unwrap();
        assert_eq!(
            r.iter().collect::<Vec<_>>(),
            [(Size, 1), (Comfort, 4), (Quality, 5)]
        );
        let e = c.resolve(&[(5, 1), (7, 4)]).unwrap_err().0;
        assert!(e.contains("missing a rating of 8 (Quality)"), "{e}");
        let e = c.resolve(&[(5, 1), (7, 4), (8, 5), (9, 2)]).unwrap_err().0;
        assert!(e.contains("9 is not a characteristic"), "{e}");
        assert!(c.resolve(&[(5, 1), (5, 2), (8, 5)]).is_err());
        assert!(Characteristics::new([(Size, 1), (Size, 2)]).is_err());
        assert!(Characteristics::new([(Size, 1), (Fit, 1)]).is_err());
        assert_eq!(
            Characteristics::default().resolve(&[]).unwrap(),
            Default::default()
        );
    }

    #[test]
    fn ratings_count_in_and_out_and_pack_into_three_bytes() {
        use Characteristic::*;
        let mut c = Characteristics::new([(Fit, 1), (Length, 2)]).unwrap();
        let mut r = CharacteristicRatings::default();
        r.set(Fit, 4);
        r.set(Length, 2);
        c.count(&r, 1);
        c.count(&r, 1);
        c.count(&r, -1);
        assert_eq!(c.by_kind(Fit).map(|s| (s.sum, s.count)), Some((4, 1)));
        assert_eq!(c.by_id(2).map(|s| (s.sum, s.count)), Some((2, 1)));
        assert_eq!(CharacteristicRatings::unpack(r.pack()), r);
        assert_eq!(Characteristic::parse(" fit "), Some(Fit));
        assert_eq!(Characteristic::parse("Colour"), None);
    }
}
