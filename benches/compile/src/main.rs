//! What a machine costs to build: for each size, the same ring of states declared with
//! `#[statebound::machine]` and written by hand as plain typestate code, each built clean as its
//! own crate (its dependencies already built), and each crate's expanded size in lines.
//!
//! ```text
//! cargo run --release -p statebound-compile-bench -- [--sizes 5,20,50,100] [--runs 5]
//!     [--runtime PATH] [--work DIR] [--declare-only] [--instructions] [--lines-only] [--print N]
//! ```
//!
//! Each crate declares the ring and walks once around it (every transition used once);
//! `--declare-only` leaves the walk out, to measure what declaring a machine costs.
//!
//! `--instructions` also counts the instructions rustc executes for each crate (once, under
//! valgrind's cachegrind, which must be installed): unlike build times, the counts do not
//! depend on what else the machine is doing.
//!
//! `--print N` prints the expanded macro variant of size `N` (what the line count counts) and
//! exits.
//!
//! `--runtime` is the `statebound` crate the macro variants depend on (this checkout's by
//! default); with `STATEBOUND_MACROS_SRC` set at build time to another checkout's `macros/src`,
//! the expanded sizes come from that version too, so one command measures any version. The
//! builds run in `--work` (default: a `statebound-compile-bench` folder in the temp dir), which
//! keeps its own target dir so that the dependencies are built once. Builds are timed
//! interleaved (hand-written, then macro, for each size, `--runs` times over) so that a change in
//! the machine's load hits both alike; the table gives the median and the range of each.

// The pipeline of the macro crate, as modules of this one (see build.rs).
include!(concat!(env!("OUT_DIR"), "/pipeline.rs"));

mod count;
mod lines;
mod ring;

use count::COUNT_CRATE;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use std::{env, fs};

struct Options {
    sizes: Vec<usize>,
    runs: usize,
    runtime: PathBuf,
    work: PathBuf,
    lines_only: bool,
    print: Option<usize>,
    walk: bool,
    instructions: bool,
}

fn main() -> ExitCode {
    if let Some(target) = env::var_os(COUNT_CRATE) {
        return count::wrap_rustc(&target);
    }
    let options = match parse_args(env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("compile-bench: {message}");
            return ExitCode::FAILURE;
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("compile-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut options = Options {
        sizes: vec![5, 20, 50, 100],
        runs: 5,
        runtime: repo.join("runtime"),
        work: env::temp_dir().join("statebound-compile-bench"),
        lines_only: false,
        print: None,
        walk: true,
        instructions: false,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("`{arg}` needs a value"));
        match arg.as_str() {
            "--sizes" => {
                options.sizes = value()?
                    .split(',')
                    .map(|n| number(n.trim(), "size"))
                    .collect::<Result<_, _>>()?;
            }
            "--runs" => options.runs = number(&value()?, "--runs")?,
            "--runtime" => options.runtime = PathBuf::from(value()?),
            "--work" => options.work = PathBuf::from(value()?),
            "--lines-only" => options.lines_only = true,
            "--declare-only" => options.walk = false,
            "--instructions" => options.instructions = true,
            "--print" => options.print = Some(number(&value()?, "--print")?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if options.sizes.iter().any(|&n| n < 2) || options.runs == 0 {
        return Err("sizes must be at least 2 and --runs at least 1".to_owned());
    }
    options.runtime = fs::canonicalize(&options.runtime)
        .map_err(|e| format!("runtime crate {}: {e}", options.runtime.display()))?;
    Ok(options)
}

fn number(text: &str, what: &str) -> Result<usize, String> {
    text.parse().map_err(|e| format!("{what} `{text}`: {e}"))
}

/// One size's two crates and what was measured of them.
struct Size {
    n: usize,
    hand_lines: usize,
    macro_lines: usize,
    hand_times: Vec<Duration>,
    macro_times: Vec<Duration>,
    /// Instructions rustc executed for each crate, with `--instructions`.
    instructions: Option<(u64, u64)>,
}

fn run(options: &Options) -> Result<(), String> {
    if let Some(n) = options.print {
        print!("{}", lines::expanded(&ring::with_macro(n, options.walk))?);
        return Ok(());
    }
    let mut sizes = Vec::new();
    for &n in &options.sizes {
        let hand_lines = lines::expanded_lines(&ring::by_hand(n, options.walk))?;
        let macro_lines = lines::expanded_lines(&ring::with_macro(n, options.walk))
            .map_err(|e| format!("{n} states: {e}"))?;
        sizes.push(Size {
            n,
            hand_lines,
            macro_lines,
            hand_times: Vec::new(),
            macro_times: Vec::new(),
            instructions: None,
        });
    }
    if !options.lines_only {
        write_workspace(options)?;
        eprintln!("compile-bench: building the dependencies once");
        cargo(options, &["build", "--offline", "--workspace"])?;
        for run in 1..=options.runs {
            eprintln!("compile-bench: run {run} of {}", options.runs);
            for size in &mut sizes {
                size.hand_times
                    .push(clean_build(options, &crate_name("hand", size.n))?);
                size.macro_times
                    .push(clean_build(options, &crate_name("macro", size.n))?);
            }
        }
        if options.instructions {
            for size in &mut sizes {
                eprintln!("compile-bench: counting instructions, {} states", size.n);
                let hand = count_build(options, &crate_name("hand", size.n))?;
                let with_macro = count_build(options, &crate_name("macro", size.n))?;
                size.instructions = Some((hand, with_macro));
            }
        }
    }
    print_table(options, &sizes);
    Ok(())
}

fn crate_name(variant: &str, n: usize) -> String {
    format!("{variant}_{n}")
}

/// A workspace with one crate per variant and size, its lockfile copied from this checkout so
/// the dependencies resolve offline to the versions CI uses.
fn write_workspace(options: &Options) -> Result<(), String> {
    let write = |path: &Path, text: &str| {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    let mut members = Vec::new();
    for &n in &options.sizes {
        for (variant, source) in [
            ("hand", ring::by_hand(n, options.walk)),
            ("macro", ring::with_macro(n, options.walk)),
        ] {
            let name = crate_name(variant, n);
            let deps = if variant == "macro" {
                format!(
                    "statebound = {{ path = {:?} }}\n",
                    options.runtime.display().to_string()
                )
            } else {
                String::new()
            };
            write(
                &options.work.join(&name).join("Cargo.toml"),
                &format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n{deps}"
                ),
            )?;
            write(&options.work.join(&name).join("src/lib.rs"), &source)?;
            members.push(format!("{name:?}"));
        }
    }
    write(
        &options.work.join("Cargo.toml"),
        &format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n",
            members.join(", ")
        ),
    )?;
    let lock = options.runtime.join("../Cargo.lock");
    if lock.exists() {
        fs::copy(&lock, options.work.join("Cargo.lock"))
            .map_err(|e| format!("copying {}: {e}", lock.display()))?;
    }
    Ok(())
}

/// Removes one crate's build output and times building it again.
fn clean_build(options: &Options, name: &str) -> Result<Duration, String> {
    cargo(options, &["clean", "--offline", "-p", name])?;
    let start = Instant::now();
    cargo(options, &["build", "--offline", "-p", name])?;
    Ok(start.elapsed())
}

/// Removes one crate's build output and builds it again with rustc under cachegrind (this
/// program as the rustc wrapper); returns the instructions rustc executed.
fn count_build(options: &Options, name: &str) -> Result<u64, String> {
    cargo(options, &["clean", "--offline", "-p", name])?;
    let exe = env::current_exe().map_err(|e| format!("this program's path: {e}"))?;
    let out = options.work.join(format!("{name}.instructions"));
    let mut command = cargo_command(options);
    command
        .args(["build", "--offline", "-p", name])
        .env("RUSTC_WRAPPER", exe)
        .env(COUNT_CRATE, name)
        .env(count::COUNT_OUT, &out);
    run_cargo(command, &format!("build -p {name} under cachegrind"))?;
    let text = fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    text.trim()
        .parse()
        .map_err(|e| format!("{}: {e}", out.display()))
}

fn cargo_command(options: &Options) -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&options.work)
        .env("CARGO_TARGET_DIR", options.work.join("target"))
        // Every build from scratch: no incremental state carried between runs.
        .env("CARGO_INCREMENTAL", "0");
    command
}

fn run_cargo(mut command: Command, what: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo {what}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn cargo(options: &Options, args: &[&str]) -> Result<(), String> {
    let mut command = cargo_command(options);
    command.args(args);
    run_cargo(command, &args.join(" "))
}

/// `count` in millions, rounded.
fn millions(count: u64) -> u64 {
    (count + 500_000) / 1_000_000
}

/// Median, minimum and maximum of a non-empty list of timings, in seconds.
fn summary(times: &[Duration]) -> (f64, f64, f64) {
    let mut secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    secs.sort_by(f64::total_cmp);
    let mid = secs.len() / 2;
    let median = if secs.len() % 2 == 0 {
        f64::midpoint(secs[mid - 1], secs[mid])
    } else {
        secs[mid]
    };
    (median, secs[0], secs[secs.len() - 1])
}

fn print_table(options: &Options, sizes: &[Size]) {
    let lines_ratio = |s: &Size| {
        #[allow(clippy::cast_precision_loss)] // line counts are far below 2^52
        let ratio = s.macro_lines as f64 / s.hand_lines as f64;
        ratio
    };
    if options.lines_only {
        println!("| states | expanded lines (macro / hand) | ratio |");
        println!("|---|---|---|");
        for s in sizes {
            println!(
                "| {} | {} / {} | {:.2}x |",
                s.n,
                s.macro_lines,
                s.hand_lines,
                lines_ratio(s)
            );
        }
        return;
    }
    let counted = sizes.iter().any(|s| s.instructions.is_some());
    print!(
        "| states | hand-written: median (min-max) | macro: median (min-max) | build ratio | expanded lines (macro / hand) | lines ratio |"
    );
    if counted {
        print!(" rustc instructions (macro / hand) | instructions ratio |");
    }
    println!();
    println!(
        "|---|---|---|---|---|---|{}",
        if counted { "---|---|" } else { "" }
    );
    for s in sizes {
        let (hm, hmin, hmax) = summary(&s.hand_times);
        let (mm, mmin, mmax) = summary(&s.macro_times);
        print!(
            "| {} | {hm:.3} s ({hmin:.3}-{hmax:.3}) | {mm:.3} s ({mmin:.3}-{mmax:.3}) | {:.2}x | {} / {} | {:.2}x |",
            s.n,
            mm / hm,
            s.macro_lines,
            s.hand_lines,
            lines_ratio(s)
        );
        if let Some((hand, with_macro)) = s.instructions {
            #[allow(clippy::cast_precision_loss)] // counts of this size are exact enough as f64
            let ratio = with_macro as f64 / hand as f64;
            print!(
                " {} M / {} M | {ratio:.2}x |",
                millions(with_macro),
                millions(hand)
            );
        }
        println!();
    }
    println!(
        "\n{} runs per cell; clean build of the user crate only (`cargo build`, dev profile, CARGO_INCREMENTAL=0); {}.",
        options.runs,
        if options.walk {
            "each crate declares the ring and walks it once"
        } else {
            "each crate only declares the ring"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_takes_the_middle_value() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&ms(&[30, 10, 20])), (0.02, 0.01, 0.03));
        assert_eq!(summary(&ms(&[40, 10, 20, 30])), (0.025, 0.01, 0.04));
    }

    #[test]
    fn arguments_are_checked() {
        let args = |v: &[&str]| parse_args(v.iter().map(|s| (*s).to_owned()));
        let options = args(&["--sizes", "3,4", "--runs", "2", "--lines-only"]).expect("valid");
        assert_eq!(
            (options.sizes, options.runs, options.lines_only),
            (vec![3, 4], 2, true)
        );
        assert!(args(&["--sizes", "1"]).is_err());
        assert!(args(&["--runs"]).is_err());
        assert!(args(&["--fast"]).is_err());
    }
}
