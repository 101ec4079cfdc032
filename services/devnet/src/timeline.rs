//! A readable timeline of what happens on the devnet, from the coordination node's events, in
//! the order the node committed them: epoch complete → quotes → claimed (and who was outbid) →
//! proven and paid, or slashed. Addresses carry the role the devnet gave them. The same events
//! are added up into a [`Tally`], printed when the devnet stops.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::primitives::{Address, B256, U256};
use coordination_node::{
    domain::{ExpiryReason, NodeEvent},
    store::{EventRecord, Store},
};

/// What happened on the devnet so far, added up from the node's events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Epochs that ended with blocks.
    pub epochs_completed: u64,
    /// Epochs claimed.
    pub epochs_claimed: u64,
    /// Epochs proven.
    pub epochs_proven: u64,
    /// Epochs pruned.
    pub epochs_pruned: u64,
    /// Quotes the node accepted.
    pub quotes_accepted: u64,
    /// Per prover: claims won, fees paid for proven epochs, bonds slashed.
    pub provers: BTreeMap<Address, ProverTally>,
}

/// One prover's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProverTally {
    /// Claims naming its quote.
    pub won: u64,
    /// Epochs it proved (of those it won).
    pub proven: u64,
    /// Paid for them: `totalFees × basisPointFee / 10000` each.
    pub paid: U256,
    /// Bonds it lost.
    pub slashed: U256,
}

/// The shared tally, read by the devnet when it stops.
pub(crate) type SharedTally = Arc<Mutex<Tally>>;

/// Names the devnet's accounts in the timeline.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names(HashMap<Address, &'static str>);

impl Names {
    pub(crate) fn new(names: impl IntoIterator<Item = (Address, &'static str)>) -> Self {
        Self(names.into_iter().collect())
    }

    /// `prover A (0x7099…79C8)`, or the short address alone for an account it does not know.
    pub(crate) fn of(&self, address: Address) -> String {
        let text = address.to_string();
        let short = format!("{}…{}", &text[..6], &text[text.len() - 4..]);
        match self.0.get(&address) {
            Some(name) => format!("{name} ({short})"),
            None => short,
        }
    }
}

impl Tally {
    /// The summary printed when the devnet stops.
    pub(crate) fn render(&self, names: &Names) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Summary: {} complete, {} claimed, {} proven, {} pruned; {} accepted",
            plural(self.epochs_completed, "epoch"),
            self.epochs_claimed,
            self.epochs_proven,
            self.epochs_pruned,
            plural(self.quotes_accepted, "quote")
        );
        if self.provers.is_empty() {
            let _ = writeln!(out, "  no claim yet");
        }
        for (prover, t) in &self.provers {
            let _ = writeln!(
                out,
                "  {}: won {}, proved {}, paid {}, bonds slashed {}",
                names.of(*prover),
                t.won,
                t.proven,
                t.paid,
                t.slashed
            );
        }
        out
    }
}

fn plural(count: u64, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

/// A quote seen for an epoch not yet claimed.
#[derive(Clone, Debug)]
struct Seen {
    id: B256,
    prover: Address,
    fee: u32,
}

/// A claim seen, until its epoch is decided.
#[derive(Clone, Copy, Debug)]
struct Claim {
    prover: Address,
    fee: u32,
    bond: U256,
}

/// Turns events into timeline lines, keeping the tally.
struct Timeline {
    names: Names,
    tally: SharedTally,
    fees: HashMap<u64, U256>,
    quotes: HashMap<u64, Vec<Seen>>,
    claims: HashMap<u64, Claim>,
}

impl Timeline {
    /// The lines for one event (none for events the timeline does not show).
    fn lines(&mut self, record: &EventRecord) -> Vec<String> {
        let event = match NodeEvent::parse(&record.kind, &record.data) {
            Ok(event) => event,
            Err(error) => {
                return vec![format!("(event {} of kind {} not understood: {error})", record.seq, record.kind)];
            }
        };
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            NodeEvent::EpochCompleted { epoch, init_block, final_block, block_count, tx_count, total_fees } => {
                tally.epochs_completed += 1;
                self.fees.insert(epoch, total_fees);
                vec![format!(
                    "epoch {epoch} complete: blocks {init_block}..={final_block} ({block_count} blocks), {tx_count} txs, fees {total_fees}"
                )]
            }
            NodeEvent::QuoteAccepted { id, prover, epoch, basis_point_fee, bond_amount } => {
                tally.quotes_accepted += 1;
                let seen = self.quotes.entry(epoch.saturating_to()).or_default();
                // A newer quote of the same prover supersedes its older one.
                seen.retain(|q| q.prover != prover);
                seen.push(Seen { id, prover, fee: basis_point_fee });
                vec![format!(
                    "  quote for epoch {epoch} from {}: fee {basis_point_fee} bps, bond {bond_amount}",
                    self.names.of(prover)
                )]
            }
            // A quote that expired by its own `validUntilSlot` did not lose to the claim.
            NodeEvent::QuoteExpired { id, epoch, reason: ExpiryReason::ValidUntilSlot } => {
                if let Some(seen) = self.quotes.get_mut(&epoch) {
                    seen.retain(|q| q.id != id);
                }
                Vec::new()
            }
            NodeEvent::ClaimSeen {
                epoch,
                quote_id,
                bond_provider,
                proposer,
                bond_amount,
                basis_point_fee,
                claimed_at_slot,
                ..
            } => {
                tally.epochs_claimed += 1;
                let claim = Claim { prover: bond_provider, fee: basis_point_fee, bond: bond_amount };
                tally.provers.entry(claim.prover).or_default().won += 1;
                self.claims.insert(epoch, claim);
                let mut lines = vec![format!(
                    "  epoch {epoch} claimed by {} with the quote of {} ({basis_point_fee} bps, bond {bond_amount}) at slot {claimed_at_slot}",
                    self.names.of(proposer),
                    self.names.of(bond_provider),
                )];
                for lost in self.quotes.remove(&epoch).unwrap_or_default().iter().filter(|q| q.id != quote_id) {
                    lines.push(format!("    outbid: {} at {} bps", self.names.of(lost.prover), lost.fee));
                }
                lines
            }
            NodeEvent::ProofSeen { epoch, l1_block } => {
                tally.epochs_proven += 1;
                self.quotes.remove(&epoch);
                match self.claims.remove(&epoch) {
                    Some(claim) => {
                        let fees = self.fees.get(&epoch).copied().unwrap_or_default();
                        let paid = epoch_quote::prover_payout(fees, claim.fee).unwrap_or_default();
                        let prover = tally.provers.entry(claim.prover).or_default();
                        prover.proven += 1;
                        prover.paid += paid;
                        vec![format!(
                            "  epoch {epoch} proven by {} (L1 block {l1_block}): paid {paid}, bond returned",
                            self.names.of(claim.prover)
                        )]
                    }
                    None => vec![format!("  epoch {epoch} proven (L1 block {l1_block}), unclaimed")],
                }
            }
            NodeEvent::BondSlashed { epoch, .. } => match self.claims.remove(&epoch) {
                Some(claim) => {
                    tally.provers.entry(claim.prover).or_default().slashed += claim.bond;
                    vec![format!(
                        "  epoch {epoch} not proven in time: bond {} of {} slashed",
                        claim.bond,
                        self.names.of(claim.prover)
                    )]
                }
                None => vec![format!("  epoch {epoch} not proven in time: bond slashed")],
            },
            NodeEvent::EpochPruned { epoch, .. } => {
                tally.epochs_pruned += 1;
                self.quotes.remove(&epoch);
                vec![format!("  epoch {epoch} pruned")]
            }
            NodeEvent::ChainReorg { fork_l1_block } => {
                vec![format!("L1 reorg: view rolled back to L1 block {fork_l1_block}")]
            }
            NodeEvent::QuoteExpired { .. } | NodeEvent::QuoteSuperseded { .. } => Vec::new(),
        }
    }
}

/// Prints each event of the node as timeline lines until `stop` resolves, then prints what is
/// left, so the tally is complete when it returns.
pub(crate) async fn print(store: Store, names: Names, tally: SharedTally, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut timeline = Timeline { names, tally, fees: HashMap::new(), quotes: HashMap::new(), claims: HashMap::new() };
    let mut last = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    let mut stopping = false;
    loop {
        if !stopping {
            tokio::select! {
                () = &mut stop => stopping = true,
                _ = ticker.tick() => {}
            }
        }
        let events = match store.events_after(last, 500).await {
            Ok(events) => events,
            Err(_) if stopping => return,
            Err(_) => continue,
        };
        let done = events.len() < 500;
        for event in events {
            last = event.seq;
            for line in timeline.lines(&event) {
                println!("{line}");
            }
        }
        if stopping && done {
            return;
        }
    }
}
