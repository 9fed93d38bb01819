//! A small deterministic PRNG (SplitMix64) and stream derivation.
//!
//! Every random choice of the generator comes from a stream derived from `--seed` and a fixed
//! tag (cluster, node, purpose), so one stream's consumption never shifts another's: the same
//! seed gives the same dataset whatever the output format, and adding a consumer in one place
//! does not reshuffle everything else.

/// The SplitMix64 finalizer: a bijective 64-bit mixer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, passes BigCrush for this use.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A stream for `seed` and a path of tags (e.g. `[TAG_NODE, cluster, node]`).
    pub(crate) fn derive(seed: u64, tags: &[u64]) -> Rng {
        let mut s = mix(seed ^ 0x6b75_6265_7365_656e); // "kubeseen"
        for &t in tags {
            s = mix(s ^ mix(t.wrapping_add(0x9e37_79b9_7f4a_7c15)));
        }
        Rng(s)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`; `lo` when the range is empty.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo)
    }

    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Exponentially distributed with the given mean.
    pub(crate) fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).ln()
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// `n` characters of `alphabet`.
    pub(crate) fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.range(0, alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_independent() {
        let a: Vec<u64> = (0..4)
            .scan(Rng::derive(7, &[1, 2]), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .scan(Rng::derive(7, &[1, 2]), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..4)
            .scan(Rng::derive(7, &[2, 1]), |r, _| Some(r.next_u64()))
            .collect();
        let d: Vec<u64> = (0..4)
            .scan(Rng::derive(8, &[1, 2]), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        let mut r = Rng::derive(1, &[]);
        for _ in 0..1000 {
            let x = r.f64();
            assert!((0.0..1.0).contains(&x));
            assert!((5..9).contains(&r.range(5, 9)));
        }
    }
}
