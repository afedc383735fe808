//! Test-only crate: compile-fail, hygiene and lint cases live under `tests/`.
