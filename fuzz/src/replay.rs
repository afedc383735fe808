//! Running a target over files, without a fuzzer: the replay binaries and the corpus tests.

use std::fs;
use std::path::{Path, PathBuf};

/// The files under `path`: the file itself, or each file in the directory, sorted.
///
/// # Panics
///
/// If `path` cannot be read.
pub fn files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut found: Vec<PathBuf> = fs::read_dir(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

/// Runs `target` on every file under each of `paths`; returns how many there were.
///
/// # Panics
///
/// If a file cannot be read, or the target panics on one (its name is printed first).
pub fn run(target: fn(&[u8]), paths: &[PathBuf]) -> usize {
    let mut count = 0;
    for path in paths {
        for file in files(path) {
            let data = fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            eprintln!("replaying {}", file.display());
            target(&data);
            count += 1;
        }
    }
    count
}

/// The `main` of a target binary built without a fuzzer.
pub fn main(name: &str, target: fn(&[u8])) {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: {name} FILE_OR_DIR...  (replays each input through the target)");
        std::process::exit(2);
    }
    let count = run(target, &paths);
    eprintln!("{name}: {count} inputs, no failure");
}
