//! The prover node (the seed's Prover Node): what a prover operator runs. It keeps its escrow
//! deposit funded ([`bond`]), prices each finished epoch through its quote provider
//! ([`pricing`]), and — as the monitors land — signs and sends quotes, notices its claims and
//! proves the epochs it won.

pub mod bond;
pub mod pricing;
