//! The algorithms: TD3 (and DDPG, TD3 with its tricks switched off) and SAC.
//!
//! Each algorithm owns its networks and writes only its update; what they share — the critic
//! ensemble, the Bellman target, a network with its optimiser — lives here once. The training
//! loop (`crate::train`) drives any of them through [`Agent`].

mod critics;
pub mod sac;

pub mod td3;

pub(crate) use critics::Critics;
pub use sac::{Sac, SacConfig};

pub use td3::{Td3, Td3Config};

use crate::nn::{Adam, Blocks, BlocksBy, Gradient, Mlp, MlpCache};
use crate::parallel::{share, Pool};
use crate::replay::Batch;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;

/// Hyperparameters every algorithm shares (defaults: Stable-Baselines3 / the papers'). A run's
/// [`TrainConfig`](crate::config::TrainConfig) holds them at its top level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommonConfig {
    /// Discount factor γ.
    pub gamma: f64,
    /// Polyak coefficient τ of the target networks (θ' ← τθ + (1−τ)θ').
    pub tau: f64,
    /// Adam learning rate of the actor.
    pub actor_lr: f64,
    /// Adam learning rate of the critics.
    pub critic_lr: f64,
    /// Hidden layer widths of actor and critics (ReLU).
    pub hidden: Vec<usize>,
    /// Threads per update: 0 = automatic (2 where the machine has 2 or more cores), 1 =
    /// single-threaded. Each thread takes a block of the batch's rows; results are identical for
    /// any value.
    pub threads: usize,
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig { gamma: 0.99, tau: 0.005, actor_lr: 3e-4, critic_lr: 3e-4, hidden: vec![256, 256], threads: 0 }
    }
}

impl CommonConfig {
    /// The thread count `threads = 0` stands for on this machine.
    pub fn resolved_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map(|n| n.get().min(2)).unwrap_or(1),
            n => n,
        }
    }
}

/// Whether an action is for training (with exploration) or evaluation (deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActMode {
    Explore,
    Deterministic,
}

/// What one gradient update reports for logging.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UpdateStats {
    pub critic_loss: f64,
    /// Present on updates that also trained the actor.
    pub actor_loss: Option<f64>,
    pub alpha: Option<f64>,
    /// Mean of Q_1(s, a) over the batch.
    pub mean_q: f64,
}

/// An off-policy agent as the training loop sees it. Actions are always normalised to [−1, 1].
pub trait Agent: Send {
    /// Chooses an action for one observation into `action`.
    fn act(&mut self, obs: &[f32], mode: ActMode, rng: &mut crate::rng::Rng, action: &mut [f32]);
    /// One gradient step on a sampled batch, with `meanwhile`, if any, run on this thread while
    /// the step's first rows are under way on the others ([`Agent::update_beside`]).
    fn update_with(&mut self, batch: &Batch, meanwhile: Option<&mut dyn FnMut()>) -> UpdateStats;
    /// One gradient step on a sampled batch.
    fn update(&mut self, batch: &Batch) -> UpdateStats {
        self.update_with(batch, None)
    }
    /// [`Agent::update`], with `meanwhile` (the training loop's env step, which the batch does
    /// not depend on) run on this thread while the update's first rows are under way on the
    /// others: the numbers of `meanwhile(); update(batch)`, in less time on two threads.
    fn update_beside(&mut self, batch: &Batch, meanwhile: &mut dyn FnMut()) -> UpdateStats {
        self.update_with(batch, Some(meanwhile))
    }
    /// The deterministic policy's network as plain layers, ReLU between them: tanh of the last
    /// one's outputs is the action [`ActMode::Deterministic`] takes ([`crate::export`]).
    fn policy_layers(&self) -> Vec<crate::export::Layer>;
    /// Shows `visitor` every piece of learned state once, by name: tensors (weights, target
    /// weights, Adam moments, log α) and counters (update count, Adam step counts, the
    /// update-noise generator). Saving, restoring and checking all go through this one list.
    fn visit_state(&mut self, visitor: &mut dyn StateVisitor);
}

/// What [`Agent::visit_state`] shows the state to. A visitor may read the values (to save or
/// check them) or overwrite them (to restore them).
pub trait StateVisitor {
    fn tensor(&mut self, name: &str, values: &mut [f32]);
    fn counter(&mut self, name: &str, value: &mut u64);
}

/// Parameters `name` with their Adam state: `name.adam_m`, `name.adam_v` and `name.adam_t`.
pub(crate) fn visit_adam(name: &str, params: &mut [f32], adam: &mut Adam, v: &mut dyn StateVisitor) {
    v.tensor(name, params);
    v.tensor(&format!("{name}.adam_m"), &mut adam.m);
    v.tensor(&format!("{name}.adam_v"), &mut adam.v);
    v.counter(&format!("{name}.adam_t"), &mut adam.t);
}

/// A generator's state as four counters `prefix.0` … `prefix.3`.
pub(crate) fn visit_rng(prefix: &str, rng: &mut crate::rng::Rng, v: &mut dyn StateVisitor) {
    let mut words = rng.state();
    for (i, w) in words.iter_mut().enumerate() {
        v.counter(&format!("{prefix}.{i}"), w);
    }
    for (i, w) in words.into_iter().enumerate() {
        rng.set_word(i, w);
    }
}

/// Copies of an agent's tensors and counters, by name.
pub fn state_of(agent: &mut dyn Agent) -> (BTreeMap<String, Vec<f32>>, BTreeMap<String, u64>) {
    #[derive(Default)]
    struct Collect(BTreeMap<String, Vec<f32>>, BTreeMap<String, u64>);
    impl StateVisitor for Collect {
        fn tensor(&mut self, name: &str, values: &mut [f32]) {
            self.0.insert(name.to_string(), values.to_vec());
        }
        fn counter(&mut self, name: &str, value: &mut u64) {
            self.1.insert(name.to_string(), *value);
        }
    }
    let mut c = Collect::default();
    agent.visit_state(&mut c);
    (c.0, c.1)
}

/// The name of the first tensor holding a NaN or infinity, if any.
pub fn first_non_finite(agent: &mut dyn Agent) -> Option<String> {
    struct Find(Option<String>);
    impl StateVisitor for Find {
        fn tensor(&mut self, name: &str, values: &mut [f32]) {
            if self.0.is_none() && values.iter().any(|v| !v.is_finite()) {
                self.0 = Some(name.to_string());
            }
        }
        fn counter(&mut self, _: &str, _: &mut u64) {}
    }
    let mut f = Find(None);
    agent.visit_state(&mut f);
    f.0
}

/// A network trained by its own Adam optimiser, with its gradient buffer.
#[derive(Clone, Debug)]
pub struct Trainable {
    pub net: Mlp,
    pub adam: Adam,
    pub grads: Gradient,
}

impl Trainable {
    pub fn new(net: Mlp, lr: f32) -> Self {
        let n = net.n_params();
        Trainable { net, adam: Adam::new(n, lr), grads: Gradient::new(n) }
    }

    /// The gradient from the blocks' backward passes, one Adam step and, with `target`, the
    /// target network's Polyak update ([`Mlp::learn`]).
    pub(crate) fn learn(&mut self, blocks: &(impl Blocks + ?Sized), target: Option<(&mut Mlp, f32)>, pool: &Pool) {
        self.net.learn(blocks, &mut self.grads, &mut self.adam, target, pool);
    }

    /// The network's parameters and Adam state under `name` (see [`visit_adam`]).
    pub(crate) fn visit(&mut self, name: &str, v: &mut dyn StateVisitor) {
        visit_adam(name, self.net.params_mut(), &mut self.adam, v);
    }
}

/// A new actor with `actor_out` outputs and `n_critics` critics, drawn from `init` in that
/// order (the order fixes what a seed's networks are).
pub(crate) fn actor_and_critics(
    obs_dim: usize,
    act_dim: usize,
    actor_out: usize,
    n_critics: usize,
    common: &CommonConfig,
    init: &mut crate::rng::Rng,
) -> (Trainable, Critics) {
    let sizes: Vec<usize> = std::iter::once(obs_dim).chain(common.hidden.iter().copied()).chain([actor_out]).collect();
    let actor = Trainable::new(Mlp::new(&sizes, init), common.actor_lr as f32);
    (actor, Critics::new(n_critics, obs_dim, act_dim, &common.hidden, common.critic_lr as f32, init))
}

/// The threads an update runs on, with one block of scratch `R` per thread. An update cuts its
/// batch's rows into as many contiguous blocks: the work of each row (forward passes, errors, δs)
/// runs on its block's thread, and what sums over rows (the weight gradients) is then two chains,
/// one over each half of the batch, added ([`Trainable::learn`]; on two threads each thread runs
/// one half). (With one thread per critic, the critics' step is shared by critic instead:
/// [`Critics::learn_one_per_thread`].) So every number has the bits of a single-threaded update,
/// whatever the thread count, and whatever rows each block gets.
pub(crate) struct Team<R> {
    pub(crate) pool: Pool,
    pub(crate) blocks: Vec<R>,
    /// The rows of the calling thread's block (block 0) in the current update, for a batch of
    /// `.0` rows, when it is not an even share: the caller then also runs the training loop's
    /// serial work ([`Team::rows_beside`]).
    lead: Option<(usize, usize)>,
    /// Running estimates: seconds of the caller's serial work, and seconds per row of a helper
    /// in the first phase of an update.
    beside_secs: f64,
    row_secs: f64,
}

impl<R: Default + Send> Team<R> {
    pub(crate) fn new(threads: usize) -> Self {
        let pool = Pool::new(threads);
        let blocks = (0..pool.threads()).map(|_| R::default()).collect();
        Team { blocks, pool, lead: None, beside_secs: 0.0, row_secs: 0.0 }
    }

    /// The first phase of an update: calls `f(rows, block)` for every block on its own thread,
    /// with `meanwhile` (the training loop's env step) run first on this thread, whose block gets
    /// fewer rows to make up for it. How many fewer comes from timing earlier updates; the split
    /// changes no number. Later phases of the update ([`Team::rows`], [`Team::passes`]) keep it.
    #[track_caller]
    pub(crate) fn rows_beside(
        &mut self,
        n: usize,
        meanwhile: Option<&mut dyn FnMut()>,
        f: impl Fn(Range<usize>, &mut R) + Sync,
    ) {
        crate::parallel::phases::begin_update();
        let parts = self.blocks.len();
        self.lead = None;
        let meanwhile = match meanwhile {
            Some(meanwhile) if parts > 1 => meanwhile,
            other => {
                if let Some(meanwhile) = other {
                    meanwhile();
                }
                return self.rows(n, f);
            }
        };
        // The caller's rows: its serial work plus them take as long as a helper's share of the
        // rest (but at least one row, however long the serial work).
        let even = share(n, 0, parts).len();
        let lead = if self.row_secs > 0.0 {
            let behind = self.beside_secs / self.row_secs * (parts - 1) as f64;
            ((n as f64 - behind) / parts as f64).clamp(1.0, even.max(1) as f64) as usize
        } else {
            even
        };
        self.lead = Some((n, lead));
        let helper_rows = block_rows(self.lead, n, 1, parts).len().max(1) as f64;
        let helper_nanos = std::sync::atomic::AtomicU64::new(0);
        let mut beside_secs = 0.0;
        let first = || {
            let clock = std::time::Instant::now();
            meanwhile();
            beside_secs = clock.elapsed().as_secs_f64();
        };
        let cut = self.lead;
        self.pool.for_each_after(first, &mut self.blocks, |t, block| {
            let clock = std::time::Instant::now();
            f(block_rows(cut, n, t, parts), block);
            if t == 1 {
                helper_nanos.store(clock.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
            }
        });
        // Averaged over updates: one env step or one update hit by the host's jitter moves the
        // split only a little.
        let row_secs = helper_nanos.into_inner() as f64 * 1e-9 / helper_rows;
        let mix = |old: f64, new: f64| if old > 0.0 { 0.9 * old + 0.1 * new } else { new };
        (self.beside_secs, self.row_secs) = (mix(self.beside_secs, beside_secs), mix(self.row_secs, row_secs));
    }

    /// Calls `f(rows, block)` for every block on its own thread, `rows` being the block's share
    /// of a batch of `n` rows (as the update's first phase cut it, [`Team::rows_beside`]).
    #[track_caller]
    pub(crate) fn rows(&mut self, n: usize, f: impl Fn(Range<usize>, &mut R) + Sync) {
        let (cut, parts) = (self.lead, self.blocks.len());
        self.pool.for_each(&mut self.blocks, |t, block| f(block_rows(cut, n, t, parts), block));
    }

    /// Even shares for the phases after this call: for a phase that reads nothing the blocks
    /// kept from the update's first phase, where the caller has no serial work to make up for.
    pub(crate) fn even(&mut self) {
        self.lead = None;
    }

    /// The blocks' values of one per-row quantity (`pick`), in batch order, into `out`: what a
    /// step taken over the whole batch reads.
    pub(crate) fn gather<'a>(&'a self, out: &mut Vec<f32>, pick: impl Fn(&'a R) -> &'a [f32]) {
        out.clear();
        out.extend(self.blocks.iter().flat_map(pick));
    }

    /// Each block's rows of `x` (a batch of `n` rows) with the cache `cache` picks from the
    /// block: a network's backward pass over the batch, for [`Trainable::learn`].
    pub(crate) fn passes<'a>(
        &'a self,
        x: &'a [f32],
        n: usize,
        cache: impl Fn(&'a R) -> &'a MlpCache + Sync,
    ) -> BlocksBy<'a, impl Fn(usize) -> (&'a [f32], &'a MlpCache) + Sync>
    where
        R: Sync,
    {
        let (width, lead, blocks) = (x.len() / n.max(1), self.lead, &self.blocks);
        BlocksBy::new(blocks.len(), move |t| {
            let rows = block_rows(lead, n, t, blocks.len());
            (&x[rows.start * width..rows.end * width], cache(&blocks[t]))
        })
    }
}

/// Block `t`'s rows of a batch of `n` cut into `parts` blocks: even shares, or with `lead` =
/// (n, rows) the first block's rows set and the rest shared evenly among the others.
fn block_rows(lead: Option<(usize, usize)>, n: usize, t: usize, parts: usize) -> Range<usize> {
    match lead {
        Some((batch, lead)) if batch == n && parts > 1 => match t {
            0 => 0..lead,
            _ => {
                let rest = share(n - lead, t - 1, parts - 1);
                lead + rest.start..lead + rest.end
            }
        },
        _ => share(n, t, parts),
    }
}

/// The one-step Bellman target `y = r + γ·(1 − terminated)·next_value`, in place over
/// `next_value`. Only a true termination stops the bootstrap; time-limit truncations are stored
/// as non-terminal (see `replay`) and so bootstrap as they should.
pub fn bellman_target(rewards: &[f32], terminated: &[f32], gamma: f32, next_value: &mut [f32]) {
    for ((v, &r), &d) in next_value.iter_mut().zip(rewards).zip(terminated) {
        *v = r + gamma * (1.0 - d) * *v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_beside_serial_work_has_the_bits_of_one_after_it() {
        use crate::config::Algo;
        // Serial work from none to far longer than the update: the caller's block goes from an
        // even share down to one row, as the split follows the timings.
        let pauses = [0u64, 3_000, 100, 0, 20_000, 20_000, 300, 0];
        for algo in [Algo::Sac, Algo::Td3, Algo::Ddpg] {
            for threads in [2, 3] {
                let common = CommonConfig { hidden: vec![32, 24], threads, ..Default::default() };
                let (mut plain, mut beside) =
                    (crate::bench::build(algo, 5, 2, &common), crate::bench::build(algo, 5, 2, &common));
                let mut rng = crate::rng::Rng::new(4);
                for (k, &pause) in pauses.iter().enumerate() {
                    let batch = crate::bench::random_batch(40 + k, 5, 2, &mut rng);
                    let mut ran = 0;
                    let meanwhile = &mut || {
                        ran += 1;
                        std::thread::sleep(std::time::Duration::from_micros(pause));
                    };
                    let (want, got) = (plain.update(&batch), beside.update_beside(&batch, meanwhile));
                    assert_eq!(ran, 1, "{algo:?}, {threads} threads: serial work runs once");
                    assert_eq!(want, got, "{algo:?}, {threads} threads, update {k}");
                }
                let bits = |a: &mut dyn Agent| {
                    let (tensors, counters) = state_of(a);
                    let tensors: Vec<Vec<u32>> =
                        tensors.values().map(|t| t.iter().map(|v| v.to_bits()).collect()).collect();
                    (tensors, counters)
                };
                assert!(bits(plain.as_mut()) == bits(beside.as_mut()), "{algo:?}, {threads} threads: state");
            }
        }
    }

    #[test]
    fn bellman_target_bootstraps_through_truncation_only() {
        let rewards = [1.0, 1.0, -2.0];
        // Transition 0 terminated; 1 was truncated (stored as not terminated); 2 ordinary.
        let terminated = [1.0, 0.0, 0.0];
        let mut v = [10.0, 10.0, 4.0];
        bellman_target(&rewards, &terminated, 0.99, &mut v);
        assert_eq!(v[0], 1.0);
        assert!((v[1] - 10.9).abs() < 1e-6);
        assert!((v[2] - (-2.0 + 3.96)).abs() < 1e-6);
    }
}
