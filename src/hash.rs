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

/// A 64-bit hash of `bytes`: 8 bytes per multiply, then [`mix`].
pub fn bytes(bytes: &[u8]) -> u64 {
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        h = fold(h, u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
    }
    for &b in chunks.remainder() {
        h = fold(h, u64::from(b));
    }
    mix(h)
}
