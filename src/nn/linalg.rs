//! The one place polyak calls into a GEMM kernel.
//!
//! Every matrix is a row-major `f32` slice; a transposed operand is expressed through strides, so
//! no matrix is ever copied to be transposed. Everything else in `nn` is written against
//! [`matmul`], which keeps the engine swappable (a GPU device would replace this file).

/// How an operand is stored relative to the logical matrix the product needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Stored exactly as used (row-major, `rows × cols`).
    AsIs,
    /// Stored transposed (row-major `cols × rows`); read through swapped strides.
    Transposed,
}

/// `out (m×n) = A (m×k) · B (k×n)`, or `out += A·B` when `accumulate` is set.
///
/// Runs single-threaded on purpose: at polyak's sizes (256-wide layers) threading inside one
/// product costs more in synchronisation than it gains, and a fixed kernel order is what makes a
/// seed reproduce a run bit for bit. Parallelism is applied one level up (see `algo`).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    out: &mut [f32],
    a: &[f32],
    a_layout: Layout,
    b: &[f32],
    b_layout: Layout,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    assert!(out.len() >= m * n, "matmul: output {} < {m}×{n}", out.len());
    assert!(a.len() >= m * k, "matmul: lhs {} < {m}×{k}", a.len());
    assert!(b.len() >= k * n, "matmul: rhs {} < {k}×{n}", b.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out[..m * n].fill(0.0);
        }
        return;
    }
    // (column stride, row stride) of each operand, in elements.
    let (a_cs, a_rs) = match a_layout {
        Layout::AsIs => (1, k as isize),
        Layout::Transposed => (m as isize, 1),
    };
    let (b_cs, b_rs) = match b_layout {
        Layout::AsIs => (1, n as isize),
        Layout::Transposed => (k as isize, 1),
    };
    // SAFETY: the asserts above bound every index the kernel touches: A is read at
    // i*a_rs + p*a_cs < m*k, B at p*b_rs + j*b_cs < k*n, out written at i*n + j < m*n.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0; x.len()];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = x[r * cols + c];
            }
        }
        t
    }

    #[test]
    fn all_layouts_match_naive_product() {
        let (m, k, n) = (7, 5, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let at = transpose(&a, m, k);
        let bt = transpose(&b, k, n);
        for (aa, al) in [(&a, Layout::AsIs), (&at, Layout::Transposed)] {
            for (bb, bl) in [(&b, Layout::AsIs), (&bt, Layout::Transposed)] {
                let mut out = vec![f32::NAN; m * n];
                matmul(&mut out, aa, al, bb, bl, m, k, n, false);
                for (x, y) in out.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-5, "{al:?}/{bl:?}: {x} vs {y}");
                }
                // Accumulating adds the product a second time.
                matmul(&mut out, aa, al, bb, bl, m, k, n, true);
                for (x, y) in out.iter().zip(&want) {
                    assert!((x - 2.0 * y).abs() < 1e-5);
                }
            }
        }
    }
}
