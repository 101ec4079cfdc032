//! The coordination node's tests, one binary: storage on both backends, and more as it grows.

mod app;
mod client;
mod events;
mod intake;
mod migration;
mod openapi;
mod p2p;
mod proxy;
mod read;
mod store;
mod support;
