//! `sol!` bindings generated from the committed artifacts in `contracts/out` (ABI and bytecode).
//! Use the typed wrappers in this crate rather than these directly.

#![allow(missing_docs, unreachable_pub, clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Rollup,
    "../../contracts/out/Rollup.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    ProofCommitmentEscrow,
    "../../contracts/out/ProofCommitmentEscrow.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    FeeToken,
    "../../contracts/out/FeeToken.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    DevnetVerifier,
    "../../contracts/out/DevnetVerifier.json"
);
