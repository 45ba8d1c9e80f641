//! A Python Gymnasium env stepped by the Rust training loop. The loop runs with the GIL
//! released; each call into the env takes it for the call's duration. An exception raised by the
//! env is kept (traceback and all) for `learn()` to re-raise, and the loop is stopped at that
//! step by a NaN reward — the `Env` trait has no error channel, and the loop already stops,
//! with the run directory at its last checkpoint, on a non-finite reward.

use polyak::env::{BoxSpace, Env, Step};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::{Arc, Mutex};

/// The first exception a Python env (or an interrupt) raised during a `learn()`.
pub type Failure = Arc<Mutex<Option<PyErr>>>;

/// The info dict of the training env's last step, kept for `learn()`'s callbacks.
pub type LastInfo = Arc<Mutex<Option<Py<PyAny>>>>;

pub struct PyEnv {
    env: Py<PyAny>,
    obs_space: BoxSpace,
    act_space: BoxSpace,
    failure: Failure,
    /// Where each step's info dict goes, when something reads it.
    last_info: Option<LastInfo>,
}

/// A Box space's bounds, flattened, as float32.
pub fn box_space(space: &Bound<'_, PyAny>, what: &str) -> PyResult<BoxSpace> {
    let py = space.py();
    let spaces = py.import("gymnasium.spaces")?;
    if !space.is_instance(&spaces.getattr("Box")?)? {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "polyak needs a gymnasium.spaces.Box {what}, got {}",
            space.repr()?
        )));
    }
    let np = py.import("numpy")?;
    let flat = |name: &str| -> PyResult<Vec<f32>> {
        let a = np.call_method1("asarray", (space.getattr(name)?, "float32"))?.call_method1("reshape", (-1,))?;
        Ok(a.extract::<numpy::PyReadonlyArray1<'_, f32>>()?.as_array().to_vec())
    };
    Ok(BoxSpace::new(flat("low")?, flat("high")?))
}

fn obs_vec(obs: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    let np = obs.py().import("numpy")?;
    let a = np.call_method1("asarray", (obs, "float32"))?.call_method1("reshape", (-1,))?;
    Ok(a.extract::<numpy::PyReadonlyArray1<'_, f32>>()?.as_array().to_vec())
}

impl PyEnv {
    pub fn new(env: &Bound<'_, PyAny>, failure: Failure, last_info: Option<LastInfo>) -> PyResult<PyEnv> {
        Ok(PyEnv {
            obs_space: box_space(&env.getattr("observation_space")?, "observation space")?,
            act_space: box_space(&env.getattr("action_space")?, "action space")?,
            env: env.clone().unbind(),
            failure,
            last_info,
        })
    }

    fn failed(&self) -> bool {
        self.failure.lock().map(|f| f.is_some()).unwrap_or(true)
    }

    fn fail(&self, e: PyErr) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(e);
        }
    }

    fn broken(&self) -> Step {
        Step {
            obs: vec![f32::NAN; self.obs_space.dim()],
            reward: f64::NAN,
            terminated: true,
            truncated: false,
            info: Vec::new(),
        }
    }
}

impl Env for PyEnv {
    fn observation_space(&self) -> &BoxSpace {
        &self.obs_space
    }

    fn action_space(&self) -> &BoxSpace {
        &self.act_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if self.failed() {
            return vec![f32::NAN; self.obs_space.dim()];
        }
        let out = Python::attach(|py| -> PyResult<Vec<f32>> {
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("seed", seed)?;
            let result = self.env.bind(py).call_method("reset", (), Some(&kwargs))?;
            obs_vec(&result.get_item(0)?)
        });
        out.unwrap_or_else(|e| {
            self.fail(e);
            vec![f32::NAN; self.obs_space.dim()]
        })
    }

    fn step(&mut self, action: &[f32]) -> Step {
        if self.failed() {
            return self.broken();
        }
        let out = Python::attach(|py| -> PyResult<Step> {
            let a = numpy::PyArray1::from_slice(py, action);
            let shape = self.env.bind(py).getattr("action_space")?.getattr("shape")?;
            let a = a.call_method1("reshape", (shape,))?;
            let r = self.env.bind(py).call_method1("step", (a,))?;
            if let Some(slot) = &self.last_info {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.get_item(4)?.unbind());
            }
            Ok(Step {
                obs: obs_vec(&r.get_item(0)?)?,
                reward: r.get_item(1)?.extract::<f64>()?,
                terminated: r.get_item(2)?.is_truthy()?,
                truncated: r.get_item(3)?.is_truthy()?,
                info: Vec::new(),
            })
        });
        out.unwrap_or_else(|e| {
            self.fail(e);
            self.broken()
        })
    }

    /// The env pickled, so that a resumed run continues its episode exactly; `None` (a fresh
    /// episode on resume, which polyak reports) when the env cannot be pickled.
    fn snapshot(&self) -> Option<Vec<u8>> {
        Python::attach(|py| -> PyResult<Vec<u8>> {
            let pickle = py.import("pickle")?;
            let b = pickle.call_method1("dumps", (self.env.bind(py),))?;
            Ok(b.cast::<PyBytes>()?.as_bytes().to_vec())
        })
        .ok()
    }

    fn restore(&mut self, snapshot: &[u8]) -> polyak::Result<()> {
        let env = Python::attach(|py| -> PyResult<Py<PyAny>> {
            let pickle = py.import("pickle")?;
            Ok(pickle.call_method1("loads", (PyBytes::new(py, snapshot),))?.unbind())
        })
        .map_err(|e| polyak::Error::env(format!("the env saved in the resume file cannot be unpickled: {e}")))?;
        self.env = env;
        Ok(())
    }
}
