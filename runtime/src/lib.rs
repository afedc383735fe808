#![doc = include_str!("../../README.md")]

mod graph;
mod handle;
mod live;
mod observe;

pub use graph::{Entrypoint, Graph, StateInfo, Transition};
pub use handle::{Fate, Guarded, Handle, MachineId, StateConsumed};
pub use observe::{Observer, Step};

#[doc(inline)]
pub use statebound_macros::machine;

/// Not public API: used by generated code.
#[doc(hidden)]
pub mod __private {
    pub use crate::live::{Live, StateSpec};
    pub use std::sync::Arc;

    /// Hook used for states that declare none.
    pub fn no_exit<S, C>(_: &mut S, _: &mut C) {}

    /// Hook used for states that declare none.
    pub fn no_close<S, C>(_: S, _: &mut C) {}
}
