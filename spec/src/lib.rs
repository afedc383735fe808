//! River's session protocol on statebound.

pub mod graph;
pub mod session;
pub mod transport;
pub mod wire;
pub mod router;
pub mod echo_service;
