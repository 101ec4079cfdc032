//! The fault campaign: each scenario starts what it needs on loopback (anvil, the services, and
//! for the database scenarios a private PostgreSQL cluster), drives real load, breaks one part on
//! purpose, and reports in numbers what was lost and how long recovery took. `RELIABILITY.md`
//! lists each scenario with its command and figures; `tests/short.rs` runs the short forms.

pub mod cluster;
pub mod load;
pub mod node;
pub mod scenarios;
pub mod stream;

pub use scenarios::{
    DatabaseCrash, Failover, GossipFlood, Hostile, NodeCrash, Reorgs, Setup, Size, database_crash, gossip_flood,
    hostile_clients, node_crash, reorgs, replica_failover,
};
