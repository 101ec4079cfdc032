//! The coordination node's tests, one binary: storage on both backends, and more as it grows.

mod store;
mod support;
