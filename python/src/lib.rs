//! `polyak._polyak`: the Rust core as a Python extension module. The Python package
//! (`python/polyak/`) wraps these classes in Gymnasium's and Stable-Baselines3's shapes; this
//! file only converts between Python objects and the core's types, and releases the GIL while
//! the core computes.

mod bridge;
mod model;
mod vector;

use numpy::{PyArray1, PyReadonlyArray1};
use polyak::env::gym::{GymEnv, Info, InfoValue};
use polyak::Error;
use pyo3::exceptions::{PyFileExistsError, PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;

/// Large buffers on cache lines (`polyak::alloc`), as in the `polyak` binary.
#[global_allocator]
static ALLOCATOR: polyak::alloc::CacheAligned = polyak::alloc::CacheAligned;

/// A polyak error as the Python exception a user expects: bad names and values are
/// `ValueError`, files `OSError`, everything else `RuntimeError`; the message is polyak's.
pub(crate) fn to_py(e: Error) -> PyErr {
    match e {
        Error::UnknownName { .. } | Error::Config { .. } | Error::Flag { .. } | Error::TooLarge { .. } => {
            PyValueError::new_err(e.to_string())
        }
        Error::RunDir { ref message, .. } if message == "does not exist" => PyFileNotFoundError::new_err(e.to_string()),
        Error::RunDir { ref message, .. } if message == polyak::rundir::DESTINATION_TAKEN => {
            PyFileExistsError::new_err(e.to_string())
        }
        Error::RunDir { .. } => PyValueError::new_err(e.to_string()),
        Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            PyFileExistsError::new_err(e.to_string())
        }
        Error::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyRuntimeError::new_err(e.to_string()),
    }
}

/// The values of an info dict: Python floats, NumPy arrays for array entries.
pub(crate) fn info_dict<'py>(py: Python<'py>, info: &Info) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (key, value) in info {
        match value {
            InfoValue::Scalar(v) => d.set_item(*key, *v)?,
            InfoValue::Array(v) => d.set_item(*key, PyArray1::from_slice(py, v))?,
        }
    }
    Ok(d)
}

/// An observation in the env's dtype.
pub(crate) fn obs_array<'py>(py: Python<'py>, obs: &[f64], f64_obs: bool) -> Bound<'py, PyAny> {
    if f64_obs {
        PyArray1::from_slice(py, obs).into_any()
    } else {
        PyArray1::from_iter(py, obs.iter().map(|&v| v as f32)).into_any()
    }
}

/// A 1-D float32 action from any array-like (float64 arrays and lists are rounded to float32,
/// the action space's dtype).
pub(crate) fn action_vec(action: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    if let Ok(a) = action.extract::<PyReadonlyArray1<'_, f32>>() {
        return Ok(a.as_slice().map(<[f32]>::to_vec).unwrap_or_else(|_| a.as_array().to_vec()));
    }
    let np = action.py().import("numpy")?;
    let a = np.call_method1("asarray", (action, "float32"))?.call_method1("reshape", (-1,))?;
    let a = a.extract::<PyReadonlyArray1<'_, f32>>()?;
    Ok(a.as_array().to_vec())
}

/// The bounds of a box space as float32 arrays.
fn bounds<'py>(
    py: Python<'py>,
    space: &polyak::env::BoxSpace,
) -> (Bound<'py, PyArray1<f32>>, Bound<'py, PyArray1<f32>>) {
    (PyArray1::from_slice(py, &space.low), PyArray1::from_slice(py, &space.high))
}

fn f64_vec(x: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    let np = x.py().import("numpy")?;
    let a = np.call_method1("asarray", (x, "float64"))?.call_method1("reshape", (-1,))?;
    Ok(a.extract::<PyReadonlyArray1<'_, f64>>()?.as_array().to_vec())
}

/// `(obs, reward, terminated, truncated, info)`.
type StepResult<'py> = (Bound<'py, PyAny>, f64, bool, bool, Bound<'py, PyDict>);
/// Two float64 arrays (qpos, qvel).
type Pair<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// One built-in environment with Gymnasium's API (wrapped by `polyak.envs.PolyakEnv`).
#[pyclass(module = "polyak._polyak")]
struct Env {
    inner: Mutex<GymEnv>,
    f64_obs: bool,
}

impl Env {
    fn with<T>(&self, f: impl FnOnce(&mut GymEnv) -> T) -> T {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

#[pymethods]
impl Env {
    #[new]
    fn new(id: &str) -> PyResult<Self> {
        let inner = GymEnv::new(id).map_err(to_py)?;
        let f64_obs = inner.obs_is_f64();
        Ok(Env { inner: Mutex::new(inner), f64_obs })
    }

    /// (low, high, obs_is_float64, action low, action high, max_episode_steps, reward_threshold, dt)
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.with(|e| {
            let d = PyDict::new(py);
            let (lo, hi) = bounds(py, e.observation_space());
            d.set_item("obs_low", lo)?;
            d.set_item("obs_high", hi)?;
            d.set_item("obs_float64", e.obs_is_f64())?;
            let (lo, hi) = bounds(py, e.action_space());
            d.set_item("act_low", lo)?;
            d.set_item("act_high", hi)?;
            d.set_item("max_episode_steps", e.spec().max_episode_steps)?;
            d.set_item("reward_threshold", e.spec().reward_threshold)?;
            d.set_item("dt", e.dt())?;
            d.set_item("id", e.spec().id)?;
            Ok(d)
        })
    }

    #[pyo3(signature = (seed=None))]
    fn reset<'py>(&self, py: Python<'py>, seed: Option<u64>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
        let (obs, info) = self.with(|e| e.reset(seed));
        Ok((obs_array(py, &obs, self.f64_obs), info_dict(py, &info)?))
    }

    fn step<'py>(&self, py: Python<'py>, action: &Bound<'py, PyAny>) -> PyResult<StepResult<'py>> {
        let action = action_vec(action)?;
        let s = self.with(|e| {
            let dim = e.action_space().dim();
            if action.len() != dim {
                return Err(PyValueError::new_err(format!(
                    "{}: expected an action of {dim} values, got {}",
                    e.spec().id,
                    action.len()
                )));
            }
            Ok(e.step(&action))
        })?;
        Ok((obs_array(py, &s.obs, self.f64_obs), s.reward, s.terminated, s.truncated, info_dict(py, &s.info)?))
    }

    fn set_state<'py>(
        &self,
        py: Python<'py>,
        qpos: &Bound<'py, PyAny>,
        qvel: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (qpos, qvel) = (f64_vec(qpos)?, f64_vec(qvel)?);
        let obs = self.with(|e| e.set_state(&qpos, &qvel)).map_err(to_py)?;
        Ok(obs_array(py, &obs, self.f64_obs))
    }

    fn state_vector<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = self.with(|e| e.state_vector()).map_err(to_py)?;
        Ok(PyArray1::from_vec(py, v))
    }

    fn qpos_qvel<'py>(&self, py: Python<'py>) -> PyResult<Pair<'py>> {
        let (q, v) = self.with(|e| e.qpos_qvel()).map_err(to_py)?;
        Ok((PyArray1::from_vec(py, q), PyArray1::from_vec(py, v)))
    }

    fn init_qpos_qvel<'py>(&self, py: Python<'py>) -> PyResult<Pair<'py>> {
        let (q, v) = self.with(|e| e.init_qpos_qvel()).map_err(to_py)?;
        Ok((PyArray1::from_vec(py, q), PyArray1::from_vec(py, v)))
    }

    fn get_classic_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let s = self.with(|e| e.classic_state()).map_err(to_py)?;
        Ok(PyArray1::from_slice(py, &s))
    }

    fn set_classic_state<'py>(&self, py: Python<'py>, state: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let s = f64_vec(state)?;
        let [a, b] = s[..] else {
            return Err(PyValueError::new_err(format!("expected a state of 2 values, got {}", s.len())));
        };
        let obs = self.with(|e| e.set_classic_state([a, b])).map_err(to_py)?;
        Ok(obs_array(py, &obs, self.f64_obs))
    }

    #[getter]
    fn elapsed_steps(&self) -> usize {
        self.with(|e| e.elapsed_steps())
    }
}

/// Built-in env ids.
#[pyfunction]
fn env_ids() -> Vec<String> {
    polyak::env::available()
}

/// True when the MuJoCo library could be loaded.
#[pyfunction]
fn mujoco_available() -> bool {
    polyak::env::mujoco_available()
}

/// Uses the MuJoCo library at `library` and Gymnasium's models in `assets` (the Python package
/// passes those of the `mujoco-core` and `gymnasium` packages it depends on).
#[pyfunction]
fn use_mujoco(library: std::path::PathBuf, assets: std::path::PathBuf) -> PyResult<()> {
    polyak::env::mujoco::use_installation(polyak::env::mujoco::Installation { library, assets }).map_err(to_py)
}

/// Tells the envs made from now on whether NumPy's dot product fuses its products (see
/// `polyak::env::gym::set_numpy_fused_dot`); the package asks NumPy at import.
#[pyfunction]
fn set_numpy_fused_dot(fused: bool) {
    polyak::env::gym::set_numpy_fused_dot(fused);
}

/// `(dotted key, default as TOML, meaning)` for every hyperparameter of an algorithm or preset.
#[pyfunction]
fn hyperparameters(algo: &str) -> PyResult<Vec<(String, String, String)>> {
    let algo = polyak::config::Algo::from_name(algo).map_err(to_py)?;
    Ok(polyak::config::hyperparameters(algo).into_iter().map(|(k, d, m)| (k.to_string(), d, m.to_string())).collect())
}

/// The reset seeds of the episodes `polyak eval --seed SEED` plays.
#[pyfunction]
fn eval_seeds(seed: u64, episodes: usize) -> Vec<u64> {
    polyak::train::eval_seeds(seed, episodes)
}

/// `(name, family, description)` of every algorithm and preset.
#[pyfunction]
fn algorithms() -> Vec<(String, String, String)> {
    polyak::config::Algo::ALL
        .iter()
        .map(|a| {
            let family = match a.family() {
                polyak::config::Family::Sac => "sac",
                polyak::config::Family::Td3 => "td3",
            };
            (a.name().to_string(), family.to_string(), a.describe().to_string())
        })
        .collect()
}

#[pymodule]
fn _polyak(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Env>()?;
    m.add_class::<vector::VecEnv>()?;
    m.add_class::<model::Model>()?;
    m.add_function(wrap_pyfunction!(env_ids, m)?)?;
    m.add_function(wrap_pyfunction!(mujoco_available, m)?)?;
    m.add_function(wrap_pyfunction!(use_mujoco, m)?)?;
    m.add_function(wrap_pyfunction!(set_numpy_fused_dot, m)?)?;
    m.add_function(wrap_pyfunction!(hyperparameters, m)?)?;
    m.add_function(wrap_pyfunction!(algorithms, m)?)?;
    m.add_function(wrap_pyfunction!(eval_seeds, m)?)?;
    m.add_function(wrap_pyfunction!(model::load, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
