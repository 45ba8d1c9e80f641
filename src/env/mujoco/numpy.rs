//! NumPy's floating-point summation order, reproduced so rewards agree with Gymnasium bit for bit.
//!
//! `np.sum` over a contiguous array is a pairwise sum: below 8 elements it adds sequentially;
//! from 8 to 128 it keeps 8 interleaved accumulators, combines them as
//! ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) and adds the remainder sequentially; above 128 it splits
//! at a multiple of 8 near the middle and recurses. float32 arrays are summed in float32.

use std::ops::Add;

pub fn pairwise_sum<T: Copy + Add<Output = T> + Default>(a: &[T]) -> T {
    let n = a.len();
    if n < 8 {
        a.iter().fold(T::default(), |acc, &x| acc + x)
    } else if n <= 128 {
        let mut r = [T::default(); 8];
        r.copy_from_slice(&a[..8]);
        let whole = n - n % 8;
        for chunk in a[8..whole].chunks_exact(8) {
            for (acc, &x) in r.iter_mut().zip(chunk) {
                *acc = *acc + x;
            }
        }
        let head = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        a[whole..].iter().fold(head, |acc, &x| acc + x)
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

/// `np.sum(np.square(x))` for a float32 action, in float32.
pub fn sum_of_squares_f32(x: &[f32]) -> f32 {
    let sq: Vec<f32> = x.iter().map(|v| v * v).collect();
    pairwise_sum(&sq)
}

/// `np.sum(np.square(x))` for float64 data.
pub fn sum_of_squares(x: &[f64]) -> f64 {
    let sq: Vec<f64> = x.iter().map(|v| v * v).collect();
    pairwise_sum(&sq)
}

/// `np.linalg.norm(x)` of a short float64 vector: `sqrt(x · x)`, the dot product accumulated
/// left to right — with each product rounded before it is added (`fused = false`: what the
/// committed fixtures and the training envs use, the same on every CPU), or fused into the
/// sum (`fused = true`). NumPy's dot product goes to OpenBLAS, whose kernel depends on the CPU:
/// it rounds each product on the AVX2 machine the fixtures were recorded on and fuses on an
/// AVX-512 one, so the Python package asks NumPy which it does (`polyak._polyak`).
pub fn norm_with(x: &[f64], fused: bool) -> f64 {
    let dot =
        if fused { x.iter().fold(0.0, |acc, v| v.mul_add(*v, acc)) } else { x.iter().fold(0.0, |acc, v| acc + v * v) };
    dot.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_order_differs_from_sequential_where_numpy_does() {
        // Hand-computed: with 8 accumulators, 1e16 and -1e16 meet before the small terms are added.
        let mut a = vec![1.0f64; 16];
        a[0] = 1e16;
        a[8] = -1e16;
        // r0 = 1e16 + -1e16 = 0, r1..r7 = 2 each → 14.
        assert_eq!(pairwise_sum(&a), 14.0);
        let sequential: f64 = a.iter().sum();
        assert_ne!(sequential, 14.0, "sequential summation loses the ones next to 1e16");
        // Below 8 elements it is sequential.
        assert_eq!(pairwise_sum(&[1e16, 1.0, -1e16]), 0.0);
        // Above 128 it splits at a multiple of 8: 130 → 64 + 66.
        let b: Vec<f64> = (0..130).map(|i| i as f64).collect();
        assert_eq!(pairwise_sum(&b), (0..130).sum::<i32>() as f64);
    }
}
