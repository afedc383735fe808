//! River's session protocol on statebound.

pub mod wire;
