//! A readable timeline of what happens on the devnet, from the coordination node's events:
//! epoch complete → quotes → claimed → proven and paid (or slashed).

use std::{collections::HashMap, time::Duration};

use coordination_node::store::Store;
use serde_json::Value;

fn short(address: &Value) -> String {
    let text = address.as_str().unwrap_or("?");
    if text.len() > 10 { format!("{}…{}", &text[..6], &text[text.len() - 4..]) } else { text.to_owned() }
}

fn amount(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

/// Prints each event of the node as a timeline line until `stop` resolves.
pub(crate) async fn print(store: Store, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut last = 0;
    let mut fees: HashMap<u64, u128> = HashMap::new();
    let mut claims: HashMap<u64, (String, u64)> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(300));
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let Ok(events) = store.events_after(last, 200).await else { continue };
        for event in events {
            last = event.seq;
            let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
            let epoch =
                data["epoch"].as_u64().or_else(|| data["epoch"].as_str().and_then(|e| e.parse().ok())).unwrap_or(0);
            let line = match event.kind.as_str() {
                "epoch_completed" => {
                    fees.insert(epoch, amount(&data["totalFees"]).parse().unwrap_or(0));
                    format!(
                        "epoch {epoch} complete: blocks {}..={} ({} blocks), {} txs, fees {}",
                        data["initBlock"],
                        data["finalBlock"],
                        data["blockCount"],
                        data["txCount"],
                        amount(&data["totalFees"])
                    )
                }
                "quote_accepted" => format!(
                    "  quote for epoch {epoch} from {}: fee {} bps, bond {}",
                    short(&data["prover"]),
                    data["basisPointFee"],
                    amount(&data["bondAmount"])
                ),
                "claim_seen" => {
                    let bps = data["basisPointFee"].as_u64().unwrap_or(0);
                    claims.insert(epoch, (short(&data["bondProvider"]), bps));
                    format!(
                        "  epoch {epoch} claimed by {} with the quote of {} ({bps} bps, bond {}) at slot {}",
                        short(&data["proposer"]),
                        short(&data["bondProvider"]),
                        amount(&data["bondAmount"]),
                        data["claimedAtSlot"]
                    )
                }
                "proof_seen" => match claims.get(&epoch) {
                    Some((prover, bps)) => {
                        let paid = fees.get(&epoch).copied().unwrap_or(0) * u128::from(*bps) / 10_000;
                        format!(
                            "  epoch {epoch} proven by {prover} (L1 block {}): paid {paid}, bond returned",
                            data["l1Block"]
                        )
                    }
                    None => format!("  epoch {epoch} proven (L1 block {}), unclaimed", data["l1Block"]),
                },
                "bond_slashed" => format!("  epoch {epoch} not proven in time: bond slashed"),
                "epoch_pruned" => format!("  epoch {epoch} pruned"),
                "chain_reorg" => format!("L1 reorg: view rolled back to L1 block {}", data["forkL1Block"]),
                _ => continue,
            };
            println!("{line}");
        }
    }
}
