//! polyak's one random number generator: xoshiro256++ seeded through SplitMix64.
//!
//! Written out here rather than taken from a crate so that (1) the stream is fixed by polyak's own
//! code, not by a dependency's version, which is what "same seed, same numbers" needs, and (2) the
//! whole state is four `u64`s, trivially saved in a checkpoint for exact resume.

/// A small, fast, seedable PRNG (xoshiro256++, Blackman & Vigna 2019).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole stream is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm)];
        Rng { s }
    }

    /// An independent stream for one purpose of a run (replay sampling, exploration, …), so that
    /// e.g. changing the evaluation schedule never shifts the training noise.
    pub fn stream(seed: u64, purpose: u64) -> Self {
        let mut sm = seed ^ purpose.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        Rng::new(splitmix64(&mut sm))
    }

    /// The raw state, for checkpoints.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// Restores a state saved with [`Rng::state`]. An all-zero state is invalid for xoshiro.
    pub fn from_state(s: [u64; 4]) -> Option<Self> {
        (s != [0; 4]).then_some(Rng { s })
    }

    /// Sets one word of the state (checkpoint restore writes them one at a time).
    pub(crate) fn set_word(&mut self, i: usize, value: u64) {
        self.s[i] = value;
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [low, high).
    pub fn uniform_range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// Standard normal sample (Box–Muller, one value per call so the state stays four words).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform();
        let u2 = self.uniform();
        normal_from(u1, u2)
    }

    /// The uniforms of `out.len() / 2` calls of [`Rng::normal`], in its order: two per normal,
    /// for [`normal_from`] to turn into normals elsewhere (on the threads of an update, say).
    pub fn fill_normal_uniforms(&mut self, out: &mut [f64]) {
        for u in out {
            *u = self.uniform();
        }
    }

    /// Fills `out` with standard normal samples.
    pub fn fill_normal(&mut self, out: &mut [f32]) {
        for x in out {
            *x = self.normal() as f32;
        }
    }
}

/// The normal [`Rng::normal`] makes of its two uniforms.
pub fn normal_from(u1: f64, u2: f64) -> f64 {
    crate::nn::elementary::normal_from(u1, u2)
}

/// [`normal_from`] of each pair of `uniforms`, as f32, into `out`: the same bits, in one loop
/// at the products' SIMD level.
pub fn normals_from(uniforms: &[f64], out: &mut [f32]) {
    crate::nn::elementary::normals(uniforms, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_from_drawn_uniforms_are_the_normals_of_the_stream() {
        let (mut a, mut b) = (Rng::new(3), Rng::new(3));
        let mut uniforms = vec![0.0; 2 * 50];
        a.fill_normal_uniforms(&mut uniforms);
        for u in uniforms.chunks_exact(2) {
            assert_eq!(normal_from(u[0], u[1]).to_bits(), b.normal().to_bits());
        }
        assert_eq!(a.next_u64(), b.next_u64(), "both generators have moved alike");
    }

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::stream(7, 1);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..5).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn restored_state_continues_the_stream() {
        let mut a = Rng::new(3);
        a.next_u64();
        let mut b = Rng::from_state(a.state()).unwrap();
        assert_eq!(a.next_u64(), b.next_u64());
        assert!(Rng::from_state([0; 4]).is_none());
    }

    #[test]
    fn moments_of_uniform_normal_and_below() {
        let mut r = Rng::new(42);
        let n = 200_000;
        let (mut s1, mut s2, mut mean_u) = (0.0, 0.0, 0.0);
        let mut counts = [0usize; 3];
        for _ in 0..n {
            let z = r.normal();
            s1 += z;
            s2 += z * z;
            mean_u += r.uniform();
            counts[r.below(3) as usize] += 1;
        }
        let n = n as f64;
        assert!((s1 / n).abs() < 0.01, "normal mean {}", s1 / n);
        assert!((s2 / n - 1.0).abs() < 0.01, "normal var {}", s2 / n);
        assert!((mean_u / n - 0.5).abs() < 0.005);
        for c in counts {
            assert!((c as f64 / n - 1.0 / 3.0).abs() < 0.005, "{counts:?}");
        }
    }
}
