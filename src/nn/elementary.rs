//! The elementary functions that updates and actions call (exp, ln, tanh and ln(1 + x) in f32;
//! ln and the cosine of Box–Muller's normals in f64), in polyak's own arithmetic.
//!
//! Rust's `f32::tanh` and the like call the system's C math library, and the same seed then gave
//! the same numbers only under C libraries that round alike: glibc has been replacing its
//! single-precision functions with correctly rounded ones (2.41 on). Each function here is a
//! fixed sequence of IEEE additions, multiplications, divisions and selections (Rust never fuses
//! a multiply and an add), so its bits depend on nothing but its input. The f32 functions compute
//! in f64 and round once: their results are within 1 ulp of the exact value (`tests` checks them
//! against the C library's f64 functions over millions of inputs), and nearly always the
//! correctly rounded one. They have no branches, so that the loops over a block's values
//! ([`normals`], [`tanh_all`], SAC's sample) are vectorised, each lane the same operations at
//! every SIMD level: one value's chain of dependent multiply-adds is long, and scalar calls ran
//! slower than the C library's table-driven ones.

use super::elementwise::per_simd_level;

/// ln 2 in two parts (fdlibm's): `LN2_HI` has 32 significant bits, so `k · LN2_HI` is exact for
/// any |k| < 2^20.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// 1.5 · 2^52: `x + ROUND - ROUND` is x rounded to the nearest integer (ties to even) for
/// |x| < 2^51, and the low bits of `x + ROUND` hold that integer.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// The integer nearest `x` (|x| < 2^51), as an f64 and as the i64 in the low bits of `x + ROUND`.
#[inline(always)]
fn nearest(x: f64) -> (f64, i64) {
    let shifted = x + ROUND;
    (shifted - ROUND, (shifted.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64))
}

/// e^x for x in [−700, 700] (callers clamp): x = k·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its
/// Taylor series to r^13 (the next term is below 2^−57 of the sum), then scaled by 2^k.
#[inline(always)]
fn exp64(x: f64) -> f64 {
    let (k, ki) = nearest(x * std::f64::consts::LOG2_E);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // 1/n! for n = 13 down to 2
    const C: [f64; 12] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ];
    let mut p = C[0];
    for c in &C[1..] {
        p = p * r + c;
    }
    let e_r = 1.0 + r * (1.0 + r * p);
    // NaN comes through the arithmetic; its `ki` is garbage, hence the wrapping add.
    e_r * f64::from_bits((ki.wrapping_add(1023) as u64) << 52)
}

/// ln x: x = 2^e·m with m in [√½, √2), ln m = 2·atanh(s) with s = (m − 1)/(m + 1), |s| ≤ 0.172,
/// by its series to s^23 (the next term is below 2^−56 of the sum). Subnormals are scaled up
/// first; 0, negatives, ∞ and NaN give what the C library's `log` gives.
#[inline(always)]
fn ln64(x: f64) -> f64 {
    let tiny = x < f64::MIN_POSITIVE;
    let scaled = if tiny { x * (1u64 << 54) as f64 } else { x };
    let bits = scaled.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - if tiny { 1023 + 54 } else { 1023 };
    let m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    let high = m > std::f64::consts::SQRT_2;
    let (e, m) = if high { (e + 1, m * 0.5) } else { (e, m) };
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    // 2/(2n + 1) for n = 11 down to 1
    let mut p = 2.0 / 23.0;
    for n in (1..11).rev() {
        p = p * z + 2.0 / (2 * n + 1) as f64;
    }
    let ln_m = s * 2.0 + s * (z * p);
    let e = e as f64;
    let ln = e * LN2_HI + (e * LN2_LO + ln_m);
    // ln 0 = −∞, ln of a negative is NaN, ln ∞ = ∞, NaN stays NaN.
    if x > 0.0 && x < f64::INFINITY {
        ln
    } else if x == 0.0 {
        f64::NEG_INFINITY
    } else if x == f64::INFINITY {
        x
    } else {
        f64::NAN
    }
}

/// e^x.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // A NaN stays NaN through `clamp` and the arithmetic.
    exp64((x as f64).clamp(-700.0, 700.0)) as f32
}

/// ln x.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    ln64(x as f64) as f32
}

/// ln(1 + x).
#[inline(always)]
pub fn ln_1p(x: f32) -> f32 {
    let x64 = x as f64;
    // 1 + x is exact in f64 for |x| ≥ 2^−29; below, ln(1 + x) = x − x²/2 to far beyond f32.
    let tiny = x64.abs() < 1.0 / (1u64 << 29) as f64;
    (if tiny { x64 - 0.5 * x64 * x64 } else { ln64(1.0 + x64) }) as f32
}

/// tanh x: (1 − e^−2|x|)/(1 + e^−2|x|) with the sign of x, or x − x³/3 + 2x⁵/15 for
/// |x| < 2^−12, where the quotient would cancel. Beyond |x| = 20 it is ±1 in f32.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = (x as f64).abs();
    // NaN stays NaN (`min` would drop it).
    let a = if a > 20.0 { 20.0 } else { a };
    let a2 = a * a;
    let series = a - a * a2 * (1.0 / 3.0 - a2 * (2.0 / 15.0));
    let e = exp64(-2.0 * a);
    let t = if a < 1.0 / 4096.0 { series } else { (1.0 - e) / (1.0 + e) };
    (t as f32).copysign(x)
}

/// cos 2πu for u in [0, 1): with v = 4u, k the integer nearest v and f = v − k (both exact),
/// cos 2πu = cos(kπ/2 + r) with r = f·π/2, |r| ≤ π/4: ±cos r or ±sin r by k mod 4, each by its
/// Taylor series (to r^16 and r^17; the next terms are below 2^−58).
#[inline(always)]
pub fn cos_turns(u: f64) -> f64 {
    debug_assert!((0.0..1.0).contains(&u), "cos_turns({u})");
    let (k, ki) = nearest(4.0 * u);
    let r = (4.0 * u - k) * std::f64::consts::FRAC_PI_2;
    let z = r * r;
    // (−1)^n/(2n)! and (−1)^n/(2n + 1)! for n = 8 down to 0
    const COS: [f64; 9] = [
        1.0 / 20_922_789_888_000.0,
        -1.0 / 87_178_291_200.0,
        1.0 / 479_001_600.0,
        -1.0 / 3_628_800.0,
        1.0 / 40_320.0,
        -1.0 / 720.0,
        1.0 / 24.0,
        -0.5,
        1.0,
    ];
    const SIN: [f64; 9] = [
        1.0 / 355_687_428_096_000.0,
        -1.0 / 1_307_674_368_000.0,
        1.0 / 6_227_020_800.0,
        -1.0 / 39_916_800.0,
        1.0 / 362_880.0,
        -1.0 / 5_040.0,
        1.0 / 120.0,
        -1.0 / 6.0,
        1.0,
    ];
    let (mut c, mut s) = (COS[0], SIN[0]);
    for (a, b) in COS[1..].iter().zip(&SIN[1..]) {
        c = c * z + a;
        s = s * z + b;
    }
    // k mod 4 quarter turns: cos r, −sin r, −cos r, sin r.
    let q = ki & 3;
    let v = if q & 1 == 0 { c } else { r * s };
    if q == 1 || q == 2 {
        -v
    } else {
        v
    }
}

/// The standard normal of Box–Muller from two uniforms in [0, 1): √(−2 ln(1 − u1))·cos 2πu2.
#[inline(always)]
pub fn normal_from(u1: f64, u2: f64) -> f64 {
    // 1 − u1 lies in (0, 1], so the logarithm is finite.
    (-2.0 * ln64(1.0 - u1)).sqrt() * cos_turns(u2)
}

per_simd_level! {
    /// `out[i]` = [`normal_from`] of `uniforms[2i]` and `uniforms[2i + 1]`, as f32.
    pub fn normals(uniforms: &[f64], out: &mut [f32]) {
        for (o, u) in out.iter_mut().zip(uniforms.chunks_exact(2)) {
            *o = normal_from(u[0], u[1]) as f32;
        }
    }
}

per_simd_level! {
    /// `out[i]` = [`tanh`] of `xs[i]`.
    pub fn tanh_all(xs: &[f32], out: &mut [f32]) {
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = tanh(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::LN_2;

    /// How many f32 values lie between `got` and `want` (0: the same; both finite).
    fn ulps(got: f32, want: f32) -> u32 {
        let key = |x: f32| {
            let b = x.to_bits() as i64;
            if b < 0x8000_0000 {
                b
            } else {
                0x8000_0000 - b
            }
        };
        (key(got) - key(want)).unsigned_abs() as u32
    }

    /// Every `step`-th f32 bit pattern in `[from, to]` (both signs where `signed`).
    fn f32s(from: f32, to: f32, step: u32) -> impl Iterator<Item = f32> {
        (from.to_bits()..=to.to_bits()).step_by(step as usize).map(f32::from_bits)
    }

    #[test]
    fn the_f32_functions_are_within_one_ulp_of_the_exact_value() {
        // The C library's f64 functions, rounded to f32, are the exact value to within far less
        // than an f32 ulp; the worst cases are counted, and nearly all must be exact.
        let check = |name: &str, ours: fn(f32) -> f32, exact: fn(f64) -> f64, xs: &mut dyn Iterator<Item = f32>| {
            let (mut n, mut off) = (0, 0);
            for x in xs {
                let (got, want) = (ours(x), exact(x as f64) as f32);
                if want.is_finite() {
                    let d = ulps(got, want);
                    assert!(d <= 1, "{name}({x:e}) = {got:e}, exact {want:e}");
                    off += (d > 0) as u32;
                } else {
                    assert_eq!(got.to_bits(), want.to_bits(), "{name}({x:e})");
                }
                n += 1;
            }
            assert!(off * 1000 < n, "{name}: {off} of {n} one ulp off");
        };
        let both = |from: f32, to: f32, step| f32s(from, to, step).flat_map(|x| [x, -x]);
        check("exp", exp, f64::exp, &mut both(1e-12, 100.0, 301));
        check("tanh", tanh, f64::tanh, &mut both(0.0, 30.0, 211));
        check("ln", ln, f64::ln, &mut f32s(f32::from_bits(1), f32::MAX, 1009));
        check(
            "ln_1p",
            ln_1p,
            f64::ln_1p,
            &mut f32s(0.0, 1.0, 97).chain(f32s(0.0, 0.999, 97).map(|x| -x)).chain(f32s(1.0, 1e30, 1013)),
        );
        // Signs, ends and what is not a number.
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!((tanh(1e30), tanh(-1e30), tanh(f32::INFINITY)), (1.0, -1.0, 1.0));
        assert_eq!((exp(-1e30), exp(1e30), exp(0.0)), (0.0, f32::INFINITY, 1.0));
        assert_eq!((ln(0.0), ln(1.0), ln_1p(-1.0), ln_1p(0.0)), (f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY, 0.0));
        for f in [exp, tanh, ln, ln_1p] {
            assert!(f(f32::NAN).is_nan());
        }
        assert!(ln(-1.0).is_nan() && ln_1p(-2.0).is_nan());
        assert_eq!((ln(f32::INFINITY), ln_1p(f32::INFINITY)), (f32::INFINITY, f32::INFINITY));
        assert_eq!(ln64(f64::MIN_POSITIVE / 8.0), (f64::MIN_POSITIVE / 8.0).ln());
    }

    /// The loops over a block's values give the scalar functions' bits at every level this CPU
    /// has, on lengths that leave remainders after whole vectors, with ±0, NaN and infinities.
    #[test]
    fn every_level_gives_the_scalar_bits() {
        use crate::nn::linalg::{use_simd, Simd};
        let mut rng = crate::rng::Rng::new(4);
        let special = [0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-40, 1e-5, 30.0];
        let xs: Vec<f32> =
            (0..301).map(|i| if i % 13 == 5 { special[i / 13 % 8] } else { (rng.normal() * 3.0) as f32 }).collect();
        let mut uniforms = vec![0.0; 2 * 301];
        rng.fill_normal_uniforms(&mut uniforms);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let want_tanh = bits(&xs.iter().map(|&x| tanh(x)).collect::<Vec<_>>());
        let want_normals = bits(&uniforms.chunks_exact(2).map(|u| normal_from(u[0], u[1]) as f32).collect::<Vec<_>>());
        for level in Simd::ALL.into_iter().filter(|s| s.available()) {
            use_simd(level).unwrap();
            for len in [1, 7, 16, 37, 301] {
                let mut out = vec![0.0; len];
                tanh_all(&xs[..len], &mut out);
                assert_eq!(bits(&out), want_tanh[..len], "tanh at {}", level.name());
                normals(&uniforms[..2 * len], &mut out);
                assert_eq!(bits(&out), want_normals[..len], "normals at {}", level.name());
            }
        }
        use_simd(Simd::best()).unwrap();
    }

    #[test]
    fn box_mullers_ln_and_cos_are_within_a_few_ulp_of_the_c_librarys() {
        let mut rng = crate::rng::Rng::new(8);
        for _ in 0..1_000_000 {
            let u = rng.uniform();
            let (ln_u, want) = (ln64(1.0 - u), (1.0 - u).ln());
            assert!((ln_u - want).abs() <= 4.5e-16 * want.abs(), "ln({}): {ln_u:e} against {want:e}", 1.0 - u);
            // cos(2π·u) by the C library carries the rounding of 2π·u: up to 2π·2^−53 absolute.
            assert!((cos_turns(u) - (std::f64::consts::TAU * u).cos()).abs() < 1e-15, "cos 2π·{u}");
        }
        // Exact at the quarter turns.
        assert_eq!([0.0, 0.25, 0.5, 0.75].map(cos_turns), [1.0, -0.0, -1.0, 0.0]);
        assert_eq!((ln64(1.0), ln64(0.5)), (0.0, -LN_2));
        assert!((ln64(f64::EPSILON / 2.0) / (-53.0 * LN_2) - 1.0).abs() < 1e-16);
    }
}
