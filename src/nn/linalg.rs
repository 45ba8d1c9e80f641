//! The one place polyak multiplies matrices: a small GEMM of its own, written so that **every
//! CPU computes the same bits**.
//!
//! Each output element is one chain of fused multiply-adds in a fixed order:
//! `acc = start; for p in 0..k { acc = fma(a[i][p], b[p][j], acc) }`, where `start` is the
//! output's old value when accumulating and 0 otherwise. The SIMD kernels put different output
//! elements in different lanes and never split or reorder a chain, so the result does not depend
//! on the vector width (AVX-512, AVX2 or scalar), on cache sizes (`k` is never blocked) or on
//! which way round the product is tiled. A general-purpose GEMM (the `gemm` crate, BLAS, torch)
//! splits `k` by cache size and reduces across lanes, which is why the same seed used to give
//! different runs on different CPUs.
//!
//! Every matrix is a row-major `f32` slice; a transposed operand is read through swapped strides,
//! so no matrix is copied to be transposed. Everything else in `nn` is written against [`matmul`].
//! It runs on the calling thread: at polyak's sizes (256-wide layers) threading inside one
//! product costs more in synchronisation than it gains; parallelism lives one level up (`algo`).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, Ordering};

/// How an operand is stored relative to the logical matrix the product needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Stored exactly as used (row-major, `rows × cols`).
    AsIs,
    /// Stored transposed (row-major `cols × rows`); read through swapped strides.
    Transposed,
}

/// The instruction set a kernel uses. All give bit-identical results; they differ in speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// One element at a time (`f32::mul_add`): the reference, and the path on non-x86 CPUs.
    Scalar,
    /// 8 lanes (AVX2 + FMA).
    Avx2,
    /// 16 lanes (AVX-512F).
    Avx512,
}

impl Simd {
    pub const ALL: [Simd; 3] = [Simd::Scalar, Simd::Avx2, Simd::Avx512];

    /// Whether this CPU can run the level.
    pub fn available(self) -> bool {
        match self {
            Simd::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => is_x86_feature_detected!("avx512f") && Simd::Avx2.available(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest level this CPU has.
    pub fn best() -> Simd {
        *Simd::ALL.iter().rev().find(|s| s.available()).unwrap_or(&Simd::Scalar)
    }

    pub fn name(self) -> &'static str {
        match self {
            Simd::Scalar => "scalar",
            Simd::Avx2 => "AVX2",
            Simd::Avx512 => "AVX-512",
        }
    }

    /// The level named `scalar`, `avx2` or `avx512` (what `POLYAK_SIMD` takes).
    pub fn parse(name: &str) -> Option<Simd> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "scalar" => Some(Simd::Scalar),
            "avx2" => Some(Simd::Avx2),
            "avx512" => Some(Simd::Avx512),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }
}

/// 0: not chosen yet; otherwise `Simd::code`.
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The level every [`matmul`] in this process uses (the best available unless [`use_simd`] chose).
pub fn simd() -> Simd {
    let mut code = LEVEL.load(Ordering::Relaxed);
    if code == 0 {
        // First use: the best level, unless `use_simd` chose meanwhile.
        let best = Simd::best().code();
        code = LEVEL
            .compare_exchange(0, best, Ordering::Relaxed, Ordering::Relaxed)
            .map_or_else(|chosen| chosen, |_| best);
    }
    Simd::ALL[code as usize - 1]
}

/// Makes every later [`matmul`] in this process use `level` — to prove, or to check on a user's
/// machine, that the levels agree bit for bit (results never depend on it). Errors if this CPU
/// lacks the level.
pub fn use_simd(level: Simd) -> Result<(), String> {
    if !level.available() {
        return Err(format!("this CPU cannot run the {} kernels", level.name()));
    }
    LEVEL.store(level.code(), Ordering::Relaxed);
    Ok(())
}

/// Applies `POLYAK_SIMD` (`scalar`, `avx2` or `avx512`) when it is set: the CLI calls this first,
/// so one binary can be checked, or benchmarked, at each level. Returns the level it chose.
pub fn use_simd_from_env() -> Result<Option<Simd>, String> {
    let Ok(name) = std::env::var("POLYAK_SIMD") else { return Ok(None) };
    let level = Simd::parse(&name)
        .ok_or_else(|| format!("POLYAK_SIMD={name}: expected one of scalar, avx2, avx512 (or unset for the best)"))?;
    use_simd(level).map_err(|e| format!("POLYAK_SIMD={name}: {e}"))?;
    Ok(Some(level))
}

/// `out (m×n) = A (m×k) · B (k×n)`, or `out += A·B` when `accumulate` is set, each element one
/// fused multiply-add chain over `k` in order (see the module docs).
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
    if !accumulate {
        out[..m * n].fill(0.0);
    }
    if k == 0 {
        return;
    }
    // A narrow output (a critic's 1-wide or an actor's last layer) with rows of A stored along k:
    // dot products (see `DOT_LANES`).
    if n < NARROW && m > n && a_layout == Layout::AsIs {
        // SAFETY: the asserts above bound the rows of A and columns of B that `dots` reads.
        unsafe { dots(out, a, b, b_layout, m, k, n) };
        return;
    }
    // (row stride, column stride) of each operand, in elements.
    let a_view = match a_layout {
        Layout::AsIs => View { ptr: a.as_ptr(), rs: k, cs: 1 },
        Layout::Transposed => View { ptr: a.as_ptr(), rs: 1, cs: m },
    };
    let b_view = match b_layout {
        Layout::AsIs => View { ptr: b.as_ptr(), rs: n, cs: 1 },
        Layout::Transposed => View { ptr: b.as_ptr(), rs: 1, cs: k },
    };
    let c = Out { ptr: out.as_mut_ptr(), rs: n, cs: 1 };
    // Otherwise lanes run along the output's columns. A narrow output with A stored transposed
    // multiplies the transposes instead, Cᵀ = Bᵀ·Aᵀ, so that the long side fills the lanes (and
    // Aᵀ's rows are contiguous): each element's chain is the same products in the same order.
    let (m, n, a_view, b_view, c) = if n < NARROW && m > n {
        (n, m, b_view.transposed(), a_view.transposed(), Out { ptr: c.ptr, rs: c.cs, cs: c.rs })
    } else {
        (m, n, a_view, b_view, c)
    };
    // SAFETY: the asserts above bound every element the views describe: A (m×k), B (k×n) and C
    // (m×n) lie inside their slices, and `out` is borrowed mutably for the whole call.
    unsafe {
        match simd() {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => product::<x86::Avx512>(m, k, n, a_view, b_view, c),
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => product::<x86::Avx2>(m, k, n, a_view, b_view, c),
            _ => product::<Scalar>(m, k, n, a_view, b_view, c),
        }
    }
}

/// The partial sums of a dot product: element p goes to partial `p mod 16`; the partials are
/// then added pairwise (l and l + 8, then + 4, + 2, + 1) and the total to the output's start
/// value. Sixteen whatever the vector width (one AVX-512 register, two AVX2 ones, sixteen
/// scalars), so every level computes the same bits. k is padded with zero products to a multiple
/// of 16, on every level alike.
const DOT_LANES: usize = 16;

/// Outputs narrower than this, with more rows than columns, are "narrow": dot products when A is
/// stored as is, transposed tiles otherwise.
const NARROW: usize = 16;

/// `out[i][j] += dot(row i of A, column j of B)` for a narrow output (n < 16).
unsafe fn dots(out: &mut [f32], a: &[f32], b: &[f32], b_layout: Layout, m: usize, k: usize, n: usize) {
    thread_local! {
        static COLUMNS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }
    // Four columns at a time share each load of A's row; each element keeps its own partials.
    let dot4: unsafe fn(*const f32, [*const f32; 4], usize) -> [f32; 4] = match simd() {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => x86::dot4_avx512,
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => x86::dot4_avx2,
        _ => |a, b, k| b.map(|col| dot_scalar(a, col, k)),
    };
    let dot: unsafe fn(*const f32, *const f32, usize) -> f32 = match simd() {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => x86::dot_avx512,
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => x86::dot_avx2,
        _ => dot_scalar,
    };
    COLUMNS.with_borrow_mut(|columns| {
        // Columns of B, each contiguous: as stored when B is transposed, else copied (k × n, small).
        let cols: &[f32] = match b_layout {
            Layout::Transposed => b,
            Layout::AsIs => {
                columns.clear();
                columns.extend((0..n).flat_map(|j| (0..k).map(move |p| b[p * n + j])));
                columns
            }
        };
        for (i, row) in out[..m * n].chunks_exact_mut(n).enumerate() {
            let x = a.as_ptr().add(i * k);
            let col = |j: usize| cols.as_ptr().add(j * k);
            let quads = n / 4 * 4;
            for j in (0..quads).step_by(4) {
                let sums = dot4(x, [col(j), col(j + 1), col(j + 2), col(j + 3)], k);
                for (o, s) in row[j..j + 4].iter_mut().zip(sums) {
                    *o += s;
                }
            }
            for (j, o) in row.iter_mut().enumerate().skip(quads) {
                *o += dot(x, col(j), k);
            }
        }
    });
}

/// The last `k mod 16` elements of `x`, zero-padded to 16.
unsafe fn tail(x: *const f32, k: usize) -> [f32; DOT_LANES] {
    let full = k - k % DOT_LANES;
    let mut t = [0.0f32; DOT_LANES];
    std::ptr::copy_nonoverlapping(x.add(full), t.as_mut_ptr(), k % DOT_LANES);
    t
}

unsafe fn dot_scalar(a: *const f32, b: *const f32, k: usize) -> f32 {
    let mut s = [0.0f32; DOT_LANES];
    let chunk = |s: &mut [f32; DOT_LANES], a: *const f32, b: *const f32| {
        for (l, acc) in s.iter_mut().enumerate() {
            *acc = (*a.add(l)).mul_add(*b.add(l), *acc);
        }
    };
    for c in 0..k / DOT_LANES {
        chunk(&mut s, a.add(c * DOT_LANES), b.add(c * DOT_LANES));
    }
    if !k.is_multiple_of(DOT_LANES) {
        chunk(&mut s, tail(a, k).as_ptr(), tail(b, k).as_ptr());
    }
    for w in [8, 4, 2, 1] {
        for l in 0..w {
            s[l] += s[l + w];
        }
    }
    s[0]
}

/// A read-only strided matrix: element (r, c) at `ptr + r·rs + c·cs`.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    rs: usize,
    cs: usize,
}

impl View {
    fn transposed(self) -> View {
        View { ptr: self.ptr, rs: self.cs, cs: self.rs }
    }
}

/// The output, strided the same way.
#[derive(Clone, Copy)]
struct Out {
    ptr: *mut f32,
    rs: usize,
    cs: usize,
}

/// A register tile: `rows` (≤ MR) output rows × NR columns, accumulated in registers over all of
/// `k`.
trait Kernel {
    const MR: usize;
    const NR: usize;
    /// `C[rows × NR] += A[rows × k] · B[k × NR]`, each element one fma chain over p = 0..k in
    /// order. A is read through its strides; row p of B starts at `b + p·b_rs` and row r of C at
    /// `c + r·c_rs`, each NR contiguous values.
    ///
    /// # Safety
    /// The CPU supports the kernel's instructions; the pointers cover what they describe.
    unsafe fn tile(rows: usize, k: usize, a: View, b: *const f32, b_rs: usize, c: *mut f32, c_rs: usize);
}

/// Column panels of NR outputs, each panel over every row tile. A panel of B is read in place
/// when it is contiguous and whole, otherwise copied (zero-padded) into a thread's scratch; a
/// tile of C likewise, through a small buffer only at the edges.
unsafe fn product<K: Kernel>(m: usize, k: usize, n: usize, a: View, b: View, c: Out) {
    thread_local! {
        static PANEL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }
    PANEL.with_borrow_mut(|panel| {
        let mut edge = [0.0f32; 16 * 32];
        for j0 in (0..n).step_by(K::NR) {
            let cols = K::NR.min(n - j0);
            let (bp, b_rs) = if b.cs == 1 && cols == K::NR {
                (b.ptr.add(j0), b.rs)
            } else {
                panel.clear();
                panel.resize(k * K::NR, 0.0);
                // Down each column of B: contiguous reads when B is stored transposed.
                let dst = panel.as_mut_ptr();
                for j in 0..cols {
                    let src = b.ptr.add((j0 + j) * b.cs);
                    for p in 0..k {
                        *dst.add(p * K::NR + j) = *src.add(p * b.rs);
                    }
                }
                (panel.as_ptr(), K::NR)
            };
            for i0 in (0..m).step_by(K::MR) {
                let rows = K::MR.min(m - i0);
                let a_rows = View { ptr: a.ptr.add(i0 * a.rs), ..a };
                let corner = c.ptr.add(i0 * c.rs + j0 * c.cs);
                if c.cs == 1 && cols == K::NR {
                    K::tile(rows, k, a_rows, bp, b_rs, corner, c.rs);
                    continue;
                }
                for r in 0..rows {
                    for j in 0..cols {
                        edge[r * K::NR + j] = *corner.add(r * c.rs + j * c.cs);
                    }
                }
                K::tile(rows, k, a_rows, bp, b_rs, edge.as_mut_ptr(), K::NR);
                for r in 0..rows {
                    for j in 0..cols {
                        *corner.add(r * c.rs + j * c.cs) = edge[r * K::NR + j];
                    }
                }
            }
        }
    });
}

/// The reference kernel, one element at a time.
struct Scalar;

impl Kernel for Scalar {
    const MR: usize = 4;
    const NR: usize = 4;

    unsafe fn tile(rows: usize, k: usize, a: View, b: *const f32, b_rs: usize, c: *mut f32, c_rs: usize) {
        for r in 0..rows {
            for j in 0..Self::NR {
                let mut acc = *c.add(r * c_rs + j);
                for p in 0..k {
                    acc = (*a.ptr.add(r * a.rs + p * a.cs)).mul_add(*b.add(p * b_rs + j), acc);
                }
                *c.add(r * c_rs + j) = acc;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Kernel, View};
    use std::arch::x86_64::*;

    /// One SIMD kernel: `$mr` rows × `$nv` vectors of `$lanes` lanes held in registers. The row
    /// count is a const parameter so the compiler unrolls the rows and keeps every accumulator
    /// in a register; `tile` dispatches the edge rows to their exact count.
    macro_rules! simd_kernel {
        ($name:ident, $features:literal, $mr:literal, $nv:literal, $lanes:literal,
         $vec:ty, $load:ident, $store:ident, $splat:ident, $fma:ident, [$($r:literal)*]) => {
            pub struct $name;

            impl $name {
                #[target_feature(enable = $features)]
                unsafe fn rows<const R: usize>(k: usize, a: View, b: *const f32, b_rs: usize, c: *mut f32, c_rs: usize) {
                    let mut acc: [[$vec; $nv]; R] = [[std::mem::zeroed(); $nv]; R];
                    for r in 0..R {
                        for v in 0..$nv {
                            acc[r][v] = $load(c.add(r * c_rs + v * $lanes));
                        }
                    }
                    for p in 0..k {
                        let bp = b.add(p * b_rs);
                        let mut bv: [$vec; $nv] = [std::mem::zeroed(); $nv];
                        for v in 0..$nv {
                            bv[v] = $load(bp.add(v * $lanes));
                        }
                        let ap = a.ptr.add(p * a.cs);
                        for r in 0..R {
                            let x = $splat(*ap.add(r * a.rs));
                            for v in 0..$nv {
                                acc[r][v] = $fma(x, bv[v], acc[r][v]);
                            }
                        }
                    }
                    for r in 0..R {
                        for v in 0..$nv {
                            $store(c.add(r * c_rs + v * $lanes), acc[r][v]);
                        }
                    }
                }
            }

            impl Kernel for $name {
                const MR: usize = $mr;
                const NR: usize = $nv * $lanes;

                unsafe fn tile(rows: usize, k: usize, a: View, b: *const f32, b_rs: usize, c: *mut f32, c_rs: usize) {
                    match rows {
                        $($r => Self::rows::<{ $r }>(k, a, b, b_rs, c, c_rs),)*
                        _ => unreachable!("a tile has 1 to {} rows", $mr),
                    }
                }
            }
        };
    }

    /// Lanes l and l + 4, then l + 2, then l + 1 of the 8 partial sums left after the first
    /// pairing: the tail of [`super::DOT_LANES`]' fixed order.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn reduce8(s8: __m256) -> f32 {
        let s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
        _mm_cvtss_f32(s1)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(a: *const f32, b: *const f32, k: usize) -> f32 {
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for c in 0..k / 16 {
            lo = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(c * 16)), _mm256_loadu_ps(b.add(c * 16)), lo);
            hi = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(c * 16 + 8)), _mm256_loadu_ps(b.add(c * 16 + 8)), hi);
        }
        if !k.is_multiple_of(16) {
            let (ta, tb) = (super::tail(a, k), super::tail(b, k));
            lo = _mm256_fmadd_ps(_mm256_loadu_ps(ta.as_ptr()), _mm256_loadu_ps(tb.as_ptr()), lo);
            hi = _mm256_fmadd_ps(_mm256_loadu_ps(ta.as_ptr().add(8)), _mm256_loadu_ps(tb.as_ptr().add(8)), hi);
        }
        reduce8(_mm256_add_ps(lo, hi))
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn dot_avx512(a: *const f32, b: *const f32, k: usize) -> f32 {
        let mut acc = _mm512_setzero_ps();
        for c in 0..k / 16 {
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(c * 16)), _mm512_loadu_ps(b.add(c * 16)), acc);
        }
        if !k.is_multiple_of(16) {
            let (ta, tb) = (super::tail(a, k), super::tail(b, k));
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(ta.as_ptr()), _mm512_loadu_ps(tb.as_ptr()), acc);
        }
        let lo = _mm512_castps512_ps256(acc);
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
        reduce8(_mm256_add_ps(lo, hi))
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot4_avx2(a: *const f32, b: [*const f32; 4], k: usize) -> [f32; 4] {
        let mut acc = [[_mm256_setzero_ps(); 2]; 4];
        let mut chunk = |a: *const f32, b: [*const f32; 4]| {
            let (x0, x1) = (_mm256_loadu_ps(a), _mm256_loadu_ps(a.add(8)));
            for (acc, b) in acc.iter_mut().zip(b) {
                acc[0] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b), acc[0]);
                acc[1] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b.add(8)), acc[1]);
            }
        };
        for c in 0..k / 16 {
            chunk(a.add(c * 16), b.map(|b| b.add(c * 16)));
        }
        if !k.is_multiple_of(16) {
            let tails = b.map(|b| super::tail(b, k));
            chunk(super::tail(a, k).as_ptr(), [0, 1, 2, 3].map(|j| tails[j].as_ptr()));
        }
        acc.map(|[lo, hi]| reduce8(_mm256_add_ps(lo, hi)))
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn dot4_avx512(a: *const f32, b: [*const f32; 4], k: usize) -> [f32; 4] {
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut chunk = |a: *const f32, b: [*const f32; 4]| {
            let x = _mm512_loadu_ps(a);
            for (acc, b) in acc.iter_mut().zip(b) {
                *acc = _mm512_fmadd_ps(x, _mm512_loadu_ps(b), *acc);
            }
        };
        for c in 0..k / 16 {
            chunk(a.add(c * 16), b.map(|b| b.add(c * 16)));
        }
        if !k.is_multiple_of(16) {
            let tails = b.map(|b| super::tail(b, k));
            chunk(super::tail(a, k).as_ptr(), [0, 1, 2, 3].map(|j| tails[j].as_ptr()));
        }
        acc.map(|acc| {
            let lo = _mm512_castps512_ps256(acc);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
            reduce8(_mm256_add_ps(lo, hi))
        })
    }

    // AVX2: 6 rows × 2 vectors = 12 of the 16 ymm registers hold accumulators.
    simd_kernel!(Avx2, "avx2,fma", 6, 2, 8, __m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, [1 2 3 4 5 6]);
    // AVX-512: 12 rows × 2 vectors = 24 of the 32 zmm registers.
    simd_kernel!(
        Avx512,
        "avx512f,avx2,fma",
        12,
        2,
        16,
        __m512,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        [1 2 3 4 5 6 7 8 9 10 11 12]
    );
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

    /// The definition: each element one fma chain over p in order, from the old value or 0.
    fn chain(a: &[f32], b: &[f32], c: &[f32], m: usize, k: usize, n: usize, accumulate: bool) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = if accumulate { c[i * n + j] } else { 0.0 };
                for p in 0..k {
                    acc = a[i * k + p].mul_add(b[p * n + j], acc);
                }
                out[i * n + j] = acc;
            }
        }
        out
    }

    /// The definition for narrow outputs with A stored as is: 16 interleaved partial chains (k
    /// padded with zeros), summed pairwise, added to the old value or 0.
    fn dot16(a: &[f32], b: &[f32], c: &[f32], m: usize, k: usize, n: usize, accumulate: bool) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = [0.0f32; 16];
                for p in 0..k.div_ceil(16) * 16 {
                    let (x, y) = if p < k { (a[i * k + p], b[p * n + j]) } else { (0.0, 0.0) };
                    s[p % 16] = x.mul_add(y, s[p % 16]);
                }
                for w in [8, 4, 2, 1] {
                    for l in 0..w {
                        s[l] += s[l + w];
                    }
                }
                out[i * n + j] = if accumulate { c[i * n + j] } else { 0.0 } + s[0];
            }
        }
        out
    }

    /// Values spread over several binades, so that a different summation order would show.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..len).map(|_| (rng.normal() * 3.0f64.powf(rng.normal())) as f32).collect()
    }

    #[test]
    fn every_level_computes_the_defined_chain_bit_for_bit() {
        let levels: Vec<Simd> = Simd::ALL.into_iter().filter(|s| s.available()).collect();
        // Edges of every tile size, the narrow outputs (dot products, or the transposed tiles),
        // k = 1 and polyak's own shapes.
        let shapes = [
            (1, 1, 1),
            (1, 17, 256),
            (3, 7, 2),
            (13, 37, 29),
            (64, 23, 64),
            (256, 1, 256),
            (256, 256, 1),
            (25, 300, 6),
            (40, 256, 256),
            (7, 5, 40),
            (300, 33, 15),
            (20, 16, 1),
        ];
        for (case, &(m, k, n)) in shapes.iter().enumerate() {
            let a = values(m * k, 2 * case as u64);
            let b = values(k * n, 2 * case as u64 + 1);
            let c0 = values(m * n, 99);
            let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
            for accumulate in [false, true] {
                for &level in &levels {
                    use_simd(level).unwrap();
                    for (aa, al) in [(&a, Layout::AsIs), (&at, Layout::Transposed)] {
                        let want = if n < NARROW && m > n && al == Layout::AsIs {
                            dot16(&a, &b, &c0, m, k, n, accumulate)
                        } else {
                            chain(&a, &b, &c0, m, k, n, accumulate)
                        };
                        for (bb, bl) in [(&b, Layout::AsIs), (&bt, Layout::Transposed)] {
                            let mut out = c0.clone();
                            matmul(&mut out, aa, al, bb, bl, m, k, n, accumulate);
                            let same = out.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(same, "{m}×{k}×{n} {al:?}/{bl:?} accumulate={accumulate} at {level:?}");
                        }
                    }
                }
            }
        }
        use_simd(Simd::best()).unwrap();
        // A level this CPU lacks is refused, not run.
        for level in Simd::ALL.into_iter().filter(|s| !s.available()) {
            assert!(use_simd(level).is_err());
        }
        assert_eq!(Simd::parse("AVX-512"), Some(Simd::Avx512));
        assert_eq!(Simd::parse("sse"), None);
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
