//! Running statebound-river: the `river` command line against `river-echo` (`river_cli`),
//! `river-echo` instances behind nginx and draining (`scale_out`), the Prometheus metrics
//! (`metrics`), what sessions log (`tracing_spans`), and the status page (`status_page`).
//! The modules that start the binaries are built with the `cli` feature (a default one), the
//! status page's with `status`.

#[cfg(feature = "cli")]
mod interop_support;
/// Programs the tests drive, installed when missing.
#[cfg(any(feature = "cli", feature = "status"))]
#[path = "common/programs.rs"]
mod programs;
#[path = "common/scoped_subscriber.rs"]
mod scoped_subscriber;

#[path = "ops/metrics.rs"]
mod metrics;
#[cfg(feature = "cli")]
#[path = "ops/river_cli.rs"]
mod river_cli;
#[cfg(feature = "cli")]
#[path = "ops/scale_out.rs"]
mod scale_out;
#[cfg(feature = "status")]
#[path = "ops/status_page.rs"]
mod status_page;
#[path = "ops/tracing_spans.rs"]
mod tracing_spans;
