//! Elementwise loops over parameter- and batch-sized vectors (Adam, Polyak averaging, the
//! backward ReLU mask, bias gradients, a gradient's two halves added), compiled once per SIMD
//! level and run at the level the matrix products use (`linalg::simd`, which `POLYAK_SIMD`
//! picks).
//!
//! Without this they ran as the baseline x86-64 build compiles them, 4 lanes of SSE with a
//! 4-lane square root and division per Adam step. The arithmetic of each element is the same
//! IEEE operations at every width (Rust never fuses a multiply and an add, and a vector square
//! root or division is correctly rounded lane by lane), so every level gives the scalar loop's
//! bits; `tests` checks that at each level this CPU has.

/// Defines `fn name(args) body` three times: as written, and compiled for AVX2 and for
/// AVX-512F, each with FMA (the body inlined into each, so the compiler vectorises it to that
/// width; `mul_add` is then one instruction, and a plain `a * b + c` is still two roundings:
/// Rust never fuses them), and calls the one for the level in use. The body is plain Rust over
/// slices.
macro_rules! per_simd_level {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,fma")]
            unsafe fn avx512($($arg: $ty),*) {
                body($($arg),*)
            }
            match $crate::nn::simd() {
                // SAFETY: `simd()` only ever holds a level this CPU has.
                #[cfg(target_arch = "x86_64")]
                $crate::nn::Simd::Avx2 => unsafe { avx2($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                $crate::nn::Simd::Avx512 => unsafe { avx512($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}
pub(crate) use per_simd_level;

per_simd_level! {
    /// δ ⊙ relu'(h): each δ kept where its activation is positive, else +0 (all bits clear).
    /// Every δ is stored: written plainly, LLVM sees that a kept δ needs no store and writes
    /// the zeros through a masked store, which AMD CPUs run in microcode (`vpmaskmovd`: 4% of a
    /// SAC update at AVX2). Masks it cannot see through (`black_box`, once per call) stop that.
    pub fn relu_mask(delta: &mut [f32], activation: &[f32]) {
        let (all, none) = std::hint::black_box((u32::MAX, 0u32));
        for (d, &h) in delta.iter_mut().zip(activation) {
            let keep = if h > 0.0 { all } else { none };
            *d = f32::from_bits(d.to_bits() & keep);
        }
    }
}

per_simd_level! {
    /// `sums[j] += rows[r·width + from + j]` for each row r in order: columns `from..` of a
    /// bias gradient, each one chain of additions in batch order.
    pub fn add_rows(sums: &mut [f32], rows: &[f32], width: usize, from: usize) {
        let n = sums.len();
        for row in rows.chunks_exact(width) {
            for (s, &x) in sums.iter_mut().zip(&row[from..from + n]) {
                *s += x;
            }
        }
    }
}

per_simd_level! {
    /// `first[i] += second[i]`: a weight gradient from its two halves' chains, always first +
    /// second (`mlp`).
    pub fn add_halves(first: &mut [f32], second: &[f32]) {
        for (f, &s) in first.iter_mut().zip(second) {
            *f += s;
        }
    }
}

per_simd_level! {
    /// Polyak averaging, `θ' ← θ' + τ·(θ − θ')`.
    pub fn polyak_average(target: &mut [f32], online: &[f32], tau: f32) {
        for (t, &o) in target.iter_mut().zip(online) {
            *t += tau * (o - *t);
        }
    }
}

/// `dst` ← `src`, written around the caches (non-temporal stores) where the CPU has them: what a
/// thread writes for another thread's copy of a network's parameters (`mlp`). A plain store to
/// a line another core holds waits for that core to give it up, and when the host has put the
/// two vCPUs far apart (a round trip of 300–470 ns) Adam's and the Polyak step's writes spent
/// most of their time so; these wait for no one. The values are copied as they are: the same
/// bits, whatever the stores.
pub fn copy_streaming(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copy_streaming: lengths");
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_loadu_ps, _mm_sfence, _mm_stream_ps};
        // Up to the first 16-byte boundary, and after the last whole vector, plain stores.
        let head = dst.as_ptr().align_offset(16).min(dst.len());
        dst[..head].copy_from_slice(&src[..head]);
        let body = (dst.len() - head) / 4 * 4;
        for (d, s) in dst[head..head + body].chunks_exact_mut(4).zip(src[head..head + body].chunks_exact(4)) {
            // SAFETY: `d` is 16-byte aligned (from `head`) and both chunks hold 4 values; SSE is
            // part of x86-64.
            unsafe { _mm_stream_ps(d.as_mut_ptr(), _mm_loadu_ps(s.as_ptr())) };
        }
        dst[head + body..].copy_from_slice(&src[head + body..]);
        // Streaming stores are not ordered with later stores: the fence makes them visible before
        // the hand-off that tells the other thread to read them.
        // SAFETY: SSE is part of x86-64.
        unsafe { _mm_sfence() };
    }
    #[cfg(not(target_arch = "x86_64"))]
    dst.copy_from_slice(src);
}

/// Writes each cache line of `v` once, with the value it holds: what a step that writes lines
/// another core has read does first (`mlp`). Such a store waits for that core to drop its copy.
/// Met one after another in a loop that does other work, those waits came nearly one at a time:
/// on Zen 4 a thread's share of Adam's step on such lines ran at 1.1–1.8 ns a value, against 0.3
/// on lines no other core had read. A loop of nothing but these stores keeps the store buffer
/// full of them, so the waits overlap: 0.56–0.71 ns a value, the step after it included.
/// (`PREFETCHW` on those lines changed nothing there: a line the core already holds, if only to
/// read, is not fetched again.) No value changes.
#[inline]
pub fn claim_lines(v: &mut [f32]) {
    let (first, len) = (v.as_mut_ptr(), v.len());
    // The first value, then the first of every later line (f32s are 4-byte aligned).
    let next_line = 16 - (first as usize % 64) / 4;
    for i in std::iter::once(0).chain((next_line..len).step_by(16)).filter(|&i| i < len) {
        // SAFETY: i < len, inside `v`, which this thread borrows mutably; volatile so that
        // storing the value just read is not dropped.
        unsafe { std::ptr::write_volatile(first.add(i), std::ptr::read_volatile(first.add(i))) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::linalg::{use_simd, Simd};
    use crate::nn::Adam;
    use crate::rng::Rng;

    /// Values with the cases a loop could treat differently: ±0, NaN, infinities, subnormals.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let special = [0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-40, -1e-40, f32::MAX];
        (0..len)
            .map(|i| if i % 17 == 3 { special[i / 17 % special.len()] } else { (rng.normal() * 2.0) as f32 })
            .collect()
    }

    /// Every level this CPU has computes the scalar loops' bits (Adam's step too, defined with
    /// this module's macro in `adam`), on lengths that leave remainders after whole vectors of
    /// 8 and 16.
    #[test]
    fn every_level_gives_the_scalar_bits() {
        let run = |level: Simd| {
            use_simd(level).unwrap();
            let mut out = Vec::new();
            for len in [1, 7, 16, 37, 300] {
                let (a, b) = (values(len, 1), values(len, 2));
                let mut d = a.clone();
                relu_mask(&mut d, &b);
                // The definition: δ's own bits where h > 0 (not NaN, not ±0), else +0.
                let masked = a.iter().zip(&b).map(|(x, &h)| if h > 0.0 { x.to_bits() } else { 0 });
                assert!(d.iter().map(|v| v.to_bits()).eq(masked), "relu_mask at {}", level.name());
                let mut t = a.clone();
                polyak_average(&mut t, &b, 0.005);
                let mut h = a.clone();
                add_halves(&mut h, &b);
                let rows = values(len * 5, 3);
                let mut sums = values(len - len / 3, 4);
                add_rows(&mut sums, &rows, len, len / 3);
                let mut adam = Adam::new(len, 3e-4);
                adam.m = values(len, 5);
                adam.v = values(len, 6).iter().map(|v| v * v).collect();
                adam.t = 7;
                let mut p = a.clone();
                let mut halves = adam.clone();
                adam.step(&mut p, &b);
                let mut p2 = a.clone();
                let step = halves.next_step();
                step.apply_halves(&mut p2, &b, &values(len, 7), &mut halves.m, &mut halves.v);
                out.push([d, t, h, sums, p, adam.m, adam.v, p2, halves.m, halves.v].concat());
            }
            out.concat().iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
        };
        let want = run(Simd::Scalar);
        // The masks and sums did something (not all NaN or unchanged).
        assert!(want.contains(&0) && want.iter().any(|&b| f32::from_bits(b).is_normal()));
        for level in Simd::ALL.into_iter().filter(|l| l.available()) {
            assert_eq!(run(level), want, "{} differs from scalar", level.name());
        }
        use_simd(Simd::best()).unwrap();
    }

    /// Claiming a slice's lines leaves every bit of it as it was (NaN payloads, −0 and
    /// subnormals included), and touches nothing outside it, whatever its alignment and length.
    #[test]
    fn claiming_lines_changes_no_bit() {
        let mut v = values(300, 8);
        v[40] = f32::from_bits(0x7fc0_1234);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        let want = bits(&v);
        for start in 0..17 {
            for len in [0, 1, 15, 16, 17, 33, 250] {
                claim_lines(&mut v[start..start + len]);
                assert_eq!(bits(&v), want, "at {start}, {len} values");
            }
        }
    }

    /// Every value, whatever the slice's alignment and length (head, whole vectors, tail).
    #[test]
    fn a_streaming_copy_copies_every_bit() {
        let src = values(300, 7);
        for start in 0..5 {
            for len in [0, 1, 3, 4, 5, 9, 64, 290] {
                let mut dst = vec![1.5f32; 300];
                copy_streaming(&mut dst[start..start + len], &src[start..start + len]);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
                assert_eq!(bits(&dst[start..start + len]), bits(&src[start..start + len]), "at {start}, {len} values");
                assert!(dst[..start].iter().chain(&dst[start + len..]).all(|&x| x == 1.5), "outside the slice");
            }
        }
    }
}
