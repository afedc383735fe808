//! Compile-fail and pass cases for `#[statebound::machine]`, one rule per file. The typestate
//! cases that misuse the same door machine include it from `ui/fixtures/door.rs`.
//!
//! The `.stderr` snapshots are made on the stable toolchain pinned by the workspace's
//! `rust-toolchain.toml`; after a deliberate change to a message, regenerate them with
//! `TRYBUILD=overwrite cargo test -p statebound-tests --test compile_fail` and read the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/parse/*.rs");
    cases.compile_fail("ui/check/*.rs");
    cases.compile_fail("ui/typestate/*.rs");
    cases.pass("ui/pass/*.rs");
}
