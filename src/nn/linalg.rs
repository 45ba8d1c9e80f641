//! The one place polyak multiplies matrices: a small GEMM of its own, written so that **every
//! CPU computes the same bits**.
//!
//! Each output element is one chain of fused multiply-adds in a fixed order:
//! `acc = start; for p in 0..k { acc = fma(a[i][p], b[p][j], acc) }`, where `start` is 0, the
//! output's old value or a given row's `[j]` (a layer's bias), or two such chains from 0 over the
//! two halves of `k`, added (a weight gradient over a batch's halves; see [`Start`]). The SIMD kernels put different output
//! elements in different lanes and never split or reorder a chain, so the result does not depend
//! on the vector width (AVX-512, AVX2 or scalar), on cache sizes (`k` is never blocked) or on
//! which way round the product is tiled. A general-purpose GEMM (the `gemm` crate, BLAS, torch)
//! splits `k` by cache size and reduces across lanes, which is why the same seed used to give
//! different runs on different CPUs.
//!
//! Every matrix is a row-major `f32` slice; a transposed operand is read through swapped strides,
//! so no matrix is copied to be transposed (a narrow product transposes blocks of its left
//! operand in registers, see [`matmul`]; a product with k = 1 is one loop over the output).
//! Everything else in `nn` is written against [`matmul`].
//! It runs on the calling thread: at polyak's sizes (256-wide layers) threading inside one
//! product costs more in synchronisation than it gains; parallelism lives one level up (`algo`).

use super::elementwise::per_simd_level;
use crate::parallel::share;
use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// How an operand is stored relative to the logical matrix the product needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Stored exactly as used (row-major, `rows × cols`).
    AsIs,
    /// Stored transposed (row-major `cols × rows`); read through swapped strides.
    Transposed,
}

/// Where each output element's chain starts.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// From 0: `out = A·B`.
    Zero,
    /// From the output's old value: `out += A·B`.
    Old,
    /// Row `i` from `row[j]` (`row` has n values): `out = A·B + 1·rowᵀ`, a layer with its bias.
    Row(&'a [f32]),
    /// Two chains from 0, one over p < `split` and one over p ≥ `split`, added (first +
    /// second): `out = A[:, ..split]·B[..split] + A[:, split..]·B[split..]`. A weight gradient
    /// over a batch's two halves on one thread, with the bits of the halves run on two threads
    /// and added after (`mlp`), without a second output to add up.
    Halves(usize),
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

/// Floating-point operations (2 per multiply-add) of every product so far, in all threads: what
/// `polyak bench` divides by time for an update's useful GFLOP/s.
static FLOPS: AtomicU64 = AtomicU64::new(0);

/// The count behind [`FLOPS`].
pub fn flops_so_far() -> u64 {
    FLOPS.load(Ordering::Relaxed)
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

/// This core's f32 fused multiply-add peak at `level`, in GFLOP/s: twelve independent chains of
/// vector FMAs on registers (enough to hide the latency on both FMA pipes), nothing from memory.
/// The yardstick for the useful GFLOP/s `polyak bench` reports; it runs at whatever clock the
/// core has at the moment, as the updates do. The best of five bursts of ≈ 10 ms.
pub fn fma_peak_gflops(level: Simd) -> f64 {
    (0..5).map(|_| fma_burst_gflops(level, 2_000_000)).fold(0.0, f64::max)
}

/// One burst of `iters` steps of the twelve FMA chains of [`fma_peak_gflops`] on this thread, in
/// GFLOP/s: six cycles a step on a core with two FMA pipes, 0.6 ms per 400,000 steps at 4 GHz.
pub fn fma_burst_gflops(level: Simd, iters: usize) -> f64 {
    let lanes = match level {
        Simd::Scalar => 1,
        Simd::Avx2 => 8,
        Simd::Avx512 => 16,
    };
    let t = std::time::Instant::now();
    // SAFETY: the level is available (checked by the caller through `simd()` or `use_simd`).
    let sink = unsafe {
        match level {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => x86::fma_chains_avx512(iters),
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => x86::fma_chains_avx2(iters),
            _ => fma_chains_scalar(iters),
        }
    };
    std::hint::black_box(sink);
    (iters * 12 * lanes * 2) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn fma_chains_scalar(iters: usize) -> f32 {
    let mut acc = [0.0f32; 12];
    let (x, y) = (std::hint::black_box(0.999f32), std::hint::black_box(1e-3f32));
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(x, y);
        }
    }
    acc.iter().sum()
}

/// `out (m×n) = start + A (m×k) · B (k×n)`, each element one fused multiply-add chain over `k`
/// in order from its [`Start`] (see the module docs).
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
    start: Start,
) {
    matmul_rows(out, a, a_layout, b, b_layout, m, k, n, 0..m, start, false);
}

/// max(x, 0), with NaN and −0 mapping to +0: the one ReLU, in the kernels' stores and here.
pub fn relu(x: f32) -> f32 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// Rows `rows` of the product [`matmul`] defines, into `out`, which holds just those rows
/// (`rows.len() × n`); with `relu`, [`relu`] of each (a hidden layer's forward pass: the kernels
/// apply it as they store their tiles, so the output is written once). Every element is the same
/// chain as in the whole product, so threads that share out the rows of one product compute
/// exactly its bits.
#[allow(clippy::too_many_arguments)]
pub fn matmul_rows(
    out: &mut [f32],
    a: &[f32],
    a_layout: Layout,
    b: &[f32],
    b_layout: Layout,
    m: usize,
    k: usize,
    n: usize,
    rows: Range<usize>,
    start: Start,
    relu: bool,
) {
    assert!(rows.start <= rows.end && rows.end <= m, "matmul: rows {rows:?} of {m}");
    let (r0, m_part) = (rows.start, rows.len());
    assert!(out.len() >= m_part * n, "matmul: output {} < {m_part}×{n}", out.len());
    assert!(a.len() >= m * k, "matmul: lhs {} < {m}×{k}", a.len());
    assert!(b.len() >= k * n, "matmul: rhs {} < {k}×{n}", b.len());
    if m_part == 0 || n == 0 {
        return;
    }
    FLOPS.fetch_add(2 * (m_part * k * n) as u64, Ordering::Relaxed);
    let init = match start {
        Start::Zero => Init::Zero,
        Start::Old => Init::Load,
        Start::Row(row) => {
            assert!(row.len() >= n, "matmul: start row {} < {n}", row.len());
            Init::Row(row.as_ptr())
        }
        Start::Halves(split) => Init::Halves(split.min(k)),
    };
    if k == 0 {
        // No products: every chain is its start.
        for out_row in out[..m_part * n].chunks_exact_mut(n) {
            match start {
                Start::Zero | Start::Halves(_) => out_row.fill(0.0),
                Start::Old => {}
                Start::Row(row) => out_row.copy_from_slice(&row[..n]),
            }
            if relu {
                out_row.iter_mut().for_each(|v| *v = self::relu(*v));
            }
        }
        return;
    }
    if k == 1 && !matches!(start, Start::Halves(_)) {
        // One term: A's one column and B's one row are contiguous, stored as is or transposed.
        outer(&mut out[..m_part * n], &a[r0..r0 + m_part], &b[..n], start, relu);
        return;
    }
    // (row stride, column stride) of each operand, in elements; A starts at row `r0`.
    let a_view = match a_layout {
        Layout::AsIs => View { ptr: a[r0 * k..].as_ptr(), rs: k, cs: 1 },
        Layout::Transposed => View { ptr: a[r0..].as_ptr(), rs: 1, cs: m },
    };
    let b_view = match b_layout {
        Layout::AsIs => View { ptr: b.as_ptr(), rs: n, cs: 1 },
        Layout::Transposed => View { ptr: b.as_ptr(), rs: 1, cs: k },
    };
    let c = Out { ptr: out.as_mut_ptr(), rs: n, cs: 1, relu };
    let m = m_part;
    // Lanes run along the output's columns. A narrow output (a critic's 1-wide or an actor's last
    // layer) puts its rows in the lanes instead: when A is stored transposed that is the product
    // of the transposes, Cᵀ = Bᵀ·Aᵀ, on the same tiles; when A is stored as is, `narrow`
    // transposes blocks of A in registers as it goes. Either way each element's chain is the same
    // products in the same order.
    let level = simd();
    // The narrow kernels run one chain per element: two halves go through the tiles.
    let halves = matches!(init, Init::Halves(_));
    // SAFETY: the asserts above bound every element the views describe: A's rows `rows` (of m×k),
    // B (k×n) and C (m_part×n) lie inside their slices, and `out` is borrowed mutably for the
    // whole call.
    unsafe {
        if n < NARROW && m > n {
            let c_t = Out { ptr: c.ptr, rs: c.cs, cs: c.rs, relu };
            match (a_layout, level) {
                #[cfg(target_arch = "x86_64")]
                (Layout::AsIs, Simd::Avx512) if !halves => x86::narrow_avx512(m, k, n, a_view.ptr, b_view, c.ptr, init),
                #[cfg(target_arch = "x86_64")]
                (Layout::AsIs, Simd::Avx2) if !halves => x86::narrow_avx2(m, k, n, a_view.ptr, b_view, c.ptr, init),
                _ => return product(level, n, k, m, b_view.transposed(), a_view.transposed(), c_t, init.transposed()),
            }
            // The narrow kernels store plain chains.
            if relu {
                out[..m * n].iter_mut().for_each(|v| *v = self::relu(*v));
            }
        } else {
            product(level, m, k, n, a_view, b_view, c, init);
        }
    }
}

per_simd_level! {
    /// A product with k = 1, an outer product (a critic's δ through its 1-wide output layer):
    /// `out[r][c]` = the fma `a[r]·b[c] + start`, the chain of one term (each row of `out` is
    /// `b.len()` wide). A loop over the output rather than the tiles, whose set-up, stores and
    /// prefetches per tile cost many times one FMA: at 256×1×256 on Zen 4, 4.6 and 5.2 µs a
    /// product at AVX-512 and AVX2, against 7.5 and 16.7 through the tiles.
    fn outer(out: &mut [f32], a: &[f32], b: &[f32], start: Start, relu: bool) {
        for (row, &x) in out.chunks_exact_mut(b.len()).zip(a) {
            match start {
                Start::Zero => row.iter_mut().zip(b).for_each(|(o, &y)| *o = x.mul_add(y, 0.0)),
                Start::Old => row.iter_mut().zip(b).for_each(|(o, &y)| *o = x.mul_add(y, *o)),
                Start::Row(s) => row.iter_mut().zip(b).zip(s).for_each(|((o, &y), &s)| *o = x.mul_add(y, s)),
                Start::Halves(_) => unreachable!("two halves of one term go through the tiles"),
            }
            if relu {
                row.iter_mut().for_each(|v| *v = self::relu(*v));
            }
        }
    }
}

/// Outputs narrower than this, with more rows than columns, have their rows in the lanes.
const NARROW: usize = 16;

/// Asks for the cache lines of a tile of C (`rows` ≤ `mr` rows from `first`, `rs` apart, `lines`
/// ≤ `max_lines` lines from each row's start) to be fetched for writing while the current tile
/// computes. An update's outputs were last touched an update ago, so their lines sit in L3 or
/// memory, and a tile with a short chain (a first layer's 17–23 inputs) otherwise waits on its
/// stores: this gave one-thread updates 4–6%. `mr` and `max_lines` are the kernel's constants, so
/// both loops unroll to a row of prefetches; over a tile's rows and columns as counted at run
/// time, they compiled to a loop of some 190 instructions (docs/speed.md, "A tile's own cost").
#[inline(always)]
unsafe fn prefetch_for_writing(first: *mut f32, rs: usize, rows: usize, mr: usize, lines: usize, max_lines: usize) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (first, rs, rows, mr, lines, max_lines);
    #[cfg(target_arch = "x86_64")]
    for r in 0..mr {
        for l in 0..max_lines {
            if r < rows && l < lines {
                let line = first.add(r * rs + l * 16) as *const i8;
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(line);
            }
        }
    }
}

/// Asks for columns `j0..j0 + cols` of B's rows `rows` (B stored as is) to be fetched into L2:
/// the next panel a kernel that copies its panels will copy ([`Kernel::PACK`]).
#[inline(always)]
unsafe fn prefetch_rows(b: View, rows: Range<usize>, j0: usize, cols: usize) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (b, rows, j0, cols);
    #[cfg(target_arch = "x86_64")]
    for p in rows {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        let first = b.ptr.add(p * b.rs + j0);
        _mm_prefetch::<_MM_HINT_T1>(first as *const i8);
        _mm_prefetch::<_MM_HINT_T1>(first.add(cols - 1) as *const i8);
    }
}

/// Runs the product at `level`.
#[allow(clippy::too_many_arguments)]
unsafe fn product(level: Simd, m: usize, k: usize, n: usize, a: View, b: View, c: Out, init: Init) {
    match level {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => tiles::<x86::Avx512>(m, k, n, a, b, c, init),
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => tiles::<x86::Avx2>(m, k, n, a, b, c, init),
        _ => tiles::<Scalar>(m, k, n, a, b, c, init),
    }
}

/// Where a kernel's accumulators start (a [`Start`] as pointers, for the tile at hand).
#[derive(Clone, Copy)]
enum Init {
    Zero,
    /// From C itself.
    Load,
    /// Column j from `p[j]`.
    Row(*const f32),
    /// Row r from `p[r]` (a `Row` start of the transposed product).
    Col(*const f32),
    /// From 0, in two chains split at p = the value (≤ k), added.
    Halves(usize),
}

impl Init {
    /// The same starts for the transposed output.
    fn transposed(self) -> Init {
        match self {
            Init::Row(p) => Init::Col(p),
            Init::Col(p) => Init::Row(p),
            other => other,
        }
    }

    /// The starts of the tile whose top-left output is (i0, j0).
    unsafe fn at(self, i0: usize, j0: usize) -> Init {
        match self {
            Init::Row(p) => Init::Row(p.add(j0)),
            Init::Col(p) => Init::Col(p.add(i0)),
            other => other,
        }
    }

    /// The start of element (r, j) of a tile (C's old value passed in `old`).
    unsafe fn value(self, r: usize, j: usize, old: f32) -> f32 {
        match self {
            Init::Zero | Init::Halves(_) => 0.0,
            Init::Load => old,
            Init::Row(p) => *p.add(j),
            Init::Col(p) => *p.add(r),
        }
    }
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

/// One column panel of a product for [`Kernel::panel`]: the row tile at i0 reads A from
/// `a.ptr + i0·a_step` and the panel of B at `b` (row stride `b_rs`, `cols` columns), and
/// writes C from `c + i0·c_rs`, its chains starting from `init.at(i0, 0)`, after
/// [`Panel::before`].
#[derive(Clone, Copy)]
struct Panel {
    a: View,
    a_step: usize,
    b: *const f32,
    b_rs: usize,
    cols: usize,
    c: *mut f32,
    c_rs: usize,
    init: Init,
    relu: bool,
    /// The next panel of B to fetch into L2, when the kernel copies its panels.
    next: Option<NextPanel>,
    /// Where the first row tile copies the panel of B as it reads it (row p at `copy + p·NR`),
    /// for the tiles after it to read instead ([`Kernel::COPY_AS_READ`]); null for none.
    copy: *mut f32,
}

/// The next panel of B (stored as is) that a kernel copying its panels will copy: B, the
/// panel's first column and width, chains of `k`, and how many of B's rows each tile fetches.
#[derive(Clone, Copy)]
struct NextPanel {
    b: View,
    j0: usize,
    cols: usize,
    k: usize,
    per_tile: usize,
}

impl NextPanel {
    /// Tile t's share of the panel's rows, on their way to L2 while it computes.
    #[inline(always)]
    unsafe fn fetch(&self, t: usize) {
        let (per, k) = (self.per_tile, self.k);
        prefetch_rows(self.b, (t * per).min(k)..((t + 1) * per).min(k), self.j0, self.cols);
    }
}

impl Panel {
    /// A's rows of the tile at i0.
    unsafe fn a_at(&self, i0: usize) -> View {
        View { ptr: self.a.ptr.add(i0 * self.a_step), ..self.a }
    }

    /// C's first output of the tile at i0.
    unsafe fn c_at(&self, i0: usize) -> *mut f32 {
        self.c.add(i0 * self.c_rs)
    }

    /// Cache lines one row of a tile's outputs can touch: its columns' bytes, and one more
    /// when a row may start inside a line.
    fn c_lines(&self) -> usize {
        let aligned = (self.c as usize | (self.c_rs * 4)).is_multiple_of(64);
        (self.cols * 4).div_ceil(64) + usize::from(!aligned)
    }

    /// Before the tile at i0 (tiles of K's MR rows, `m` in all; its rows' outputs `lines` cache
    /// lines long, [`Panel::c_lines`]): its share of the next panel of B, and the next tile's
    /// outputs, so that its stores find their lines.
    ///
    /// Always inlined, and a method rather than a closure the caller passes: two throwaway
    /// changes that left such a closure out of the kernel's loop (passing it by reference; a
    /// loop of prefetches in it) moved the tile's accumulators to the stack, cleared by a
    /// `memset` per tile, and made the products 2.5× slower (Zen 5, 256³: 70–80 against
    /// 180–220 GFLOP/s).
    #[inline(always)]
    unsafe fn before<K: Kernel + ?Sized>(&self, i0: usize, m: usize, lines: usize) {
        if let Some(next) = self.next {
            next.fetch(i0 / K::MR);
        }
        let after = i0 + K::MR;
        if after < m {
            let max_lines = (K::NR * 4).div_ceil(64) + 1;
            prefetch_for_writing(self.c_at(after), self.c_rs, K::MR.min(m - after), K::MR, lines, max_lines);
        }
    }
}

/// The output, strided the same way; with `relu`, [`relu`] is applied as it is stored.
#[derive(Clone, Copy)]
struct Out {
    ptr: *mut f32,
    rs: usize,
    cs: usize,
    relu: bool,
}

/// A register tile: `rows` (≤ MR) output rows × NR columns, accumulated in registers over all of
/// `k`.
trait Kernel {
    const MR: usize;
    const NR: usize;
    /// Columns per vector register.
    const LANES: usize;
    /// Whether [`tiles`] copies the panels of B, even ones whose rows are contiguous, and A
    /// into slivers of MR rows when A is stored transposed (each only when it will be read more
    /// than once). A kernel with narrow panels wants this: a 16-wide AVX2 panel read in place
    /// is one cache line from each row of B, a whole row (1 KB at 256 columns) apart, and lines
    /// that far apart fall into a few of L1's sets and evict each other, so every tile reads its
    /// panel from L2 again; a transposed A is likewise one line per step for 6 values. Copied,
    /// the panel (16 KB at k = 256) stays in L1 and a sliver is one contiguous stream.
    /// AVX-512's panels (64 columns: 64 KB at k = 256) outgrow L1 either way, and copying them
    /// in a pass of their own measured 2–3% slower (as 96-wide panels, with the 4-row tiles
    /// before): that kernel copies as it reads ([`Kernel::COPY_AS_READ`]).
    const PACK: bool = false;
    /// Whether a panel of B whose rows are contiguous is copied by its first row tile as that
    /// tile reads it (four more stores per step, beside its 24 FMAs), the other tiles reading the
    /// copy: one contiguous stream of 256-byte rows, where B's own rows of the panel are a whole
    /// row of B apart (1 KB at 256 columns) and fall into a few of L1's sets, as do the lines of
    /// a transposed A they share L1 with. AVX-512 updates gained 11–13% with the 4-row tiles
    /// (docs/speed.md, "Copies as read") and gain 1.005–1.011× with today's 6-row ones, which read a
    /// third less of B per FMA ("Six rows of 64"); AVX2, whose panels are copied in a pass of
    /// their own ([`Kernel::PACK`]) while the previous panel's tiles prefetch them, measured
    /// 1.00–1.02× with this instead.
    const COPY_AS_READ: bool = false;
    /// `C[rows × cols] = init + A[rows × k] · B[k × cols]` (`cols` ≤ NR), each element one fma
    /// chain over p = 0..k in order. A is read through its strides; row p of B starts at
    /// `b + p·b_rs` and row r of C at `c + r·c_rs`, each `cols` contiguous values: nothing past
    /// them is read or written (masked loads and stores, so a ragged last panel needs no copy).
    /// A `Row` start is read likewise, its first `cols` values. A `Halves` start runs each
    /// element's two chains one after the other, the first waiting in C meanwhile. With `relu`,
    /// each value is stored as [`relu`] of its chain.
    ///
    /// # Safety
    /// The CPU supports the kernel's instructions; the pointers cover what they describe.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        rows: usize,
        k: usize,
        a: View,
        b: *const f32,
        b_rs: usize,
        cols: usize,
        c: *mut f32,
        c_rs: usize,
        init: Init,
        relu: bool,
    );

    /// Every row tile of one column panel `p` (`m` rows, chains of `k`), top to bottom, each
    /// after [`Panel::before`].
    ///
    /// # Safety
    /// As for `tile`, for every tile.
    unsafe fn panel(m: usize, k: usize, p: Panel) {
        let lines = p.c_lines();
        for i0 in (0..m).step_by(Self::MR) {
            p.before::<Self>(i0, m, lines);
            Self::tile(
                Self::MR.min(m - i0),
                k,
                p.a_at(i0),
                p.b,
                p.b_rs,
                p.cols,
                p.c_at(i0),
                p.c_rs,
                p.init.at(i0, 0),
                p.relu,
            );
        }
    }

    /// Copies columns `j0..j0 + cols` of B (k rows) into `dst`, row p at `dst + p·NR`: the panel
    /// a tile reads when B's rows are not contiguous. The columns past `cols` are left as they
    /// are: tiles of a ragged panel never read them.
    ///
    /// # Safety
    /// As for `tile`; `dst` holds k·NR values.
    unsafe fn pack(k: usize, b: View, j0: usize, cols: usize, dst: *mut f32) {
        pack_columns(k, b, j0, 0..cols, Self::NR, dst);
    }

    /// A (m × k, stored transposed: `rs` = 1) into slivers of MR rows, sliver i0/MR at
    /// `dst + i0·k`, MR values per p (the last sliver's rows past m left as they are).
    ///
    /// # Safety
    /// `dst` holds m rounded up to MR, times k values.
    unsafe fn pack_slivers(m: usize, k: usize, a: View, dst: *mut f32) {
        for i0 in (0..m).step_by(Self::MR) {
            let out = dst.add(i0 * k);
            let rows = Self::MR.min(m - i0);
            for p in 0..k {
                let src = a.ptr.add(i0 + p * a.cs);
                // A count known at compile time copies in a few moves, not a `memmove` call.
                if rows == Self::MR {
                    std::ptr::copy_nonoverlapping(src, out.add(p * Self::MR), Self::MR);
                } else {
                    std::ptr::copy_nonoverlapping(src, out.add(p * Self::MR), rows);
                }
            }
        }
    }
}

/// Columns `j0 + js` of B into a panel of row stride `nr`, one value at a time, down each column
/// (contiguous reads when B is stored transposed).
unsafe fn pack_columns(k: usize, b: View, j0: usize, js: Range<usize>, nr: usize, dst: *mut f32) {
    for j in js {
        let src = b.ptr.add((j0 + j) * b.cs);
        for p in 0..k {
            *dst.add(p * nr + j) = *src.add(p * b.rs);
        }
    }
}

/// Column panels of up to NR outputs, each panel over every row tile. A panel of B is read in
/// place when its rows are contiguous (unless the kernel asks for copies, [`Kernel::PACK`]; and
/// copied into a thread's scratch on the way by the first tile, [`Kernel::COPY_AS_READ`]),
/// otherwise copied into that scratch first; a tile of C is written in place when its rows are
/// contiguous, otherwise through a small buffer. Copies move values, so the chains are the same.
unsafe fn tiles<K: Kernel>(m: usize, k: usize, n: usize, a: View, b: View, c: Out, init: Init) {
    /// A thread's copies of B's panel and of A's slivers, kept for the next product.
    struct Scratch {
        panel: Vec<f32>,
        slivers: Vec<f32>,
    }
    thread_local! {
        static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch { panel: Vec::new(), slivers: Vec::new() }) };
    }
    SCRATCH.with_borrow_mut(|Scratch { panel, slivers }| {
        let mut edge = [0.0f32; 16 * 32];
        // Panels as even as whole vectors allow: at 64 columns a panel, 400 columns make panels of
        // 3 and 4 vectors (48 and 64 columns), not six of 64 and one of 16, whose last panel
        // would run one vector per row at a fraction of the speed.
        let vectors = n.div_ceil(K::LANES);
        let panels = vectors.div_ceil(K::NR / K::LANES);
        let columns = |q: usize| {
            let v = share(vectors, q, panels);
            v.start * K::LANES..(v.end * K::LANES).min(n)
        };
        // A copy pays when it is read more than once: a panel of B by more than one row tile, A's
        // slivers by more than one panel. (One row, a single observation acting, copied all of
        // B for nothing: 3× the time of an AVX2 action.)
        let (pack_a, pack_b) = (K::PACK && a.rs == 1 && panels > 1, K::PACK && m > K::MR);
        // Read in place, a panel is copied as read only when more tiles follow (and write C in
        // place: the tiles of a transposed C take another path).
        let copy_as_read = K::COPY_AS_READ && b.cs == 1 && m > K::MR && c.cs == 1;
        let in_place = b.cs == 1 && (copy_as_read || !pack_b);
        if pack_a {
            let len = m.next_multiple_of(K::MR) * k;
            if slivers.len() < len {
                slivers.resize(len, 0.0);
            }
            K::pack_slivers(m, k, a, slivers.as_mut_ptr());
        }
        for q in 0..panels {
            let here = columns(q);
            let (j0, cols) = (here.start, here.len());
            if (copy_as_read || !in_place) && panel.len() < k * K::NR {
                panel.resize(k * K::NR, 0.0);
            }
            let (bp, b_rs, copy) = if in_place {
                let copy = if copy_as_read { panel.as_mut_ptr() } else { std::ptr::null_mut() };
                (b.ptr.add(j0), b.rs, copy)
            } else {
                K::pack(k, b, j0, cols, panel.as_mut_ptr());
                (panel.as_ptr(), K::NR, std::ptr::null_mut())
            };
            let (a0, a_step) = if pack_a { (View { ptr: slivers.as_ptr(), rs: 1, cs: K::MR }, k) } else { (a, a.rs) };
            // A copied panel's successor is fetched into L2 by the tiles before it, a share each.
            let next = (pack_b && b.cs == 1 && q + 1 < panels).then(|| NextPanel {
                b,
                j0: columns(q + 1).start,
                cols: columns(q + 1).len(),
                k,
                per_tile: k.div_ceil(m.div_ceil(K::MR)),
            });
            if c.cs == 1 {
                // C's rows are contiguous: the kernel runs down the panel, writing in place.
                let p = Panel {
                    a: a0,
                    a_step,
                    b: bp,
                    b_rs,
                    cols,
                    c: c.ptr.add(j0),
                    c_rs: c.rs,
                    init: init.at(0, j0),
                    relu: c.relu,
                    next,
                    copy,
                };
                K::panel(m, k, p);
                continue;
            }
            // Otherwise each tile goes through a small buffer.
            for i0 in (0..m).step_by(K::MR) {
                if let Some(next) = next {
                    next.fetch(i0 / K::MR);
                }
                let rows = K::MR.min(m - i0);
                let a_rows = View { ptr: a0.ptr.add(i0 * a_step), ..a0 };
                let corner = c.ptr.add(i0 * c.rs + j0 * c.cs);
                let init = init.at(i0, j0);
                if let Init::Load = init {
                    for r in 0..rows {
                        for j in 0..cols {
                            edge[r * K::NR + j] = *corner.add(r * c.rs + j * c.cs);
                        }
                    }
                }
                K::tile(rows, k, a_rows, bp, b_rs, cols, edge.as_mut_ptr(), K::NR, init, c.relu);
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
    const LANES: usize = 1;

    unsafe fn tile(
        rows: usize,
        k: usize,
        a: View,
        b: *const f32,
        b_rs: usize,
        cols: usize,
        c: *mut f32,
        c_rs: usize,
        init: Init,
        relu: bool,
    ) {
        for r in 0..rows {
            for j in 0..cols {
                let chain = |from: f32, ps: Range<usize>| {
                    ps.fold(from, |acc, p| (*a.ptr.add(r * a.rs + p * a.cs)).mul_add(*b.add(p * b_rs + j), acc))
                };
                let acc = match init {
                    Init::Halves(split) => chain(0.0, 0..split) + chain(0.0, split..k),
                    _ => chain(init.value(r, j, *c.add(r * c_rs + j)), 0..k),
                };
                *c.add(r * c_rs + j) = if relu { self::relu(acc) } else { acc };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Init, Kernel, Panel, View};
    use std::arch::x86_64::*;

    /// One SIMD kernel: up to `$mr` rows × `$nv` vectors of `$lanes` lanes held in registers.
    /// Rows and vectors are const parameters so the compiler unrolls both and keeps every
    /// accumulator in a register; `tile` dispatches an edge tile to its exact row count and to
    /// as many vectors as its columns fill (only the last one masked when they do not fill it).
    macro_rules! simd_kernel {
        ($name:ident, $features:literal, $pack:literal, $mr:literal, $nv:literal, $lanes:literal,
         $vec:ty, $load:ident, $load_first:ident, $store:ident, $store_first:ident, $splat:ident, $fma:ident,
         $max:ident, $add:ident, $columns:ident,
         [$($r:literal)*], [$($v:literal)*]) => {
            pub struct $name;

            impl $name {
                /// `Kernel::pack` with B stored transposed (each column contiguous): square blocks
                /// of `lanes` columns × `lanes` rows transposed in registers.
                #[target_feature(enable = $features)]
                unsafe fn pack_transposed(k: usize, b: View, j0: usize, cols: usize, dst: *mut f32) {
                    let (nr, whole_k) = ($nv * $lanes, k - k % $lanes);
                    let whole_cols = cols - cols % $lanes;
                    for jb in (0..whole_cols).step_by($lanes) {
                        let src = b.ptr.add((j0 + jb) * b.cs);
                        for p0 in (0..whole_k).step_by($lanes) {
                            for (q, row) in $columns(src.add(p0), b.cs).into_iter().enumerate() {
                                $store(dst.add((p0 + q) * nr + jb), row);
                            }
                        }
                        let rest = View { ptr: b.ptr.add(whole_k), ..b };
                        super::pack_columns(k - whole_k, rest, j0, jb..jb + $lanes, nr, dst.add(whole_k * nr));
                    }
                    super::pack_columns(k, b, j0, whole_cols..cols, nr, dst);
                }

                /// `Kernel::pack` of a whole panel of B stored as is: each row's vectors copied.
                #[target_feature(enable = $features)]
                unsafe fn pack_rows(k: usize, b: View, j0: usize, dst: *mut f32) {
                    for p in 0..k {
                        let (src, out) = (b.ptr.add(p * b.rs + j0), dst.add(p * $nv * $lanes));
                        for v in 0..$nv {
                            $store(out.add(v * $lanes), $load(src.add(v * $lanes)));
                        }
                    }
                }

                /// A tile of `R` rows: to the vectors its `cols` columns fill.
                #[target_feature(enable = $features)]
                #[allow(clippy::too_many_arguments)]
                unsafe fn vectors<const R: usize>(
                    k: usize,
                    a: View,
                    b: *const f32,
                    b_rs: usize,
                    cols: usize,
                    c: *mut f32,
                    c_rs: usize,
                    init: Init,
                    relu: bool,
                ) {
                    let ragged = cols % $lanes != 0;
                    match (cols.div_ceil($lanes), ragged) {
                        $(($v, false) => Self::rows::<R, $v, false, false>(k, a, b, b_rs, cols, c, c_rs, init, relu, std::ptr::null_mut()),
                          ($v, true) => Self::rows::<R, $v, true, false>(k, a, b, b_rs, cols, c, c_rs, init, relu, std::ptr::null_mut()),)*
                        _ => unreachable!("a tile has 1 to {} columns", $nv * $lanes),
                    }
                }

                /// `Kernel::panel` for `V` vectors: the whole tiles in one loop with the tile
                /// inlined, so a tile costs no call. (AVX2 runs 4× AVX-512's tiles for the same
                /// work; one call per tile took 2–5% of its updates.)
                #[target_feature(enable = $features)]
                unsafe fn panel_of<const V: usize, const RAGGED: bool>(m: usize, k: usize, mut p: Panel) {
                    let (whole, lines) = (m - m % $mr, p.c_lines());
                    let mut first = 0;
                    if !p.copy.is_null() && whole > 0 {
                        // The first tile reads B in place and copies it; the others read the copy.
                        p.before::<Self>(0, m, lines);
                        let (a, c, init) = (p.a_at(0), p.c_at(0), p.init.at(0, 0));
                        Self::rows::<$mr, V, RAGGED, true>(k, a, p.b, p.b_rs, p.cols, c, p.c_rs, init, p.relu, p.copy);
                        (p.b, p.b_rs, first) = (p.copy, $nv * $lanes, $mr);
                    }
                    for i0 in (first..whole).step_by($mr) {
                        p.before::<Self>(i0, m, lines);
                        let (a, c, init) = (p.a_at(i0), p.c_at(i0), p.init.at(i0, 0));
                        let none = std::ptr::null_mut();
                        Self::rows::<$mr, V, RAGGED, false>(k, a, p.b, p.b_rs, p.cols, c, p.c_rs, init, p.relu, none);
                    }
                    if whole < m {
                        p.before::<Self>(whole, m, lines);
                        let (a, c, init) = (p.a_at(whole), p.c_at(whole), p.init.at(whole, 0));
                        <Self as Kernel>::tile(m - whole, k, a, p.b, p.b_rs, p.cols, c, p.c_rs, init, p.relu);
                    }
                }

                /// Vector v of a tile's row at `p` (of B, C or a start): all `lanes` values, but
                /// for the last vector of a RAGGED tile only its first columns (zeros after,
                /// nothing past them read).
                #[inline(always)]
                unsafe fn load_cols<const V: usize, const RAGGED: bool>(p: *const f32, v: usize, cols: usize) -> $vec {
                    if RAGGED && v + 1 == V {
                        $load_first(p.add(v * $lanes), cols - v * $lanes)
                    } else {
                        $load(p.add(v * $lanes))
                    }
                }

                /// Stores vector v of a tile's row of C at `p`, as [`Self::load_cols`] reads it.
                #[inline(always)]
                unsafe fn store_cols<const V: usize, const RAGGED: bool>(p: *mut f32, v: usize, cols: usize, x: $vec) {
                    if RAGGED && v + 1 == V {
                        $store_first(p.add(v * $lanes), cols - v * $lanes, x)
                    } else {
                        $store(p.add(v * $lanes), x)
                    }
                }

                /// One step of a tile's chains: B's row at `bp` times A's values at `ap + r·rs`
                /// (row r), added to each accumulator by one FMA. Returns B's row, for a tile that
                /// copies it.
                #[inline(always)]
                unsafe fn step<const R: usize, const V: usize, const RAGGED: bool>(
                    acc: &mut [[$vec; V]; R],
                    bp: *const f32,
                    ap: *const f32,
                    rs: usize,
                    cols: usize,
                ) -> [$vec; V] {
                    let mut bv: [$vec; V] = [std::mem::zeroed(); V];
                    for v in 0..V {
                        bv[v] = Self::load_cols::<V, RAGGED>(bp, v, cols);
                    }
                    for r in 0..R {
                        let x = $splat(*ap.add(r * rs));
                        for v in 0..V {
                            acc[r][v] = $fma(x, bv[v], acc[r][v]);
                        }
                    }
                    bv
                }

                /// Steps `from..to` of a tile's chains, in order. Where A's next step is a fixed
                /// distance on (1: A as is; MR: A in slivers) they run four a pass
                /// ([`Self::fours`]); otherwise one at a time, as they do in a tile that copies B
                /// as it reads it (COPY: each row of B it reads also stored at `copy`, row p at
                /// `copy + p·NR`, whole vectors: a RAGGED tile's zeros too).
                #[inline(always)]
                #[allow(clippy::too_many_arguments)]
                unsafe fn chain<const R: usize, const V: usize, const RAGGED: bool, const COPY: bool>(
                    acc: &mut [[$vec; V]; R],
                    from: usize,
                    to: usize,
                    a: View,
                    b: *const f32,
                    b_rs: usize,
                    cols: usize,
                    copy: *mut f32,
                ) {
                    if !COPY && a.cs == 1 {
                        Self::fours::<R, V, RAGGED, 1>(acc, from, to, a.ptr, a.rs, b, b_rs, cols);
                    } else if !COPY && a.rs == 1 && a.cs == $mr {
                        Self::fours::<R, V, RAGGED, $mr>(acc, from, to, a.ptr, 1, b, b_rs, cols);
                    } else {
                        for p in from..to {
                            let bv = Self::step::<R, V, RAGGED>(acc, b.add(p * b_rs), a.ptr.add(p * a.cs), a.rs, cols);
                            if COPY {
                                for v in 0..V {
                                    $store(copy.add(p * $nv * $lanes + v * $lanes), bv[v]);
                                }
                            }
                        }
                    }
                }

                /// Steps `from..to` of a tile's chains four a pass, then the last one to three,
                /// where A's next step is `CS` values on (1: A as is, its rows `rs` apart; MR: A
                /// in slivers, `rs` = 1). Every value a pass reads is then a fixed offset from A's
                /// and B's pointers, so a step costs its loads and FMAs and little else: an AVX2
                /// tile's step of 12 FMAs took 28–31 instructions one at a time with A's strides
                /// unknown, and takes 21.5–22.5 here, which made AVX2 updates 1.04–1.09× faster
                /// (docs/speed.md, "Four steps a pass"). Each chain's steps and their order are
                /// the single steps'.
                #[inline(always)]
                #[allow(clippy::too_many_arguments)]
                unsafe fn fours<const R: usize, const V: usize, const RAGGED: bool, const CS: usize>(
                    acc: &mut [[$vec; V]; R],
                    from: usize,
                    to: usize,
                    a: *const f32,
                    rs: usize,
                    b: *const f32,
                    b_rs: usize,
                    cols: usize,
                ) {
                    let (mut ap, mut bp) = (a.add(from * CS), b.add(from * b_rs));
                    for _ in 0..(to - from) / 4 {
                        for u in 0..4 {
                            Self::step::<R, V, RAGGED>(acc, bp.add(u * b_rs), ap.add(u * CS), rs, cols);
                        }
                        (ap, bp) = (ap.add(4 * CS), bp.add(4 * b_rs));
                    }
                    for u in 0..(to - from) % 4 {
                        Self::step::<R, V, RAGGED>(acc, bp.add(u * b_rs), ap.add(u * CS), rs, cols);
                    }
                }

                /// A tile of `R` rows and `V` vectors. Always inlined, into callers that enable
                /// the level's features (`vectors`, `panel_of`), which compile its intrinsics.
                /// With COPY, every row of B it reads is also stored at `copy` ([`Self::chain`]).
                #[inline(always)]
                #[allow(clippy::too_many_arguments)]
                unsafe fn rows<const R: usize, const V: usize, const RAGGED: bool, const COPY: bool>(
                    k: usize,
                    a: View,
                    b: *const f32,
                    b_rs: usize,
                    cols: usize,
                    c: *mut f32,
                    c_rs: usize,
                    init: Init,
                    relu: bool,
                    copy: *mut f32,
                ) {
                    let load_cols = |p: *const f32, v: usize| Self::load_cols::<V, RAGGED>(p, v, cols);
                    let store_cols = |p: *mut f32, v: usize, x: $vec| Self::store_cols::<V, RAGGED>(p, v, cols, x);
                    let mut acc: [[$vec; V]; R] = [[std::mem::zeroed(); V]; R];
                    for r in 0..R {
                        for v in 0..V {
                            acc[r][v] = match init {
                                Init::Zero => $splat(0.0),
                                Init::Load => load_cols(c.add(r * c_rs), v),
                                Init::Row(p) => load_cols(p, v),
                                Init::Col(p) => $splat(*p.add(r)),
                                Init::Halves(_) => $splat(0.0),
                            };
                        }
                    }
                    // Two halves: the first half's chains wait in C while the second's run. Only a
                    // first half with steps runs: an empty one set up the step loops once more.
                    let split = if let Init::Halves(split) = init { split } else { 0 };
                    if split > 0 {
                        Self::chain::<R, V, RAGGED, COPY>(&mut acc, 0, split, a, b, b_rs, cols, copy);
                        for r in 0..R {
                            for v in 0..V {
                                store_cols(c.add(r * c_rs), v, acc[r][v]);
                                acc[r][v] = $splat(0.0);
                            }
                        }
                    }
                    Self::chain::<R, V, RAGGED, COPY>(&mut acc, split, k, a, b, b_rs, cols, copy);
                    if let Init::Halves(_) = init {
                        // first + second (an empty first half is 0)
                        for r in 0..R {
                            for v in 0..V {
                                let first = if split > 0 { load_cols(c.add(r * c_rs), v) } else { $splat(0.0) };
                                acc[r][v] = $add(first, acc[r][v]);
                            }
                        }
                    }
                    if relu {
                        // max(x, 0) returns its second operand for NaN and ±0: `relu` exactly.
                        for r in 0..R {
                            for v in 0..V {
                                acc[r][v] = $max(acc[r][v], $splat(0.0));
                            }
                        }
                    }
                    for r in 0..R {
                        for v in 0..V {
                            store_cols(c.add(r * c_rs), v, acc[r][v]);
                        }
                    }
                }
            }

            impl Kernel for $name {
                const PACK: bool = $pack;
                const COPY_AS_READ: bool = !$pack;
                const MR: usize = $mr;
                const NR: usize = $nv * $lanes;
                const LANES: usize = $lanes;

                unsafe fn tile(
                    rows: usize,
                    k: usize,
                    a: View,
                    b: *const f32,
                    b_rs: usize,
                    cols: usize,
                    c: *mut f32,
                    c_rs: usize,
                    init: Init,
                    relu: bool,
                ) {
                    match rows {
                        $($r => Self::vectors::<{ $r }>(k, a, b, b_rs, cols, c, c_rs, init, relu),)*
                        _ => unreachable!("a tile has 1 to {} rows", $mr),
                    }
                }

                unsafe fn panel(m: usize, k: usize, p: Panel) {
                    match (p.cols.div_ceil($lanes), p.cols % $lanes != 0) {
                        $(($v, false) => Self::panel_of::<$v, false>(m, k, p),
                          ($v, true) => Self::panel_of::<$v, true>(m, k, p),)*
                        _ => unreachable!("a tile has 1 to {} columns", $nv * $lanes),
                    }
                }

                unsafe fn pack(k: usize, b: View, j0: usize, cols: usize, dst: *mut f32) {
                    if b.cs == 1 && cols == Self::NR {
                        Self::pack_rows(k, b, j0, dst);
                    } else if b.rs == 1 {
                        Self::pack_transposed(k, b, j0, cols, dst);
                    } else {
                        super::pack_columns(k, b, j0, 0..cols, Self::NR, dst);
                    }
                }
            }
        };
    }

    /// Twelve independent chains of `iters` vector FMAs each (see `fma_peak_gflops`).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_chains_avx2(iters: usize) -> f32 {
        let (x, y) = (_mm256_set1_ps(std::hint::black_box(0.999)), _mm256_set1_ps(std::hint::black_box(1e-3)));
        let mut acc = [_mm256_setzero_ps(); 12];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, x, y);
            }
        }
        let mut out = [0.0f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), acc.iter().fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a)));
        out.iter().sum()
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn fma_chains_avx512(iters: usize) -> f32 {
        let (x, y) = (_mm512_set1_ps(std::hint::black_box(0.999)), _mm512_set1_ps(std::hint::black_box(1e-3)));
        let mut acc = [_mm512_setzero_ps(); 12];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, x, y);
            }
        }
        _mm512_reduce_add_ps(acc.iter().fold(_mm512_setzero_ps(), |s, &a| _mm512_add_ps(s, a)))
    }

    /// The first `n` (≤ 8) values at `p`, the other lanes zero; nothing past them is touched.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load8_first(p: *const f32, n: usize) -> __m256 {
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_maskload_ps(p, mask)
    }

    /// The first `n` (≤ 16) values at `p`, the other lanes zero; nothing past them is touched.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn load16_first(p: *const f32, n: usize) -> __m512 {
        _mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p)
    }

    /// Stores the first `n` (≤ 8) lanes of `v` at `p`; nothing past them is touched.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store8_first(p: *mut f32, n: usize, v: __m256) {
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_maskstore_ps(p, mask, v)
    }

    /// Stores the first `n` (≤ 16) lanes of `v` at `p`; nothing past them is touched.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn store16_first(p: *mut f32, n: usize, v: __m512) {
        _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as u16, v)
    }

    /// The 8 columns of an 8×8 block of rows (row stride in elements).
    #[target_feature(enable = "avx2")]
    unsafe fn columns8(src: *const f32, rs: usize) -> [__m256; 8] {
        let r = [
            _mm256_loadu_ps(src),
            _mm256_loadu_ps(src.add(rs)),
            _mm256_loadu_ps(src.add(2 * rs)),
            _mm256_loadu_ps(src.add(3 * rs)),
            _mm256_loadu_ps(src.add(4 * rs)),
            _mm256_loadu_ps(src.add(5 * rs)),
            _mm256_loadu_ps(src.add(6 * rs)),
            _mm256_loadu_ps(src.add(7 * rs)),
        ];
        // Within each 128-bit half: 4×4 transposes (unpack, then shuffle); then swap halves.
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let u = [
            _mm256_shuffle_ps(t[0], t[2], 0x44),
            _mm256_shuffle_ps(t[0], t[2], 0xEE),
            _mm256_shuffle_ps(t[1], t[3], 0x44),
            _mm256_shuffle_ps(t[1], t[3], 0xEE),
            _mm256_shuffle_ps(t[4], t[6], 0x44),
            _mm256_shuffle_ps(t[4], t[6], 0xEE),
            _mm256_shuffle_ps(t[5], t[7], 0x44),
            _mm256_shuffle_ps(t[5], t[7], 0xEE),
        ];
        [
            _mm256_permute2f128_ps(u[0], u[4], 0x20),
            _mm256_permute2f128_ps(u[1], u[5], 0x20),
            _mm256_permute2f128_ps(u[2], u[6], 0x20),
            _mm256_permute2f128_ps(u[3], u[7], 0x20),
            _mm256_permute2f128_ps(u[0], u[4], 0x31),
            _mm256_permute2f128_ps(u[1], u[5], 0x31),
            _mm256_permute2f128_ps(u[2], u[6], 0x31),
            _mm256_permute2f128_ps(u[3], u[7], 0x31),
        ]
    }

    /// The 16 columns of a 16×16 block of rows (row stride in elements).
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn columns16(src: *const f32, rs: usize) -> [__m512; 16] {
        let r: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(src.add(i * rs)));
        // 4×4 transposes within each 128-bit lane, rows 4g..4g+4 in u[4g..4g+4] (column 4L + c of
        // lane L in u[4g + c]); then two rounds of 128-bit lane shuffles gather each column.
        let mut u = [_mm512_setzero_ps(); 16];
        for g in 0..4 {
            let (r0, r1, r2, r3) = (r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]);
            let (t0, t1) = (_mm512_unpacklo_ps(r0, r1), _mm512_unpackhi_ps(r0, r1));
            let (t2, t3) = (_mm512_unpacklo_ps(r2, r3), _mm512_unpackhi_ps(r2, r3));
            u[4 * g] = _mm512_shuffle_ps(t0, t2, 0x44);
            u[4 * g + 1] = _mm512_shuffle_ps(t0, t2, 0xEE);
            u[4 * g + 2] = _mm512_shuffle_ps(t1, t3, 0x44);
            u[4 * g + 3] = _mm512_shuffle_ps(t1, t3, 0xEE);
        }
        let mut w = [_mm512_setzero_ps(); 16];
        for h in [0, 8] {
            for c in 0..4 {
                w[h + c] = _mm512_shuffle_f32x4(u[h + c], u[h + 4 + c], 0x88);
                w[h + 4 + c] = _mm512_shuffle_f32x4(u[h + c], u[h + 4 + c], 0xDD);
            }
        }
        let mut col = [_mm512_setzero_ps(); 16];
        for c in 0..4 {
            col[c] = _mm512_shuffle_f32x4(w[c], w[8 + c], 0x88);
            col[8 + c] = _mm512_shuffle_f32x4(w[c], w[8 + c], 0xDD);
            col[4 + c] = _mm512_shuffle_f32x4(w[4 + c], w[12 + c], 0x88);
            col[12 + c] = _mm512_shuffle_f32x4(w[4 + c], w[12 + c], 0xDD);
        }
        col
    }

    /// A narrow product (n < 16 columns) with A stored as is: rows of C in the lanes, N
    /// accumulators per group of `lanes` rows, blocks of A transposed in registers; each element
    /// the fma chain over k in order. With few columns, G groups of rows (`$groups`) run side by
    /// side: one group's N chains of dependent FMAs would wait on each other's latency (a
    /// critic's 1-wide output: one chain of k FMAs per group). Partial blocks (the last rows,
    /// the last few k) go through a zero-padded copy.
    macro_rules! narrow_kernel {
        ($entry:ident, $name:ident, $features:literal, $lanes:literal, $vec:ty, $loadu:ident, $storeu:ident,
         $set1:ident, $fma:ident, $columns:ident, $groups:ident, [$($n:literal)*]) => {
            pub unsafe fn $entry(m: usize, k: usize, n: usize, a: *const f32, b: View, c: *mut f32, init: Init) {
                let mut i0 = 0;
                while i0 < m {
                    let (a, c, rows) = (a.add(i0 * k), c.add(i0 * n), m - i0);
                    let init = init.at(i0, 0);
                    // Whole groups side by side while there are enough rows, then one at a time.
                    let side_by_side = $groups(n);
                    let groups = if rows >= side_by_side * $lanes { side_by_side } else { 1 };
                    match (n, groups) {
                        $(($n, 1) => $name::<$n, 1>(k, rows.min($lanes), a, b, c, init),
                          ($n, _) => $name::<$n, { $groups($n) }>(k, groups * $lanes, a, b, c, init),)*
                        _ => unreachable!("a narrow product has 1 to 15 columns"),
                    }
                    i0 += groups * $lanes;
                }
            }

            /// `rows` (≤ G·lanes; all G·lanes when G > 1) rows of C.
            #[target_feature(enable = $features)]
            unsafe fn $name<const N: usize, const G: usize>(
                k: usize,
                rows: usize,
                a: *const f32,
                b: View,
                c: *mut f32,
                init: Init,
            ) {
                // C's rows are the lanes: through a small buffer, column by column.
                let mut buf = [[[0.0f32; $lanes]; N]; G];
                for l in 0..rows {
                    for j in 0..N {
                        buf[l / $lanes][j][l % $lanes] = init.value(l, j, *c.add(l * N + j));
                    }
                }
                let mut acc: [[$vec; N]; G] = std::array::from_fn(|g| std::array::from_fn(|j| $loadu(buf[g][j].as_ptr())));
                let mut padded = [[0.0f32; $lanes]; $lanes];
                for p0 in (0..k).step_by($lanes) {
                    let cols = $lanes.min(k - p0);
                    for g in 0..G {
                        let (a, here) = (a.add(g * $lanes * k), $lanes.min(rows - g * $lanes));
                        let v = if here == $lanes && cols == $lanes {
                            $columns(a.add(p0), k)
                        } else {
                            for (l, row) in padded.iter_mut().enumerate() {
                                for (q, x) in row.iter_mut().enumerate() {
                                    *x = if l < here && q < cols { *a.add(l * k + p0 + q) } else { 0.0 };
                                }
                            }
                            $columns(padded.as_ptr() as *const f32, $lanes)
                        };
                        for (q, &column) in v.iter().enumerate().take(cols) {
                            let bp = b.ptr.add((p0 + q) * b.rs);
                            for j in 0..N {
                                acc[g][j] = $fma(column, $set1(*bp.add(j * b.cs)), acc[g][j]);
                            }
                        }
                    }
                }
                for g in 0..G {
                    for j in 0..N {
                        $storeu(buf[g][j].as_mut_ptr(), acc[g][j]);
                    }
                }
                for l in 0..rows {
                    for j in 0..N {
                        *c.add(l * N + j) = buf[l / $lanes][j][l % $lanes];
                    }
                }
            }
        };
    }

    /// Groups of 8 rows an AVX2 narrow product of `n` columns runs side by side: two for one or
    /// two columns, 1.7–1.9× as fast at 256×256×1 and 1.1–1.4× at 256×256×2 on Zen 4 (four
    /// groups were no faster at one column).
    const fn avx2_groups(n: usize) -> usize {
        if n <= 2 {
            2
        } else {
            1
        }
    }

    /// AVX-512 narrow products run one group of 16 rows at a time: two side by side were 0.8–1.0×
    /// as fast on Zen 4, the transposes of 16×16 blocks, not the chains, setting the pace.
    const fn avx512_groups(_: usize) -> usize {
        1
    }

    narrow_kernel!(
        narrow_avx2,
        narrow_avx2_n,
        "avx2,fma",
        8,
        __m256,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        columns8,
        avx2_groups,
        [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15]
    );
    narrow_kernel!(
        narrow_avx512,
        narrow_avx512_n,
        "avx512f,avx2,fma",
        16,
        __m512,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        columns16,
        avx512_groups,
        [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15]
    );

    // AVX2: 6 rows × 2 vectors = 12 of the 16 ymm registers hold accumulators.
    simd_kernel!(
        Avx2,
        "avx2,fma",
        true,
        6,
        2,
        8,
        __m256,
        _mm256_loadu_ps,
        load8_first,
        _mm256_storeu_ps,
        store8_first,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_max_ps,
        _mm256_add_ps,
        columns8,
        [1 2 3 4 5 6],
        [1 2]
    );
    // AVX-512: 6 rows × 4 vectors = 24 of the 32 zmm registers. It held 4 rows × 6 vectors
    // before: 6 × 4 reads B at 4 vectors per 24 FMAs where 4 × 6 read 6, and with the panel
    // copied as read (in L2, not L1) that made updates 1.03–1.10× faster on one thread and
    // 1.00–1.06× on two on Zen 5 (docs/speed.md, "Six rows of 64").
    simd_kernel!(
        Avx512,
        "avx512f,avx2,fma",
        false,
        6,
        4,
        16,
        __m512,
        _mm512_loadu_ps,
        load16_first,
        _mm512_storeu_ps,
        store16_first,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_max_ps,
        _mm512_add_ps,
        columns16,
        [1 2 3 4 5 6],
        [1 2 3 4]
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

    /// The definition: each element one fma chain over p in order, from its start.
    fn chain(a: &[f32], b: &[f32], c: &[f32], m: usize, k: usize, n: usize, start: Start) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let chain = |from: f32, ps: std::ops::Range<usize>| {
                    ps.fold(from, |acc, p| a[i * k + p].mul_add(b[p * n + j], acc))
                };
                out[i * n + j] = match start {
                    Start::Zero => chain(0.0, 0..k),
                    Start::Old => chain(c[i * n + j], 0..k),
                    Start::Row(row) => chain(row[j], 0..k),
                    Start::Halves(split) => chain(0.0, 0..split.min(k)) + chain(0.0, split.min(k)..k),
                };
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
        // Edges of every tile size, narrow outputs (transposed, from A as is and transposed),
        // k = 1 and polyak's own shapes; AVX-512 panels (up to 64 wide, whole vectors shared
        // out evenly) of 1 to 4 vectors of 16, whole or ragged: 16, 32,
        // 400 = 48 + 64 + 48 + 64 + 48 + 64 + 64, 300 = 48 + 3 × 64 + 60, 176 = 48 + 64 + 64,
        // 100 = 48 + 52, 40, 29; row tiles of 6 and every edge of 1 to 5 rows; narrow outputs of
        // 1 to 3 columns with groups of rows side by side, whole and ragged, then single ones.
        let shapes = [
            (5, 9, 16),
            (3, 11, 32),
            (9, 19, 400),
            (6, 40, 300),
            (5, 12, 176),
            (11, 9, 100),
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
            (100, 30, 1),
            (45, 21, 2),
            (70, 19, 3),
        ];
        for (case, &(m, k, n)) in shapes.iter().enumerate() {
            let a = values(m * k, 2 * case as u64);
            let b = values(k * n, 2 * case as u64 + 1);
            let c0 = values(m * n, 99);
            let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
            let bias = values(n, 7);
            let halves = [Start::Halves(k / 2), Start::Halves(0), Start::Halves(k), Start::Halves(k + 3)];
            for start in [Start::Zero, Start::Old, Start::Row(&bias)].into_iter().chain(halves) {
                let want = chain(&a, &b, &c0, m, k, n, start);
                for &level in &levels {
                    use_simd(level).unwrap();
                    for (aa, al) in [(&a, Layout::AsIs), (&at, Layout::Transposed)] {
                        for (bb, bl) in [(&b, Layout::AsIs), (&bt, Layout::Transposed)] {
                            let mut out = c0.clone();
                            matmul(&mut out, aa, al, bb, bl, m, k, n, start);
                            let same = out.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(same, "{m}×{k}×{n} {al:?}/{bl:?} from {start:?} at {level:?}");
                            // The rows cut in three parts, as threads share them out: the same bits.
                            let mut parts = c0.clone();
                            for r in [0..m / 3, m / 3..m - m / 4, m - m / 4..m] {
                                let part = &mut parts[r.start * n..r.end * n];
                                matmul_rows(part, aa, al, bb, bl, m, k, n, r.clone(), start, false);
                            }
                            let same = parts.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(same, "{m}×{k}×{n} {al:?}/{bl:?} in row parts, from {start:?}, {level:?}");
                            // A hidden layer's product: ReLU of the same chains.
                            let mut hidden = c0.clone();
                            matmul_rows(&mut hidden, aa, al, bb, bl, m, k, n, 0..m, start, true);
                            let same = hidden.iter().zip(&want).all(|(x, y)| x.to_bits() == relu(*y).to_bits());
                            assert!(same, "{m}×{k}×{n} {al:?}/{bl:?} with ReLU, from {start:?}, {level:?}");
                        }
                    }
                }
            }
        }
        // ReLU maps NaN and −0 to +0 at every level, in the tile kernels and the narrow ones:
        // chains that end at −0 (negative × 0 from a −0 bias) and at NaN (row 0).
        for &(m, n) in &[(20, 40), (20, 3)] {
            let mut a = vec![-1.5f32; m * 3];
            a[1] = f32::NAN;
            let (b, bias) = (vec![0.0f32; 3 * n], vec![-0.0f32; n]);
            for &level in &levels {
                use_simd(level).unwrap();
                let mut out = vec![1.0; m * n];
                matmul(&mut out, &a, Layout::AsIs, &b, Layout::AsIs, m, 3, n, Start::Row(&bias));
                assert!(out[n..].iter().all(|v| v.to_bits() == (-0.0f32).to_bits()) && out[0].is_nan());
                matmul_rows(&mut out, &a, Layout::AsIs, &b, Layout::AsIs, m, 3, n, 0..m, Start::Row(&bias), true);
                assert!(out.iter().all(|v| v.to_bits() == 0), "{m}×3×{n} ReLU at {level:?}: {out:?}");
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

    /// Where in memory the operands and the output start (on a cache line, as the binary's
    /// allocator puts large buffers, or a few floats past one) changes no bit.
    #[test]
    fn where_the_operands_start_changes_no_bit() {
        let levels: Vec<Simd> = Simd::ALL.into_iter().filter(|s| s.available()).collect();
        // `len` values from `src` copied to start `shift` floats past a 64-byte line.
        let placed = |src: &[f32], shift: usize| {
            let mut v = vec![0.0f32; src.len() + 32];
            let line = (64 - v.as_ptr() as usize % 64) % 64 / 4;
            v[line + shift..line + shift + src.len()].copy_from_slice(src);
            (v, line + shift)
        };
        for (case, &(m, k, n)) in [(40, 256, 256), (13, 37, 29), (256, 23, 64), (6, 64, 200)].iter().enumerate() {
            let (a, b, bias) = (values(m * k, 11 + case as u64), values(k * n, 21 + case as u64), values(n, 5));
            let want = chain(&a, &b, &[], m, k, n, Start::Row(&bias));
            for &level in &levels {
                use_simd(level).unwrap();
                for shift in [0, 1, 4, 8, 13] {
                    let ((av, a0), (bv, b0)) = (placed(&a, shift), placed(&b, (shift * 3) % 16));
                    let (mut cv, c0) = placed(&vec![0.0; m * n], (shift * 7) % 16);
                    let (aa, bb) = (&av[a0..a0 + m * k], &bv[b0..b0 + k * n]);
                    let out = &mut cv[c0..c0 + m * n];
                    matmul(out, aa, Layout::AsIs, bb, Layout::AsIs, m, k, n, Start::Row(&bias));
                    let same = out.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{m}×{k}×{n} shifted by {shift} floats at {level:?}");
                }
            }
        }
        use_simd(Simd::best()).unwrap();
    }

    #[test]
    fn the_flop_count_grows_by_two_per_multiply_add() {
        let (m, k, n) = (3000, 7, 5);
        let before = flops_so_far();
        let (a, b) = (vec![1.0; m * k], vec![1.0; k * n]);
        matmul(&mut vec![0.0; m * n], &a, Layout::AsIs, &b, Layout::AsIs, m, k, n, Start::Zero);
        // Other tests multiply meanwhile, so the count grows by at least ours.
        let grew = flops_so_far() - before;
        assert!(grew >= 2 * (m * k * n) as u64, "{grew}");
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
                matmul(&mut out, aa, al, bb, bl, m, k, n, Start::Zero);
                for (x, y) in out.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-5, "{al:?}/{bl:?}: {x} vs {y}");
                }
                // Accumulating adds the product a second time.
                matmul(&mut out, aa, al, bb, bl, m, k, n, Start::Old);
                for (x, y) in out.iter().zip(&want) {
                    assert!((x - 2.0 * y).abs() < 1e-5);
                }
            }
        }
    }
}
