//! Declares the macro's pipeline modules (every file of the macro crate's `src/` but its entry
//! point and its tests) as modules of this crate, so that the benchmark can expand machines the
//! way the proc-macro does. `STATEBOUND_MACROS_SRC` points at another checkout's `macros/src`
//! to measure that version instead.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

fn main() {
    println!("cargo::rerun-if-env-changed=STATEBOUND_MACROS_SRC");
    let dir = match env::var_os("STATEBOUND_MACROS_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"))
            .join("../../macros/src"),
    };
    let dir = fs::canonicalize(&dir)
        .unwrap_or_else(|e| panic!("macro sources at {}: {e}", dir.display()));
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| {
            !matches!(
                p.file_stem().and_then(|s| s.to_str()),
                Some("lib" | "tests")
            )
        })
        .collect();
    files.sort();
    let mut out = String::new();
    for file in &files {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 file name");
        let _ = writeln!(
            out,
            "#[path = {:?}]\n#[allow(warnings, clippy::all, clippy::pedantic)]\nmod {stem};",
            file.display().to_string()
        );
    }
    let dest = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it")).join("pipeline.rs");
    fs::write(&dest, out).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}
