//! The guard of an API write, as the edge builds it: the client's
//! `Idempotency-Key` (checked here, kept by the store with the write) and
//! the voter of a helpful vote.
//!
//! A key is 1..=255 visible ASCII characters (a UUID is typical), one per
//! user action: a retry of the action sends the same key with the same
//! request and gets the first answer back, with `Idempotent-Replayed:
//! true`, writing nothing; the same key with another request (another
//! route, target or body) is a 422. Keys are kept for `--idempotency-ttl`
//! (default 24 h) and are global: a retry through another worker, host or
//! proxy finds its key wherever it lands.

use std::time::Duration;

use hyper::HeaderMap;
use hyper::header::HeaderName;

use super::error::ApiError;
use crate::hash::{fold, mix};
use crate::limits::ClientKey;
use crate::service::{IdempotencyKey, Voter, WriteGuard};

/// The request header.
pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// The response header of an answer replayed from a key.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest key.
pub const KEY_MAX: usize = 255;

/// Who writes, and when: what a write's guard is made of.
#[derive(Debug, Clone, Copy)]
pub struct Guarding {
    /// The client (see [`crate::http::client`]).
    pub client: ClientKey,
    /// The time of the request, unix milliseconds.
    pub now_ms: u64,
    /// How long a key is kept.
    pub key_ttl: Duration,
    /// How long a client's helpful vote on a review is remembered
    /// (zero: votes are not deduplicated).
    pub vote_window: Duration,
}

impl Guarding {
    /// The guard of a request with `headers` whose content hashes to
    /// `fingerprint`; `vote` when it is a helpful vote. A malformed key is
    /// a 400.
    pub fn guard(
        &self,
        headers: &HeaderMap,
        fingerprint: u128,
        vote: bool,
    ) -> Result<WriteGuard, ApiError> {
        let idempotency = key(headers)?.map(|key| IdempotencyKey {
            key,
            fingerprint,
            expires_ms: self.now_ms + self.key_ttl.as_millis() as u64,
        });
        let voter = (vote && !self.vote_window.is_zero()).then(|| Voter {
            id: self.client.id(),
            until_ms: self.now_ms + self.vote_window.as_millis() as u64,
        });
        Ok(WriteGuard {
            idempotency,
            voter,
            now_ms: self.now_ms,
        })
    }
}

/// The `Idempotency-Key` of a request, if it has one.
fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(&HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let valid = values.next().is_none()
        && (1..=KEY_MAX).contains(&bytes.len())
        && bytes.iter().all(|b| (0x21..=0x7e).contains(b));
    if !valid {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be one header of 1 to {KEY_MAX} visible ASCII characters \
             (e.g. a UUID)"
        )));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// The 422 of a key first used with another request.
pub fn reused(headers: &HeaderMap) -> ApiError {
    let shown: String = key(headers)
        .ok()
        .flatten()
        .unwrap_or_default()
        .chars()
        .take(40)
        .collect();
    ApiError::unprocessable(format!(
        "Idempotency-Key \"{shown}\" was already used with a different request \
         (another body, route or target): send a new key with a new request"
    ))
}

/// A 128-bit hash of a request's parts, each length-prefixed so that no
/// two lists of parts run together the same way.
pub fn fingerprint(parts: &[&[u8]]) -> u128 {
    let (mut a, mut b) = (0x243f_6a88_85a3_08d3_u64, 0x1319_8a2e_0370_7344_u64);
    for part in parts {
        a = fold(a, part.len() as u64);
        b = fold(b, !(part.len() as u64));
        for chunk in part.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let word = u64::from_le_bytes(word);
            a = fold(a, word);
            b = fold(b.rotate_left(29), word ^ 0xa5a5_a5a5_5a5a_5a5a);
        }
    }
    (u128::from(mix(a)) << 64) | u128::from(mix(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        let with = |values: &[&[u8]]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(&HEADER, hyper::header::HeaderValue::from_bytes(v).unwrap());
            }
            key(&h)
        };
        assert_eq!(with(&[]).unwrap(), None);
        assert_eq!(with(&[b"3f2a-9c"]).unwrap().as_deref(), Some("3f2a-9c"));
        assert!(with(&[b"has space"]).is_err());
        assert!(with(&[&[b'k'; 256]]).is_err());
        assert!(with(&[b"a", b"b"]).is_err());
        assert!(with(&[b"caf\xc3\xa9"]).is_err());
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let f = fingerprint(&[b"PUT", b"helpful", b"12"]);
        assert_eq!(f, fingerprint(&[b"PUT", b"helpful", b"12"]));
        assert_ne!(f, fingerprint(&[b"PUT", b"helpful", b"1", b"2"]));
        assert_ne!(f, fingerprint(&[b"PUT", b"report", b"12"]));
    }
}
