//! Finds and loads the MuJoCo C library at run time (`dlopen`), so that one build of polyak —
//! the CLI, or the Python package's extension module — runs wherever the pinned
//! `mujoco-core` wheel is installed, and builds and imports without it.
//!
//! Where the library and Gymnasium's models are looked for, first match wins:
//! 1. an installation given by [`use_installation`] (the Python package passes the `mujoco` and
//!    `gymnasium` packages it depends on);
//! 2. `POLYAK_MUJOCO_DIR` at run time: a directory laid out as `scripts/setup/mujoco.sh` leaves it
//!    (`mujoco/libmujoco.so.*`, `gymnasium/envs/mujoco/assets/`);
//! 3. the directory `build.rs` found at build time (`.mujoco/`, or `MUJOCO_DIR`).
//!
//! `POLYAK_MUJOCO_ASSETS` overrides the models' directory alone.

use super::sys;
use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// An error handler MuJoCo calls (`mju_user_error` / `mju_user_warning`).
pub(super) type Handler = Option<unsafe extern "C" fn(*const c_char)>;

/// The MuJoCo functions polyak calls, resolved from the loaded library.
#[allow(non_snake_case)]
pub(super) struct Api {
    pub mj_version: unsafe extern "C" fn() -> c_int,
    pub mj_loadXML: unsafe extern "C" fn(*const c_char, *const sys::mjVFS, *mut c_char, c_int) -> *mut sys::mjModel,
    pub mj_makeData: unsafe extern "C" fn(*const sys::mjModel) -> *mut sys::mjData,
    pub mj_deleteData: unsafe extern "C" fn(*mut sys::mjData),
    pub mj_deleteModel: unsafe extern "C" fn(*mut sys::mjModel),
    pub mj_step: unsafe extern "C" fn(*const sys::mjModel, *mut sys::mjData),
    pub mj_forward: unsafe extern "C" fn(*const sys::mjModel, *mut sys::mjData),
    pub mj_resetData: unsafe extern "C" fn(*const sys::mjModel, *mut sys::mjData),
    pub mj_rnePostConstraint: unsafe extern "C" fn(*const sys::mjModel, *mut sys::mjData),
    pub mj_name2id: unsafe extern "C" fn(*const sys::mjModel, c_int, *const c_char) -> c_int,
    pub mj_stateSize: unsafe extern "C" fn(*const sys::mjModel, c_int) -> c_int,
    pub mj_getState: unsafe extern "C" fn(*const sys::mjModel, *const sys::mjData, *mut f64, c_int),
    pub mj_setState: unsafe extern "C" fn(*const sys::mjModel, *mut sys::mjData, *const f64, c_int),
    pub mj_id2name: unsafe extern "C" fn(*const sys::mjModel, c_int, c_int) -> *const c_char,
    // The renderer's (`render.rs`).
    pub mjv_defaultScene: unsafe extern "C" fn(*mut sys::mjvScene),
    pub mjv_makeScene: unsafe extern "C" fn(*const sys::mjModel, *mut sys::mjvScene, c_int),
    pub mjv_freeScene: unsafe extern "C" fn(*mut sys::mjvScene),
    pub mjv_defaultCamera: unsafe extern "C" fn(*mut sys::mjvCamera),
    pub mjv_defaultOption: unsafe extern "C" fn(*mut sys::mjvOption),
    pub mjv_defaultPerturb: unsafe extern "C" fn(*mut sys::mjvPerturb),
    pub mjv_updateScene: unsafe extern "C" fn(
        *const sys::mjModel,
        *mut sys::mjData,
        *const sys::mjvOption,
        *const sys::mjvPerturb,
        *mut sys::mjvCamera,
        c_int,
        *mut sys::mjvScene,
    ),
    pub mjr_defaultContext: unsafe extern "C" fn(*mut sys::mjrContext),
    pub mjr_makeContext: unsafe extern "C" fn(*const sys::mjModel, *mut sys::mjrContext, c_int),
    pub mjr_freeContext: unsafe extern "C" fn(*mut sys::mjrContext),
    pub mjr_setBuffer: unsafe extern "C" fn(c_int, *mut sys::mjrContext),
    pub mjr_render: unsafe extern "C" fn(sys::mjrRect, *mut sys::mjvScene, *const sys::mjrContext),
    pub mjr_readPixels: unsafe extern "C" fn(*mut u8, *mut f32, sys::mjrRect, *const sys::mjrContext),
    pub mju_user_error: *mut Handler,
    pub mju_user_warning: *mut Handler,
}

// SAFETY: function pointers and the addresses of two process-wide variables of a library that is
// never unloaded.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

/// Where one MuJoCo installation lives.
#[derive(Clone, Debug, PartialEq)]
pub struct Installation {
    /// `libmujoco.so.X.Y.Z` itself.
    pub library: PathBuf,
    /// Gymnasium's MJCF files (`gymnasium/envs/mujoco/assets`).
    pub assets: PathBuf,
}

static CHOSEN: Mutex<Option<Installation>> = Mutex::new(None);
static API: OnceLock<std::result::Result<Api, String>> = OnceLock::new();

/// Uses this library and these models (before the first MuJoCo env is made; later calls that
/// name another library are an error, since a process can hold only one).
pub fn use_installation(installation: Installation) -> Result<()> {
    if let Some(Ok(_)) = API.get() {
        let loaded = CHOSEN.lock().map_err(|_| Error::env("MuJoCo lock poisoned"))?.clone();
        if loaded.as_ref().map(|l| &l.library) != Some(&installation.library) {
            return Err(Error::env("MuJoCo is already loaded from another library in this process"));
        }
    }
    *CHOSEN.lock().map_err(|_| Error::env("MuJoCo lock poisoned"))? = Some(installation);
    Ok(())
}

/// The newest `libmujoco.so.*` in `dir`.
pub fn find_library(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libmujoco.so.")))
        .collect();
    found.sort();
    found.pop()
}

/// A directory as `scripts/setup/mujoco.sh` lays it out.
fn from_dir(dir: &Path) -> Installation {
    let lib_dir = dir.join("mujoco");
    Installation {
        library: find_library(&lib_dir).unwrap_or_else(|| lib_dir.join("libmujoco.so.4.0.0")),
        assets: dir.join("gymnasium/envs/mujoco/assets"),
    }
}

/// The installation in use, by the order in the module docs (`None`: nowhere to look).
pub fn installation() -> Option<Installation> {
    let mut found = CHOSEN.lock().ok().and_then(|c| c.clone()).or_else(|| {
        let dir = std::env::var_os("POLYAK_MUJOCO_DIR")
            .map(PathBuf::from)
            .or_else(|| option_env!("POLYAK_BUILD_MUJOCO_DIR").map(PathBuf::from))?;
        Some(from_dir(&dir))
    });
    if let (Some(inst), Some(assets)) = (found.as_mut(), std::env::var_os("POLYAK_MUJOCO_ASSETS")) {
        inst.assets = PathBuf::from(assets);
    }
    found
}

const HOW_TO_INSTALL: &str = "run scripts/setup/mujoco.sh (the pinned MuJoCo 4.0.0 and Gymnasium \
    1.4.0 from PyPI, into .mujoco/), or set POLYAK_MUJOCO_DIR to a directory laid out the same way; \
    the Python package finds the `mujoco-core` and `gymnasium` packages it depends on";

// Each transmute's target is the type of the `Api` field it initialises.
#[allow(clippy::missing_transmute_annotations)]
fn load() -> std::result::Result<Api, String> {
    let Some(inst) = installation() else {
        return Err(format!("the MuJoCo library was not found: {HOW_TO_INSTALL}"));
    };
    let path = &inst.library;
    if !path.exists() {
        return Err(format!("{} does not exist: {HOW_TO_INSTALL}", path.display()));
    }
    // The `mujoco-core` wheel's library is compiled for AVX: on a CPU without it (Intel's before
    // Sandy Bridge, 2011, and Pentiums and Celerons up to 2020) it would die of an illegal
    // instruction, so it is not loaded there (`scripts/checks/emulated-cpus.sh` checks both).
    #[cfg(target_arch = "x86_64")]
    if !std::arch::is_x86_feature_detected!("avx") {
        return Err(format!(
            "this CPU has no AVX, and the MuJoCo library {} is compiled for CPUs with it (the classic \
             envs, Pendulum-v1 and MountainCarContinuous-v0, run without it)",
            path.display()
        ));
    }
    let handle = crate::dl::open(&path.to_string_lossy(), false)
        .map_err(|why| format!("cannot load {}: {why}", path.display()))?;
    macro_rules! resolve {
        ($($name:ident),*) => {
            // SAFETY: each symbol is the function of that name in mujoco.h, of the type the
            // field declares (the bindings in sys.rs are generated from the same headers).
            unsafe { Api { $($name: std::mem::transmute::<*mut c_void, _>(crate::dl::symbol(handle, "libmujoco", stringify!($name))?)),* } }
        };
    }
    let api = resolve!(
        mj_version,
        mj_loadXML,
        mj_makeData,
        mj_deleteData,
        mj_deleteModel,
        mj_step,
        mj_forward,
        mj_resetData,
        mj_rnePostConstraint,
        mj_name2id,
        mj_stateSize,
        mj_getState,
        mj_setState,
        mj_id2name,
        mjv_defaultScene,
        mjv_makeScene,
        mjv_freeScene,
        mjv_defaultCamera,
        mjv_defaultOption,
        mjv_defaultPerturb,
        mjv_updateScene,
        mjr_defaultContext,
        mjr_makeContext,
        mjr_freeContext,
        mjr_setBuffer,
        mjr_render,
        mjr_readPixels,
        mju_user_error,
        mju_user_warning
    );
    // SAFETY: a plain function of the loaded library.
    let version = unsafe { (api.mj_version)() };
    if version as u32 != sys::mjVERSION_HEADER {
        return Err(format!(
            "{} is MuJoCo version {version}, but polyak's bindings were generated for {}: install the pinned \
             library (mujoco-core==4.0.0)",
            path.display(),
            sys::mjVERSION_HEADER
        ));
    }
    if let Ok(mut c) = CHOSEN.lock() {
        *c = Some(inst);
    }
    Ok(api)
}

/// The loaded library (loaded on first use).
pub(super) fn api() -> Result<&'static Api> {
    API.get_or_init(load).as_ref().map_err(|e| Error::Env(e.clone()))
}

/// True when the MuJoCo library can be loaded (loading it if needed).
pub fn available() -> bool {
    api().is_ok()
}

/// Why the MuJoCo library cannot be loaded (not installed, another version, a CPU it cannot run
/// on), or `None` when it can.
pub fn unavailable_because() -> Option<String> {
    API.get_or_init(load).as_ref().err().cloned()
}
