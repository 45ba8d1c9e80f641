//! `VecEnv`: N built-in envs stepped in Rust on helper threads with the GIL released, with
//! Gymnasium 1.x's default autoreset (`NEXT_STEP`) and `SyncVectorEnv`'s batched infos.

use crate::{action_vec, to_py};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use polyak::env::gym::{GymEnv, Info, InfoValue};
use polyak::parallel::Pool;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;

/// One sub-env with what its last call returned.
struct Slot {
    env: GymEnv,
    obs: Vec<f64>,
    reward: f64,
    terminated: bool,
    truncated: bool,
    info: Info,
    /// The last step ended the episode: the next `step` resets instead (NEXT_STEP).
    autoreset: bool,
}

struct State {
    slots: Vec<Slot>,
    pool: Pool,
}

#[pyclass(module = "polyak._polyak")]
pub struct VecEnv {
    state: Mutex<State>,
    obs_dim: usize,
    act_dim: usize,
    f64_obs: bool,
}

/// `SyncVectorEnv._add_info` over all sub-envs: per key an array over envs (float64, or
/// (N, k) for array entries) and a `_key` mask of the envs that reported it.
fn vector_infos<'py>(py: Python<'py>, infos: &[&Info], masked: &[bool]) -> PyResult<Bound<'py, PyDict>> {
    let n = infos.len();
    let mut keys: Vec<&'static str> = Vec::new();
    for (info, _) in infos.iter().zip(masked).filter(|(_, &m)| m) {
        for (k, _) in info.iter() {
            if !keys.contains(k) {
                keys.push(k);
            }
        }
    }
    let d = PyDict::new(py);
    for key in keys {
        let mut mask = vec![false; n];
        let width = infos.iter().zip(masked).filter(|(_, &m)| m).find_map(|(info, _)| {
            info.iter().find(|(k, _)| *k == key).map(|(_, v)| match v {
                InfoValue::Scalar(_) => None,
                InfoValue::Array(a) => Some(a.len()),
            })
        });
        let width = width.flatten();
        let mut values = vec![0.0f64; n * width.unwrap_or(1)];
        for (i, info) in infos.iter().enumerate() {
            if !masked[i] {
                continue;
            }
            if let Some((_, v)) = info.iter().find(|(k, _)| *k == key) {
                mask[i] = true;
                match (v, width) {
                    (InfoValue::Scalar(x), None) => values[i] = *x,
                    (InfoValue::Array(a), Some(w)) if a.len() == w => values[i * w..(i + 1) * w].copy_from_slice(a),
                    _ => return Err(PyValueError::new_err(format!("info `{key}` changes shape between sub-envs"))),
                }
            }
        }
        match width {
            None => d.set_item(key, PyArray1::from_vec(py, values))?,
            Some(w) => d.set_item(key, PyArray1::from_vec(py, values).reshape([n, w])?)?,
        }
        d.set_item(format!("_{key}"), PyArray1::from_vec(py, mask))?;
    }
    Ok(d)
}

impl VecEnv {
    fn observations<'py>(&self, py: Python<'py>, slots: &[Slot]) -> PyResult<Bound<'py, PyAny>> {
        let n = slots.len();
        let flat: Vec<f64> = slots.iter().flat_map(|s| s.obs.iter().copied()).collect();
        Ok(if self.f64_obs {
            PyArray1::from_vec(py, flat).reshape([n, self.obs_dim])?.into_any()
        } else {
            let flat: Vec<f32> = flat.into_iter().map(|v| v as f32).collect();
            PyArray1::from_vec(py, flat).reshape([n, self.obs_dim])?.into_any()
        })
    }
}

#[pymethods]
impl VecEnv {
    #[new]
    #[pyo3(signature = (id, num_envs, threads=0))]
    fn new(id: &str, num_envs: usize, threads: usize) -> PyResult<Self> {
        if num_envs == 0 {
            return Err(PyValueError::new_err("num_envs must be at least 1"));
        }
        let mut slots = Vec::with_capacity(num_envs);
        for _ in 0..num_envs {
            let env = GymEnv::new(id).map_err(to_py)?;
            let dim = env.observation_space().dim();
            slots.push(Slot {
                env,
                obs: vec![0.0; dim],
                reward: 0.0,
                terminated: false,
                truncated: false,
                info: Vec::new(),
                autoreset: false,
            });
        }
        let (obs_dim, act_dim, f64_obs) =
            (slots[0].env.observation_space().dim(), slots[0].env.action_space().dim(), slots[0].env.obs_is_f64());
        let threads = match threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        }
        .min(num_envs);
        Ok(VecEnv { state: Mutex::new(State { slots, pool: Pool::new(threads) }), obs_dim, act_dim, f64_obs })
    }

    /// Resets the envs where `mask` is true (all when `None`), the i-th with `seeds[i]`.
    #[pyo3(signature = (seeds, mask=None))]
    fn reset<'py>(
        &self,
        py: Python<'py>,
        seeds: Vec<Option<u64>>,
        mask: Option<Vec<bool>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let n = st.slots.len();
        let mask = mask.unwrap_or_else(|| vec![true; n]);
        if seeds.len() != n || mask.len() != n {
            return Err(PyValueError::new_err(format!("expected {n} seeds and mask entries")));
        }
        let State { slots, pool } = &mut *st;
        let (todo, seeds_ref) = (&mask, &seeds);
        let work: &mut [Slot] = slots;
        py.detach(move || {
            pool.for_each(work, |i, s| {
                if todo[i] {
                    let (obs, info) = s.env.reset(seeds_ref[i]);
                    (s.obs, s.info) = (obs, info);
                    (s.terminated, s.truncated, s.autoreset) = (false, false, false);
                }
            })
        });
        let infos: Vec<&Info> = slots.iter().map(|s| &s.info).collect();
        let d = vector_infos(py, &infos, &mask)?;
        Ok((self.observations(py, slots)?, d))
    }

    #[allow(clippy::type_complexity)]
    fn step<'py>(
        &self,
        py: Python<'py>,
        actions: &Bound<'py, PyAny>,
    ) -> PyResult<(
        Bound<'py, PyAny>,
        Bound<'py, PyArray1<f64>>,
        Bound<'py, PyArray1<bool>>,
        Bound<'py, PyArray1<bool>>,
        Bound<'py, PyDict>,
    )> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let n = st.slots.len();
        let flat: Vec<f32> = match actions.extract::<PyReadonlyArray2<'_, f32>>() {
            Ok(a) if a.shape() == [n, self.act_dim] => a.as_array().iter().copied().collect(),
            _ => action_vec(actions)?,
        };
        if flat.len() != n * self.act_dim {
            return Err(PyValueError::new_err(format!(
                "expected actions of shape ({n}, {}), got {} values",
                self.act_dim,
                flat.len()
            )));
        }
        let act_dim = self.act_dim;
        let State { slots, pool } = &mut *st;
        let (flat, work): (&[f32], &mut [Slot]) = (&flat, slots);
        py.detach(move || {
            pool.for_each(work, |i, s| {
                if s.autoreset {
                    let (obs, info) = s.env.reset(None);
                    (s.obs, s.info, s.reward, s.terminated, s.truncated) = (obs, info, 0.0, false, false);
                } else {
                    let r = s.env.step(&flat[i * act_dim..(i + 1) * act_dim]);
                    (s.obs, s.reward, s.terminated, s.truncated, s.info) =
                        (r.obs, r.reward, r.terminated, r.truncated, r.info);
                }
                s.autoreset = s.terminated || s.truncated;
            })
        });
        let infos: Vec<&Info> = slots.iter().map(|s| &s.info).collect();
        let d = vector_infos(py, &infos, &vec![true; n])?;
        let rewards = PyArray1::from_iter(py, slots.iter().map(|s| s.reward));
        let terminated = PyArray1::from_iter(py, slots.iter().map(|s| s.terminated));
        let truncated = PyArray1::from_iter(py, slots.iter().map(|s| s.truncated));
        Ok((self.observations(py, slots)?, rewards, terminated, truncated, d))
    }

    /// Threads stepping the envs, the caller's included.
    #[getter]
    fn threads(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).pool.threads()
    }
}
