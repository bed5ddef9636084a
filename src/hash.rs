//! The two small hashes the crate shares: the splitmix64 finalizer (the
//! generator's randomness, L1 slots, digests) and a one-multiply-per-word
//! fold for short keys and bodies (ETags, L1 keys).

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

/// A 64-bit hash of `bytes`: 8 bytes per multiply, in four independent
/// lanes over 32-byte blocks (a body's hash is four chains, not one long
/// one), then [`mix`].
pub fn bytes(bytes: &[u8]) -> u64 {
    let mut h = bytes.len() as u64;
    let mut blocks = bytes.chunks_exact(32);
    if bytes.len() >= 32 {
        let mut lanes = [h, h ^ 1, h ^ 2, h ^ 3];
        for block in &mut blocks {
            for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
                *lane = fold(*lane, u64::from_le_bytes(word.try_into().expect("8 bytes")));
            }
        }
        h = lanes.into_iter().fold(h, fold);
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for word in &mut words {
        h = fold(h, u64::from_le_bytes(word.try_into().expect("8 bytes")));
    }
    for &b in words.remainder() {
        h = fold(h, u64::from(b));
    }
    mix(h)
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
