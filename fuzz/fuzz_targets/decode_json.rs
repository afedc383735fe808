//! libFuzzer's entry for [`statebound_river_fuzz::decode_json`].
//!
//! Built without `--cfg fuzzing`, it runs the target on each file (or each file in each
//! directory) named on its command line.

#![cfg_attr(fuzzing, no_main)]

statebound_river_fuzz::fuzz_target!(decode_json);
