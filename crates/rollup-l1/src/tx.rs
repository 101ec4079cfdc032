//! Sending a contract call as a transaction and waiting for it to be mined.

use alloy::{
    contract::{CallBuilder, CallDecoder},
    providers::DynProvider,
    rpc::types::TransactionReceipt,
};

use crate::L1Error;

/// Sends `call` (gas estimation first, so a refused call comes back as a decoded
/// [`crate::Revert`] without spending gas), waits for its receipt, and fails if it reverted on
/// chain.
pub(crate) async fn send<D: CallDecoder>(call: CallBuilder<&DynProvider, D>) -> Result<TransactionReceipt, L1Error> {
    let receipt = call.send().await?.get_receipt().await?;
    if receipt.status() { Ok(receipt) } else { Err(L1Error::Failed(receipt.transaction_hash)) }
}
