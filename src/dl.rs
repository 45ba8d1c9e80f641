//! The C libraries polyak loads at run time (MuJoCo, EGL, OSMesa): `dlopen` and `dlsym` with
//! their failures as text, for errors that say what to install.

use std::ffi::{c_void, CStr, CString};

/// Loads a library by path or soname. `global` makes its symbols visible to libraries loaded
/// later (MuJoCo looks up `eglGetProcAddress` that way). The handle is kept for the life of the
/// process.
pub(crate) fn open(name: &str, global: bool) -> Result<*mut c_void, String> {
    let c = CString::new(name).map_err(|e| e.to_string())?;
    let scope = if global { libc::RTLD_GLOBAL } else { libc::RTLD_LOCAL };
    // SAFETY: a NUL-terminated name.
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | scope) };
    if !handle.is_null() {
        return Ok(handle);
    }
    // SAFETY: dlerror returns NULL or a NUL-terminated message.
    let why = unsafe { libc::dlerror() };
    Err(if why.is_null() {
        format!("cannot load {name}")
    } else {
        unsafe { CStr::from_ptr(why) }.to_string_lossy().into()
    })
}

/// The address of `name` in a library `open` returned (`library` names it in the error).
pub(crate) fn symbol(handle: *mut c_void, library: &str, name: &str) -> Result<*mut c_void, String> {
    let c = CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: a valid handle from dlopen and a NUL-terminated name.
    let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
    if p.is_null() {
        return Err(format!("{library} has no symbol `{name}`"));
    }
    Ok(p)
}
