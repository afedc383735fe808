#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod graph;
mod handle;
mod live;
mod observe;
mod slot;
mod state;

pub use graph::{Entrypoint, Graph, StateInfo, Transition};
pub use handle::{Fate, Guarded, Handle, MachineId, StateConsumed};
pub use observe::{Observer, Step};
pub use slot::{AnyMachine, Slot};

// Error messages name these traits; exported here, they read `Edge`, not a path through
// `__private`.
#[doc(hidden)]
pub use state::{CloneMachine, Close, Edge};

#[doc(inline)]
pub use statebound_macros::machine;

/// Not public API: used by generated code.
#[doc(hidden)]
pub mod __private {
    pub use crate::graph::build::{edge, entrypoint, state_info};
    pub use crate::live::{Core, Live};
    pub use crate::slot::{put, take};
    pub use crate::state::{CloneMachine, Close, Edge, State, To};
    pub use crate::{AnyMachine, Handle, MachineId, Observer};
    pub use std::sync::Arc;
}
