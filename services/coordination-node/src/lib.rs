//! The coordination node.
pub mod store;
