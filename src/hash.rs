//! The small hashes the crate shares: the splitmix64 finalizer (the
//! generator's randomness, L1 slots, digests), a one-multiply-per-word
//! fold for short keys (L1 keys, clients, idempotency fingerprints) and a
//! hash of whole bodies (ETags).

/// The splitmix64 finalizer: a bijective 64-bit mix.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Folds one word into a running hash: rotate, xor, one multiply. Finish
/// with [`mix`] for full avalanche.
pub fn fold(h: u64, word: u64) -> u64 {
    (h.rotate_left(23) ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A 64-bit hash of `bytes` (ETags): 8 bytes per multiply, in four
/// independent lanes over 32-byte blocks (a body's hash is four chains,
/// not one long one), then [`mix`].
pub fn bytes(bytes: &[u8]) -> u64 {
    let mut h = bytes.len() as u64;
    let mut blocks = bytes.chunks_exact(32);
    if bytes.len() >= 32 {
        let mut lanes = [h, h ^ 1, h ^ 2, h ^ 3];
        for block in &mut blocks {
            for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
                *lane = absorb(*lane, u64::from_le_bytes(word.try_into().expect("8 bytes")));
            }
        }
        h = lanes.into_iter().fold(h, absorb);
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for word in &mut words {
        h = absorb(h, u64::from_le_bytes(word.try_into().expect("8 bytes")));
    }
    for &b in words.remainder() {
        h = absorb(h, u64::from(b));
    }
    mix(h)
}

/// One step of [`bytes`]: the whole 128-bit product of the state (xor the
/// word) and an odd constant, its halves folded together. A change in any
/// bit of the word spreads over the whole result, so the next word of the
/// lane can never cancel it (with [`fold`]'s one 64-bit multiply, a flip
/// of a word's top bit stays one bit, which a flip in the next word undoes).
fn absorb(h: u64, word: u64) -> u64 {
    let product = u128::from(h ^ word) * u128::from(0x9e37_79b9_7f4a_7c15u64);
    (product as u64) ^ ((product >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bit_and_every_length_changes_the_hash() {
        let body: Vec<u8> = (0..100u8).collect();
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(bytes(&body)));
        for bit in 0..body.len() * 8 {
            let mut flipped = body.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(seen.insert(bytes(&flipped)), "bit {bit}");
        }
        for len in 0..body.len() {
            assert!(seen.insert(bytes(&vec![0; len])), "length {len}");
        }
    }
}
