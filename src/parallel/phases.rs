//! Where an update's time goes, hand-off by hand-off, on any machine (no profiler needed): with
//! recording on ([`record`]), every [`Pool`](super::Pool) hand-off made on this thread is timed
//! — its wall time, each share's busy time, and the calling thread's serial time before it — and
//! summed by its place in the update and the source line that asked for it. Off (the default),
//! a hand-off reads one relaxed atomic and nothing else. `examples/phases.rs` prints the tables.

use std::cell::RefCell;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static ON: AtomicBool = AtomicBool::new(false);

/// Turns recording on or off, for every thread.
pub fn record(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// One hand-off of an update, summed over the updates recorded.
#[derive(Clone, Debug)]
pub struct Phase {
    /// Its place in the update: 1 for the first hand-off after the update began.
    pub index: usize,
    /// The source line that asked for it.
    pub at: &'static Location<'static>,
    /// How many times it ran.
    pub calls: u64,
    /// From the hand-off to the end of the last share, on the calling thread.
    pub wall: Duration,
    /// The calling thread's time since the hand-off before it ended (for the first of an update:
    /// since the previous update's last one, so the end of that update and the caller's loop).
    pub before: Duration,
    /// Each share's busy time; share 0 is the calling thread's.
    pub busy: Vec<Duration>,
    /// The busier share's time in each call, summed: the wall time beyond it is the hand-off's
    /// own, and the busier share beyond the mean share is imbalance, the host's jitter included
    /// (it lands on one thread or the other in each call).
    pub busiest: Duration,
}

#[derive(Default)]
struct Log {
    phases: Vec<Phase>,
    index: usize,
    last_end: Option<Instant>,
    /// An update has begun on this thread: its hand-offs are recorded (a helper's never are).
    active: bool,
    /// Within a recorded hand-off: a pool used inside a share is part of that share's time.
    inside: bool,
}

thread_local! {
    static LOG: RefCell<Log> = RefCell::new(Log::default());
}

/// Each share's busy time in one hand-off (shares beyond the eighth are counted as the eighth).
#[derive(Default)]
pub(crate) struct Busy([AtomicU64; 8]);

impl Busy {
    pub(crate) fn add(&self, share: usize, since: Instant) {
        let nanos = since.elapsed().as_nanos() as u64;
        self.0[share.min(self.0.len() - 1)].fetch_add(nanos, Ordering::Relaxed);
    }
}

/// An update begins: the next hand-off on this thread is its first.
pub(crate) fn begin_update() {
    if on() {
        LOG.with_borrow_mut(|log| (log.index, log.active) = (0, true));
    }
}

/// Whether a hand-off made now on this thread is recorded: one of an update begun here, not
/// made inside another's share. If so, it must end with [`add`].
pub(crate) fn enter() -> bool {
    on() && LOG.with_borrow_mut(|log| {
        let record = log.active && !log.inside;
        log.inside |= record;
        record
    })
}

/// One hand-off asked for at `at`, from `start` to `end`, of `shares` shares.
pub(crate) fn add(at: &'static Location<'static>, start: Instant, end: Instant, busy: &Busy, shares: usize) {
    LOG.with_borrow_mut(|log| {
        log.inside = false;
        log.index += 1;
        let before = log.last_end.map_or(Duration::ZERO, |last| start.saturating_duration_since(last));
        log.last_end = Some(end);
        let phase = entry(&mut log.phases, log.index, at, shares.min(busy.0.len()));
        phase.calls += 1;
        phase.wall += end - start;
        phase.before += before;
        let mut busiest = Duration::ZERO;
        for (sum, share) in phase.busy.iter_mut().zip(&busy.0) {
            let share = Duration::from_nanos(share.load(Ordering::Relaxed));
            *sum += share;
            busiest = busiest.max(share);
        }
        phase.busiest += busiest;
    });
}

/// The entry of `phases` for the hand-off at place `index` asked for at `at`, a new one of
/// `shares` shares if there is none.
fn entry<'a>(phases: &'a mut Vec<Phase>, index: usize, at: &'static Location<'static>, shares: usize) -> &'a mut Phase {
    let i = phases.iter().position(|p| p.index == index && p.at == at).unwrap_or_else(|| {
        let (zero, busy) = (Duration::ZERO, vec![Duration::ZERO; shares]);
        phases.push(Phase { index, at, calls: 0, wall: zero, before: zero, busy, busiest: zero });
        phases.len() - 1
    });
    &mut phases[i]
}

/// The hand-offs recorded on this thread since the last call, in update order; starts afresh.
pub fn take() -> Vec<Phase> {
    let mut phases = LOG.with_borrow_mut(std::mem::take).phases;
    phases.sort_by_key(|p| (p.index, p.at.line()));
    phases
}

/// Adds `more` (from [`take`]) into `into`, hand-off by hand-off: rounds of updates recorded
/// apart, summed.
pub fn merge(into: &mut Vec<Phase>, more: &[Phase]) {
    for p in more {
        let q = entry(into, p.index, p.at, p.busy.len());
        q.calls += p.calls;
        q.wall += p.wall;
        q.before += p.before;
        q.busy.iter_mut().zip(&p.busy).for_each(|(a, b)| *a += *b);
        q.busiest += p.busiest;
    }
    into.sort_by_key(|p| (p.index, p.at.line()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::Pool;
    use std::sync::Mutex;

    /// Recording is switched for the whole process: these tests take turns.
    static TURN: Mutex<()> = Mutex::new(());

    fn wait(d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn each_hand_off_is_timed_by_its_place_and_line() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let pool = Pool::new(2);
        // The calling thread's share (item 0) spins 20 ms, the helper's 1 ms.
        let mut items = [20u64, 1];
        record(true);
        let _ = take();
        for _ in 0..3 {
            begin_update();
            pool.for_each(&mut items, |_, ms| wait(Duration::from_millis(*ms)));
            let line = line!() - 1;
            wait(Duration::from_millis(2));
            pool.each_thread(|_| {});
            let phases = take();
            assert_eq!(phases.len(), 2, "{phases:?}");
            assert_eq!((phases[0].index, phases[0].at.line(), phases[0].calls), (1, line, 1), "{phases:?}");
            assert_eq!((phases[1].index, phases[1].at.line(), phases[1].calls), (2, line + 3, 1), "{phases:?}");
            let first = &phases[0];
            assert!(first.busy[0] >= Duration::from_millis(20) && first.busy[1] >= Duration::from_millis(1));
            assert!(first.wall >= first.busiest && first.busiest == first.busy[0].max(first.busy[1]), "{first:?}");
            assert!(phases[1].before >= Duration::from_millis(2), "the caller's serial time: {phases:?}");
        }
        record(false);
        pool.for_each(&mut items, |_, _| {});
        assert!(take().is_empty(), "nothing is recorded once recording is off");
    }

    #[test]
    fn merged_rounds_sum_hand_off_by_hand_off() {
        let (a, b) = (Location::caller(), Location::caller());
        let ms = Duration::from_millis;
        let phase = |index, at, calls, t: u64| Phase {
            index,
            at,
            calls,
            wall: ms(3 * t),
            before: ms(t),
            busy: vec![ms(2 * t), ms(t)],
            busiest: ms(2 * t),
        };
        let mut all = vec![phase(1, a, 1, 1)];
        merge(&mut all, &[phase(2, b, 2, 5), phase(1, a, 3, 10)]);
        assert_eq!(all.len(), 2);
        let (first, second) = (&all[0], &all[1]);
        assert_eq!((first.index, first.calls, first.wall, first.before), (1, 4, ms(33), ms(11)));
        assert_eq!((&first.busy[..], first.busiest), (&[ms(22), ms(11)][..], ms(22)));
        assert_eq!((second.index, second.at, second.calls, second.wall), (2, b, 2, ms(15)));
    }

    #[test]
    fn only_an_updates_own_hand_offs_are_recorded_not_those_inside_a_share() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let pool = Pool::new(2);
        let mut items = [0u8, 1];
        record(true);
        let _ = take();
        pool.for_each(&mut items, |_, _| {});
        assert!(take().is_empty(), "no update has begun on this thread");
        begin_update();
        pool.for_each(&mut items, |_, _| {
            // A pool of its own inside each share, on the calling thread and on the helper.
            Pool::new(1).each_thread(|_| wait(Duration::from_millis(1)));
        });
        let line = line!() - 4;
        let phases = take();
        assert_eq!(phases.len(), 1, "{phases:?}");
        assert_eq!((phases[0].index, phases[0].at.line()), (1, line));
        assert!(phases[0].busy.iter().all(|&b| b >= Duration::from_millis(1)), "{phases:?}");
        record(false);
    }
}
