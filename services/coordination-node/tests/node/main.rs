//! The coordination node's tests, one binary: storage on both backends, and more as it grows.

mod app;
mod browser;
mod client;
mod clients;
mod events;
mod explorer;
mod intake;
mod migration;
mod openapi;
mod p2p;
mod proxy;
mod read;
mod retention;
mod store;
mod support;
