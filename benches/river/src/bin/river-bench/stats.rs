//! Summaries of repeated measurements, and readings of a process's CPU time and memory.

use std::time::Duration;

/// Median, minimum and maximum of some samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Summary {
    pub(crate) fn of(samples: &[f64]) -> Summary {
        let mut sorted: Vec<f64> = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
        };
        Summary {
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
        }
    }

    /// `median (min-max)` with `decimals` digits after the point.
    pub(crate) fn show(self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}-{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

/// The p-th percentile (0-100) of `samples`.
pub(crate) fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list of samples"
    )]
    let index = ((samples.len() - 1) as f64 * p / 100.0).round() as usize;
    samples[index.min(samples.len() - 1)]
}

/// CPU time (user + system) a process has used, from `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    cpu_times(pid).map(|t| t.user + t.kernel)
}

/// CPU a process has used, in user space and in the kernel on its behalf.
#[derive(Clone, Copy)]
pub(crate) struct CpuTimes {
    pub(crate) user: Duration,
    pub(crate) kernel: Duration,
}

/// The user and kernel CPU time of a process, from `/proc/<pid>/stat`.
pub(crate) fn cpu_times(pid: u32) -> Option<CpuTimes> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are fixed.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the file, utime 14 and stime 15.
    let ticks = clock_ticks();
    let time = |i: usize| -> Option<Duration> {
        let t: u64 = fields.get(i)?.parse().ok()?;
        Some(Duration::from_secs_f64(
            f64::from(u32::try_from(t).ok()?) / ticks,
        ))
    };
    Some(CpuTimes {
        user: time(11)?,
        kernel: time(12)?,
    })
}

/// Clock ticks per second, as `getconf CLK_TCK` says (100 on Linux).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// Resident memory of a process in bytes, from `/proc/<pid>/status`.
pub(crate) fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Time the threads of process `pid` have spent runnable but waiting for a CPU, summed over
/// the threads alive now, from `/proc/<pid>/task/*/schedstat` (its second field).
pub(crate) fn run_queue_wait(pid: u32) -> Option<Duration> {
    let mut nanos = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        let Ok(stat) = std::fs::read_to_string(path) else {
            continue; // the thread has exited
        };
        nanos += stat.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(nanos))
}
