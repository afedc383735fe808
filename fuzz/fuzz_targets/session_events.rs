//! libFuzzer's entry for [`statebound_river_fuzz::session_events`].
//!
//! Built without `--cfg fuzzing`, it runs the target on each file (or each file in each
//! directory) named on its command line.

#![cfg_attr(fuzzing, no_main)]

statebound_river_fuzz::fuzz_target!(session_events);
