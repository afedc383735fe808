//! Services and calls: rpc, stream, upload and subscription procedures through the router,
//! their wire shapes, and the order of what calls send.

#[macro_use]
mod router_support;

#[path = "router/basic.rs"]
mod basic;
#[path = "router/conformance.rs"]
mod conformance;
#[path = "router/order.rs"]
mod order;
