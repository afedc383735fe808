//! Programs the tests drive (a browser, a load balancer) found on the machine, or installed
//! from Debian's packages when they are missing and `apt-get` can install them.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// Held while `apt-get` runs: two tests of one binary installing at once would contend for
/// dpkg's lock, and the second would fail.
static INSTALLING: Mutex<()> = Mutex::new(());

/// The first of `names` found on `PATH` or in the system's sbin folders.
fn find(names: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from));
    names
        .iter()
        .find_map(|name| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()))
}

/// One of `names`, installing the Debian package `package` first if none is there. `None`,
/// with a message from `test`, when it is missing and cannot be installed.
pub(crate) fn find_or_install(test: &str, package: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(found) = find(names) {
        return Some(found);
    }
    let _installing = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    // Another test may have installed it while this one waited.
    if let Some(found) = find(names) {
        return Some(found);
    }
    if find(&["apt-get"]).is_some() {
        eprintln!(
            "{test}: {package} is missing; installing it with apt-get (Debian package `{package}`)"
        );
        let script = format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package} >/dev/null"
        );
        let installed = Command::new("sh")
            .args(["-c", &script])
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            eprintln!("{test}: apt-get could not install {package}");
        }
    }
    find(names)
}
