//! River's session protocol on statebound.

pub mod graph;
pub mod wire;
