//! What the caches hold: the exact response body, whether the product was
//! found, the body's validator and the moment it stops being fresh; and the
//! entry's byte form in Redis.

use bytes::Bytes;

/// A cached response. A hit serves `body` as is: no serialization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// False for the answer about an unknown product (cached briefly).
    pub found: bool,
    /// The exact response body.
    pub body: Bytes,
    /// Strong validator of the body: a quoted 64-bit hash, ready to send
    /// as an ETag.
    pub etag: Bytes,
    /// Unix milliseconds after which the entry is stale (kept for
    /// stale-if-error, no longer served while the store answers).
    pub fresh_until: u64,
    /// The store version the body was rendered at (see [`super::versions`]).
    pub version: u64,
}

/// Bytes of the Redis value before the body: found u8, fresh_until u64,
/// version u64.
const HEADER: usize = 17;

impl Entry {
    /// A response rendered at store `version`, fresh until `fresh_until`
    /// (unix ms).
    pub fn new(found: bool, body: Bytes, fresh_until: u64, version: u64) -> Entry {
        Entry {
            found,
            etag: etag_of(&body),
            body,
            fresh_until,
            version,
        }
    }

    /// Whether the entry may be served as fresh at `now` (unix ms).
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fresh_until
    }

    /// The value stored in Redis.
    pub fn to_redis(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.body.len());
        out.push(u8::from(self.found));
        out.extend_from_slice(&self.fresh_until.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses a Redis value; `None` for bytes this version did not write.
    pub fn from_redis(raw: Vec<u8>) -> Option<Entry> {
        if raw.len() < HEADER || raw[0] > 1 {
            return None;
        }
        let found = raw[0] == 1;
        let fresh_until = u64::from_be_bytes(raw[1..9].try_into().ok()?);
        let version = u64::from_be_bytes(raw[9..HEADER].try_into().ok()?);
        let mut body = Bytes::from(raw);
        let body = body.split_off(HEADER);
        Some(Entry::new(found, body, fresh_until, version))
    }

    /// Bytes the entry occupies, for the L1 budget.
    pub fn weight(&self) -> u32 {
        (self.body.len() + std::mem::size_of::<Entry>() + 64).min(u32::MAX as usize) as u32
    }
}

/// A strong validator: the body's 64-bit hash in hex, quoted.
fn etag_of(body: &[u8]) -> Bytes {
    Bytes::from(format!("\"{:016x}\"", crate::hash::bytes(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_bytes_round_trip_and_reject_junk() {
        let e = Entry::new(true, Bytes::from_static(b"{\"a\":1}"), 123_456, 42);
        assert_eq!(Entry::from_redis(e.to_redis()), Some(e.clone()));
        let unknown = Entry::new(false, Bytes::from_static(b"{}"), 9, 0);
        assert_eq!(Entry::from_redis(unknown.to_redis()), Some(unknown));
        assert_eq!(Entry::from_redis(b"short".to_vec()), None);
        let mut junk = e.to_redis();
        junk[0] = 0xff;
        assert_eq!(Entry::from_redis(junk), None);
    }

    #[test]
    fn etags_follow_the_body() {
        let a = Entry::new(true, Bytes::from_static(b"same body"), 0, 1);
        let b = Entry::new(true, Bytes::from_static(b"same body"), 9, 2);
        let c = Entry::new(true, Bytes::from_static(b"same bodY"), 0, 1);
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        assert_eq!(a.etag.len(), 18);
    }
}
