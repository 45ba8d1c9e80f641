//! Uniform experience replay on contiguous `f32` storage.
//!
//! One transition costs `4·(2·obs_dim + act_dim + 1) + 2` bytes (observation, next observation,
//! action, reward as `f32`; `terminated` and `truncated` as one byte each): 166 B for HalfCheetah
//! (obs 17, act 6), so the default 1M capacity is ≈ 166 MB. Pages are only touched as they fill,
//! so a short run on a large buffer costs what it stores.
//!
//! `terminated` and `truncated` are kept apart because they mean different things for the
//! Bellman target: only a true termination zeroes the bootstrap; a time-limit truncation is an
//! artefact of the episode cut-off and the target still bootstraps from the next state.

use crate::rng::Rng;

/// How many rows ahead of the copying a batch's rows are fetched ([`ReplayBuffer::sample`]).
const AHEAD: usize = 8;

pub struct ReplayBuffer {
    capacity: usize,
    obs_dim: usize,
    act_dim: usize,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<u8>,
    truncated: Vec<u8>,
    /// Slot the next transition is written to.
    pos: usize,
    len: usize,
    /// Transitions pushed since the buffer was created; transition `t` lives in slot
    /// `t mod capacity` while it is kept. Resume checkpoints address transitions by this index.
    pushed: u64,
}

/// Transitions `first .. first + len` of a buffer, in push order, as checkpoints store them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Segment {
    pub first: u64,
    pub obs: Vec<f32>,
    pub actions: Vec<f32>,
    pub rewards: Vec<f32>,
    pub next_obs: Vec<f32>,
    pub terminated: Vec<u8>,
    pub truncated: Vec<u8>,
}

impl Segment {
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    /// One past the last transition.
    pub fn end(&self) -> u64 {
        self.first + self.len() as u64
    }
}

/// A sampled mini-batch, row-major; reused between samples so sampling never allocates.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub size: usize,
    pub obs: Vec<f32>,
    pub actions: Vec<f32>,
    pub rewards: Vec<f32>,
    pub next_obs: Vec<f32>,
    /// 1.0 where the episode truly ended at this transition, else 0.0.
    pub terminated: Vec<f32>,
}

/// Rows of a [`Batch`]: what one thread of an update works on.
#[derive(Clone, Copy, Debug)]
pub struct BatchRows<'a> {
    pub size: usize,
    pub obs: &'a [f32],
    pub actions: &'a [f32],
    pub rewards: &'a [f32],
    pub next_obs: &'a [f32],
    pub terminated: &'a [f32],
}

impl Batch {
    /// The rows `r` of the batch.
    pub fn rows(&self, r: std::ops::Range<usize>) -> BatchRows<'_> {
        let o = self.obs.len() / self.size.max(1);
        let a = self.actions.len() / self.size.max(1);
        BatchRows {
            size: r.len(),
            obs: &self.obs[r.start * o..r.end * o],
            actions: &self.actions[r.start * a..r.end * a],
            rewards: &self.rewards[r.clone()],
            next_obs: &self.next_obs[r.start * o..r.end * o],
            terminated: &self.terminated[r],
        }
    }
}

impl ReplayBuffer {
    pub fn new(capacity: usize, obs_dim: usize, act_dim: usize) -> Self {
        assert!(capacity > 0, "replay capacity must be positive");
        ReplayBuffer {
            capacity,
            obs_dim,
            act_dim,
            obs: vec![0.0; capacity * obs_dim],
            next_obs: vec![0.0; capacity * obs_dim],
            actions: vec![0.0; capacity * act_dim],
            rewards: vec![0.0; capacity],
            terminated: vec![0; capacity],
            truncated: vec![0; capacity],
            pos: 0,
            len: 0,
            pushed: 0,
        }
    }

    /// Transitions pushed so far (including overwritten ones).
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The oldest transition still kept.
    pub fn oldest(&self) -> u64 {
        self.pushed - self.len as u64
    }

    /// Copies transitions `from .. to` (push indices, all still kept) out of the buffer.
    pub fn export(&self, from: u64, to: u64) -> Segment {
        assert!(self.oldest() <= from && from <= to && to <= self.pushed, "transitions {from}..{to} not kept");
        let (o, a) = (self.obs_dim, self.act_dim);
        let mut seg = Segment { first: from, ..Default::default() };
        for t in from..to {
            let i = (t % self.capacity as u64) as usize;
            seg.obs.extend_from_slice(&self.obs[i * o..(i + 1) * o]);
            seg.next_obs.extend_from_slice(&self.next_obs[i * o..(i + 1) * o]);
            seg.actions.extend_from_slice(&self.actions[i * a..(i + 1) * a]);
            seg.rewards.push(self.rewards[i]);
            seg.terminated.push(self.terminated[i]);
            seg.truncated.push(self.truncated[i]);
        }
        seg
    }

    /// Rebuilds the buffer of a run that had pushed `pushed` transitions from segments covering
    /// (at least) the kept ones, `pushed − min(pushed, capacity) .. pushed`. Segment parts older
    /// than that are skipped, as the ring would have overwritten them.
    pub fn restore(&mut self, pushed: u64, segments: &[Segment]) -> crate::Result<()> {
        let (o, a, cap) = (self.obs_dim, self.act_dim, self.capacity as u64);
        let oldest = pushed.saturating_sub(cap);
        let mut next = oldest;
        for seg in segments {
            let n = seg.len();
            if seg.obs.len() != n * o || seg.next_obs.len() != n * o || seg.actions.len() != n * a {
                return Err(crate::Error::Invalid(format!(
                    "replay segment at {} does not match obs {o} / action {a} sizes",
                    seg.first
                )));
            }
            if seg.terminated.len() != n || seg.truncated.len() != n {
                return Err(crate::Error::Invalid(format!("replay segment at {} has inconsistent lengths", seg.first)));
            }
            if seg.end() <= next {
                continue;
            }
            if seg.first > next {
                return Err(crate::Error::Invalid(format!("replay transitions {next}..{} are missing", seg.first)));
            }
            for t in next..seg.end().min(pushed) {
                let (j, i) = ((t - seg.first) as usize, (t % cap) as usize);
                self.obs[i * o..(i + 1) * o].copy_from_slice(&seg.obs[j * o..(j + 1) * o]);
                self.next_obs[i * o..(i + 1) * o].copy_from_slice(&seg.next_obs[j * o..(j + 1) * o]);
                self.actions[i * a..(i + 1) * a].copy_from_slice(&seg.actions[j * a..(j + 1) * a]);
                self.rewards[i] = seg.rewards[j];
                self.terminated[i] = seg.terminated[j];
                self.truncated[i] = seg.truncated[j];
            }
            next = seg.end().min(pushed);
        }
        if next < pushed {
            return Err(crate::Error::Invalid(format!("replay transitions {next}..{pushed} are missing")));
        }
        self.pushed = pushed;
        self.pos = (pushed % cap) as usize;
        self.len = (pushed - oldest) as usize;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stores one transition, overwriting the oldest once full. `action` is the normalised
    /// action in [−1, 1] that the networks produced, not the env-scaled one.
    pub fn push(
        &mut self,
        obs: &[f32],
        action: &[f32],
        reward: f64,
        next_obs: &[f32],
        terminated: bool,
        truncated: bool,
    ) {
        let (o, a, i) = (self.obs_dim, self.act_dim, self.pos);
        self.obs[i * o..(i + 1) * o].copy_from_slice(obs);
        self.next_obs[i * o..(i + 1) * o].copy_from_slice(next_obs);
        self.actions[i * a..(i + 1) * a].copy_from_slice(action);
        self.rewards[i] = reward as f32;
        self.terminated[i] = terminated as u8;
        self.truncated[i] = truncated as u8;
        self.pos = (self.pos + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
        self.pushed += 1;
    }

    /// Was transition `i` (0 = oldest kept) cut by a time limit? Kept for analysis and exact
    /// resume; the update itself only needs `terminated`.
    pub fn truncated(&self, i: usize) -> bool {
        self.truncated[self.slot(i)] != 0
    }

    fn slot(&self, i: usize) -> usize {
        assert!(i < self.len, "transition {i} of {}", self.len);
        (self.pos + self.capacity - self.len + i) % self.capacity
    }

    /// Samples `size` transitions uniformly with replacement into `batch`.
    pub fn sample(&self, size: usize, rng: &mut Rng, batch: &mut Batch) {
        assert!(self.len > 0, "sampling from an empty replay buffer");
        let len = self.len as u64;
        self.gather(size, || rng.below(len) as usize, None, batch, &mut Vec::new());
    }

    /// The batch [`ReplayBuffer::sample`] will draw right after the next `push`, drawn now: the
    /// same draws from `rng`, so the same rows, but the rows of the transition that push will
    /// store are left out, their positions in `pending`. After the push,
    /// [`ReplayBuffer::fill_pushed`] copies them in. This lets an update start on a batch while the
    /// env step that completes it runs (`crate::train`).
    pub fn sample_before_push(&self, size: usize, rng: &mut Rng, batch: &mut Batch, pending: &mut Vec<usize>) {
        let len = (self.len + 1).min(self.capacity) as u64;
        // Slot `pos` is where the push goes: empty until then, or the oldest transition, which
        // the push overwrites.
        self.gather(size, || rng.below(len) as usize, Some(self.pos), batch, pending);
    }

    /// Copies the transition pushed last into the rows `pending` of `batch`
    /// ([`ReplayBuffer::sample_before_push`]).
    pub fn fill_pushed(&self, batch: &mut Batch, pending: &[usize]) {
        let last = (self.pos + self.capacity - 1) % self.capacity;
        for &b in pending {
            self.copy_row(last, b, batch);
        }
    }

    /// Copies `size` slots, drawn in order by `draw`, into the rows of `batch`; a slot `skip` is
    /// not copied, its rows listed in `pending`. Each row is a handful of cache misses anywhere in
    /// a buffer of up to gigabytes: fetched one row at a time a HalfCheetah batch took 16–20 µs,
    /// so each row's lines are asked for [`AHEAD`] rows before they are copied (6.5 µs; docs/speed.md,
    /// "Batches fetched ahead"). The draws keep their order, so the rows are the same.
    fn gather(
        &self,
        size: usize,
        mut draw: impl FnMut() -> usize,
        skip: Option<usize>,
        batch: &mut Batch,
        pending: &mut Vec<usize>,
    ) {
        self.resize(size, batch);
        pending.clear();
        let mut ahead = [0usize; AHEAD];
        for slot in ahead.iter_mut().take(size) {
            *slot = draw();
            self.fetch(*slot, skip);
        }
        for b in 0..size {
            let i = ahead[b % AHEAD];
            if b + AHEAD < size {
                ahead[b % AHEAD] = draw();
                self.fetch(ahead[b % AHEAD], skip);
            }
            if Some(i) == skip {
                pending.push(b);
            } else {
                self.copy_row(i, b, batch);
            }
        }
    }

    /// Asks for the cache lines of slot `i` (unless it is `skip`), to be copied soon.
    #[inline]
    fn fetch(&self, i: usize, skip: Option<usize>) {
        #[cfg(target_arch = "x86_64")]
        if Some(i) != skip {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let (o, a) = (self.obs_dim, self.act_dim);
            let line = |p: *const i8| {
                // SAFETY: a prefetch only hints; it never faults, and every address is in bounds.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(p) }
            };
            for rows in [&self.obs, &self.next_obs] {
                // Every 64-byte line of the row (16 values), and its last.
                let row = &rows[i * o..(i + 1) * o];
                row.iter().step_by(16).chain(row.last()).for_each(|v| line((v as *const f32).cast()));
            }
            line(self.actions[i * a..].as_ptr().cast());
            line(self.rewards[i..].as_ptr().cast());
            line(self.terminated[i..].as_ptr().cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (i, skip);
    }

    fn resize(&self, size: usize, batch: &mut Batch) {
        let (o, a) = (self.obs_dim, self.act_dim);
        batch.size = size;
        batch.obs.resize(size * o, 0.0);
        batch.next_obs.resize(size * o, 0.0);
        batch.actions.resize(size * a, 0.0);
        batch.rewards.resize(size, 0.0);
        batch.terminated.resize(size, 0.0);
    }

    /// Slot `i` into row `b` of `batch`.
    fn copy_row(&self, i: usize, b: usize, batch: &mut Batch) {
        let (o, a) = (self.obs_dim, self.act_dim);
        batch.obs[b * o..(b + 1) * o].copy_from_slice(&self.obs[i * o..(i + 1) * o]);
        batch.next_obs[b * o..(b + 1) * o].copy_from_slice(&self.next_obs[i * o..(i + 1) * o]);
        batch.actions[b * a..(b + 1) * a].copy_from_slice(&self.actions[i * a..(i + 1) * a]);
        batch.rewards[b] = self.rewards[i];
        batch.terminated[b] = self.terminated[i] as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_overwrites_oldest_and_keeps_flags_apart() {
        let mut rb = ReplayBuffer::new(3, 1, 1);
        for t in 0..5 {
            let x = t as f32;
            rb.push(&[x], &[-x], t as f64, &[x + 0.5], t == 3, t == 4);
        }
        assert_eq!(rb.len(), 3);
        // Kept: transitions 2, 3, 4 (oldest first).
        assert!(!rb.truncated(0) && !rb.truncated(1) && rb.truncated(2));
        let mut batch = Batch::default();
        rb.sample(300, &mut Rng::new(0), &mut batch);
        let mut seen = [0usize; 5];
        for b in 0..300 {
            let t = batch.obs[b] as usize;
            assert!(t >= 2, "overwritten transition {t} sampled");
            assert_eq!(batch.actions[b], -(t as f32));
            assert_eq!(batch.next_obs[b], t as f32 + 0.5);
            assert_eq!(batch.rewards[b], t as f32);
            // Only the true termination (t = 3) is marked; the truncation (t = 4) is not.
            assert_eq!(batch.terminated[b], (t == 3) as u8 as f32);
            seen[t] += 1;
        }
        // Uniform: each of the 3 kept transitions ≈ 100 times.
        for &c in &seen[2..] {
            assert!((60..140).contains(&c), "{seen:?}");
        }
    }

    #[test]
    fn segments_rebuild_the_ring_exactly() {
        let fill = |rb: &mut ReplayBuffer, range: std::ops::Range<u64>| {
            for t in range {
                let x = t as f32;
                rb.push(&[x, -x], &[x * 0.5], t as f64, &[x + 1.0, 0.0], t % 7 == 0, t % 5 == 0);
            }
        };
        let mut rb = ReplayBuffer::new(10, 2, 1);
        fill(&mut rb, 0..4);
        let first = rb.export(0, 4);
        fill(&mut rb, 4..9);
        let second = rb.export(4, 9);
        fill(&mut rb, 9..23);
        let third = rb.export(13, 23); // 9..13 overwritten: only the kept part can be exported
        assert_eq!(third.first, 13);
        let mut copy = ReplayBuffer::new(10, 2, 1);
        copy.restore(23, &[first.clone(), second.clone(), third.clone()]).unwrap();
        assert_eq!((copy.pos, copy.len, copy.pushed), (rb.pos, rb.len, rb.pushed));
        assert_eq!((copy.obs.clone(), copy.next_obs.clone()), (rb.obs.clone(), rb.next_obs.clone()));
        assert_eq!((copy.actions.clone(), copy.rewards.clone()), (rb.actions.clone(), rb.rewards.clone()));
        assert_eq!((copy.terminated.clone(), copy.truncated.clone()), (rb.terminated.clone(), rb.truncated.clone()));
        // A buffer that has not wrapped yet, and a gap that must be reported.
        let mut partial = ReplayBuffer::new(10, 2, 1);
        partial.restore(9, &[first, second.clone()]).unwrap();
        assert_eq!((partial.len(), partial.pos), (9, 9));
        let err = ReplayBuffer::new(10, 2, 1).restore(15, &[second]).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
        let err = ReplayBuffer::new(10, 3, 1).restore(23, &[third]).unwrap_err().to_string();
        assert!(err.contains("sizes"), "{err}");
    }

    #[test]
    fn a_batch_drawn_before_a_push_is_the_batch_drawn_after_it() {
        // Filling (the push takes a new slot) and full (it overwrites the oldest), with the pushed
        // transition drawn or not.
        let (mut drawn, mut not_drawn) = (0, 0);
        for (capacity, before, size) in [(50, 3, 64), (50, 30, 8), (10, 10, 64), (10, 37, 8), (1, 1, 4), (1, 0, 4)] {
            let push = |rb: &mut ReplayBuffer, t: usize| {
                let x = t as f32;
                rb.push(&[x, -x], &[x / 100.0], t as f64, &[x + 0.5, 1.0], t.is_multiple_of(3), t.is_multiple_of(5));
            };
            for seed in 0..20 {
                let (mut early, mut late, mut pending) = (Batch::default(), Batch::default(), Vec::new());
                let (mut rng_early, mut rng_late) = (Rng::new(seed), Rng::new(seed));
                let mut rb = ReplayBuffer::new(capacity, 2, 1);
                for t in 0..before {
                    push(&mut rb, t);
                }
                rb.sample_before_push(size, &mut rng_early, &mut early, &mut pending);
                push(&mut rb, before);
                rb.fill_pushed(&mut early, &pending);
                rb.sample(size, &mut rng_late, &mut late);
                let case = format!("capacity {capacity}, {before} pushed, seed {seed}");
                assert_eq!(
                    (&early.obs, &early.next_obs, &early.actions),
                    (&late.obs, &late.next_obs, &late.actions),
                    "{case}"
                );
                assert_eq!((&early.rewards, &early.terminated), (&late.rewards, &late.terminated), "{case}");
                assert_eq!(rng_early.state(), rng_late.state(), "{case}");
                assert!(pending.iter().all(|&b| late.rewards[b] == before as f32), "{case}");
                (drawn, not_drawn) = (drawn + pending.len(), not_drawn + size - pending.len());
            }
        }
        assert!(drawn > 0 && not_drawn > 0, "both kinds of rows: {drawn}, {not_drawn}");
    }

    #[test]
    fn same_rng_same_batch() {
        let mut rb = ReplayBuffer::new(100, 2, 1);
        for t in 0..100 {
            rb.push(&[t as f32, 0.0], &[0.0], 0.0, &[0.0, 0.0], false, false);
        }
        let (mut a, mut b) = (Batch::default(), Batch::default());
        rb.sample(32, &mut Rng::new(9), &mut a);
        rb.sample(32, &mut Rng::new(9), &mut b);
        assert_eq!(a.obs, b.obs);
    }
}
