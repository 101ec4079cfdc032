//! The node on the quote gossip network: every gossiped quote goes through the same intake as an
//! HTTP submission before it is stored or forwarded, and a quote taken over HTTP is published.

use std::{borrow::Cow, sync::Arc};

use epoch_quote::SignedEpochProofQuote;
use quote_gossip::{GossipHandle, GossipQuote, Inbound, Published, Verdict};
use tokio::sync::{Semaphore, mpsc};

use crate::{domain::Refusal, error::NodeError, intake, state::AppState};

/// Gossiped quotes validated at once.
const VALIDATION_CONCURRENCY: usize = 256;

/// The verdict on a refused quote: rejected when its sender is at fault whatever the state of L1
/// (the peer that forwarded it loses score: an honest node never forwards such a quote), and
/// forged when it is invalid on its face (its sender may be blocked); ignored when the quote is
/// stale or may have been valid where it came from.
pub fn verdict_for(refusal: &Refusal) -> Verdict {
    let code = refusal.code();
    if code.forged() {
        Verdict::Forged
    } else if code.sender_at_fault() {
        Verdict::Reject
    } else {
        Verdict::Ignore
    }
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
                Verdict::Reject | Verdict::Forged => {
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
        Err(error) => return (Verdict::Forged, error.code().into()),
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
            Err(NodeError::Refused(refusal)) => return (verdict_for(&refusal), refusal.code().as_str().into()),
            // The node cannot check now: try again while the quote is fresh, then let it go
            // without blaming the sender.
            Err(
                error @ (NodeError::DatabaseUnavailable
                | NodeError::QuoteNotStored
                | NodeError::ChainViewUnavailable(_)),
            ) => {
                if message.received_at.elapsed() < intake::lag_grace(state) {
                    tokio::time::sleep(state.poll_interval()).await;
                    continue;
                }
                return (Verdict::Ignore, error.code().into());
            }
            Err(error) => return (Verdict::Ignore, error.code().into()),
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
