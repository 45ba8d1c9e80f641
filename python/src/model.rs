//! `Model`: one training run as Stable-Baselines3 shapes it (`learn`, `predict`, `load`), on a
//! run directory the CLI can read, resume and evaluate too.

use crate::bridge::{box_space, Failure, LastInfo, PyEnv};
use crate::to_py;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use polyak::algo::{ActMode, Agent};
use polyak::config::{hyperparameters, Algo, TrainConfig};
use polyak::env::{BoxSpace, Env, PYTHON_ENV_PREFIX};
use polyak::rng::Rng;
use polyak::train::{self, Interrupt, StepContext, StepHook, TrainOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where the run's env comes from.
enum Source {
    /// A built-in env: the loop never calls Python.
    BuiltIn,
    /// A Python env (and a second instance for evaluation).
    Python { env: Py<PyAny>, eval_env: Py<PyAny> },
    /// A run on a Python env loaded without it: its recorded spaces, enough to predict.
    Recorded { obs_dim: usize, space: BoxSpace },
}

/// The agent `predict` uses, with the action bounds it scales to.
struct Policy {
    agent: Box<dyn Agent>,
    space: BoxSpace,
    obs_dim: usize,
    /// The env step of its checkpoint (0: not trained yet).
    step: Option<u64>,
}

struct Inner {
    algo: Algo,
    /// The user's settings as `key=value` (dotted keys), applied over the preset.
    sets: Vec<String>,
    /// The resolved config (before the first `learn`, with its `total_steps` not yet chosen).
    cfg: TrainConfig,
    out: Option<PathBuf>,
    /// The run directory, once the run exists.
    run_dir: Option<PathBuf>,
    source: Source,
    steps: u64,
    policy: Option<Policy>,
    /// Noise of `predict(deterministic=False)`.
    rng: Rng,
    /// A `learn()` is running (the lock is not held meanwhile, so that its callbacks can use the
    /// model).
    learning: bool,
}

#[pyclass(module = "polyak._polyak")]
pub struct Model {
    inner: Mutex<Inner>,
}

thread_local! {
    /// The training loop between two steps, while `learn()`'s callback runs on this thread: the
    /// model it trains (by address) and the loop's [`StepContext`], its lifetime erased. Set and
    /// cleared by [`Live::enter`] around the callback, which runs inside the hook call that
    /// borrows the context, so the pointer is valid whenever it is set.
    static LIVE: Cell<Option<(usize, *mut StepContext<'static>)>> = const { Cell::new(None) };
}

/// [`LIVE`] set for as long as this lives; then what it was before (a callback may train
/// another model, whose callbacks set it in turn).
struct Live(Option<(usize, *mut StepContext<'static>)>);

impl Live {
    fn enter(model: usize, ctx: &mut StepContext<'_>) -> Live {
        let ptr = std::ptr::from_mut(ctx).cast::<StepContext<'static>>();
        Live(LIVE.with(|l| l.replace(Some((model, ptr)))))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.with(|l| l.set(self.0));
    }
}

/// A Python value as a TOML value of a config.
fn toml_value(key: &str, v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    if let Ok(b) = v.cast::<pyo3::types::PyBool>() {
        return Ok(toml::Value::Boolean(b.is_true()));
    }
    if let Ok(i) = v.extract::<i64>() {
        if v.is_instance_of::<pyo3::types::PyInt>() || v.hasattr("__index__")? {
            return Ok(toml::Value::Integer(i));
        }
    }
    if let Ok(f) = v.extract::<f64>() {
        return Ok(toml::Value::Float(f));
    }
    if let Ok(s) = v.extract::<String>() {
        return Ok(toml::Value::String(s));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<pyo3::types::PyTuple>() {
        let items: PyResult<Vec<toml::Value>> = v.try_iter()?.map(|x| toml_value(key, &x?)).collect();
        return Ok(toml::Value::Array(items?));
    }
    Err(PyValueError::new_err(format!("`{key}`: cannot use a value of type {} as a setting", v.get_type().name()?)))
}

/// The Python keyword arguments as `key=value` settings: a keyword is a config key, with the
/// section of TD3's or SAC's settings left out (`policy_delay` is `td3.policy_delay`).
fn settings(algo: Algo, kwargs: &Bound<'_, PyDict>) -> PyResult<Vec<String>> {
    let known = hyperparameters(algo);
    let flat = |dotted: &str| dotted.rsplit('.').next().unwrap_or(dotted).to_string();
    let names: Vec<String> = known.iter().map(|(k, _, _)| flat(k)).collect();
    let mut sets = Vec::new();
    for (k, v) in kwargs.iter() {
        let key: String = k.extract()?;
        if matches!(key.as_str(), "algo" | "env" | "total_steps") {
            let why = match key.as_str() {
                "total_steps" => "pass the number of steps to learn(total_timesteps)",
                "env" => "pass the env as the first argument",
                _ => "choose the class (SAC, TD3, DDPG) and preset=",
            };
            return Err(PyValueError::new_err(format!("`{key}` is not a hyperparameter here: {why}")));
        }
        let Some(i) = names.iter().position(|n| *n == key) else {
            let all: Vec<String> =
                Algo::ALL.iter().flat_map(|a| hyperparameters(*a)).map(|(k, _, _)| flat(k)).collect();
            let mut msg = format!("unknown hyperparameter `{key}` for {}", algo.name());
            if all.contains(&key) {
                msg.push_str(" (it belongs to the other algorithm family)");
            } else if let Some(close) = polyak::error::closest(&key, &names) {
                msg.push_str(&format!("; did you mean `{close}`?"));
            }
            msg.push_str(&format!("; known: {}", names.join(", ")));
            return Err(PyValueError::new_err(msg));
        };
        if v.is_none() {
            continue; // None: polyak's default
        }
        sets.push(format!("{}={}", known[i].0, toml_value(&key, &v)?));
    }
    Ok(sets)
}

/// The name a Python env is recorded under: `python:<its id, or its class>`.
fn python_env_name(env: &Bound<'_, PyAny>) -> PyResult<String> {
    let spec = env.getattr("spec").ok().filter(|s| !s.is_none());
    let name = match spec {
        Some(s) => s.getattr("id")?.extract::<String>()?,
        None => env.getattr("unwrapped")?.get_type().name()?.to_string(),
    };
    Ok(format!("{PYTHON_ENV_PREFIX}{name}"))
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl Inner {
    fn envs(
        &self,
        py: Python<'_>,
        failure: &Failure,
        info: Option<LastInfo>,
    ) -> PyResult<(Box<dyn Env>, Box<dyn Env>)> {
        Ok(match &self.source {
            Source::BuiltIn => {
                let make = || polyak::env::make(&self.cfg.env).map_err(to_py);
                (make()?, make()?)
            }
            Source::Python { env, eval_env } => (
                Box::new(PyEnv::new(env.bind(py), failure.clone(), info)?),
                Box::new(PyEnv::new(eval_env.bind(py), failure.clone(), None)?),
            ),
            Source::Recorded { .. } => {
                let dir = self.run_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default();
                return Err(PyValueError::new_err(format!(
                    "{dir} trained on a Python env ({}): to train it, pass the env again, polyak.load(run_dir, \
                     env=...)",
                    self.cfg.env
                )));
            }
        })
    }

    /// Observation size and action bounds of the run's env.
    fn spaces(&self, py: Python<'_>) -> PyResult<(usize, BoxSpace)> {
        match &self.source {
            Source::BuiltIn => {
                let env = polyak::env::make(&self.cfg.env).map_err(to_py)?;
                Ok((env.observation_space().dim(), env.action_space().clone()))
            }
            Source::Python { env, .. } => {
                let env = env.bind(py);
                let obs = box_space(&env.getattr("observation_space")?, "observation space")?;
                Ok((obs.dim(), box_space(&env.getattr("action_space")?, "action space")?))
            }
            Source::Recorded { obs_dim, space } => Ok((*obs_dim, space.clone())),
        }
    }

    /// Records a Python env's spaces in the run directory (`python_env.toml`), so that
    /// `polyak.load` of the run, or of a copy, predicts without the env.
    fn record_spaces(&self, py: Python<'_>) -> PyResult<()> {
        match (&self.source, &self.run_dir) {
            (Source::Python { .. }, Some(dir)) if polyak::rundir::RunDir::new(dir).holds_run() => {
                let (obs_dim, space) = self.spaces(py)?;
                polyak::rundir::write_env_spaces(&polyak::rundir::RunDir::new(dir), obs_dim, &space).map_err(to_py)
            }
            _ => Ok(()),
        }
    }

    fn policy(&mut self, py: Python<'_>) -> PyResult<&mut Policy> {
        if self.policy.is_none() {
            let (obs_dim, space) = self.spaces(py)?;
            let (agent, step) = match &self.run_dir {
                Some(dir) if !polyak::train::state::agent_checkpoints(dir).is_empty() => {
                    let loaded = train::load_agent(dir, None, obs_dim, space.dim()).map_err(to_py)?;
                    (loaded.agent, loaded.step)
                }
                _ => (train::build_agent(&self.cfg, obs_dim, space.dim()), Some(0)),
            };
            self.policy = Some(Policy { agent, space, obs_dim, step });
        }
        Ok(self.policy.as_mut().expect("set above"))
    }
}

impl Model {
    /// The training loop's step context while this model's `learn()` runs its callback on this
    /// thread.
    #[allow(clippy::mut_from_ref)]
    fn live(&self) -> Option<&mut StepContext<'static>> {
        let (model, ctx) = LIVE.with(Cell::get)?;
        // SAFETY: LIVE is set only while the hook that borrows the context mutably waits on the
        // callback (see LIVE), on this thread; the hook does not touch the context meanwhile, and
        // each use here ends before the callback returns.
        (model == self as *const Model as usize).then(|| unsafe { &mut *ctx })
    }
}

/// What `learn()`'s callback gets after each step: `step`, `action` (in the env's bounds),
/// `reward`, `terminated`, `truncated`, `next_obs` (what the step returned: the episode's last
/// observation when it ended), `obs` (what the next step acts on: the next episode's first after
/// a reset), `info` (a Python env's own info dict; for a built-in env its reward terms), and
/// `episode`: `None`, or `(return, length, wall-clock seconds of the run)` when the step ended one.
fn step_record<'py>(py: Python<'py>, ctx: &StepContext<'_>, info: Option<Py<PyAny>>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("step", ctx.step())?;
    d.set_item("action", PyArray1::from_slice(py, ctx.action))?;
    d.set_item("reward", ctx.reward)?;
    d.set_item("terminated", ctx.terminated)?;
    d.set_item("truncated", ctx.truncated)?;
    d.set_item("next_obs", PyArray1::from_slice(py, ctx.next_obs()))?;
    d.set_item("obs", PyArray1::from_slice(py, ctx.obs()))?;
    match info {
        Some(info) => d.set_item("info", info)?,
        None => {
            let terms = PyDict::new(py);
            for (key, value) in ctx.info {
                terms.set_item(*key, *value)?;
            }
            d.set_item("info", terms)?;
        }
    }
    d.set_item("episode", ctx.episode.map(|(ret, len)| (ret, len, ctx.wall_time())))?;
    Ok(d)
}

#[pymethods]
impl Model {
    /// `env` is a built-in env id (str) or a Gymnasium env with Box spaces; `eval_env` a second
    /// instance of a Python env for evaluations.
    #[new]
    #[pyo3(signature = (algo, env, seed, hyperparameters, out=None, eval_env=None))]
    fn new(
        algo: &str,
        env: &Bound<'_, PyAny>,
        seed: u64,
        hyperparameters: &Bound<'_, PyDict>,
        out: Option<PathBuf>,
        eval_env: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let algo = Algo::from_name(algo).map_err(to_py)?;
        let mut sets = settings(algo, hyperparameters)?;
        let (name, source) = match env.extract::<String>() {
            Ok(id) => {
                polyak::env::EnvSpec::get(&id).map_err(to_py)?;
                (id, Source::BuiltIn)
            }
            Err(_) => {
                let eval_env = eval_env.ok_or_else(|| PyValueError::new_err("a Python env needs an eval_env"))?;
                box_space(&env.getattr("observation_space")?, "observation space")?;
                box_space(&env.getattr("action_space")?, "action space")?;
                let name = python_env_name(env)?;
                (name, Source::Python { env: env.clone().unbind(), eval_env: eval_env.clone().unbind() })
            }
        };
        sets.push(format!("env={}", toml_str(&name)));
        sets.push(format!("seed={seed}"));
        // Validated now, so a bad setting fails at construction as in SB3; total_steps comes
        // with learn().
        let cfg = TrainConfig::resolve(Some(algo.name()), None, &sets).map_err(to_py)?;
        Ok(Model {
            inner: Mutex::new(Inner {
                algo,
                sets,
                cfg,
                out,
                run_dir: None,
                source,
                steps: 0,
                policy: None,
                rng: Rng::stream(seed, 7),
                learning: false,
            }),
        })
    }

    /// Trains `total_timesteps` more env steps (`None`: on to the run's own `total_steps`, for a
    /// loaded run that was interrupted). With `on_step`, `on_step(record)` is called after every
    /// step (see [`step_record`]) and stops the run with a resume checkpoint when it returns
    /// something false or raises; meanwhile `predict`, `save` and `num_timesteps` see the run as
    /// it stands. Returns (steps, final eval mean, std, complete).
    #[pyo3(signature = (total_timesteps=None, progress_bar=false, log_interval=None, on_step=None))]
    fn learn(
        &self,
        py: Python<'_>,
        total_timesteps: Option<u64>,
        progress_bar: bool,
        log_interval: Option<u64>,
        on_step: Option<Py<PyAny>>,
    ) -> PyResult<(u64, f64, f64, bool)> {
        if total_timesteps == Some(0) {
            return Err(PyValueError::new_err("total_timesteps must be at least 1"));
        }
        if log_interval == Some(0) {
            return Err(PyValueError::new_err("log_interval must be at least 1"));
        }
        let failure: Failure = Arc::new(Mutex::new(None));
        let last_info: Option<LastInfo> = on_step.as_ref().map(|_| Arc::new(Mutex::new(None)));
        let interrupt = {
            let failure = failure.clone();
            Interrupt(Arc::new(move || {
                Python::attach(|py| match py.check_signals() {
                    Ok(()) => false,
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        true
                    }
                })
            }))
        };
        let on_step = on_step.map(|callback| {
            let (failure, last_info, model) = (failure.clone(), last_info.clone(), self as *const Model as usize);
            StepHook(Arc::new(move |ctx: &mut StepContext<'_>| {
                Python::attach(|py| {
                    let info = last_info.as_ref().and_then(|i| i.lock().ok()?.take());
                    let go = step_record(py, ctx, info).and_then(|record| {
                        let _live = Live::enter(model, ctx);
                        callback.bind(py).call1((record,))?.is_truthy()
                    });
                    go.unwrap_or_else(|e| {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        false
                    })
                })
            }))
        });
        let opts = TrainOptions {
            quiet: !progress_bar,
            stop_after: None,
            interrupt: Some(interrupt),
            log_episodes: log_interval,
            on_step,
        };
        // Set up under the lock, train without it (the callback may use the model), then record
        let mut foreign = false;
        let (run, new_run) = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if inner.learning {
                return Err(PyValueError::new_err("learn() is already running on this model"));
            }
            let (env, eval_env) = inner.envs(py, &failure, last_info)?;
            let new_run = inner.run_dir.is_none();
            let run: Box<dyn FnOnce() -> polyak::Result<train::TrainSummary> + Send> = match inner.run_dir.clone() {
                None => {
                    let steps = total_timesteps
                        .ok_or_else(|| PyValueError::new_err("learn() of a new model needs total_timesteps"))?;
                    let mut sets = inner.sets.clone();
                    sets.push(format!("total_steps={steps}"));
                    let cfg = TrainConfig::resolve(Some(inner.algo.name()), None, &sets).map_err(to_py)?;
                    let dir = inner.out.clone().unwrap_or_else(|| polyak::rundir::default_run_dir(&cfg));
                    // A run already there is another's: the core refuses it, and it is never this
                    // model's to continue
                    foreign = polyak::rundir::RunDir::new(&dir).holds_run();
                    inner.cfg = cfg.clone();
                    inner.run_dir = Some(dir.clone());
                    Box::new(move || train::train_env(&cfg, env, eval_env, &dir, &opts))
                }
                Some(dir) => {
                    let target = match total_timesteps {
                        Some(n) => inner.steps + n,
                        None => inner.cfg.total_steps,
                    };
                    if target <= inner.steps {
                        return Err(PyValueError::new_err(format!(
                            "the run is complete at {} steps: learn(n) trains n more",
                            inner.steps
                        )));
                    }
                    let sets = vec![format!("total_steps={target}")];
                    Box::new(move || train::resume_env(&dir, &sets, env, eval_env, &opts))
                }
            };
            inner.learning = true;
            (run, new_run)
        };
        // The callback runs on this thread, holding the GIL only for its call
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| py.detach(run)));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.learning = false;
        let outcome = outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let dir = inner.run_dir.clone().expect("set before training");
        if outcome.is_err() && new_run && (foreign || !polyak::rundir::RunDir::new(&dir).holds_run()) {
            inner.run_dir = None; // refused before the run began: nothing to continue
        }
        inner.policy = None;
        // The env's spaces, recorded for a later polyak.load of the run without the env; a failure
        // here is reported after the run's own error, if it had one, and the state below
        let recorded = inner.record_spaces(py);
        if let Some(dir) = inner.run_dir.clone() {
            if let Ok(steps) = polyak::train::state::steps_done(&dir) {
                inner.steps = steps;
            }
            if let Ok(cfg) = polyak::train::state::run_config(&dir) {
                inner.cfg = cfg;
            }
        }
        if let Some(e) = failure.lock().ok().and_then(|mut f| f.take()) {
            return Err(e);
        }
        let summary = outcome.map_err(to_py)?;
        recorded?;
        inner.steps = summary.steps;
        Ok((summary.steps, summary.final_eval.0, summary.final_eval.1, summary.complete))
    }

    /// Actions for one observation (1-D) or a batch (2-D), in the env's bounds (float32).
    #[pyo3(signature = (observation, deterministic=true))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        observation: &Bound<'py, PyAny>,
        deterministic: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let np = py.import("numpy")?;
        let obs = np.call_method1("asarray", (observation, "float32"))?;
        let batched = obs.getattr("ndim")?.extract::<usize>()? == 2;
        let obs2 = if batched { obs } else { obs.call_method1("reshape", (1, -1))? };
        let obs2: PyReadonlyArray2<'_, f32> = obs2.extract()?;
        let (n, dim) = (obs2.shape()[0], obs2.shape()[1]);
        let rows: Vec<f32> = obs2.as_array().iter().copied().collect();
        let mut rng_local = inner.rng.clone();
        let mode = if deterministic { ActMode::Deterministic } else { ActMode::Explore };
        let mut act = |agent: &mut dyn Agent, space: &BoxSpace, obs_dim: usize| {
            if dim != obs_dim {
                return Err(PyValueError::new_err(format!("expected observations of {obs_dim} values, got {dim}")));
            }
            let (mut a, mut scaled) = (vec![0.0f32; space.dim()], vec![0.0f32; space.dim()]);
            let mut out = Vec::with_capacity(n * space.dim());
            for row in rows.chunks_exact(dim.max(1)).take(n) {
                agent.act(row, mode, &mut rng_local, &mut a);
                train::scale_action(&a, space, &mut scaled);
                out.extend_from_slice(&scaled);
            }
            Ok((out, space.dim()))
        };
        // During learn()'s callback: the agent being trained, as it stands
        let (out, act_dim) = match self.live() {
            Some(ctx) => {
                let (space, obs_dim) = (ctx.action_space().clone(), ctx.obs().len());
                act(ctx.agent(), &space, obs_dim)?
            }
            None => {
                let p = inner.policy(py)?;
                act(p.agent.as_mut(), &p.space, p.obs_dim)?
            }
        };
        inner.rng = rng_local;
        let arr = PyArray1::from_vec(py, out);
        Ok(if batched { arr.reshape([n, act_dim])?.into_any() } else { arr.into_any() })
    }

    /// The deterministic policy `predict(deterministic=True)` uses, written as the new ONNX file
    /// `path` (`polyak::export`); returns `path`. During `learn()`'s callback, the agent being
    /// trained, as it stands.
    fn export_onnx(&self, py: Python<'_>, path: PathBuf) -> PyResult<PathBuf> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (layers, action, step) = match self.live() {
            Some(ctx) => (ctx.agent().policy_layers(), ctx.action_space().clone(), Some(ctx.step())),
            None => {
                let p = inner.policy(py)?;
                (p.agent.policy_layers(), p.space.clone(), p.step)
            }
        };
        let policy = polyak::export::Policy { layers, action };
        let metadata = polyak::export::metadata(&inner.cfg, step);
        drop(inner);
        py.detach(|| polyak::export::write_onnx(&policy, &metadata, &path)).map_err(|e| match e {
            // Said of the CLI's --out; here it is the path argument
            polyak::Error::Flag { message, .. } => PyValueError::new_err(message),
            e => to_py(e),
        })?;
        Ok(path)
    }

    /// Copies the run directory to `path`, a new or empty folder, and returns `path`. During
    /// `learn()`'s callback, the run as it stands after a checkpoint at the current step.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<PathBuf> {
        if let Some(ctx) = self.live() {
            // The copy is loaded without the env too: its spaces go with it
            self.inner.lock().unwrap_or_else(|p| p.into_inner()).record_spaces(py)?;
            ctx.copy_run(&path).map_err(to_py)?;
            return Ok(path);
        }
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.learning {
            return Err(PyValueError::new_err("learn() is running: save from its callback, or after it"));
        }
        let Some(src) = inner.run_dir.clone() else {
            return Err(PyValueError::new_err(
                "nothing to save yet: the first learn() makes the run directory (an untrained model is its settings \
                 and seed, which make the same model again)",
            ));
        };
        let dst = path.clone();
        py.detach(move || polyak::rundir::copy_run(&src, &dst)).map_err(to_py)?;
        Ok(path)
    }

    #[getter]
    fn run_dir(&self) -> Option<PathBuf> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).run_dir.clone()
    }

    #[getter]
    fn num_timesteps(&self) -> u64 {
        match self.live() {
            Some(ctx) => ctx.step(),
            None => self.inner.lock().unwrap_or_else(|p| p.into_inner()).steps,
        }
    }

    #[getter]
    fn algo(&self) -> &'static str {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).algo.name()
    }

    /// The resolved config as TOML (what `config.toml` holds).
    #[getter]
    fn config_toml(&self) -> String {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).cfg.to_toml()
    }
}

/// A run directory (from the CLI or from Python) as a `Model`; `env` (and `eval_env`) are needed
/// for runs on a Python env.
#[pyfunction]
#[pyo3(signature = (run_dir, env=None, eval_env=None))]
pub fn load(run_dir: PathBuf, env: Option<&Bound<'_, PyAny>>, eval_env: Option<&Bound<'_, PyAny>>) -> PyResult<Model> {
    let cfg = polyak::train::state::run_config(&run_dir).map_err(to_py)?;
    let steps = polyak::train::state::steps_done(&run_dir).map_err(to_py)?;
    let source = match (cfg.env.strip_prefix(PYTHON_ENV_PREFIX), env) {
        (None, None) => Source::BuiltIn,
        (None, Some(_)) => {
            return Err(PyValueError::new_err(format!(
                "{} trained on the built-in {}: load it without env=",
                run_dir.display(),
                cfg.env
            )))
        }
        (Some(name), None) => match polyak::rundir::read_env_spaces(&polyak::rundir::RunDir::new(&run_dir)) {
            // Enough to predict; learn() asks for the env
            Ok((obs_dim, space)) => Source::Recorded { obs_dim, space },
            Err(why) => {
                return Err(PyValueError::new_err(format!(
                    "{} trained on a Python env ({name}) and its spaces cannot be read ({why}): pass the env \
                     again, polyak.load(run_dir, env=...)",
                    run_dir.display()
                )))
            }
        },
        (Some(_), Some(env)) => {
            let eval_env = eval_env.ok_or_else(|| PyValueError::new_err("a Python env needs an eval_env"))?;
            let name = python_env_name(env)?;
            if name != cfg.env {
                return Err(PyValueError::new_err(format!(
                    "{} trained on {}, but the env passed is {name}",
                    run_dir.display(),
                    cfg.env
                )));
            }
            Source::Python { env: env.clone().unbind(), eval_env: eval_env.clone().unbind() }
        }
    };
    let seed = cfg.seed;
    Ok(Model {
        inner: Mutex::new(Inner {
            algo: cfg.algo,
            sets: Vec::new(),
            cfg,
            out: None,
            run_dir: Some(run_dir),
            source,
            steps,
            policy: None,
            rng: Rng::stream(seed, 7),
            learning: false,
        }),
    })
}
