//! What the caches hold: the exact response (status and body bytes) with its
//! ETag and the moment it stops being fresh, and its byte form in Redis.

use bytes::Bytes;
use hyper::header::HeaderValue;

use crate::generate::mix;

/// A cached response. A hit serves `body` as is: no serialization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// HTTP status of the response (200, or 404 for an unknown product).
    pub status: u16,
    /// The exact response body.
    pub body: Bytes,
    /// Strong validator of the body, ready to send.
    pub etag: HeaderValue,
    /// Unix milliseconds after which the entry is stale (kept for
    /// stale-if-error, no longer served while the store answers).
    pub fresh_until: u64,
}

/// Bytes of the Redis value before the body: status u16, fresh_until u64.
const HEADER: usize = 10;

impl Entry {
    /// A response fresh until `fresh_until` (unix ms).
    pub fn new(status: u16, body: Bytes, fresh_until: u64) -> Entry {
        Entry {
            status,
            etag: etag_of(&body),
            body,
            fresh_until,
        }
    }

    /// Whether the entry may be served as fresh at `now` (unix ms).
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fresh_until
    }

    /// The value stored in Redis.
    pub fn to_redis(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.body.len());
        out.extend_from_slice(&self.status.to_be_bytes());
        out.extend_from_slice(&self.fresh_until.to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses a Redis value; `None` for bytes this version did not write.
    pub fn from_redis(raw: Vec<u8>) -> Option<Entry> {
        if raw.len() < HEADER {
            return None;
        }
        let status = u16::from_be_bytes([raw[0], raw[1]]);
        let fresh_until = u64::from_be_bytes(raw[2..HEADER].try_into().ok()?);
        if !(100..600).contains(&status) {
            return None;
        }
        let mut body = Bytes::from(raw);
        let body = body.split_off(HEADER);
        Some(Entry::new(status, body, fresh_until))
    }

    /// Bytes the entry occupies, for the L1 budget.
    pub fn weight(&self) -> u32 {
        (self.body.len() + std::mem::size_of::<Entry>() + 64).min(u32::MAX as usize) as u32
    }
}

/// A strong ETag: a 64-bit hash of the body (one multiply per 8 bytes,
/// finished with a full mix), quoted.
fn etag_of(body: &[u8]) -> HeaderValue {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = body.len() as u64;
    let mut chunks = body.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        h = (h.rotate_left(23) ^ word).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(23) ^ u64::from(b)).wrapping_mul(K);
    }
    let h = mix(h);
    HeaderValue::try_from(format!("\"{h:016x}\"")).expect("hex is a valid header value")
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, lists, `*`).
pub fn matches_if_none_match(header: &[u8], etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    header.split(|&b| b == b',').any(|candidate| {
        let candidate = candidate.trim_ascii();
        let candidate = candidate.strip_prefix(b"W/").unwrap_or(candidate);
        candidate == b"*" || candidate == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_bytes_round_trip_and_reject_junk() {
        let e = Entry::new(200, Bytes::from_static(b"{\"a\":1}"), 123_456);
        assert_eq!(Entry::from_redis(e.to_redis()), Some(e.clone()));
        assert_eq!(Entry::from_redis(b"short".to_vec()), None);
        let mut junk = e.to_redis();
        junk[0] = 0xff;
        assert_eq!(Entry::from_redis(junk), None);
    }

    #[test]
    fn etags_follow_the_body_and_match_if_none_match() {
        let a = Entry::new(200, Bytes::from_static(b"same body"), 0);
        let b = Entry::new(200, Bytes::from_static(b"same body"), 9);
        let c = Entry::new(200, Bytes::from_static(b"same bodY"), 0);
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        let tag = a.etag.to_str().unwrap().to_string();
        assert!(matches_if_none_match(tag.as_bytes(), &a.etag));
        assert!(matches_if_none_match(
            format!("\"x\", W/{tag}").as_bytes(),
            &a.etag
        ));
        assert!(matches_if_none_match(b"*", &a.etag));
        assert!(!matches_if_none_match(b"\"0000\"", &a.etag));
    }
}
