//! The coordination node: provers send it signed quotes (on port 8000); it validates each
//! against its view of L1 and stores it durably before answering; it follows the L1 chain
//! (epochs, blocks, claims, proofs, prunes, escrow deposits) with a watcher.
//!
//! Modules by concern: [`config`] (settings), [`domain`] (refusals and events, free of HTTP and
//! SQL), [`intake`] (validation and storage of a quote), [`store`] with [`writer`] (the
//! database), [`watcher`] and [`view`] (L1), [`events`] (the live stream), [`p2p`] (gossip),
//! [`api`] with [`error`] (HTTP) and [`best`] (the best quotes from memory), [`market`] (the
//! aggregates the explorer reads) and [`explorer`] (its pages), [`retention`] (what is deleted
//! and when), [`metrics`], [`state`] and [`app`] (wiring).

pub mod api;
pub mod app;
pub mod best;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod explorer;
pub mod intake;
pub mod market;
pub mod metrics;
pub mod p2p;
pub mod retention;
pub mod state;
pub mod store;
pub mod view;
pub mod watcher;
pub mod writer;

pub use app::{Node, SpawnError, Spawned, app, openapi, openapi_yaml, run, spawn};
pub use config::Config;
pub use metrics::QuoteSource;
pub use state::AppState;
