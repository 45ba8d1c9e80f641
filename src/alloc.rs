//! [`CacheAligned`]: the system allocator with every buffer from 256 bytes to 32 MiB starting on
//! a 64-byte cache line. The `polyak` binary and the Python package install it as their global
//! allocator. A program that embeds polyak can install it too:
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: polyak::alloc::CacheAligned = polyak::alloc::CacheAligned;
//! ```
//!
//! **Why.** glibc's `malloc` aligns to 16 bytes. A buffer of 128 KiB or more (a 256-wide layer's
//! weights, their Adam moments, a block's activations and δs) is mapped on its own and starts 16
//! bytes into a page. Every 64-byte vector the AVX-512 kernels load or store then straddles two
//! cache lines, and a 256-float row that one core reads of the other's buffers in a two-thread
//! update spans 17 lines, not 16. Aligned, `polyak bench` ran 5–14% more updates a second on one thread and
//! 5–28% on two, the builds before and after alternating (docs/speed.md, "Buffers on cache lines").
//! Alignment changes no number: the products' chains are the same wherever their operands start.

use std::alloc::{GlobalAlloc, Layout, System};

/// See the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct CacheAligned;

/// A cache line.
const LINE: usize = 64;
/// Smaller requests keep their own alignment: a line's worth of padding would cost them more
/// than a straddled line.
const FROM: usize = 256;
/// Larger ones too: System serves a zeroed one by `calloc`, whose fresh pages are committed only
/// as they are written (a replay buffer of a million transitions, 170 MB on HalfCheetah, grows
/// in memory as it fills). An over-aligned zeroed request would be written through at once. A
/// 2048-wide layer's weights (16 MiB) still fit under this.
const UPTO: usize = 32 << 20;

/// The layout a request is served with. Only the request decides it, so `dealloc` and `realloc`
/// see the layout `alloc` used.
fn widened(layout: Layout) -> Layout {
    if (FROM..UPTO).contains(&layout.size()) && layout.align() < LINE {
        Layout::from_size_align(layout.size(), LINE).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every call goes to `System` with the widened layout of its request (a pure function of
// the request), which satisfies the request's own alignment; a block is freed or resized with
// the layout it was allocated with.
unsafe impl GlobalAlloc for CacheAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(widened(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(widened(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, widened(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees that `new_size`, rounded up to the alignment, fits.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (from, to) = (widened(layout), widened(new));
        if from.align() == to.align() {
            // Served alike before and after: System resizes it (in place where it can).
            return unsafe { System.realloc(ptr, from, new_size) };
        }
        // Across the threshold: a new block, the contents moved.
        let moved = unsafe { self.alloc(new) };
        if !moved.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_start_on_a_line_and_keep_their_contents_when_resized() {
        let a = CacheAligned;
        let aligned = |p: *mut u8| (p as usize).is_multiple_of(LINE);
        unsafe {
            // 1 MiB, as glibc maps it on its own: 16 bytes into a page without the widening
            for size in [FROM, 4_096, 131_072, 1 << 20] {
                let layout = Layout::from_size_align(size, 4).unwrap();
                let p = a.alloc(layout);
                assert!(aligned(p), "{size} bytes at {p:?}");
                a.dealloc(p, layout);
                let z = a.alloc_zeroed(layout);
                assert!(aligned(z) && std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                a.dealloc(z, layout);
            }
            // Resized across the threshold both ways, and above it
            let small = Layout::from_size_align(100, 4).unwrap();
            let p = a.alloc(small);
            for i in 0..100 {
                *p.add(i) = i as u8;
            }
            let p = a.realloc(p, small, 300_000);
            assert!(aligned(p));
            let big = Layout::from_size_align(300_000, 4).unwrap();
            *p.add(299_999) = 7;
            let p = a.realloc(p, big, 2_000_000);
            assert!(aligned(p) && *p.add(299_999) == 7);
            let p = a.realloc(p, Layout::from_size_align(2_000_000, 4).unwrap(), 50);
            assert!((0..50).all(|i| *p.add(i) == i as u8));
            a.dealloc(p, Layout::from_size_align(50, 4).unwrap());
            // Resized past the upper bound: System's own again, the contents kept
            let mid = Layout::from_size_align(1 << 20, 4).unwrap();
            let p = a.alloc(mid);
            *p = 9;
            let p = a.realloc(p, mid, UPTO + 1);
            assert_eq!(*p, 9);
            a.dealloc(p, Layout::from_size_align(UPTO + 1, 4).unwrap());
            // An alignment asked for above a line is kept
            let wide = Layout::from_size_align(512, 4_096).unwrap();
            let p = a.alloc(wide);
            assert!((p as usize).is_multiple_of(4_096));
            a.dealloc(p, wide);
        }
    }

    /// Resident memory of this process, from `/proc/self/statm` (pages of 4 KiB).
    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        statm.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 4096
    }

    #[test]
    fn a_large_zeroed_buffer_takes_memory_only_as_it_is_written() {
        let (a, size) = (CacheAligned, 512usize << 20);
        let layout = Layout::from_size_align(size, 4).unwrap();
        let before = resident_bytes();
        unsafe {
            let p = a.alloc_zeroed(layout);
            assert!(!p.is_null() && *p.add(size / 2) == 0);
            // Other tests allocate meanwhile, but nowhere near half a gigabyte
            let grew = resident_bytes().saturating_sub(before);
            a.dealloc(p, layout);
            assert!(grew < size / 4, "{grew} bytes resident after a zeroed {size}");
        }
    }
}
