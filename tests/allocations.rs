//! An update allocates nothing once its buffers have grown to the batch: no vectors of slices
//! cut per step, no boxed jobs per hand-off between threads. Each allocation is a call into the
//! system allocator on the path between two hand-offs, while the other thread waits. (Each
//! thread also keeps a scratch for the products' copies, grown to the largest product it has run:
//! a thread that takes back a share of another shape may grow it once. The batch here is cut into
//! blocks of one shape on 2 and on 3 threads, so that which thread runs a share changes nothing.)
//!
//! This file is its own test binary with one test, so that the counting allocator below sees only
//! the updates it measures (and the helper threads they run on).

use polyak::algo::{Agent, CommonConfig};
use polyak::config::Algo;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The system allocator, counting allocations (and reallocations) while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicU64 = AtomicU64::new(0);

fn count() {
    if COUNTING.load(Ordering::Relaxed) {
        CALLS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call goes straight to `System` with the caller's layout.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f`.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = CALLS.load(Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    CALLS.load(Ordering::SeqCst) - before
}

#[test]
fn updates_allocate_nothing_after_the_first_ones_on_any_thread_count() {
    let (obs_dim, act_dim, batch_size) = (17, 6, 60);
    let mut rng = polyak::rng::Rng::new(3);
    let batch = polyak::bench::random_batch(batch_size, obs_dim, act_dim, &mut rng);
    // The counter counts: building an agent allocates.
    assert!(allocations(|| drop(polyak::bench::build(Algo::Ddpg, obs_dim, act_dim, &CommonConfig::default()))) > 0);
    for algo in [Algo::Sac, Algo::Td3, Algo::Ddpg] {
        for threads in [1, 2, 3] {
            let common = CommonConfig { hidden: vec![32, 24], threads, ..Default::default() };
            let mut agent: Box<dyn Agent> = polyak::bench::build(algo, obs_dim, act_dim, &common);
            // The first updates size every buffer (TD3's actor steps every second update). They
            // run for a while, so that every helper thread has started and run its shares: on a
            // busy machine a new thread may wait milliseconds for a core (as may one of the last
            // agent's, ending).
            let first = allocations(|| {
                let clock = std::time::Instant::now();
                while clock.elapsed() < std::time::Duration::from_millis(50) {
                    agent.update(&batch);
                    agent.update(&batch);
                }
            });
            assert!(first > 0, "{algo:?}, {threads} threads: the first updates size their buffers");
            let later = allocations(|| {
                for _ in 0..6 {
                    agent.update(&batch);
                }
            });
            assert_eq!(later, 0, "{algo:?}, {threads} threads: allocations in 6 updates after the first ones");
        }
    }
}
