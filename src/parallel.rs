//! Threads kept alive for the work they share, so that splitting small pieces of work (the two
//! critics of an update, a few environments of a vector env) never pays for creating a thread.
//! Spawning a scoped thread per operation costs a thread creation and a stack mapping each
//! time, and unmapping a stack while the other core runs makes the kernel interrupt it (a TLB
//! shootdown).
//!
//! A helper is not waited for before it starts. With more threads than free cores (two runs of
//! two threads on a 2-core machine), a helper can sit ready for milliseconds while the system
//! runs other threads on its core; the calling thread, done with its own share, then takes the
//! helper's back and does it too ([`Helper::join`]). Which thread does a share changes no
//! number.

pub mod phases;

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long a waiting side spins before it sleeps. Waking a sleeping thread costs the kernel a
/// cross-core interrupt: measured 42–47 µs per hand-off on a 2-core AMD EPYC virtual machine
/// (`Helper::join` of two empty jobs), more than a HalfCheetah step or a critic's forward pass.
/// A thread that spins sees the hand-off in well under a microsecond. Spinning is bounded, so an
/// idle helper (a vector env between the user's Python steps, say) goes back to sleep and leaves
/// the core alone.
const SPIN: Duration = Duration::from_micros(200);
/// After this long, a waiting side also yields its core between reads: the thread it waits for
/// may be one the system has not given a core (more threads than cores), and spinning would
/// keep that core from it. Hand-offs on free cores come well within it (the slower thread of a
/// phase ends 3–17 µs after the other), and yielding on an idle core returns at once: rounds of
/// updates with and without it ran at 0.993–1.004× each other.
const YIELD_AFTER: Duration = Duration::from_micros(20);

thread_local! {
    /// This thread's place in its pool ([`slot`]).
    static SLOT: Cell<usize> = const { Cell::new(0) };
}

/// This thread's place in its pool: `t` on a pool's `t`-th helper thread, 0 on any other thread
/// (the calling thread of a pool among them). While the host keeps the cores far apart, a
/// network's shared steps go through a copy of its parameters that the thread in slot 1 reads
/// and writes (`nn::Mlp`), so that no store waits for the other core.
pub fn slot() -> usize {
    SLOT.get()
}

/// Runs `f` on this thread as if it were in pool slot `slot`, for tests of what reads it.
#[cfg(test)]
pub(crate) fn in_slot<R>(slot: usize, f: impl FnOnce() -> R) -> R {
    let was = SLOT.replace(slot);
    let r = f();
    SLOT.set(was);
    r
}

/// One helper thread, kept for the owner's lifetime.
pub struct Helper {
    shared: Arc<Shared>,
    thread: Thread,
    /// Not `Sync`: `join` relies on one caller at a time.
    _one_caller: PhantomData<Cell<()>>,
}

/// A posted job: the caller's closure, on the caller's stack. Posting by pointer rather than in a
/// `Box` keeps a hand-off free of allocation: an update hands work over four to seven times.
struct Job(*mut (dyn FnMut() + Send + 'static));

// SAFETY: the closure behind the pointer is `Send`, and `Helper::join` does not return before
// whichever thread runs it is done with it.
unsafe impl Send for Job {}

/// The slot the owner and the helper hand a job and its outcome through. `state` says who may
/// touch `job` and `outcome`: the owner while IDLE, POSTED or DONE, the helper while RUNNING.
/// A posted job goes to whichever side moves the state on first: the helper, POSTED → RUNNING,
/// to run it; or the owner, POSTED → IDLE, to take it back and run it itself.
struct Shared {
    state: AtomicU8,
    job: UnsafeCell<Option<(Job, Thread)>>,
    outcome: UnsafeCell<Option<thread::Result<()>>>,
}

// SAFETY: `job` and `outcome` are only touched by the side that `state` (acquire/release) hands
// them to, so no two threads access them at once.
unsafe impl Sync for Shared {}

const IDLE: u8 = 0;
const POSTED: u8 = 1;
/// The helper has taken the posted job and is running it.
const RUNNING: u8 = 2;
const DONE: u8 = 3;
/// The owner has gone: the helper thread ends.
const CLOSED: u8 = 4;

/// Spins (then sleeps, woken by `unpark`) until `state` leaves `from`; returns the new state.
/// The state is read after every `pause`, the clock after every 64: a `pause` takes tens of
/// cycles, and reading the state only once per 64 of them made each side of a hand-off see it
/// ≈ 1 µs late on average (measured on Zen 5: the helper started 1.2 µs after the post, the
/// caller saw it done 0.9 µs after). Reading it after every pause, a join of two equal jobs costs
/// 0.31–0.44 µs more than the jobs, against 1.80–1.93 µs (docs/speed.md, "Two whole cores").
fn wait_while(state: &AtomicU8, from: u8) -> u8 {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            let now = state.load(Ordering::Acquire);
            if now != from {
                return now;
            }
            std::hint::spin_loop();
        }
        let waited = start.elapsed();
        if waited >= SPIN {
            // A wake-up that came early (or spuriously) only sends us round the loop again.
            thread::park();
        } else if waited >= YIELD_AFTER {
            thread::yield_now();
        }
    }
}

impl Helper {
    /// `None` if the system refuses a thread: callers then do the work themselves. The thread
    /// runs in pool slot `slot` ([`slot`]).
    pub fn spawn(slot: usize) -> Option<Helper> {
        let shared =
            Arc::new(Shared { state: AtomicU8::new(IDLE), job: UnsafeCell::new(None), outcome: UnsafeCell::new(None) });
        let theirs = Arc::clone(&shared);
        let worker = move || {
            SLOT.set(slot);
            loop {
                // Every state but POSTED and CLOSED belongs to the owner: wait for a job.
                let mut state = theirs.state.load(Ordering::Acquire);
                while state != POSTED && state != CLOSED {
                    state = wait_while(&theirs.state, state);
                }
                if state == CLOSED {
                    return;
                }
                // Take the job, unless the owner has just taken it back (then wait for the next one).
                if theirs.state.compare_exchange(POSTED, RUNNING, Ordering::Acquire, Ordering::Relaxed).is_err() {
                    continue;
                }
                // SAFETY: RUNNING hands `job` and `outcome` to this thread until it stores DONE.
                let (job, owner) = unsafe { (*theirs.job.get()).take() }.expect("a posted job");
                // SAFETY: the closure lives until its `join` returns, which waits for DONE.
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*job.0)() }));
                unsafe { *theirs.outcome.get() = Some(outcome) };
                theirs.state.store(DONE, Ordering::Release);
                owner.unpark();
            }
        };
        let handle = thread::Builder::new().name("polyak-helper".into()).spawn(worker).ok()?;
        Some(Helper { shared, thread: handle.thread().clone(), _one_caller: PhantomData })
    }

    /// Runs `there` on the helper thread and `here` on this one; returns when both are done. A
    /// panic on either side reaches the caller after both have finished.
    ///
    /// If the helper has not started on `there` by the time `here` is done, this thread takes
    /// it back and runs it too, rather than wait for a helper that is not running: one whose CPU
    /// the system has given to other work (more threads than cores, as when two runs share a
    /// 2-core machine, or a host that has paused the vCPU). Returns whether it did.
    pub fn join(&self, there: impl FnOnce() + Send, here: impl FnOnce()) -> bool {
        let mut there = Some(there);
        let mut run = move || {
            if let Some(there) = there.take() {
                there()
            }
        };
        let job: *mut (dyn FnMut() + Send + '_) = &mut run;
        // SAFETY: the job borrows from this stack frame; its lifetime is erased only to cross to
        // the helper. This function neither returns nor unwinds before the helper has finished
        // it: `here` runs under catch_unwind, and we wait for DONE first.
        let job = Job(unsafe {
            std::mem::transmute::<*mut (dyn FnMut() + Send + '_), *mut (dyn FnMut() + Send + 'static)>(job)
        });
        // SAFETY: the state is IDLE (the previous join took its outcome): the slot is ours. `join`
        // takes `&self` but a Helper is not Sync, so only one thread ever calls it at a time.
        unsafe { *self.shared.job.get() = Some((job, thread::current())) };
        self.shared.state.store(POSTED, Ordering::Release);
        self.thread.unpark();
        let mine = panic::catch_unwind(AssertUnwindSafe(here));
        let taken_back = self.shared.state.compare_exchange(POSTED, IDLE, Ordering::Acquire, Ordering::Relaxed).is_ok();
        let theirs = if taken_back {
            // SAFETY: IDLE leaves the slot with this thread, the job still in it.
            let (job, _) = unsafe { (*self.shared.job.get()).take() }.expect("the job taken back");
            // SAFETY: `run` is still alive in this frame, and no other thread holds it.
            panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*job.0)() }))
        } else {
            wait_while(&self.shared.state, RUNNING);
            // SAFETY: DONE hands the slot back to this thread.
            let theirs = unsafe { (*self.shared.outcome.get()).take() }.unwrap_or(Ok(()));
            self.shared.state.store(IDLE, Ordering::Relaxed);
            theirs
        };
        for outcome in [mine, theirs] {
            if let Err(p) = outcome {
                panic::resume_unwind(p);
            }
        }
        taken_back
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.shared.state.store(CLOSED, Ordering::Release);
        self.thread.unpark();
    }
}

/// The `t`-th of `parts` contiguous, near-equal shares of `0..n` (the first ones a row shorter
/// when `n` does not divide).
pub fn share(n: usize, t: usize, parts: usize) -> std::ops::Range<usize> {
    n * t / parts..n * (t + 1) / parts
}

/// Helper threads that, with the calling thread, share out the items of a slice.
pub struct Pool {
    helpers: Vec<Helper>,
}

impl Pool {
    /// A pool of `threads` threads in all (the caller's included; fewer if the system refuses).
    pub fn new(threads: usize) -> Pool {
        Pool { helpers: (1..threads.max(1)).map_while(Helper::spawn).collect() }
    }

    /// Threads that work, the caller's included.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Calls `f(i, &mut items[i])` for every item, contiguous chunks on different threads. Each
    /// item is touched by one thread only, so results do not depend on the thread count.
    #[track_caller]
    pub fn for_each<T: Send>(&self, items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
        self.for_each_after(|| {}, items, f);
    }

    /// [`Pool::for_each`], with `first` run on the calling thread before its own chunk (the
    /// first items) while the helpers start on theirs: serial work of the caller's, such as an
    /// env step, hidden behind the items' work. `first` need not be `Send`: it never leaves this
    /// thread.
    ///
    /// A helper that has not started on its chunk when the calling thread is done with its own
    /// is not running, and the calling thread runs that chunk too ([`Helper::join`]). Whichever
    /// thread runs an item, it is the same work: the results do not change.
    ///
    /// With [`phases::record`] on, the hand-off is timed, under the line that called this.
    #[track_caller]
    pub fn for_each_after<T: Send>(&self, first: impl FnOnce(), items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
        if !phases::enter() {
            return self.share_out(first, items, f, None);
        }
        let (at, busy, start) = (std::panic::Location::caller(), phases::Busy::default(), Instant::now());
        self.share_out(first, items, f, Some(&busy));
        phases::add(at, start, Instant::now(), &busy, self.threads());
    }

    /// [`Pool::for_each_after`]'s work, each chunk's time (and `first`'s, as chunk 0's) added to
    /// `busy` when there is one.
    fn share_out<T: Send>(
        &self,
        first: impl FnOnce(),
        items: &mut [T],
        f: impl Fn(usize, &mut T) + Sync,
        busy: Option<&phases::Busy>,
    ) {
        let chunk = items.len().div_ceil(self.threads()).max(1);
        let mut chunks = items.chunks_mut(chunk).enumerate();
        let run = |(c, part): (usize, &mut [T])| {
            timed(busy, c, || {
                for (k, item) in part.iter_mut().enumerate() {
                    f(c * chunk + k, item);
                }
            })
        };
        let first = || timed(busy, 0, first);
        let here = chunks.next();
        spread(&self.helpers, chunks, first, here, &run);
    }

    /// Calls `f(t)` once for each thread `t` of the pool, `t = 0` on the calling thread: work
    /// that each thread cuts out of shared vectors for itself.
    #[track_caller]
    pub fn each_thread(&self, f: impl Fn(usize) + Sync) {
        // A `Vec` of `()` takes no memory, so this allocates nothing.
        self.for_each(&mut vec![(); self.threads()], |t, _| f(t));
    }
}

/// Runs `work` as chunk `c` of a hand-off, its time added to `busy` when there is one
/// ([`phases`]).
#[inline(always)]
fn timed(busy: Option<&phases::Busy>, c: usize, work: impl FnOnce()) {
    let clock = busy.map(|_| Instant::now());
    work();
    if let (Some(busy), Some(clock)) = (busy, clock) {
        busy.add(c, clock);
    }
}

/// Hands the last of `chunks` to the first of `helpers`, and so on, then runs `first` and what is
/// left (with `here`, the caller's own chunk) on this thread. Nothing is allocated: each hand-off's
/// job lives on this thread's stack.
fn spread<'a, T: Send + 'a>(
    helpers: &[Helper],
    mut chunks: impl DoubleEndedIterator<Item = (usize, &'a mut [T])>,
    first: impl FnOnce(),
    here: Option<(usize, &'a mut [T])>,
    run: &(impl Fn((usize, &'a mut [T])) + Sync),
) {
    match helpers.split_first() {
        Some((helper, rest)) => match chunks.next_back() {
            Some(there) => {
                helper.join(|| run(there), || spread(rest, chunks, first, here, run));
            }
            None => spread(&[], chunks, first, here, run),
        },
        None => {
            // No helper left (or no chunk): the rest runs here, after `first`.
            first();
            chunks.chain(here).for_each(run);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_runs_borrowed_work_and_passes_panics_back() {
        let h = Helper::spawn(1).unwrap();
        let (mut a, mut b) = (vec![0u64; 1000], vec![0u64; 1000]);
        for round in 1..=200u64 {
            h.join(|| a.iter_mut().for_each(|x| *x += round), || b.iter_mut().for_each(|x| *x += 2 * round));
        }
        assert!(a.iter().all(|&x| x == 200 * 201 / 2) && b.iter().all(|&x| x == 200 * 201));
        // A panic on either side reaches the caller after both sides have finished.
        let there = panic::catch_unwind(AssertUnwindSafe(|| h.join(|| panic!("there"), || {})));
        assert!(there.is_err());
        let here = panic::catch_unwind(AssertUnwindSafe(|| h.join(|| {}, || panic!("here"))));
        assert!(here.is_err());
        let mut after = 0;
        h.join(|| {}, || after = 1);
        assert_eq!(after, 1, "the helper still works after a panic");
    }

    #[test]
    fn shares_tile_the_range_evenly() {
        for parts in 1..=5 {
            for n in [0, 1, 4, 7, 256] {
                let all: Vec<_> = (0..parts).map(|t| share(n, t, parts)).collect();
                assert_eq!(all[0].start, 0);
                assert_eq!(all[parts - 1].end, n);
                assert!(all.windows(2).all(|w| w[0].end == w[1].start), "{n} in {parts}: {all:?}");
                assert!(all.iter().all(|r| r.len() == n / parts || r.len() == n / parts + 1));
            }
        }
    }

    #[test]
    fn first_runs_once_on_the_calling_thread_beside_the_items() {
        let me = thread::current().id();
        for threads in 1..=3 {
            let pool = Pool::new(threads);
            let mut items = vec![None; 6];
            let mut ran = Vec::new();
            // The caller's chunk waits for the helpers to start on theirs, so that none is taken
            // back (a new helper can take longer to start than the caller's chunk takes).
            let chunk = 6usize.div_ceil(threads);
            let started = std::sync::atomic::AtomicUsize::new(0);
            pool.for_each_after(
                || ran.push(thread::current().id()),
                &mut items,
                |i, x| {
                    if i >= chunk && i % chunk == 0 {
                        started.fetch_add(1, Ordering::Release);
                    }
                    while i == 0 && started.load(Ordering::Acquire) < threads - 1 {
                        std::hint::spin_loop();
                    }
                    *x = Some((i, thread::current().id()));
                },
            );
            assert_eq!(ran, vec![me], "{threads} threads");
            let items: Vec<(usize, thread::ThreadId)> = items.into_iter().map(Option::unwrap).collect();
            assert!(items.iter().enumerate().all(|(i, x)| x.0 == i));
            // The first chunk is the caller's; the others are the helpers'.
            assert!(items.iter().all(|&(i, id)| (id == me) == (i < chunk)), "{threads} threads: {items:?}");
        }
    }

    impl Helper {
        /// A helper whose thread never runs: every job posted to it waits to be taken back.
        fn stalled() -> Helper {
            let shared = Arc::new(Shared {
                state: AtomicU8::new(IDLE),
                job: UnsafeCell::new(None),
                outcome: UnsafeCell::new(None),
            });
            Helper { shared, thread: thread::current(), _one_caller: PhantomData }
        }
    }

    #[test]
    fn a_job_the_helper_has_not_started_is_taken_back_and_run_here() {
        let h = Helper::stalled();
        let me = thread::current().id();
        let (mut there, mut here) = (None, None);
        assert!(h.join(|| there = Some(thread::current().id()), || here = Some(thread::current().id())));
        assert_eq!((there, here), (Some(me), Some(me)));
        // A panic in a job taken back reaches the caller after both sides have run.
        let mut ran = false;
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| h.join(|| panic!("there"), || ran = true)));
        assert!(panicked.is_err() && ran);
        let (mut a, mut b) = (0, 0);
        assert!(h.join(|| a = 1, || b = 10));
        assert_eq!(a + b, 11, "the slot is free again after a panic");
    }

    #[test]
    fn a_pool_whose_helper_never_starts_does_every_item_here() {
        let pool = Pool { helpers: vec![Helper::stalled()] };
        let me = thread::current().id();
        for n in [1, 2, 5] {
            let mut items = vec![None; n];
            pool.for_each(&mut items, |i, x| *x = Some((i, thread::current().id())));
            assert!(items.iter().enumerate().all(|(i, x)| *x == Some((i, me))), "{n} items: {items:?}");
        }
    }

    #[test]
    fn a_pool_visits_every_item_once_with_its_index() {
        for threads in 1..=4 {
            let pool = Pool::new(threads);
            for n in [0, 1, 2, 3, 7, 8, 33] {
                let mut items = vec![0usize; n];
                pool.for_each(&mut items, |i, x| *x += i + 1);
                assert_eq!(items, (1..=n).collect::<Vec<_>>(), "{threads} threads, {n} items");
            }
        }
    }
}
