//! Records that expire, kept beside the data they guard: idempotency keys
//! and helpful votes. Both are read and written inside the write
//! transaction they guard, so a record and its write commit together or
//! not at all.
//!
//! `expiring`: kind (1 byte) ‖ key → expiry (unix ms, u64 BE) ‖ payload;
//! `expiry`: expiry (u64 BE) ‖ kind ‖ key → nothing, the same records in
//! the order they expire. Every committed write sweeps up to [`SWEEP`]
//! expired records from the front of `expiry`, so the databases stay about
//! as large as the writes of one retention period, with no background job.
//! An expired record not yet swept reads as absent.

use heed::{RoTxn, RwTxn};

use super::EmbeddedStore;
use crate::store::StoreError;

/// An idempotency key: payload = request fingerprint (u128 BE) ‖ answer (u64 BE).
pub(super) const IDEMPOTENCY: u8 = b'i';
/// A helpful vote: key = review id (u64 BE) ‖ voter (u64 BE), no payload.
pub(super) const VOTE: u8 = b'v';
/// Expired records removed per write, at most: more than one write adds.
const SWEEP: usize = 16;

fn full_key(kind: u8, key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(1 + key.len());
    full.push(kind);
    full.extend_from_slice(key);
    full
}

fn expiry_key(expires_ms: u64, full: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + full.len());
    out.extend_from_slice(&expires_ms.to_be_bytes());
    out.extend_from_slice(full);
    out
}

fn split(value: &[u8]) -> Result<(u64, &[u8]), StoreError> {
    let expires: [u8; 8] = value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt("expiring record".into()))?;
    Ok((u64::from_be_bytes(expires), &value[8..]))
}

/// The payload of an idempotency record: what the request was and what it
/// answered.
pub(super) fn encode_answer(fingerprint: u128, answer: u64) -> [u8; 24] {
    let mut out = [0; 24];
    out[..16].copy_from_slice(&fingerprint.to_be_bytes());
    out[16..].copy_from_slice(&answer.to_be_bytes());
    out
}

/// The (fingerprint, answer) of an idempotency record's payload.
pub(super) fn decode_answer(payload: &[u8]) -> Result<(u128, u64), StoreError> {
    let bad = || StoreError::Corrupt("idempotency record".into());
    let fingerprint: [u8; 16] = payload
        .get(..16)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)?;
    let answer: [u8; 8] = payload
        .get(16..24)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)?;
    Ok((u128::from_be_bytes(fingerprint), u64::from_be_bytes(answer)))
}

/// The key of a vote record.
pub(super) fn vote_key(review_id: u64, voter: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&review_id.to_be_bytes());
    key[8..].copy_from_slice(&voter.to_be_bytes());
    key
}

impl EmbeddedStore {
    /// The payload of record `kind`‖`key`, unless it is absent or expired
    /// at `now_ms`.
    pub(super) fn live<'t>(
        &self,
        txn: &'t RoTxn,
        kind: u8,
        key: &[u8],
        now_ms: u64,
    ) -> Result<Option<&'t [u8]>, StoreError> {
        let Some(value) = self.expiring.get(txn, &full_key(kind, key))? else {
            return Ok(None);
        };
        let (expires, payload) = split(value)?;
        Ok((expires > now_ms).then_some(payload))
    }

    /// Records `kind`‖`key` with `payload` until `expires_ms`, replacing an
    /// expired record of the same key.
    pub(super) fn put_expiring(
        &self,
        txn: &mut RwTxn,
        kind: u8,
        key: &[u8],
        expires_ms: u64,
        payload: &[u8],
    ) -> Result<(), StoreError> {
        let full = full_key(kind, key);
        if let Some(old) = self.expiring.get(txn, &full)? {
            let (old_expires, _) = split(old)?;
            self.expiry.delete(txn, &expiry_key(old_expires, &full))?;
        }
        let mut value = Vec::with_capacity(8 + payload.len());
        value.extend_from_slice(&expires_ms.to_be_bytes());
        value.extend_from_slice(payload);
        self.expiring.put(txn, &full, &value)?;
        self.expiry.put(txn, &expiry_key(expires_ms, &full), &[])?;
        Ok(())
    }

    /// Removes up to [`SWEEP`] records expired at `now_ms`, oldest first.
    pub(super) fn sweep(&self, txn: &mut RwTxn, now_ms: u64) -> Result<(), StoreError> {
        let mut done = Vec::new();
        for item in self.expiry.iter(txn)?.take(SWEEP) {
            let (key, _) = item?;
            let (expires, _) = split(key)?;
            if expires > now_ms {
                break;
            }
            done.push(key.to_vec());
        }
        for key in done {
            self.expiry.delete(txn, &key)?;
            self.expiring.delete(txn, &key[8..])?;
        }
        Ok(())
    }

    /// Records in the expiring database, expired or not (for tests of the
    /// sweep).
    pub fn expiring_records(&self) -> Result<u64, StoreError> {
        let txn = self.env.read_txn()?;
        Ok(self.expiring.len(&txn)?)
    }
}
