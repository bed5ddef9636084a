//! The embedded store's compact binary encoding of a [`Review`].
//!
//! Layout (little-endian): product_id u64, date i64, helpfulness u32,
//! rating u8, flags u8 (1 recommend, 2 reported, 4 has response, 8 rates
//! characteristics), photo count u8; with flag 8, the characteristic
//! ratings in 3 bytes (a nibble a kind, see
//! [`CharacteristicRatings::pack`]); then u16-length-prefixed UTF-8:
//! summary, body, reviewer_name, reviewer_email, (response); then per
//! photo: id u64, u16-prefixed url. The review id is the key, not part of
//! the value. Records written before characteristics lack flag 8 and its
//! bytes, and read as rating none.

use crate::model::{CharacteristicRatings, Photo, PhotoView, Review, ReviewView};

const RECOMMEND: u8 = 1;
const REPORTED: u8 = 2;
const HAS_RESPONSE: u8 = 4;
const HAS_CHARACTERISTICS: u8 = 8;
/// Where the flags byte sits: after product_id, date, helpfulness, rating.
const FLAGS_AT: usize = 8 + 8 + 4 + 1;

/// Appends the encoding of `r` to `out`.
pub fn encode(r: &Review, out: &mut Vec<u8>) {
    out.extend_from_slice(&r.product_id.to_le_bytes());
    out.extend_from_slice(&r.date.to_le_bytes());
    out.extend_from_slice(&r.helpfulness.to_le_bytes());
    out.push(r.rating);
    let flags = (if r.recommend { RECOMMEND } else { 0 })
        | (if r.reported { REPORTED } else { 0 })
        | (if r.response.is_some() {
            HAS_RESPONSE
        } else {
            0
        })
        | (if r.characteristics.is_empty() {
            0
        } else {
            HAS_CHARACTERISTICS
        });
    out.push(flags);
    out.push(r.photos.len() as u8);
    if !r.characteristics.is_empty() {
        out.extend_from_slice(&r.characteristics.pack());
    }
    for s in [&r.summary, &r.body, &r.reviewer_name, &r.reviewer_email] {
        put_str(out, s);
    }
    if let Some(response) = &r.response {
        put_str(out, response);
    }
    for p in &r.photos {
        out.extend_from_slice(&p.id.to_le_bytes());
        put_str(out, &p.url);
    }
}

/// What orders, filters and hides a review: the fixed fields at the head
/// of its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Unix seconds.
    pub date: i64,
    /// Helpful votes.
    pub helpfulness: u32,
    /// Stars.
    pub rating: u8,
    /// Hidden from pages.
    pub reported: bool,
    /// Photos attached.
    pub photos: u8,
    /// Its ratings of the product's characteristics.
    pub characteristics: CharacteristicRatings,
    /// Whether the reviewer recommends the product.
    pub recommend: bool,
}

/// The [`Head`] of an encoded review, without decoding the rest; `None`
/// for bytes too short to hold one.
pub fn head(bytes: &[u8]) -> Option<Head> {
    let date = bytes.get(8..16)?.try_into().ok()?;
    let helpfulness = bytes.get(16..20)?.try_into().ok()?;
    let flags = *bytes.get(FLAGS_AT)?;
    let characteristics = if flags & HAS_CHARACTERISTICS != 0 {
        let packed = bytes.get(FLAGS_AT + 2..FLAGS_AT + 5)?.try_into().ok()?;
        CharacteristicRatings::unpack(packed)
    } else {
        CharacteristicRatings::default()
    };
    Some(Head {
        date: i64::from_le_bytes(date),
        helpfulness: u32::from_le_bytes(helpfulness),
        rating: *bytes.get(FLAGS_AT - 1)?,
        reported: flags & REPORTED != 0,
        photos: *bytes.get(FLAGS_AT + 1)?,
        characteristics,
        recommend: flags & RECOMMEND != 0,
    })
}

/// What an import joins to a review it stored without them: its ratings
/// of the characteristics and its photos, as [`compose`] adds them (the
/// ratings packed, then the photo count and each photo as a record holds
/// it).
pub fn extras(rated: &CharacteristicRatings, photos: &[Photo], out: &mut Vec<u8>) {
    out.extend_from_slice(&rated.pack());
    out.push(photos.len() as u8);
    for p in photos {
        out.extend_from_slice(&p.id.to_le_bytes());
        put_str(out, &p.url);
    }
}

/// Appends to `out` the record `base` with `extras` ([`extras`]) added, as
/// [`encode`] would have written the whole review; `base` must have no
/// photos and no characteristic ratings, unless `extras` is empty (then it
/// is the whole record already).
pub fn compose(base: &[u8], extras: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    if extras.is_empty() {
        out.extend_from_slice(base);
        return Ok(());
    }
    if base.len() < FLAGS_AT + 2
        || base[FLAGS_AT + 1] != 0
        || base[FLAGS_AT] & HAS_CHARACTERISTICS != 0
    {
        return Err("a record to compose has photos or ratings already".into());
    }
    let packed: [u8; 3] = extras
        .get(..3)
        .and_then(|p| p.try_into().ok())
        .ok_or("extras truncated")?;
    let count = *extras.get(3).ok_or("extras truncated")?;
    let rated = packed != [0; 3];
    out.extend_from_slice(&base[..FLAGS_AT]);
    out.push(base[FLAGS_AT] | if rated { HAS_CHARACTERISTICS } else { 0 });
    out.push(count);
    if rated {
        out.extend_from_slice(&packed);
    }
    out.extend_from_slice(&base[FLAGS_AT + 2..]);
    out.extend_from_slice(&extras[4..]);
    Ok(())
}

/// The characteristic ratings a record holds, if its flags say so.
fn characteristics(r: &mut Reader<'_>, flags: u8) -> Result<CharacteristicRatings, String> {
    Ok(if flags & HAS_CHARACTERISTICS != 0 {
        CharacteristicRatings::unpack(r.array()?)
    } else {
        CharacteristicRatings::default()
    })
}

/// The product of an encoded review; `None` for bytes too short.
pub fn product_of(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).expect("field lengths are validated far below 64 KiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Decodes review `review_id` from its stored bytes.
pub fn decode(review_id: u64, bytes: &[u8]) -> Result<Review, String> {
    let mut r = Reader { bytes, at: 0 };
    let product_id = u64::from_le_bytes(r.array()?);
    let date = i64::from_le_bytes(r.array()?);
    let helpfulness = u32::from_le_bytes(r.array()?);
    let [rating, flags, photos] = r.array()?;
    let characteristics = characteristics(&mut r, flags)?;
    let summary = r.string()?;
    let body = r.string()?;
    let reviewer_name = r.string()?;
    let reviewer_email = r.string()?;
    let response = if flags & HAS_RESPONSE != 0 {
        Some(r.string()?)
    } else {
        None
    };
    let photos = (0..photos)
        .map(|_| {
            let id = u64::from_le_bytes(r.array()?);
            Ok(Photo {
                id,
                url: r.string()?,
            })
        })
        .collect::<Result<_, String>>()?;
    if r.at != bytes.len() {
        return Err(format!("review {review_id}: trailing bytes"));
    }
    Ok(Review {
        review_id,
        product_id,
        rating,
        summary,
        body,
        recommend: flags & RECOMMEND != 0,
        reported: flags & REPORTED != 0,
        reviewer_name,
        reviewer_email,
        response,
        helpfulness,
        date,
        photos,
        characteristics,
    })
}

/// Decodes what a page shows of review `review_id`, borrowing its strings
/// from `bytes` (the email is skipped, never read).
pub fn decode_view(review_id: u64, bytes: &[u8]) -> Result<ReviewView<'_>, String> {
    let mut r = Reader { bytes, at: 0 };
    r.take(8)?; // product_id: the page's own
    let date = i64::from_le_bytes(r.array()?);
    let helpfulness = u32::from_le_bytes(r.array()?);
    let [rating, flags, photos] = r.array()?;
    let characteristics = characteristics(&mut r, flags)?;
    let summary = r.str()?;
    let body = r.str()?;
    let reviewer_name = r.str()?;
    let email = u16::from_le_bytes(r.array()?) as usize;
    r.take(email)?;
    let response = if flags & HAS_RESPONSE != 0 {
        Some(r.str()?)
    } else {
        None
    };
    let mut view = ReviewView {
        review_id,
        rating,
        summary,
        body,
        recommend: flags & RECOMMEND != 0,
        reviewer_name,
        response,
        helpfulness,
        date,
        characteristics,
        ..ReviewView::default()
    };
    if usize::from(photos) > view.photo_slots.len() {
        return Err(format!("review {review_id}: {photos} photos"));
    }
    for slot in &mut view.photo_slots[..usize::from(photos)] {
        let id = u64::from_le_bytes(r.array()?);
        *slot = PhotoView { id, url: r.str()? };
    }
    view.photo_count = photos;
    if r.at != bytes.len() {
        return Err(format!("review {review_id}: trailing bytes"));
    }
    Ok(view)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| "record truncated".to_string())?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.str().map(str::to_owned)
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let len = u16::from_le_bytes(self.array()?) as usize;
        let raw = self.take(len)?;
        std::str::from_utf8(raw).map_err(|e| format!("invalid UTF-8 in record: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{DataSet, Generator};

    #[test]
    fn generated_records_round_trip() {
        let g = Generator::new(DataSet::new(7, 10_000, None));
        let mut buf = Vec::new();
        for id in 1..=2_000 {
            let r = g.record(id);
            buf.clear();
            encode(&r, &mut buf);
            assert_eq!(decode(id, &buf).unwrap(), r);
            assert_eq!(decode_view(id, &buf).unwrap(), ReviewView::from(&r));
            let head = head(&buf).unwrap();
            assert_eq!((head.date, head.helpfulness), (r.date, r.helpfulness));
            assert_eq!(head.reported, r.reported);
            assert_eq!(
                (head.rating, usize::from(head.photos)),
                (r.rating, r.photos.len())
            );
            assert_eq!(head.characteristics, r.characteristics);
            assert!(!r.characteristics.is_empty());
        }
    }

    #[test]
    fn a_record_composed_from_its_base_and_extras_is_the_whole_review() {
        let g = Generator::new(DataSet::new(7, 5_000, None));
        let (mut whole, mut base, mut extra, mut composed) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for id in 1..=2_000 {
            let r = g.record(id);
            for r in [
                r.clone(),
                Review {
                    photos: Vec::new(),
                    ..r.clone()
                },
                Review {
                    characteristics: Default::default(),
                    ..r
                },
            ] {
                whole.clear();
                encode(&r, &mut whole);
                let bare = Review {
                    photos: Vec::new(),
                    characteristics: Default::default(),
                    ..r.clone()
                };
                base.clear();
                encode(&bare, &mut base);
                extra.clear();
                if !r.photos.is_empty() || !r.characteristics.is_empty() {
                    extras(&r.characteristics, &r.photos, &mut extra);
                }
                composed.clear();
                compose(&base, &extra, &mut composed).unwrap();
                assert_eq!(composed, whole, "review {id}");
            }
        }
        let with_photos = (1..)
            .map(|id| g.record(id))
            .find(|r| !r.photos.is_empty())
            .unwrap();
        whole.clear();
        encode(&with_photos, &mut whole);
        extra.clear();
        extras(
            &with_photos.characteristics,
            &with_photos.photos,
            &mut extra,
        );
        assert!(
            compose(&whole, &extra, &mut composed).is_err(),
            "photos there already"
        );
    }

    #[test]
    fn records_written_before_characteristics_rate_none() {
        let mut r = Generator::new(DataSet::new(7, 100, None)).record(3);
        r.characteristics = Default::default();
        let mut buf = Vec::new();
        encode(&r, &mut buf);
        assert_eq!(buf[FLAGS_AT] & HAS_CHARACTERISTICS, 0, "the older layout");
        assert_eq!(decode(3, &buf).unwrap(), r);
        assert!(head(&buf).unwrap().characteristics.is_empty());
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let r = Generator::new(DataSet::new(7, 100, None)).record(3);
        let mut buf = Vec::new();
        encode(&r, &mut buf);
        assert_eq!(head(&buf[..22]), None);
        for cut in [0, 5, 23, buf.len() - 1] {
            assert!(decode(3, &buf[..cut]).is_err());
            assert!(decode_view(3, &buf[..cut]).is_err());
        }
        buf.push(0);
        assert!(decode(3, &buf).is_err());
        assert!(decode_view(3, &buf).is_err());
    }
}
