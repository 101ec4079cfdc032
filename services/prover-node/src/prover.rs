//! The prover node's loop: EpochMonitor (price, bond, sign and send a quote for each finished
//! epoch that can still be claimed) and ClaimsMonitor (prove the epochs claimed with our quotes).

use std::{collections::BTreeSet, time::Duration};

use alloy::primitives::{Address, B256, Bytes, U256};
use epoch_quote::{EpochProofQuote, QuoteSigner, SignedEpochProofQuote};
use node_api::{
    RefusalCode,
    client::{ClientError, NodeClient},
};
use rollup_l1::{EpochState, L1Error, RollupConfig, RollupContract};

use crate::{
    bond::{BondError, BondManager},
    pricing::{EpochToPrice, QuoteProvider},
    state::{JobStatus, ProverState, Quoted},
};

/// Why a step failed (the next poll tries again).
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The L1 failed.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The deposit could not cover a bond.
    #[error(transparent)]
    Bond(#[from] BondError),
    /// The state file failed.
    #[error("state file: {0}")]
    State(#[from] sqlx::Error),
}

/// How a claimed epoch gets its proof.
#[derive(Clone, Debug)]
pub enum ProvingJob {
    /// The devnet verifier's proof: keccak256 of the epoch and its public inputs.
    Devnet,
    /// An external command: gets the epoch as JSON on stdin, prints the proof as 0x-hex on stdout.
    Command(String),
}

/// Where quotes go: POSTed to a coordination node, gossiped on the P2P network, or both.
#[derive(Clone, Debug)]
pub struct QuoteSender {
    http: Option<NodeClient>,
    gossip: Option<(quote_gossip::GossipHandle, u64)>,
}

/// Why a quote was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The node refused it, or could not be reached or failed (after retries).
    #[error("the node did not take the quote: {0}")]
    Node(#[from] ClientError),
    /// Neither a node URL nor the gossip network is configured.
    #[error("no destination for quotes")]
    NoDestination,
    /// No coordination node was reachable on the gossip network.
    #[error("the quote could not be gossiped: {0}")]
    Gossip(quote_gossip::PublishError),
}

impl QuoteSender {
    /// Sends quotes to the coordination node at `node` (`PROVER_COORDINATION_NODE_URL`).
    pub fn http(node: reqwest::Url) -> Result<Self, ClientError> {
        Ok(Self { http: Some(NodeClient::new(node)?), gossip: None })
    }

    /// Gossips quotes, signed for L1 chain `chain_id`, through `gossip`.
    pub fn gossip(gossip: quote_gossip::GossipHandle, chain_id: u64) -> Self {
        Self { http: None, gossip: Some((gossip, chain_id)) }
    }

    /// Also gossips quotes through `gossip`.
    pub fn with_gossip(mut self, gossip: quote_gossip::GossipHandle, chain_id: u64) -> Self {
        self.gossip = Some((gossip, chain_id));
        self
    }

    /// Gossips `quote` (when on the network) and POSTs it (when a node URL is set). With a node
    /// URL, its answer decides; otherwise the quote counts as sent once a node has it.
    pub async fn send(&self, quote: &SignedEpochProofQuote) -> Result<(), SendError> {
        let gossiped = match &self.gossip {
            Some((gossip, chain_id)) => {
                Some(publish(gossip, quote_gossip::GossipQuote { chain_id: *chain_id, signed: *quote }).await)
            }
            None => None,
        };
        match (&self.http, gossiped) {
            (Some(node), gossiped) => {
                if let Some(Err(error)) = gossiped {
                    tracing::warn!(%error, "quote not gossiped; sending it to the node only");
                }
                post(node, quote).await
            }
            (None, Some(gossiped)) => gossiped,
            (None, None) => Err(SendError::NoDestination),
        }
    }
}

/// Publishes a quote, waiting a little for a node to be connected.
async fn publish(gossip: &quote_gossip::GossipHandle, quote: quote_gossip::GossipQuote) -> Result<(), SendError> {
    let mut attempt = 0;
    loop {
        match gossip.publish(&quote).await {
            Ok(_) => return Ok(()),
            Err(quote_gossip::PublishError::NoPeers | quote_gossip::PublishError::QueuesFull) if attempt < 8 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(error) => return Err(SendError::Gossip(error)),
        }
    }
}

/// Submits `quote`, retrying a transient failure (not a refusal) a few times.
async fn post(node: &NodeClient, quote: &SignedEpochProofQuote) -> Result<(), SendError> {
    let mut attempt = 0u64;
    loop {
        match node.submit_quote(quote).await {
            Ok(_) => return Ok(()),
            Err(error) if error.is_transient() && attempt < 3 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// What the prover does when the node refuses its quote for an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reaction {
    /// The node's view of L1 is a poll behind ours: send it again next poll.
    TryAgain,
    /// The epoch takes no quote from us any more: stop quoting it.
    GiveUpEpoch,
    /// The bond or the escrow is short: the next poll tops the deposit up and sends again.
    FixBond,
    /// The node disagrees with our configuration or our L1 (rollup, chain, signature, epoch
    /// contents): an operator must look.
    Misconfigured,
}

/// The reaction to each refusal, decided per code (a new code must be decided here).
fn reaction(code: RefusalCode) -> Reaction {
    match code {
        RefusalCode::EpochNotComplete => Reaction::TryAgain,
        RefusalCode::EpochProven
        | RefusalCode::EpochPruned
        | RefusalCode::EpochAlreadyClaimed
        | RefusalCode::QuoteExpired
        | RefusalCode::EpochFull => Reaction::GiveUpEpoch,
        RefusalCode::BondTooLow | RefusalCode::InsufficientEscrow => Reaction::FixBond,
        RefusalCode::InvalidJson
        | RefusalCode::MissingField
        | RefusalCode::InvalidNumber
        | RefusalCode::InvalidAddress
        | RefusalCode::FeeAboveMaximum
        | RefusalCode::InvalidSignature
        | RefusalCode::WrongRollup
        | RefusalCode::WrongChain
        | RefusalCode::MalformedMessage
        | RefusalCode::EpochNotFound
        | RefusalCode::EpochMismatch => Reaction::Misconfigured,
    }
}

/// What one step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Epochs quoted this step.
    pub quoted: Vec<u64>,
    /// Epochs whose proving job started (or resumed) this step.
    pub proving: Vec<u64>,
}

/// One prover.
#[derive(Clone, Debug)]
pub struct ProverNode {
    signer: QuoteSigner,
    rollup: RollupContract,
    config: RollupConfig,
    bonds: BondManager,
    pricing: QuoteProvider,
    sender: QuoteSender,
    state: ProverState,
    job: ProvingJob,
    metrics: crate::metrics::Metrics,
    /// Epochs the node said take no quote from us any more.
    closed: std::sync::Arc<std::sync::Mutex<BTreeSet<u64>>>,
}

impl ProverNode {
    /// Assembles a prover from its parts; `rollup` calls through the prover's wallet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        signer: QuoteSigner,
        rollup: RollupContract,
        config: RollupConfig,
        bonds: BondManager,
        pricing: QuoteProvider,
        sender: QuoteSender,
        state: ProverState,
        job: ProvingJob,
    ) -> Self {
        Self {
            signer,
            rollup,
            config,
            bonds,
            pricing,
            sender,
            state,
            job,
            metrics: Default::default(),
            closed: Default::default(),
        }
    }

    /// What it counts.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    async fn ensure_bond(&self, amount: U256) -> Result<(), StepError> {
        let deposit = match self.bonds.ensure_bond(amount).await? {
            crate::bond::BondAction::Sufficient { deposit } | crate::bond::BondAction::ToppedUp { deposit, .. } => {
                deposit
            }
        };
        self.metrics.escrow_deposit.set(deposit.saturating_to::<i64>());
        Ok(())
    }

    /// The prover's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The bond manager.
    pub fn bonds(&self) -> &BondManager {
        &self.bonds
    }

    /// One poll: the epoch monitor, then the claims monitor. `l1_up` says whether the L1 answered.
    pub async fn step(&self) -> Result<StepReport, StepError> {
        let mut report = StepReport::default();
        let result = async {
            self.quote_epochs(&mut report).await?;
            self.watch_claims(&mut report).await
        }
        .await;
        match &result {
            Ok(()) => _ = self.metrics.l1_up.set(1),
            Err(StepError::L1(e) | StepError::Bond(BondError::L1(e))) if e.is_unreachable() => {
                _ = self.metrics.l1_up.set(0)
            }
            Err(_) => {}
        }
        result.map(|()| report)
    }

    /// EpochMonitor: every finished epoch with blocks, neither claimed nor proven, whose claim
    /// window is not over, gets one quote (again only if the pricing changed).
    async fn quote_epochs(&self, report: &mut StepReport) -> Result<(), StepError> {
        let slot = self.rollup.current_slot().await?;
        let current = self.config.epoch_at_slot(slot);
        let mut candidates = BTreeSet::new();
        if let Some(epoch) = self.rollup.epoch_to_prove().await? {
            candidates.insert(epoch);
        }
        if current > 0 {
            candidates.insert(current - 1);
        }
        for epoch in candidates {
            let (_, window_end) = self.config.claim_window(epoch);
            if epoch >= current || slot > window_end || self.is_closed(epoch) {
                continue;
            }
            let info = self.rollup.epoch(epoch).await?;
            if info.block_count == 0 || info.state != EpochState::Complete {
                continue;
            }
            let question = EpochToPrice {
                epoch_number: epoch,
                from_block: info.init_block,
                end_block: info.final_block,
                tx_count: info.tx_count,
                total_fees: info.total_fees,
                valid_until_slot: Some(window_end),
            };
            self.metrics.epochs_seen.inc();
            let Some(pricing) = self.pricing.get_quote(&question).await else {
                self.metrics.quotes_declined.inc();
                continue;
            };
            let previous = self.state.quoted(epoch).await?;
            if previous
                .is_some_and(|q| q.basis_point_fee == pricing.basis_point_fee && q.bond_amount == pricing.bond_amount)
            {
                continue;
            }
            self.ensure_bond(pricing.bond_amount).await?;
            let quote = EpochProofQuote {
                prover: self.address(),
                epoch_number: U256::from(epoch),
                epoch_init_block: U256::from(info.init_block),
                epoch_final_block: U256::from(info.final_block),
                total_fees: info.total_fees,
                rollup_address: self.config.address,
                basis_point_fee: pricing.basis_point_fee,
                bond_amount: pricing.bond_amount,
                valid_until_slot: pricing.valid_until_slot.unwrap_or(U256::from(window_end)),
            };
            let signed = self.signer.sign(quote, &self.config.quote_domain());
            let id = signed.id(&self.config.quote_domain());
            match self.sender.send(&signed).await {
                Ok(()) => {
                    self.state
                        .record_quote(
                            epoch,
                            Quoted {
                                quote_id: id,
                                basis_point_fee: quote.basis_point_fee,
                                bond_amount: quote.bond_amount,
                            },
                        )
                        .await?;
                    tracing::info!(epoch, %id, fee_bps = quote.basis_point_fee, bond = %quote.bond_amount, "quote sent");
                    self.metrics.quotes_sent.inc();
                    report.quoted.push(epoch);
                }
                Err(SendError::Node(ClientError::Refused { code, message })) => match reaction(code) {
                    Reaction::TryAgain => {
                        tracing::debug!(epoch, %code, "the node has not seen the epoch end yet; trying again next poll");
                    }
                    Reaction::GiveUpEpoch => {
                        self.metrics.quotes_refused.inc();
                        tracing::info!(epoch, %code, message, "the epoch takes no quote from us any more");
                        self.close(epoch);
                    }
                    Reaction::FixBond => {
                        self.metrics.quotes_refused.inc();
                        tracing::warn!(epoch, %code, message, "bond refused; topping up and trying again next poll");
                    }
                    Reaction::Misconfigured => {
                        self.metrics.quotes_refused.inc();
                        tracing::error!(
                            epoch, %code, message,
                            "the node refuses our quote: check the rollup, chain and key settings against the node's"
                        );
                    }
                },
                Err(error) => tracing::warn!(epoch, %error, "quote not delivered; trying again next poll"),
            }
        }
        Ok(())
    }

    fn is_closed(&self, epoch: u64) -> bool {
        self.closed.lock().is_ok_and(|closed| closed.contains(&epoch))
    }

    fn close(&self, epoch: u64) {
        if let Ok(mut closed) = self.closed.lock() {
            closed.insert(epoch);
            // Only the last few epochs can be quoted; forget the rest.
            while closed.len() > 64 {
                closed.pop_first();
            }
        }
    }

    /// ClaimsMonitor: a claim whose bond provider is this prover starts its proving job once.
    async fn watch_claims(&self, report: &mut StepReport) -> Result<(), StepError> {
        let Some(claim) = self.rollup.proof_claim().await? else { return Ok(()) };
        if claim.bond_provider != self.address() {
            return Ok(());
        }
        let epoch = claim.epoch_number;
        match self.state.job(epoch).await? {
            Some(JobStatus::Submitted) => return Ok(()),
            Some(JobStatus::Running) => tracing::info!(epoch, "resuming the proving job started before a restart"),
            None => {
                if !self.state.start_job(epoch, claim.quote_id).await? {
                    return Ok(());
                }
                tracing::info!(epoch, quote = %claim.quote_id, bond = %claim.bond_amount, "our quote was claimed; proving");
                self.metrics.claims_won.inc();
            }
        }
        report.proving.push(epoch);
        let deadline = self.config.first_slot(epoch + 2);
        let slot = self.rollup.current_slot().await?;
        if slot + 1 >= deadline {
            tracing::error!(
                epoch,
                slot,
                deadline,
                "the proof may not land before the deadline: the bond will be slashed"
            );
        }
        match self.prove(epoch).await {
            Ok(tx) => {
                self.state.finish_job(epoch, tx).await?;
                self.metrics.proofs_submitted.inc();
                tracing::info!(epoch, %tx, "epoch proven");
            }
            Err(error) => tracing::error!(epoch, %error, "proving job failed; retrying next poll"),
        }
        // The claim took the bond out of the deposit: top it up again.
        self.ensure_bond(U256::ZERO).await?;
        Ok(())
    }

    async fn prove(&self, epoch: u64) -> Result<B256, String> {
        let inputs = self.rollup.epoch_proof_public_inputs(epoch).await.map_err(|e| e.to_string())?;
        let proof = match &self.job {
            ProvingJob::Devnet => rollup_l1::devnet_proof(epoch, &inputs),
            ProvingJob::Command(command) => run_command(command, epoch, &inputs).await?,
        };
        let receipt = self.rollup.submit_epoch_proof(epoch, proof).await.map_err(|e| e.to_string())?;
        Ok(receipt.transaction_hash)
    }
}

/// Runs the operator's proving command with the epoch on stdin and reads the proof from stdout.
async fn run_command(command: &str, epoch: u64, inputs: &[B256]) -> Result<Bytes, String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", command])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let input = serde_json::json!({"epoch": epoch, "publicInputs": inputs}).to_string();
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).await.map_err(|e| e.to_string())?;
    }
    let output = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("{command:?} exited with {}", output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    alloy::primitives::hex::decode(text.trim()).map(Bytes::from).map_err(|e| format!("the proof is not hex: {e}"))
}
