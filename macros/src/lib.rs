//! proc macro
