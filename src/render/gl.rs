//! A headless OpenGL context for MuJoCo's renderer, from Debian's Mesa — the two backends of
//! Gymnasium's `MUJOCO_GL`: **EGL** (`libegl1`, `libegl-mesa0`, `libgl1-mesa-dri`; a display on
//! an EGL device as MuJoCo's own Python bindings open it, else on Mesa's surfaceless platform)
//! and **OSMesa** (`libosmesa6`). Both libraries are loaded at run time (`dlopen`), so polyak
//! builds and trains without them; `MUJOCO_GL=egl|osmesa` picks one, otherwise EGL is tried
//! first. `POLYAK_LIBEGL` / `POLYAK_LIBOSMESA` name a library file outside the linker's path.
//!
//! MuJoCo finds the OpenGL functions itself, through `eglGetProcAddress` or
//! `OSMesaGetProcAddress` in the process's global symbols, so the library is loaded with
//! `RTLD_GLOBAL`. A context is made current only around each use and released after, so the
//! object that owns it may move between threads.

use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::sync::OnceLock;

/// What to install when no backend loads.
pub const INSTALL_HINT: &str = "MuJoCo's renderer needs a headless OpenGL from Mesa: install the Debian packages \
     libegl1 libegl-mesa0 libgl1-mesa-dri (EGL) or libosmesa6 (OSMesa), e.g. with scripts/setup/render.sh \
     (as root)";

/// Which library provides the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Egl,
    Osmesa,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Egl => "egl",
            Backend::Osmesa => "osmesa",
        }
    }

    /// The backends to try, in order: the one `MUJOCO_GL` names, or EGL then OSMesa.
    fn chosen() -> Result<Vec<Backend>> {
        match std::env::var("MUJOCO_GL").ok().as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("") => Ok(vec![Backend::Egl, Backend::Osmesa]),
            Some("egl") => Ok(vec![Backend::Egl]),
            Some("osmesa") => Ok(vec![Backend::Osmesa]),
            Some(other) => Err(Error::env(format!(
                "MUJOCO_GL={other}: polyak renders headless with `egl` or `osmesa` (unset, it tries both)"
            ))),
        }
    }
}

/// Loads the first of `names` that loads, or only the file the environment variable `pin`
/// names (`POLYAK_LIBEGL`, `POLYAK_LIBOSMESA`: for a library outside the linker's path), with its
/// symbols global: MuJoCo finds the OpenGL loader through them.
fn load_library(pin: &str, names: &[&str]) -> std::result::Result<*mut c_void, String> {
    let pinned = std::env::var(pin).ok().filter(|p| !p.is_empty());
    let names: Vec<&str> = match &pinned {
        Some(path) => vec![path.as_str()],
        None => names.to_vec(),
    };
    let mut why = Vec::new();
    for name in names {
        match crate::dl::open(name, true) {
            Ok(handle) => return Ok(handle),
            Err(e) => why.push(e),
        }
    }
    Err(why.join("; "))
}

fn symbol(handle: *mut c_void, name: &str) -> std::result::Result<*mut c_void, String> {
    crate::dl::symbol(handle, "the OpenGL library", name)
}

type Display = *mut c_void;
type Config = *mut c_void;
type Context = *mut c_void;

const EGL_SUCCESS: c_int = 0x3000;
const EGL_NONE: c_int = 0x3038;
const EGL_OPENGL_API: c_uint = 0x30A2;
const EGL_PLATFORM_DEVICE_EXT: c_uint = 0x313F;
const EGL_PLATFORM_SURFACELESS_MESA: c_uint = 0x31DD;
/// MuJoCo's Python bindings' `EGL_ATTRIBUTES`: 8-bit RGBA, 24-bit depth, 8-bit stencil, a
/// pbuffer-capable desktop-OpenGL config.
const EGL_CONFIG: [c_int; 19] = [
    0x3024, 8, // RED_SIZE
    0x3023, 8, // GREEN_SIZE
    0x3022, 8, // BLUE_SIZE
    0x3021, 8, // ALPHA_SIZE
    0x3025, 24, // DEPTH_SIZE
    0x3026, 8, // STENCIL_SIZE
    0x303F, 0x308E, // COLOR_BUFFER_TYPE = RGB_BUFFER
    0x3033, 0x0001, // SURFACE_TYPE = PBUFFER_BIT
    0x3040, 0x0008, // RENDERABLE_TYPE = OPENGL_BIT
    EGL_NONE,
];

#[allow(non_snake_case)]
struct Egl {
    eglInitialize: unsafe extern "C" fn(Display, *mut c_int, *mut c_int) -> c_uint,
    eglChooseConfig: unsafe extern "C" fn(Display, *const c_int, *mut Config, c_int, *mut c_int) -> c_uint,
    eglBindAPI: unsafe extern "C" fn(c_uint) -> c_uint,
    eglCreateContext: unsafe extern "C" fn(Display, Config, Context, *const c_int) -> Context,
    eglDestroyContext: unsafe extern "C" fn(Display, Context) -> c_uint,
    eglMakeCurrent: unsafe extern "C" fn(Display, *mut c_void, *mut c_void, Context) -> c_uint,
    eglGetError: unsafe extern "C" fn() -> c_int,
    /// One display for the process, as MuJoCo's bindings keep one (`EGL_DISPLAY`).
    display: usize,
}

#[allow(clippy::missing_transmute_annotations)]
fn load_egl() -> std::result::Result<Egl, String> {
    let h = load_library("POLYAK_LIBEGL", &["libEGL.so.1", "libEGL.so"])?;
    // SAFETY (every transmute below): each symbol is the EGL 1.5 function of that name, with the
    // signature of the field it initialises.
    let get_proc: unsafe extern "C" fn(*const c_char) -> *mut c_void =
        unsafe { std::mem::transmute(symbol(h, "eglGetProcAddress")?) };
    let ext = |name: &str| -> *mut c_void {
        let c = CString::new(name).unwrap_or_default();
        // SAFETY: a NUL-terminated name.
        unsafe { get_proc(c.as_ptr()) }
    };
    let mut egl = unsafe {
        Egl {
            eglInitialize: std::mem::transmute(symbol(h, "eglInitialize")?),
            eglChooseConfig: std::mem::transmute(symbol(h, "eglChooseConfig")?),
            eglBindAPI: std::mem::transmute(symbol(h, "eglBindAPI")?),
            eglCreateContext: std::mem::transmute(symbol(h, "eglCreateContext")?),
            eglDestroyContext: std::mem::transmute(symbol(h, "eglDestroyContext")?),
            eglMakeCurrent: std::mem::transmute(symbol(h, "eglMakeCurrent")?),
            eglGetError: std::mem::transmute(symbol(h, "eglGetError")?),
            display: 0,
        }
    };
    let get_display = ext("eglGetPlatformDisplayEXT");
    if get_display.is_null() {
        return Err("this EGL has no eglGetPlatformDisplayEXT (EGL_EXT_platform_base)".into());
    }
    let get_display: unsafe extern "C" fn(c_uint, *mut c_void, *const c_int) -> Display =
        unsafe { std::mem::transmute(get_display) };
    let (init, get_error) = (egl.eglInitialize, egl.eglGetError);
    let initialise = |display: Display| -> bool {
        // SAFETY: a display from eglGetPlatformDisplayEXT; version outputs may be NULL.
        !display.is_null() && unsafe { init(display, std::ptr::null_mut(), std::ptr::null_mut()) } == 1
    };
    // The devices first, as MuJoCo's bindings do (Mesa lists its software device last), then
    // Mesa's surfaceless platform.
    let mut candidates: Vec<(c_uint, *mut c_void)> = Vec::new();
    let query_devices = ext("eglQueryDevicesEXT");
    if !query_devices.is_null() {
        let query: unsafe extern "C" fn(c_int, *mut *mut c_void, *mut c_int) -> c_uint =
            unsafe { std::mem::transmute(query_devices) };
        let mut devices = [std::ptr::null_mut::<c_void>(); 16];
        let mut n: c_int = 0;
        // SAFETY: room for 16 devices, as we pass.
        if unsafe { query(devices.len() as c_int, devices.as_mut_ptr(), &mut n) } == 1 {
            candidates.extend(devices[..n.clamp(0, 16) as usize].iter().map(|&d| (EGL_PLATFORM_DEVICE_EXT, d)));
        }
    }
    candidates.push((EGL_PLATFORM_SURFACELESS_MESA, std::ptr::null_mut()));
    for (platform, native) in candidates {
        // SAFETY: a platform enum with its native handle (a device, or none for surfaceless).
        let display = unsafe { get_display(platform, native, std::ptr::null()) };
        // SAFETY: plain call.
        if unsafe { get_error() } == EGL_SUCCESS && initialise(display) {
            egl.display = display as usize;
            return Ok(egl);
        }
    }
    Err("no EGL display could be initialised (neither an EGL device nor Mesa's surfaceless platform)".into())
}

#[allow(non_snake_case)]
struct Osmesa {
    OSMesaCreateContextExt: unsafe extern "C" fn(c_uint, c_int, c_int, c_int, Context) -> Context,
    OSMesaMakeCurrent: unsafe extern "C" fn(Context, *mut c_void, c_uint, c_int, c_int) -> u8,
    OSMesaDestroyContext: unsafe extern "C" fn(Context),
}

const OSMESA_RGBA: c_uint = 0x1908;
const GL_UNSIGNED_BYTE: c_uint = 0x1401;

#[allow(clippy::missing_transmute_annotations)]
fn load_osmesa() -> std::result::Result<Osmesa, String> {
    let h = load_library("POLYAK_LIBOSMESA", &["libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"])?;
    // SAFETY: each symbol is the OSMesa function of that name, with the field's signature.
    unsafe {
        Ok(Osmesa {
            OSMesaCreateContextExt: std::mem::transmute(symbol(h, "OSMesaCreateContextExt")?),
            OSMesaMakeCurrent: std::mem::transmute(symbol(h, "OSMesaMakeCurrent")?),
            OSMesaDestroyContext: std::mem::transmute(symbol(h, "OSMesaDestroyContext")?),
        })
    }
}

fn egl() -> std::result::Result<&'static Egl, String> {
    static EGL: OnceLock<std::result::Result<Egl, String>> = OnceLock::new();
    EGL.get_or_init(load_egl).as_ref().map_err(Clone::clone)
}

fn osmesa() -> std::result::Result<&'static Osmesa, String> {
    static OSMESA: OnceLock<std::result::Result<Osmesa, String>> = OnceLock::new();
    OSMESA.get_or_init(load_osmesa).as_ref().map_err(Clone::clone)
}

/// An OpenGL context with no window.
pub struct GlContext {
    backend: Backend,
    context: Context,
    /// OSMesa's default framebuffer (MuJoCo draws into its own offscreen one; OSMesa needs a
    /// buffer to make a context current).
    buffer: Vec<u8>,
    size: (c_int, c_int),
}

// SAFETY: the context is current on no thread between calls (see `with_current`).
unsafe impl Send for GlContext {}

impl GlContext {
    /// A context of the backend `MUJOCO_GL` names, or of the first that works. `width` ×
    /// `height` sizes OSMesa's default framebuffer.
    pub fn new(width: usize, height: usize) -> Result<GlContext> {
        let mut why = Vec::new();
        for backend in Backend::chosen()? {
            match Self::with_backend(backend, width, height) {
                Ok(c) => return Ok(c),
                Err(e) => why.push(format!("{}: {e}", backend.name())),
            }
        }
        Err(Error::env(format!("{INSTALL_HINT}. Tried {}", why.join("; "))))
    }

    fn with_backend(backend: Backend, width: usize, height: usize) -> std::result::Result<GlContext, String> {
        let size = (width.max(1) as c_int, height.max(1) as c_int);
        match backend {
            Backend::Egl => {
                let egl = egl()?;
                let display = egl.display as Display;
                let mut config: Config = std::ptr::null_mut();
                let mut n: c_int = 0;
                // SAFETY: an initialised display, a NONE-terminated attribute list, room for one
                // config.
                let ok = unsafe { (egl.eglChooseConfig)(display, EGL_CONFIG.as_ptr(), &mut config, 1, &mut n) };
                if ok != 1 || n < 1 {
                    return Err("no EGL config with 8-bit RGBA, 24-bit depth and desktop OpenGL".into());
                }
                // SAFETY: plain calls on a valid display and config.
                let context = unsafe {
                    (egl.eglBindAPI)(EGL_OPENGL_API);
                    (egl.eglCreateContext)(display, config, std::ptr::null_mut(), std::ptr::null())
                };
                if context.is_null() {
                    // SAFETY: plain call.
                    return Err(format!("eglCreateContext failed (error {:#x})", unsafe { (egl.eglGetError)() }));
                }
                Ok(GlContext { backend, context, buffer: Vec::new(), size })
            }
            Backend::Osmesa => {
                let os = osmesa()?;
                // SAFETY: plain call; MuJoCo's bindings use the same 24-bit depth, 8-bit stencil.
                let context = unsafe { (os.OSMesaCreateContextExt)(OSMESA_RGBA, 24, 8, 0, std::ptr::null_mut()) };
                if context.is_null() {
                    return Err("OSMesaCreateContextExt failed".into());
                }
                let buffer = vec![0u8; 4 * size.0 as usize * size.1 as usize];
                Ok(GlContext { backend, context, buffer, size })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `f` with this context current on the calling thread, and releases it after.
    pub fn with_current<T>(&mut self, f: impl FnOnce() -> T) -> Result<T> {
        self.make_current(true)?;
        let out = f();
        self.make_current(false)?;
        Ok(out)
    }

    fn make_current(&mut self, on: bool) -> Result<()> {
        let ok = match self.backend {
            Backend::Egl => {
                let egl = egl().map_err(Error::env)?;
                let context = if on { self.context } else { std::ptr::null_mut() };
                let none = std::ptr::null_mut();
                // SAFETY: a context of this display (or none, to release).
                unsafe { (egl.eglMakeCurrent)(egl.display as Display, none, none, context) == 1 }
            }
            Backend::Osmesa => {
                let os = osmesa().map_err(Error::env)?;
                // SAFETY: our context with a buffer of width × height RGBA bytes, or all
                // NULL/zero, which Mesa documents as releasing the current context.
                unsafe {
                    if on {
                        let buf = self.buffer.as_mut_ptr().cast();
                        (os.OSMesaMakeCurrent)(self.context, buf, GL_UNSIGNED_BYTE, self.size.0, self.size.1) != 0
                    } else {
                        (os.OSMesaMakeCurrent)(std::ptr::null_mut(), std::ptr::null_mut(), 0, 0, 0) != 0
                    }
                }
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::env(format!("could not make the {} OpenGL context current", self.backend.name())))
        }
    }
}

impl Drop for GlContext {
    fn drop(&mut self) {
        match self.backend {
            Backend::Egl => {
                if let Ok(egl) = egl() {
                    // SAFETY: our context, destroyed once (EGL defers it while current).
                    unsafe { (egl.eglDestroyContext)(egl.display as Display, self.context) };
                }
            }
            Backend::Osmesa => {
                if let Ok(os) = osmesa() {
                    // SAFETY: our context, destroyed once.
                    unsafe { (os.OSMesaDestroyContext)(self.context) };
                }
            }
        }
    }
}
