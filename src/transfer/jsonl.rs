//! JSON Lines: a whole store, one JSON object a line, every stored field —
//! what `seed --to-jsonl` writes and `seed --from-jsonl` reads, to move a
//! store from one backend to another.
//!
//! ```text
//! {"type":"data_set","format":1,"seed":42,"records":1000000,"products":100000,"next_review_id":1000001}
//! {"type":"product","product_id":2,"characteristics":[{"id":5,"name":"Size"},{"id":6,"name":"Width"}]}
//! {"type":"review","review_id":518897,"product_id":2,"rating":5,"summary":"…","body":"…",
//!  "recommend":true,"reported":false,"reviewer_name":"…","reviewer_email":"…","response":null,
//!  "helpfulness":0,"date":"2025-12-27T19:06:39Z","photos":[{"id":2594481,"url":"…"}],
//!  "characteristics":{"Size":3,"Width":3}}
//! ```
//!
//! The first line names the data set (products and their pictures are
//! rendered from it) and the id new reviews continue from; then a line per
//! product with characteristics, then a line per review (reported ones
//! too). A reader takes the lines in any order but the first, and holds
//! reviews to the storage rules of an import ([`super::atelier`]).

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::generate::DataSet;
use crate::model::{
    Characteristic, CharacteristicRatings, Characteristics, Photo, Review, UtcDate,
};

/// The format's version, in the header.
pub const FORMAT: u64 = 1;

/// What the first line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The data set products and pictures are rendered from.
    pub data_set: DataSet,
    /// The id the next new review gets.
    pub next_review_id: u64,
}

/// One line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The first line.
    Header(Header),
    /// A product's characteristics.
    Product {
        /// The product.
        product_id: u64,
        /// Its characteristics (no sums).
        characteristics: Characteristics,
    },
    /// A review.
    Review(Review),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Line<'a> {
    DataSet {
        format: u64,
        seed: u64,
        records: u64,
        products: u64,
        next_review_id: u64,
    },
    Product {
        product_id: u64,
        characteristics: Vec<Scale>,
    },
    Review(#[serde(borrow)] ReviewLine<'a>),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scale {
    id: u64,
    name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewLine<'a> {
    review_id: u64,
    product_id: u64,
    rating: u8,
    #[serde(borrow)]
    summary: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    body: std::borrow::Cow<'a, str>,
    recommend: bool,
    reported: bool,
    #[serde(borrow)]
    reviewer_name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    reviewer_email: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    response: Option<std::borrow::Cow<'a, str>>,
    helpfulness: u32,
    date: std::borrow::Cow<'a, str>,
    photos: Vec<PhotoLine<'a>>,
    characteristics: std::collections::BTreeMap<String, u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhotoLine<'a> {
    id: u64,
    #[serde(borrow)]
    url: std::borrow::Cow<'a, str>,
}

/// Reads one line, holding a review to the storage rules of an import.
pub fn parse_line(line: &str) -> Result<Item, String> {
    let parsed: Line =
        serde_json::from_str(line).map_err(|e| format!("not a line of the format: {e}"))?;
    Ok(match parsed {
        Line::DataSet {
            format,
            seed,
            records,
            products,
            next_review_id,
        } => {
            if format != FORMAT {
                return Err(format!(
                    "format {format}, where this version reads {FORMAT}"
                ));
            }
            Item::Header(Header {
                data_set: DataSet {
                    seed,
                    records,
                    products,
                },
                next_review_id,
            })
        }
        Line::Product {
            product_id,
            characteristics,
        } => {
            let mut defined = Characteristics::default();
            for s in characteristics {
                let kind = Characteristic::parse(&s.name)
                    .ok_or_else(|| format!("unknown characteristic {}", s.name))?;
                defined.define(kind, s.id).map_err(|e| e.0)?;
            }
            if product_id == 0 {
                return Err("product_id must be at least 1".into());
            }
            Item::Product {
                product_id,
                characteristics: defined,
            }
        }
        Line::Review(r) => Item::Review(review(r)?),
    })
}

fn review(r: ReviewLine<'_>) -> Result<Review, String> {
    use super::atelier::{one_to_five, text};
    if r.review_id == 0 || r.product_id == 0 {
        return Err("review_id and product_id must be at least 1".into());
    }
    let mut characteristics = CharacteristicRatings::default();
    for (name, value) in &r.characteristics {
        let kind =
            Characteristic::parse(name).ok_or_else(|| format!("unknown characteristic {name}"))?;
        characteristics.set(kind, one_to_five(value.to_string().as_bytes(), name)?);
    }
    if r.photos.len() > crate::model::limits::PHOTOS_MAX {
        return Err(format!(
            "{} photos, more than a review holds",
            r.photos.len()
        ));
    }
    let response = match r.response {
        Some(s) => Some(text(s.as_bytes(), "response", 1..=5000, false)?),
        None => None,
    };
    Ok(Review {
        review_id: r.review_id,
        product_id: r.product_id,
        rating: one_to_five(r.rating.to_string().as_bytes(), "rating")?,
        summary: text(r.summary.as_bytes(), "summary", 0..=200, false)?,
        body: text(r.body.as_bytes(), "body", 1..=5000, true)?,
        recommend: r.recommend,
        reported: r.reported,
        reviewer_name: text(r.reviewer_name.as_bytes(), "reviewer_name", 1..=100, true)?,
        reviewer_email: text(
            r.reviewer_email.as_bytes(),
            "reviewer_email",
            0..=320,
            false,
        )?,
        response,
        helpfulness: r.helpfulness,
        date: UtcDate::parse(&r.date)
            .ok_or_else(|| format!("date must be ISO 8601, got {:?}", r.date))?
            .0,
        photos: r
            .photos
            .into_iter()
            .map(|p| Photo {
                id: p.id,
                url: p.url.into_owned(),
            })
            .collect(),
        characteristics,
    })
}

/// Writes the format's lines.
pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    /// Lines into `out`.
    pub fn new(out: W) -> Writer<W> {
        Writer { out }
    }

    /// The first line.
    pub fn header(&mut self, header: Header) -> io::Result<()> {
        let DataSet {
            seed,
            records,
            products,
        } = header.data_set;
        self.line(&Line::DataSet {
            format: FORMAT,
            seed,
            records,
            products,
            next_review_id: header.next_review_id,
        })
    }

    /// A product's characteristics.
    pub fn product(
        &mut self,
        product_id: u64,
        characteristics: &Characteristics,
    ) -> io::Result<()> {
        self.line(&Line::Product {
            product_id,
            characteristics: characteristics
                .iter()
                .map(|s| Scale {
                    id: s.id,
                    name: s.kind.name().into(),
                })
                .collect(),
        })
    }

    /// A review, every stored field.
    pub fn review(&mut self, r: &Review) -> io::Result<()> {
        use std::borrow::Cow::Borrowed;
        self.line(&Line::Review(ReviewLine {
            review_id: r.review_id,
            product_id: r.product_id,
            rating: r.rating,
            summary: Borrowed(&r.summary),
            body: Borrowed(&r.body),
            recommend: r.recommend,
            reported: r.reported,
            reviewer_name: Borrowed(&r.reviewer_name),
            reviewer_email: Borrowed(&r.reviewer_email),
            response: r.response.as_deref().map(Borrowed),
            helpfulness: r.helpfulness,
            date: std::borrow::Cow::Owned(UtcDate(r.date).to_string()),
            photos: r
                .photos
                .iter()
                .map(|p| PhotoLine {
                    id: p.id,
                    url: Borrowed(&p.url),
                })
                .collect(),
            characteristics: r
                .characteristics
                .iter()
                .map(|(k, v)| (k.name().to_string(), v))
                .collect(),
        }))
    }

    fn line(&mut self, line: &Line<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"\n")
    }

    /// Flushes and hands the output back.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::Generator;

    #[test]
    fn every_field_round_trips() {
        let set = DataSet::new(5, 2_000, None);
        let g = Generator::new(set);
        let mut w = Writer::new(Vec::new());
        w.header(Header {
            data_set: set,
            next_review_id: 2_001,
        })
        .unwrap();
        w.product(3, &g.characteristics(3)).unwrap();
        let mut reviews: Vec<Review> = (1..=300).map(|id| g.record(id)).collect();
        reviews[0].response = Some("Thanks \"so\" much\nfor this".into());
        reviews[1].reported = true;
        for r in &reviews {
            w.review(r).unwrap();
        }
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            parse_line(lines.next().unwrap()),
            Ok(Item::Header(Header {
                data_set: set,
                next_review_id: 2_001
            }))
        );
        assert_eq!(
            parse_line(lines.next().unwrap()),
            Ok(Item::Product {
                product_id: 3,
                characteristics: g.characteristics(3)
            })
        );
        for (line, r) in lines.zip(&reviews) {
            assert_eq!(parse_line(line), Ok(Item::Review(r.clone())));
        }
        assert!(
            parse_line(r#"{"type":"review"}"#)
                .unwrap_err()
                .contains("missing field")
        );
        assert!(parse_line("{").is_err());
        let bad = text
            .lines()
            .nth(2)
            .unwrap()
            .replace("\"rating\":", "\"rating\":9,\"x\":");
        assert!(parse_line(&bad).is_err());
    }
}
