//! Threads kept alive for the work they share, so that splitting small pieces of work (the two
//! critics of an update, a few environments of a vector env) never pays for creating a thread.
//! Spawning a scoped thread per operation costs a thread creation and a stack mapping each
//! time, and unmapping a stack while the other core runs makes the kernel interrupt it (a TLB
//! shootdown).

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;

/// One helper thread, kept for the owner's lifetime.
pub struct Helper {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<std::thread::Result<()>>,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

impl Helper {
    /// `None` if the system refuses a thread: callers then do the work themselves.
    pub fn spawn() -> Option<Helper> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (report, done) = mpsc::channel();
        let worker = move || {
            for job in inbox {
                if report.send(panic::catch_unwind(AssertUnwindSafe(job))).is_err() {
                    break;
                }
            }
        };
        std::thread::Builder::new().name("polyak-helper".into()).spawn(worker).ok()?;
        Some(Helper { jobs, done })
    }

    /// Runs `there` on the helper thread and `here` on this one; returns when both are done. A
    /// panic on either side reaches the caller after both have finished.
    pub fn join(&self, there: impl FnOnce() + Send, here: impl FnOnce()) {
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(there);
        // SAFETY: the job may borrow from this stack frame; its lifetime is erased only to cross
        // the channel. This function neither returns nor unwinds before the helper has finished
        // it: `here` runs under catch_unwind, and we wait for the helper's report first.
        let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            // The helper is gone: do its part here.
            job();
            here();
            return;
        }
        let mine = panic::catch_unwind(AssertUnwindSafe(here));
        let theirs = self.done.recv().unwrap_or(Ok(()));
        for outcome in [mine, theirs] {
            if let Err(p) = outcome {
                panic::resume_unwind(p);
            }
        }
    }
}

/// Helper threads that, with the calling thread, share out the items of a slice.
pub struct Pool {
    helpers: Vec<Helper>,
}

impl Pool {
    /// A pool of `threads` threads in all (the caller's included; fewer if the system refuses).
    pub fn new(threads: usize) -> Pool {
        Pool { helpers: (1..threads.max(1)).map_while(|_| Helper::spawn()).collect() }
    }

    /// Threads that work, the caller's included.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Calls `f(i, &mut items[i])` for every item, contiguous chunks on different threads. Each
    /// item is touched by one thread only, so results do not depend on the thread count.
    pub fn for_each<T: Send>(&self, items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
        let chunk = items.len().div_ceil(self.threads()).max(1);
        let mut chunks: Vec<(usize, &mut [T])> =
            items.chunks_mut(chunk).enumerate().map(|(c, part)| (c * chunk, part)).collect();
        let run = |(first, part): (usize, &mut [T])| {
            for (k, item) in part.iter_mut().enumerate() {
                f(first + k, item);
            }
        };
        let here = if chunks.is_empty() { None } else { Some(chunks.remove(0)) };
        self.spread(&self.helpers, chunks, here, &run);
    }

    fn spread<'a, T: Send>(
        &self,
        helpers: &[Helper],
        mut chunks: Vec<(usize, &'a mut [T])>,
        here: Option<(usize, &'a mut [T])>,
        run: &(impl Fn((usize, &'a mut [T])) + Sync),
    ) {
        match (helpers.split_first(), chunks.pop()) {
            (Some((helper, rest)), Some(there)) => {
                helper.join(|| run(there), || self.spread(rest, chunks, here, run));
            }
            (_, popped) => {
                // No helper left (or no chunk): the rest runs here.
                chunks.extend(popped);
                chunks.into_iter().chain(here).for_each(run);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_runs_borrowed_work_and_passes_panics_back() {
        let h = Helper::spawn().unwrap();
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
