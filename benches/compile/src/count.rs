//! Counting the instructions rustc executes for one crate: this program, set as cargo's
//! `RUSTC_WRAPPER`, runs the rustc invocation for that crate under valgrind's cachegrind (no cache
//! simulation) and writes the total it reports to a file; every other invocation runs as it is.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::{env, fs};

/// The crate whose rustc invocation to count; when set, this program is the rustc wrapper.
pub(crate) const COUNT_CRATE: &str = "STATEBOUND_BENCH_COUNT_CRATE";
/// Where the wrapper writes the count.
pub(crate) const COUNT_OUT: &str = "STATEBOUND_BENCH_COUNT_OUT";

/// Runs the rustc invocation this program was called with (as cargo's wrapper: the first
/// argument is rustc), under cachegrind when it compiles `target`.
pub(crate) fn wrap_rustc(target: &OsStr) -> ExitCode {
    let mut args = env::args_os().skip(1);
    let Some(rustc) = args.next() else {
        eprintln!("compile-bench: called as a rustc wrapper without a rustc");
        return ExitCode::FAILURE;
    };
    let args: Vec<OsString> = args.collect();
    let counted = args
        .windows(2)
        .any(|pair| pair[0] == "--crate-name" && pair[1] == target);
    if !counted {
        return exit_code(Command::new(rustc).args(&args).status());
    }
    let Some(out) = env::var_os(COUNT_OUT).map(PathBuf::from) else {
        eprintln!("compile-bench: {COUNT_OUT} is not set");
        return ExitCode::FAILURE;
    };
    let log = out.with_extension("cachegrind.log");
    let status = Command::new("valgrind")
        .arg("--tool=cachegrind")
        .arg("--cache-sim=no")
        .arg("--cachegrind-out-file=/dev/null")
        .arg(format!("--log-file={}", log.display()))
        .arg(&rustc)
        .args(&args)
        .status();
    let code = exit_code(status);
    match fs::read_to_string(&log).map(|text| instructions(&text)) {
        Ok(Some(count)) => {
            if let Err(e) = fs::write(&out, count.to_string()) {
                eprintln!("compile-bench: {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
            code
        }
        Ok(None) => {
            eprintln!("compile-bench: no instruction count in {}", log.display());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("compile-bench: {}: {e}", log.display());
            ExitCode::FAILURE
        }
    }
}

fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> ExitCode {
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("compile-bench: running the compiler: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The total of the `I   refs:` line of a cachegrind log.
fn instructions(log: &str) -> Option<u64> {
    let line = log.lines().find(|l| {
        let mut words = l.split_whitespace().skip_while(|w| w.starts_with("=="));
        words.next() == Some("I") && words.next() == Some("refs:")
    })?;
    let digits: String = line
        .rsplit(':')
        .next()?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_read_from_the_summary_line() {
        let log = "==12== Cachegrind, a high-precision tracing profiler\n==12== \n==12== I   refs:      573,926,489\n";
        assert_eq!(instructions(log), Some(573_926_489));
        assert_eq!(instructions("==12== nothing here\n"), None);
    }
}
