//! River's own peers: its Python package's clients and server against ours (`python`, and
//! `rehandshake` for its client's one gap), and a server that closes connections the way
//! River's TypeScript transports do (`ts_close`). The Python tests start `river-echo`, so they
//! are built with the `cli` feature (a default one), and need the venv `bash interop/setup.sh`
//! makes.

#[cfg(feature = "cli")]
mod interop_support;

#[cfg(feature = "cli")]
#[path = "interop/python.rs"]
mod python;
#[cfg(feature = "cli")]
#[path = "interop/rehandshake.rs"]
mod rehandshake;
#[path = "interop/ts_close.rs"]
mod ts_close;
