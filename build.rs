//! Links the official MuJoCo C library when it is installed (scripts/setup/mujoco.sh puts it in
//! `.mujoco/`; `MUJOCO_DIR` points elsewhere) and turns on `cfg(mujoco)`, which compiles the
//! MuJoCo environments. Without it polyak builds and runs as usual, and asking for a MuJoCo env
//! says how to install it.
//!
//! The PyPI wheel ships only `libmujoco.so.X.Y.Z`, so this links it through an unversioned
//! symlink in `OUT_DIR` and records an rpath to the library's directory, so binaries run outside
//! cargo too (cargo overrides `LD_LIBRARY_PATH`).

use std::path::{Path, PathBuf};

fn find_library(lib_dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(lib_dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libmujoco.so.")))
        .collect();
    found.sort();
    found.pop()
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mujoco)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=MUJOCO_DIR");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("MUJOCO_DIR").map(PathBuf::from).unwrap_or_else(|| manifest.join(".mujoco"));
    let lib_dir = dir.join("mujoco");
    let Some(library) = find_library(&lib_dir) else {
        return;
    };
    let lib_dir = lib_dir.canonicalize().unwrap_or(lib_dir);
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let link = out.join("libmujoco.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&library, &link).expect("symlink libmujoco.so in OUT_DIR");
    println!("cargo::rerun-if-changed={}", library.display());
    println!("cargo::rustc-link-search=native={}", out.display());
    println!("cargo::rustc-link-lib=dylib=mujoco");
    println!("cargo::rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    println!("cargo::rustc-cfg=mujoco");
    let dir = dir.canonicalize().unwrap_or(dir);
    println!("cargo::rustc-env=POLYAK_MUJOCO_DIR={}", dir.display());
}
