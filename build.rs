//! Records where `scripts/setup/mujoco.sh` installed MuJoCo (`.mujoco/`, or `MUJOCO_DIR`), as the
//! default place the MuJoCo environments load the library and Gymnasium's models from at run time
//! (`src/env/mujoco/library.rs`; `POLYAK_MUJOCO_DIR` overrides it then). Nothing is linked: polyak
//! builds, and runs everything else, without MuJoCo. `cfg(mujoco)` tells the tests that need the
//! library that it was installed when they were built.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mujoco)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=MUJOCO_DIR");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("MUJOCO_DIR").map(PathBuf::from).unwrap_or_else(|| manifest.join(".mujoco"));
    let lib_dir = dir.join("mujoco");
    println!("cargo::rerun-if-changed={}", lib_dir.display());
    let installed = std::fs::read_dir(&lib_dir)
        .map(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().starts_with("libmujoco.so."))
        })
        .unwrap_or(false);
    if installed {
        let dir = dir.canonicalize().unwrap_or(dir);
        println!("cargo::rustc-env=POLYAK_BUILD_MUJOCO_DIR={}", dir.display());
        println!("cargo::rustc-cfg=mujoco");
    }
}
