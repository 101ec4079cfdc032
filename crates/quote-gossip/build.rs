//! Generates the wire types from `proto/` with a protobuf compiler written in Rust, so building
//! needs no system `protoc`.
//!
//! The schema's folder is found from `CARGO_MANIFEST_DIR` read when the script runs, not when it
//! is compiled: cargo reuses a compiled build script for a checkout in another folder that shares
//! the build cache, and a path fixed at compile time would point into the first checkout.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").ok_or("cargo sets CARGO_MANIFEST_DIR")?;
    let proto_dir = std::path::Path::new(&manifest_dir).join("../../proto");
    let schema = proto_dir.join("epoch_proof_quote.proto");
    println!("cargo:rerun-if-changed={}", schema.display());
    let descriptors = protox::compile([&schema], [&proto_dir])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
