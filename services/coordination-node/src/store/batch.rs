//! What storing a batch of quotes decides, apart from the SQL: both backends read the same facts
//! in their transaction (closed epochs, pending counts, who has a pending quote), let [`Plan`]
//! decide which quotes to insert, insert them, supersede what they replace, and let [`Plan`]
//! turn what the database did into outcomes and events.

use std::collections::{HashMap, HashSet};

use alloy::primitives::{Address, B256};
use epoch_quote::SignedEpochProofQuote;

use super::{EpochClosed, InsertOutcome, StoreError};
use crate::domain::NodeEvent;

/// A quote's prover and epoch: the pair a newer quote supersedes within.
pub(crate) type Pair = (Address, i64);

/// What the transaction has committed so far, for the epochs and provers of the batch.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    /// Epochs that take no more quotes.
    pub(crate) closed: HashMap<i64, EpochClosed>,
    /// Pending quotes per epoch.
    pub(crate) pending: HashMap<i64, i64>,
    /// Provers with a pending quote in an epoch.
    pub(crate) has_pending: HashSet<Pair>,
}

/// The decisions for one batch.
pub(crate) struct Plan<'a> {
    quotes: &'a [(B256, SignedEpochProofQuote)],
    outcomes: Vec<Option<InsertOutcome>>,
    /// Indexes of the quotes to insert, in order.
    admitted: Vec<usize>,
}

/// The prover and epoch of `quote`, or an error when its epoch does not fit a stored integer.
pub(crate) fn pair(quote: &SignedEpochProofQuote) -> Result<Pair, StoreError> {
    Ok((quote.quote.prover, super::int256("quotes.epoch", quote.quote.epoch_number)?))
}

impl<'a> Plan<'a> {
    /// The epochs and prover–epoch pairs the batch touches: what [`Committed`] must describe.
    pub(crate) fn keys(
        quotes: &[(B256, SignedEpochProofQuote)],
    ) -> Result<(std::collections::BTreeSet<i64>, std::collections::BTreeSet<Pair>), StoreError> {
        let pairs = quotes.iter().map(|(_, q)| pair(q)).collect::<Result<std::collections::BTreeSet<_>, _>>()?;
        Ok((pairs.iter().map(|(_, epoch)| *epoch).collect(), pairs))
    }

    /// Decides, in order: a repeated id in the batch, a closed epoch, the per-epoch cap.
    pub(crate) fn new(
        quotes: &'a [(B256, SignedEpochProofQuote)],
        mut committed: Committed,
        per_epoch_cap: u32,
    ) -> Result<Self, StoreError> {
        let mut outcomes = vec![None; quotes.len()];
        let mut seen = HashSet::new();
        let mut admitted = Vec::new();
        for (n, (id, quote)) in quotes.iter().enumerate() {
            if !seen.insert(*id) {
                outcomes[n] = Some(InsertOutcome::AlreadyStored);
                continue;
            }
            let pair = pair(quote)?;
            if let Some(why) = committed.closed.get(&pair.1) {
                outcomes[n] = Some(InsertOutcome::EpochClosed(*why));
                continue;
            }
            if !committed.has_pending.contains(&pair) {
                let count = committed.pending.entry(pair.1).or_insert(0);
                if *count >= i64::from(per_epoch_cap) {
                    outcomes[n] = Some(InsertOutcome::EpochFull);
                    continue;
                }
                *count += 1;
                committed.has_pending.insert(pair);
            }
            admitted.push(n);
        }
        Ok(Self { quotes, outcomes, admitted })
    }

    /// The quotes to insert.
    pub(crate) fn admitted(&self) -> impl Iterator<Item = &'a (B256, SignedEpochProofQuote)> + '_ {
        self.admitted.iter().map(|&n| &self.quotes[n])
    }

    /// Whether nothing is to be inserted.
    pub(crate) fn is_empty(&self) -> bool {
        self.admitted.is_empty()
    }

    /// For each prover and epoch, the quote that stays pending: the last one inserted. Every
    /// other pending quote of theirs is to be superseded.
    pub(crate) fn keepers(&self, inserted: &HashSet<B256>) -> Result<HashMap<Pair, B256>, StoreError> {
        let mut keep = HashMap::new();
        for (id, quote) in self.admitted() {
            if inserted.contains(id) {
                keep.insert(pair(quote)?, *id);
            }
        }
        Ok(keep)
    }

    /// The outcomes, and the events to append, given the ids the database inserted and the
    /// quotes it superseded (`(id, prover, epoch)`).
    pub(crate) fn finish(
        mut self,
        inserted: &HashSet<B256>,
        keepers: &HashMap<Pair, B256>,
        superseded: Vec<(B256, Pair)>,
    ) -> (Vec<InsertOutcome>, Vec<NodeEvent>) {
        let mut events = Vec::new();
        for (id, quote) in self.admitted() {
            if inserted.contains(id) {
                let q = &quote.quote;
                events.push(NodeEvent::QuoteAccepted {
                    id: *id,
                    prover: q.prover,
                    epoch: q.epoch_number,
                    basis_point_fee: q.basis_point_fee,
                    bond_amount: q.bond_amount,
                });
            }
        }
        let mut by_keeper: HashMap<B256, Vec<B256>> = HashMap::new();
        for (id, pair) in superseded {
            if let Some(keeper) = keepers.get(&pair) {
                events.push(NodeEvent::QuoteSuperseded { id, by: *keeper, epoch: Some(pair.1.unsigned_abs()) });
                by_keeper.entry(*keeper).or_default().push(id);
            }
        }
        for &n in &self.admitted {
            let id = self.quotes[n].0;
            self.outcomes[n] = Some(if !inserted.contains(&id) {
                InsertOutcome::AlreadyStored
            } else {
                let mut superseded = by_keeper.remove(&id).unwrap_or_default();
                superseded.sort();
                InsertOutcome::Stored { superseded }
            });
        }
        (self.outcomes.into_iter().map(|o| o.unwrap_or(InsertOutcome::AlreadyStored)).collect(), events)
    }

    /// The outcomes when nothing was inserted.
    pub(crate) fn refused(self) -> Vec<InsertOutcome> {
        self.outcomes.into_iter().map(|o| o.unwrap_or(InsertOutcome::AlreadyStored)).collect()
    }
}
