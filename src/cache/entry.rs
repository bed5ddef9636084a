//! What the caches hold: the exact response body and its gzip form
//! (compressed once per entry — the first time a client asks for it, or
//! when the entry goes to Redis — never per hit), whether the product was
//! found, each form's validator, the moment it stops being fresh, the
//! version it was rendered at and when its store read began; and the
//! entry's bytes in Redis.
//!
//! Compressing lazily keeps gzip off a miss nobody needs it for: with the
//! caches off, or a client that does not accept it, a page is never
//! compressed at all.

use std::sync::OnceLock;

use bytes::Bytes;

/// A cached response. A hit serves `body` as is: no serialization.
#[derive(Debug, Clone)]
pub struct Entry {
    /// False for the answer about an unknown product (cached briefly).
    pub found: bool,
    /// The exact response body.
    pub body: Bytes,
    /// The body's 64-bit hash, which its validators quote.
    hash: u64,
    /// Strong validator of the body: the quoted hash, ready to send as an
    /// ETag.
    pub etag: Bytes,
    /// The body gzip-compressed, made at most once (see [`Entry::gzip`]).
    gzip: OnceLock<Option<Bytes>>,
    /// Strong validator of the gzip form (the body's, marked `-gz`).
    pub gzip_etag: Bytes,
    /// Unix milliseconds after which the entry is stale (kept for
    /// stale-if-error, no longer served while the store answers).
    pub fresh_until: u64,
    /// The store version the body was rendered at (see [`super::versions`]).
    pub version: u64,
    /// Unix milliseconds when the store read it was rendered from began:
    /// a process trusts no copy read before it first looked at the change
    /// log (see [`super::versions`]).
    pub rendered_at: u64,
}

/// Bytes of the Redis value before the body: found u8, fresh_until u64,
/// version u64, rendered_at u64, the body's hash u64 (its validators, so a
/// Redis hit does not hash the body again), body length u32; the gzip form
/// follows the body.
const HEADER: usize = 37;
/// Shorter bodies are not compressed: the saving is smaller than a packet.
pub const GZIP_MIN: usize = 512;

/// Entries are equal when they say the same: the gzip form and the
/// validators follow from the body, made or not.
impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (
            self.found,
            &self.body,
            self.fresh_until,
            self.version,
            self.rendered_at,
        ) == (
            other.found,
            &other.body,
            other.fresh_until,
            other.version,
            other.rendered_at,
        )
    }
}

impl Eq for Entry {}

impl Entry {
    /// A response rendered at store `version` from a read that began at
    /// `rendered_at`, fresh until `fresh_until` (both unix ms).
    pub fn new(
        found: bool,
        body: Bytes,
        fresh_until: u64,
        version: u64,
        rendered_at: u64,
    ) -> Entry {
        let stamp = (fresh_until, version, rendered_at);
        let hash = crate::hash::bytes(&body);
        Entry::with_gzip(found, body, hash, OnceLock::new(), stamp)
    }

    /// An entry of `body`, whose hash is `hash`.
    fn with_gzip(
        found: bool,
        body: Bytes,
        hash: u64,
        gzip: OnceLock<Option<Bytes>>,
        (fresh_until, version, rendered_at): (u64, u64, u64),
    ) -> Entry {
        Entry {
            found,
            hash,
            etag: quoted(hash, b""),
            gzip_etag: quoted(hash, b"-gz"),
            gzip,
            body,
            fresh_until,
            version,
            rendered_at,
        }
    }

    /// The body gzip-compressed, for clients that accept it; `None` for a
    /// body too short to gain from it. Compressed on the first call, kept
    /// for every later one.
    pub fn gzip(&self) -> Option<&Bytes> {
        self.gzip
            .get_or_init(|| (self.body.len() >= GZIP_MIN).then(|| gzip(&self.body)))
            .as_ref()
    }

    /// Whether the entry may be served as fresh at `now` (unix ms).
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fresh_until
    }

    /// The value stored in Redis.
    pub fn to_redis(&self) -> Vec<u8> {
        let gzip = self.gzip().map_or(&[][..], |g| &g[..]);
        let mut out = Vec::with_capacity(HEADER + self.body.len() + gzip.len());
        out.push(u8::from(self.found));
        out.extend_from_slice(&self.fresh_until.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.rendered_at.to_be_bytes());
        out.extend_from_slice(&self.hash.to_be_bytes());
        out.extend_from_slice(&(self.body.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.body);
        out.extend_from_slice(gzip);
        out
    }

    /// Parses a Redis value; `None` for bytes this version did not write.
    pub fn from_redis(raw: Vec<u8>) -> Option<Entry> {
        if raw.len() < HEADER || raw[0] > 1 {
            return None;
        }
        let found = raw[0] == 1;
        let fresh_until = u64::from_be_bytes(raw[1..9].try_into().ok()?);
        let version = u64::from_be_bytes(raw[9..17].try_into().ok()?);
        let rendered_at = u64::from_be_bytes(raw[17..25].try_into().ok()?);
        let hash = u64::from_be_bytes(raw[25..33].try_into().ok()?);
        let body_len = u32::from_be_bytes(raw[33..HEADER].try_into().ok()?) as usize;
        if raw.len() < HEADER + body_len {
            return None;
        }
        let mut body = Bytes::from(raw).split_off(HEADER);
        let gzip = body.split_off(body_len);
        let gzip = OnceLock::from((!gzip.is_empty()).then_some(gzip));
        let stamp = (fresh_until, version, rendered_at);
        Some(Entry::with_gzip(found, body, hash, gzip, stamp))
    }

    /// Bytes the entry occupies, for the L1 budget: a gzip form not made
    /// yet counts as a third of the body (what review pages shrink to).
    pub fn weight(&self) -> u32 {
        let gzip = match self.gzip.get() {
            Some(made) => made.as_ref().map_or(0, Bytes::len),
            None if self.body.len() >= GZIP_MIN => self.body.len() / 3,
            None => 0,
        };
        (self.body.len() + gzip + std::mem::size_of::<Entry>() + 96).min(u32::MAX as usize) as u32
    }
}

/// `hash` as a validator: 16 hex digits and `suffix`, quoted (made on
/// every Redis hit, so without the formatting machinery).
fn quoted(hash: u64, suffix: &[u8]) -> Bytes {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(18 + suffix.len());
    out.push(b'"');
    out.extend((0..16).rev().map(|i| HEX[(hash >> (i * 4)) as usize & 0xf]));
    out.extend_from_slice(suffix);
    out.push(b'"');
    Bytes::from(out)
}

/// `body` gzip-compressed at a fast level: made once per entry, so a hit
/// serves it as it is.
fn gzip(body: &[u8]) -> Bytes {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    encoder.write_all(body).expect("writing to memory");
    Bytes::from(encoder.finish().expect("writing to memory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `e` comes back from its Redis bytes as it was, validators included,
    /// and they quote its body's hash.
    fn assert_round_trip(e: &Entry) {
        let back = Entry::from_redis(e.to_redis()).unwrap();
        assert_eq!(&back, e);
        assert_eq!((&back.etag, &back.gzip_etag), (&e.etag, &e.gzip_etag));
        let hash = crate::hash::bytes(&e.body);
        assert_eq!(e.etag, format!("\"{hash:016x}\""));
        assert_eq!(e.gzip_etag, format!("\"{hash:016x}-gz\""));
    }

    #[test]
    fn redis_bytes_round_trip_and_reject_junk() {
        let e = Entry::new(true, Bytes::from_static(b"{\"a\":1}"), 123_456, 42, 7);
        assert_round_trip(&e);
        let unknown = Entry::new(false, Bytes::from_static(b"{}"), 9, 0, 1);
        assert_eq!(Entry::from_redis(unknown.to_redis()), Some(unknown));
        assert_eq!(Entry::from_redis(b"short".to_vec()), None);
        let mut junk = e.to_redis();
        junk[0] = 0xff;
        assert_eq!(Entry::from_redis(junk), None);
    }

    #[test]
    fn long_bodies_keep_a_gzip_form_that_round_trips() {
        use std::io::Read;
        let body = Bytes::from("{\"summary\":\"Great fit\"} ".repeat(60));
        let e = Entry::new(true, body.clone(), 1, 2, 0);
        let gz = e.gzip().cloned().expect("long bodies are compressed");
        assert!(gz.len() < body.len() / 4);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, body);
        assert_round_trip(&e);
        assert_ne!(e.etag, e.gzip_etag);
        let short = Entry::new(true, Bytes::from_static(b"{}"), 1, 2, 0);
        assert_eq!(short.gzip(), None);
    }

    #[test]
    fn etags_follow_the_body() {
        let a = Entry::new(true, Bytes::from_static(b"same body"), 0, 1, 0);
        let b = Entry::new(true, Bytes::from_static(b"same body"), 9, 2, 5);
        let c = Entry::new(true, Bytes::from_static(b"same bodY"), 0, 1, 0);
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        assert_eq!(a.etag.len(), 18);
        let hash = crate::hash::bytes(b"same body");
        assert_eq!(a.etag, format!("\"{hash:016x}\""));
        assert_eq!(a.gzip_etag, format!("\"{hash:016x}-gz\""));
    }
}
