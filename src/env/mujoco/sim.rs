//! The only unsafe code around MuJoCo: a model and its data, owned together, with safe accessors.
//!
//! Every slice handed out has the length MuJoCo documents for that array (`mjmodel.h`,
//! `mjdata.h`), and lives as long as the borrow of [`Sim`]. MuJoCo's error and warning handlers
//! are replaced (once) so that it never writes `MUJOCO_LOG.TXT` into the user's folder or exits
//! the process; a MuJoCo error is recorded and reported as a Rust error by the next call.

use super::library::{api, Api};
use super::sys;
use crate::error::{Error, Result};
use std::ffi::{c_char, CStr, CString};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Mutex;

static LAST_ERROR: Mutex<Option<String>> = Mutex::new(None);
static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn on_error(msg: *const c_char) {
    // SAFETY: MuJoCo passes a NUL-terminated message.
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy().into_owned();
    if let Ok(mut e) = LAST_ERROR.lock() {
        *e = Some(text);
    }
}

unsafe extern "C" fn on_warning(msg: *const c_char) {
    // SAFETY: as above.
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy().into_owned();
    if let Ok(mut w) = WARNINGS.lock() {
        if w.len() < 100 {
            w.push(text);
        }
    }
}

/// Loads the library (checking that it is the version the bindings describe: struct layouts
/// change between MuJoCo versions) and installs the handlers, once.
fn init() -> Result<&'static Api> {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let api = api()?;
    ONCE.get_or_init(|| {
        // SAFETY: writes of function pointers to the library's two handler variables, done once,
        // before any model of ours exists. (MuJoCo's Python bindings install thread-local
        // handlers around their own calls, so both can share one library in a process.)
        unsafe {
            *api.mju_user_error = Some(on_error);
            *api.mju_user_warning = Some(on_warning);
        }
    });
    Ok(api)
}

pub(super) fn take_error() -> Result<()> {
    match LAST_ERROR.lock().ok().and_then(|mut e| e.take()) {
        Some(msg) => Err(Error::env(format!("MuJoCo error: {msg}"))),
        None => Ok(()),
    }
}

/// A MuJoCo model with one data instance.
pub struct Sim {
    api: &'static Api,
    m: NonNull<sys::mjModel>,
    d: NonNull<sys::mjData>,
}

// SAFETY: a Sim exclusively owns its model and data; MuJoCo keeps no thread-local state for them.
unsafe impl Send for Sim {}

impl Drop for Sim {
    fn drop(&mut self) {
        // SAFETY: both were created by MuJoCo and are freed exactly once.
        unsafe {
            (self.api.mj_deleteData)(self.d.as_ptr());
            (self.api.mj_deleteModel)(self.m.as_ptr());
        }
    }
}

fn len(n: sys::mjtSize) -> usize {
    usize::try_from(n).unwrap_or(0)
}

impl Sim {
    /// Loads an MJCF file; a bad file is an error carrying MuJoCo's message.
    pub fn from_xml(path: &Path) -> Result<Sim> {
        let api = init()?;
        let c_path = CString::new(path.to_string_lossy().as_bytes()).map_err(|_| Error::env("path contains NUL"))?;
        let mut err = [0 as c_char; 1000];
        // SAFETY: valid NUL-terminated path, no VFS, an error buffer of the size we pass.
        let m = unsafe { (api.mj_loadXML)(c_path.as_ptr(), std::ptr::null(), err.as_mut_ptr(), err.len() as i32) };
        let Some(m) = NonNull::new(m) else {
            // SAFETY: MuJoCo NUL-terminates the message within the buffer.
            let msg = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
            return Err(Error::env(format!("{}: {msg}", path.display())));
        };
        // SAFETY: m is a valid model.
        let d = unsafe { (api.mj_makeData)(m.as_ptr()) };
        let Some(d) = NonNull::new(d) else {
            // SAFETY: m is valid and not used again.
            unsafe { (api.mj_deleteModel)(m.as_ptr()) };
            return Err(Error::env(format!("{}: MuJoCo could not allocate its data", path.display())));
        };
        take_error()?;
        Ok(Sim { api, m, d })
    }

    fn model(&self) -> &sys::mjModel {
        // SAFETY: valid for the lifetime of self; MuJoCo does not mutate the model here.
        unsafe { self.m.as_ref() }
    }

    fn data(&self) -> &sys::mjData {
        // SAFETY: as above; &self prevents concurrent mutation through this Sim.
        unsafe { self.d.as_ref() }
    }

    fn slice(&self, ptr: *const f64, n: usize) -> &[f64] {
        // SAFETY: ptr is one of MuJoCo's arrays, of n elements per mjmodel.h / mjdata.h.
        unsafe { std::slice::from_raw_parts(ptr, n) }
    }

    fn slice_mut(&mut self, ptr: *mut f64, n: usize) -> &mut [f64] {
        // SAFETY: as above, and &mut self makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(ptr, n) }
    }

    pub fn nq(&self) -> usize {
        len(self.model().nq)
    }
    pub fn nv(&self) -> usize {
        len(self.model().nv)
    }
    pub fn nu(&self) -> usize {
        len(self.model().nu)
    }
    pub fn nbody(&self) -> usize {
        len(self.model().nbody)
    }
    pub fn timestep(&self) -> f64 {
        self.model().opt.timestep
    }
    pub fn qpos0(&self) -> &[f64] {
        self.slice(self.model().qpos0, self.nq())
    }
    pub fn body_mass(&self) -> &[f64] {
        self.slice(self.model().body_mass, self.nbody())
    }
    /// `nu × 2`: (low, high) per actuator.
    pub fn ctrlrange(&self) -> &[f64] {
        self.slice(self.model().actuator_ctrlrange, 2 * self.nu())
    }
    pub fn qpos(&self) -> &[f64] {
        self.slice(self.data().qpos, self.nq())
    }
    pub fn qvel(&self) -> &[f64] {
        self.slice(self.data().qvel, self.nv())
    }
    pub fn ctrl(&self) -> &[f64] {
        self.slice(self.data().ctrl, self.nu())
    }
    /// `nbody × 3` body frame positions.
    pub fn xpos(&self) -> &[f64] {
        self.slice(self.data().xpos, 3 * self.nbody())
    }
    /// `nbody × 3` body centre-of-mass positions.
    pub fn xipos(&self) -> &[f64] {
        self.slice(self.data().xipos, 3 * self.nbody())
    }
    /// `nbody × 10` inertia in the centre-of-mass frame.
    pub fn cinert(&self) -> &[f64] {
        self.slice(self.data().cinert, 10 * self.nbody())
    }
    /// `nbody × 6` centre-of-mass velocities.
    pub fn cvel(&self) -> &[f64] {
        self.slice(self.data().cvel, 6 * self.nbody())
    }
    /// `nbody × 6` external (contact) forces, valid after [`Sim::rne_post_constraint`].
    pub fn cfrc_ext(&self) -> &[f64] {
        self.slice(self.data().cfrc_ext, 6 * self.nbody())
    }
    pub fn qfrc_actuator(&self) -> &[f64] {
        self.slice(self.data().qfrc_actuator, self.nv())
    }
    pub fn qfrc_constraint(&self) -> &[f64] {
        self.slice(self.data().qfrc_constraint, self.nv())
    }
    /// Tendon lengths (`ntendon`).
    pub fn ten_length(&self) -> &[f64] {
        self.slice(self.data().ten_length, len(self.model().ntendon))
    }
    /// Tendon velocities (`ntendon`).
    pub fn ten_velocity(&self) -> &[f64] {
        self.slice(self.data().ten_velocity, len(self.model().ntendon))
    }
    /// `nsite × 3` site positions.
    pub fn site_xpos(&self) -> &[f64] {
        self.slice(self.data().site_xpos, 3 * len(self.model().nsite))
    }

    /// A body's id by name.
    pub fn body_id(&self, name: &str) -> Result<usize> {
        let c = CString::new(name).map_err(|_| Error::env("name contains NUL"))?;
        // SAFETY: valid model and NUL-terminated name.
        let id = unsafe { (self.api.mj_name2id)(self.m.as_ptr(), sys::mjtObj::mjOBJ_BODY as i32, c.as_ptr()) };
        usize::try_from(id).map_err(|_| Error::env(format!("the model has no body `{name}`")))
    }

    /// The library, and raw pointers to the model and data, for MuJoCo's renderer.
    pub(super) fn api(&self) -> &'static Api {
        self.api
    }

    pub(super) fn raw(&mut self) -> (*mut sys::mjModel, *mut sys::mjData) {
        (self.m.as_ptr(), self.d.as_ptr())
    }

    /// Grows (never shrinks) the model's offscreen framebuffer to hold a `width` × `height`
    /// frame, as Gymnasium's `MujocoEnv` does on loading a model.
    pub(super) fn grow_offscreen(&mut self, width: usize, height: usize) {
        // SAFETY: &mut self: no other borrow of the model exists.
        let global = unsafe { &mut self.m.as_mut().vis.global };
        global.offwidth = global.offwidth.max(width as i32);
        global.offheight = global.offheight.max(height as i32);
    }

    /// The model's camera names, by id (an unnamed camera has an empty name).
    pub fn camera_names(&self) -> Vec<String> {
        (0..self.model().ncam.max(0) as i32)
            .map(|i| {
                // SAFETY: valid model, an id in range; MuJoCo returns NULL or a NUL-terminated
                // name that lives as long as the model.
                let p = unsafe { (self.api.mj_id2name)(self.m.as_ptr(), sys::mjtObj::mjOBJ_CAMERA as i32, i) };
                if p.is_null() {
                    String::new()
                } else {
                    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
                }
            })
            .collect()
    }

    /// Gymnasium's `set_state`: write qpos and qvel (and, for models without activations,
    /// nothing else), then `mj_forward`.
    pub fn set_state(&mut self, qpos: &[f64], qvel: &[f64]) {
        let (nq, nv) = (self.nq(), self.nv());
        let (qp, qv) = (self.data().qpos, self.data().qvel);
        self.slice_mut(qp, nq).copy_from_slice(qpos);
        self.slice_mut(qv, nv).copy_from_slice(qvel);
        // SAFETY: valid model and data.
        unsafe { (self.api.mj_forward)(self.m.as_ptr(), self.d.as_ptr()) };
    }

    pub fn reset_data(&mut self) {
        // SAFETY: valid model and data.
        unsafe { (self.api.mj_resetData)(self.m.as_ptr(), self.d.as_ptr()) };
    }

    /// Gymnasium's `do_simulation`: set the controls, `mj_step` `n` times, then
    /// `mj_rnePostConstraint` (which fills `cfrc_ext`).
    pub fn step(&mut self, ctrl: &[f32], n: usize) -> Result<()> {
        let nu = self.nu();
        let c = self.data().ctrl;
        for (dst, &a) in self.slice_mut(c, nu).iter_mut().zip(ctrl) {
            *dst = a as f64;
        }
        for _ in 0..n {
            // SAFETY: valid model and data.
            unsafe { (self.api.mj_step)(self.m.as_ptr(), self.d.as_ptr()) };
        }
        // SAFETY: valid model and data.
        unsafe { (self.api.mj_rnePostConstraint)(self.m.as_ptr(), self.d.as_ptr()) };
        take_error()
    }

    /// The complete data: MuJoCo's integration state (`mjSTATE_INTEGRATION`: time, qpos, qvel,
    /// activations, warm start, controls, applied forces, …) and the main buffer, which also
    /// holds the derived quantities (body positions, contact forces) that the next step's
    /// reward reads before stepping.
    pub fn snapshot(&self) -> Vec<u8> {
        let sig = sys::mjtState::mjSTATE_INTEGRATION as i32;
        // SAFETY: valid model.
        let n = unsafe { (self.api.mj_stateSize)(self.m.as_ptr(), sig) }.max(0) as usize;
        let mut state = vec![0.0f64; n];
        // SAFETY: state has mj_stateSize elements.
        unsafe { (self.api.mj_getState)(self.m.as_ptr(), self.d.as_ptr(), state.as_mut_ptr(), sig) };
        let nbuffer = len(self.data().nbuffer);
        // SAFETY: the main buffer is nbuffer bytes.
        let buffer = unsafe { std::slice::from_raw_parts(self.data().buffer as *const u8, nbuffer) };
        let mut out = Vec::with_capacity(16 + 8 * n + nbuffer);
        out.extend_from_slice(&(n as u64).to_le_bytes());
        state.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        out.extend_from_slice(&(nbuffer as u64).to_le_bytes());
        out.extend_from_slice(buffer);
        out
    }

    /// Restores [`Sim::snapshot`]; a snapshot of another model is an error.
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<()> {
        let sig = sys::mjtState::mjSTATE_INTEGRATION as i32;
        // SAFETY: valid model.
        let n = unsafe { (self.api.mj_stateSize)(self.m.as_ptr(), sig) }.max(0) as usize;
        let nbuffer = len(self.data().nbuffer);
        let word = |at: usize| snapshot.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
        let fits = word(0) == Some(n as u64) && word(8 + 8 * n) == Some(nbuffer as u64);
        if !fits || snapshot.len() != 16 + 8 * n + nbuffer {
            return Err(Error::env("MuJoCo snapshot does not fit this model"));
        }
        let buffer = &snapshot[16 + 8 * n..];
        // SAFETY: the main buffer is nbuffer bytes, the source has exactly nbuffer bytes; it
        // holds plain numbers (every pointer of mjData points into it, none is stored in it).
        unsafe { std::ptr::copy_nonoverlapping(buffer.as_ptr(), self.data().buffer as *mut u8, nbuffer) };
        let state: Vec<f64> = snapshot[8..8 + 8 * n]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        // SAFETY: state has mj_stateSize elements.
        unsafe { (self.api.mj_setState)(self.m.as_ptr(), self.d.as_ptr(), state.as_ptr(), sig) };
        Ok(())
    }
}
