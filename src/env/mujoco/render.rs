//! MuJoCo envs drawn by MuJoCo's own renderer (`mjv_updateScene`, `mjr_render`,
//! `mjr_readPixels` into its offscreen framebuffer) in a headless OpenGL context, set up as
//! Gymnasium 1.4.0's `MujocoRenderer` / `OffScreenViewer` do, so that the same state, size,
//! camera and backend give Gymnasium's picture pixel for pixel.

use super::library::Api;
use super::{sys, Sim, Task};
use crate::error::{Error, Result};
use crate::render::gl::GlContext;
use crate::render::{Camera, Frame, View};

/// Gymnasium's default size for MuJoCo envs (`DEFAULT_SIZE`).
pub const DEFAULT_SIZE: (usize, usize) = (480, 480);
/// Gymnasium's `max_geom`.
const MAX_GEOM: i32 = 1000;

/// A task's `DEFAULT_CAMERA_CONFIG` in Gymnasium 1.4.0 (the same for v4 and v5): values set on
/// the free camera after it is centred on the model.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CameraConfig {
    pub trackbodyid: Option<i32>,
    pub distance: Option<f64>,
    pub lookat: Option<[f64; 3]>,
    pub elevation: Option<f64>,
}

impl Task {
    pub fn camera_config(self) -> CameraConfig {
        let c = CameraConfig::default();
        match self {
            Task::HalfCheetah | Task::Ant => CameraConfig { distance: Some(4.0), ..c },
            Task::Hopper => CameraConfig {
                trackbodyid: Some(2),
                distance: Some(3.0),
                lookat: Some([0.0, 0.0, 1.15]),
                elevation: Some(-20.0),
            },
            Task::Walker2d => CameraConfig {
                trackbodyid: Some(2),
                distance: Some(4.0),
                lookat: Some([0.0, 0.0, 1.15]),
                elevation: Some(-20.0),
            },
            Task::Humanoid => CameraConfig {
                trackbodyid: Some(1),
                distance: Some(4.0),
                lookat: Some([0.0, 0.0, 2.0]),
                elevation: Some(-20.0),
            },
            Task::Swimmer => c,
            Task::InvertedPendulum => CameraConfig { trackbodyid: Some(0), distance: Some(2.04), ..c },
            Task::InvertedDoublePendulum => CameraConfig {
                trackbodyid: Some(0),
                distance: Some(4.1225),
                lookat: Some([0.0, 0.0, 0.12250000000000005]),
                ..c
            },
            Task::Reacher => CameraConfig { trackbodyid: Some(0), ..c },
            Task::Pusher => CameraConfig { trackbodyid: Some(-1), distance: Some(4.0), ..c },
        }
    }
}

/// NumPy's `median`: the middle value, or the mean of the two middle ones.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// MuJoCo's visualiser and OpenGL state for one env, kept across frames and episodes (making
/// them costs far more than a frame).
pub struct Renderer {
    api: &'static Api,
    /// The view it was made for; another view makes a new renderer.
    pub view: View,
    size: (usize, usize),
    scene: Box<sys::mjvScene>,
    camera: sys::mjvCamera,
    option: sys::mjvOption,
    perturb: sys::mjvPerturb,
    context: Box<sys::mjrContext>,
    rgb: Vec<u8>,
    gl: GlContext,
}

// SAFETY: the scene's and context's buffers belong to this renderer alone, and its OpenGL
// context is current on no thread between calls (`GlContext::with_current`).
unsafe impl Send for Renderer {}

/// A zeroed MuJoCo struct on the heap (MuJoCo's `mj*_default*` functions then initialise it;
/// every MuJoCo struct is plain data, valid when zeroed).
fn zeroed_box<T>() -> Box<T> {
    let layout = std::alloc::Layout::new::<T>();
    // SAFETY: T is one of MuJoCo's C structs (not zero-sized, valid when zeroed); the memory
    // comes from the global allocator with T's layout, which is what Box frees it with.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout).cast::<T>();
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Box::from_raw(p)
    }
}

impl Renderer {
    /// Sets up MuJoCo's visualiser for `sim` as Gymnasium does on a first `render()`: the
    /// offscreen buffer grown to the frame size, a scene of up to 1,000 geoms, a free camera
    /// centred on the median of the geoms' positions at the model's extent, then the task's
    /// camera config, then the view's camera.
    pub fn new(sim: &mut Sim, task: Task, view: &View) -> Result<Renderer> {
        let size = view.size(DEFAULT_SIZE)?;
        let camera_id = resolve_camera(sim, &view.camera)?;
        sim.grow_offscreen(size.0, size.1);
        let gl = GlContext::new(size.0, size.1)?;
        let api = sim.api();
        let (m, d) = sim.raw();
        let mut r = Renderer {
            api,
            view: view.clone(),
            size,
            scene: zeroed_box(),
            // SAFETY: plain data, initialised below.
            camera: unsafe { std::mem::zeroed() },
            option: unsafe { std::mem::zeroed() },
            perturb: unsafe { std::mem::zeroed() },
            context: zeroed_box(),
            rgb: vec![0; 3 * size.0 * size.1],
            gl,
        };
        let (scene, context) = (&mut *r.scene as *mut sys::mjvScene, &mut *r.context as *mut sys::mjrContext);
        let (camera, option, perturb) = (&mut r.camera as *mut _, &mut r.option as *mut _, &mut r.perturb as *mut _);
        r.gl.with_current(|| {
            // SAFETY: a valid model; every struct is ours, of MuJoCo's layout (sys.rs is
            // generated from the same headers); the OpenGL context is current.
            unsafe {
                (api.mjv_defaultScene)(scene);
                (api.mjv_makeScene)(m, scene, MAX_GEOM);
                (api.mjv_defaultCamera)(camera);
                (api.mjv_defaultOption)(option);
                (api.mjv_defaultPerturb)(perturb);
                (api.mjr_defaultContext)(context);
                (api.mjr_makeContext)(m, context, sys::mjtFontScale::mjFONTSCALE_150 as i32);
                (api.mjr_setBuffer)(sys::mjtFramebuffer::mjFB_OFFSCREEN as i32, context);
            }
        })?;
        super::sim::take_error()?;
        // The free camera Gymnasium's OffScreenViewer starts from (`_init_camera`).
        // SAFETY: geom_xpos holds ngeom × 3 numbers.
        let (ngeom, extent) = unsafe { ((*m).ngeom.max(0) as usize, (*m).stat.extent) };
        let xpos = unsafe { std::slice::from_raw_parts((*d).geom_xpos, 3 * ngeom) };
        r.camera.type_ = sys::mjtCamera::mjCAMERA_FREE as i32;
        r.camera.fixedcamid = -1;
        for i in 0..3 {
            r.camera.lookat[i] = median(xpos.iter().skip(i).step_by(3).copied().collect());
        }
        r.camera.distance = extent;
        // The task's DEFAULT_CAMERA_CONFIG (`_set_cam_config`).
        let config = task.camera_config();
        if let Some(id) = config.trackbodyid {
            r.camera.trackbodyid = id;
        }
        if let Some(distance) = config.distance {
            r.camera.distance = distance;
        }
        if let Some(lookat) = config.lookat {
            r.camera.lookat = lookat;
        }
        if let Some(elevation) = config.elevation {
            r.camera.elevation = elevation;
        }
        // The camera asked for (`render(camera_id=…)`): −1 keeps the free camera.
        if camera_id >= 0 {
            r.camera.type_ = sys::mjtCamera::mjCAMERA_FIXED as i32;
            r.camera.fixedcamid = camera_id;
        }
        Ok(r)
    }

    /// Draws the current state of `sim` (the model this renderer was made for).
    pub fn frame(&mut self, sim: &mut Sim) -> Result<Frame> {
        let api = self.api;
        let (m, d) = sim.raw();
        let (w, h) = self.size;
        let viewport = sys::mjrRect { left: 0, bottom: 0, width: w as i32, height: h as i32 };
        let (scene, context) = (&mut *self.scene as *mut sys::mjvScene, &*self.context as *const sys::mjrContext);
        let (camera, option, perturb) =
            (&mut self.camera as *mut _, &self.option as *const _, &self.perturb as *const _);
        let rgb = self.rgb.as_mut_ptr();
        self.gl.with_current(|| {
            // SAFETY: valid model and data of the model the scene and context were made for;
            // rgb holds width × height × 3 bytes; the OpenGL context is current.
            unsafe {
                (api.mjv_updateScene)(m, d, option, perturb, camera, sys::mjtCatBit::mjCAT_ALL as i32, scene);
                (api.mjr_render)(viewport, scene, context);
                (api.mjr_readPixels)(rgb, std::ptr::null_mut(), viewport, context);
            }
        })?;
        super::sim::take_error()?;
        // OpenGL's rows run bottom to top.
        Ok(Frame::from_bottom_up(w, h, &self.rgb))
    }
}

impl Drop for Renderer {
    fn drop(&mut self) {
        let api = self.api;
        let (scene, context) = (&mut *self.scene as *mut sys::mjvScene, &mut *self.context as *mut sys::mjrContext);
        let _ = self.gl.with_current(|| {
            // SAFETY: made by mjv_makeScene / mjr_makeContext, freed once, with the context
            // current.
            unsafe {
                (api.mjr_freeContext)(context);
                (api.mjv_freeScene)(scene);
            }
        });
    }
}

/// The camera id a view asks for (−1: the free camera), checked against the model.
fn resolve_camera(sim: &Sim, camera: &Camera) -> Result<i32> {
    let names = sim.camera_names();
    let by_name = |name: &str| names.iter().position(|n| n == name).map(|i| i as i32);
    match camera {
        Camera::Default => Ok(by_name("track").unwrap_or(-1)),
        Camera::Free => Ok(-1),
        Camera::Name(name) => by_name(name).ok_or_else(|| {
            let list = if names.is_empty() { "it has none".to_string() } else { names.join(", ") };
            Error::flag("--camera", format!("the model has no camera `{name}`: {list} (or `free`, or an id)"))
        }),
        Camera::Id(id) if (-1..names.len() as i32).contains(id) => Ok(*id),
        Camera::Id(id) => Err(Error::flag(
            "--camera",
            format!(
                "camera {id} does not exist: the model has {} (ids 0..{}; −1 is the free camera)",
                names.len(),
                names.len()
            ),
        )),
    }
}
