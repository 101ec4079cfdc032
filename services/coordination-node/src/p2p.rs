//! The node on the quote gossip network: every gossiped quote goes through the same intake as an
//! HTTP submission before it is stored or forwarded, and a quote taken over HTTP is published.

use std::{borrow::Cow, sync::Arc};

use epoch_quote::SignedEpochProofQuote;
use quote_gossip::{GossipHandle, GossipQuote, Inbound, Published, Verdict};
use tokio::sync::{Semaphore, mpsc};

use crate::{AppState, intake};

/// Gossiped quotes validated at once.
const VALIDATION_CONCURRENCY: usize = 256;

/// Codes for which the sender is at fault whatever the state of L1: the message is rejected and
/// the peer that forwarded it loses score (an honest node never forwards such a quote).
const SENDER_AT_FAULT: &[&str] = &[
    "malformed_message",
    "invalid_signature",
    "wrong_chain",
    "wrong_rollup",
    "bond_too_low",
    "epoch_mismatch",
    "epoch_not_found",
];

/// The verdict on a quote refused with `code`: rejected (sender blamed) or ignored (the quote is
/// stale, or this node cannot check it now, and an honest peer may have seen it valid).
pub fn verdict_for(code: &str) -> Verdict {
    if SENDER_AT_FAULT.contains(&code) { Verdict::Reject } else { Verdict::Ignore }
}

/// Validates every gossiped quote from `inbound` and reports each verdict, until the network
/// stops.
pub async fn validate(state: AppState, gossip: GossipHandle, mut inbound: mpsc::Receiver<Inbound>) {
    let permits = Arc::new(Semaphore::new(VALIDATION_CONCURRENCY));
    while let Some(message) = inbound.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let state = state.clone();
        let gossip = gossip.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (verdict, code) = judge(&state, &message).await;
            state.metrics.gossip_verdict(verdict, &code);
            match verdict {
                Verdict::Reject => {
                    tracing::info!(peer = %message.source, %code, id = %message.message_id, "gossiped quote rejected");
                }
                Verdict::Ignore => {
                    tracing::debug!(peer = %message.source, %code, id = %message.message_id, "gossiped quote ignored");
                }
                Verdict::Accept => {}
            }
            gossip.report(message.message_id, message.source, verdict).await;
        });
    }
}

/// The verdict on one message and the code behind it.
async fn judge(state: &AppState, message: &Inbound) -> (Verdict, Cow<'static, str>) {
    let quote = match &message.quote {
        Ok(quote) => *quote,
        Err(error) => return (Verdict::Reject, error.code().into()),
    };
    loop {
        match intake::take_gossiped(state, quote, message.received_at).await {
            Ok(intake::Accepted::Stored(id)) => {
                state.metrics.accepted(crate::QuoteSource::Gossip);
                tracing::info!(%id, peer = %message.source, elapsed_ms = message.received_at.elapsed().as_millis() as u64, "gossiped quote stored");
                return (Verdict::Accept, "accepted".into());
            }
            // Already stored: gossip has it, or it came by HTTP and was published from here.
            Ok(intake::Accepted::Known(_)) => return (Verdict::Ignore, "known".into()),
            Err(error) => {
                let code = error.body().code.clone();
                // The node cannot check now (epoch_not_complete already waited for the view).
                let unavailable = matches!(code.as_ref(), "chain_view_unavailable" | "database_unavailable");
                if unavailable && message.received_at.elapsed() < intake::lag_grace(state) {
                    tokio::time::sleep(state.poll_interval()).await;
                    continue;
                }
                return (verdict_for(&code), code);
            }
        }
    }
}

/// Publishes a quote the node has just stored from an HTTP submission, so that every node can
/// serve it. A network without peers is not an error: the quote is stored here.
pub async fn announce(state: &AppState, signed: SignedEpochProofQuote) {
    let (Some(gossip), Some(config)) = (state.gossip.clone(), state.rollup_config()) else { return };
    let quote = GossipQuote { chain_id: config.chain_id, signed };
    match gossip.publish(&quote).await {
        Ok(Published::Sent) => state.metrics.gossip_published(),
        Ok(Published::AlreadySeen) => {}
        Err(error) => tracing::debug!(id = %quote.id(), %error, "quote not gossiped"),
    }
}
