//! Timing two workloads against each other, round by round.

use std::time::{Duration, Instant};

const ROUNDS: usize = 15;

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

#[allow(clippy::cast_precision_loss, reason = "a count of iterations")]
fn per_unit(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e9 / n as f64
}

/// Times `ours` and `theirs` (each doing `n` units) in alternation and prints ns per unit and
/// the ratio, median (min-max) over the rounds.
pub(crate) fn compare(what: &str, units: usize, mut ours: impl FnMut(), mut theirs: impl FnMut()) {
    ours();
    theirs();
    let (mut mine, mut other, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let start = Instant::now();
        ours();
        let ours_ns = per_unit(start.elapsed(), units);
        let start = Instant::now();
        theirs();
        let theirs_ns = per_unit(start.elapsed(), units);
        mine.push(ours_ns);
        other.push(theirs_ns);
        ratios.push(ours_ns / theirs_ns);
    }
    let show = |v: Vec<f64>, decimals: usize| {
        let (median, min, max) = median(v);
        format!("{median:.decimals$} ({min:.decimals$}-{max:.decimals$})")
    };
    println!("{what}:");
    println!("  ours   {} ns", show(mine, 1));
    println!("  theirs {} ns", show(other, 1));
    println!("  ratio  {} over {ROUNDS} rounds", show(ratios, 3));
}
