//! Scenarios 3 and 5: the prover node and the proposer in the live loop, where a crash or an L1
//! outage could cost a bond or a claim. Every figure about claims, proofs and prunes is read from
//! the rollup's own logs.

use std::{
    collections::BTreeSet,
    fmt,
    time::{Duration, Instant},
};

use alloy::primitives::U256;

use crate::live::{L1Record, Live, LoopOptions, Rhythm, Tail, gauge, log_event};

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn maybe_secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "never".to_owned(), secs)
}

/// Scenario 5's figures.
#[derive(Debug)]
pub struct ProverCrash {
    /// When after its proving job was seen starting the prover node was killed, per kill.
    pub prover_kills: Vec<Duration>,
    /// When after it was seen logging that it was sending a claim the proposer was killed, per
    /// kill.
    pub proposer_kills: Vec<Duration>,
    /// Epochs with blocks between the first and the last kill.
    pub epochs: usize,
    /// Of those, claimed once.
    pub claimed: usize,
    /// Of those, proven by the prover node.
    pub proven: usize,
    /// Epochs claimed more than once.
    pub double_claims: usize,
    /// Epochs proven more than once.
    pub double_proofs: usize,
    /// Bonds slashed.
    pub slashed: usize,
    /// The prover's bond still staked once the last epoch was proven (0: every bond returned).
    pub staked_at_end: U256,
    /// Prover node kills after which its proof was already on the L1.
    pub killed_after_proof: usize,
    /// Kills before the proof was on the L1 after which the restarted prover node started the
    /// job again (the proof had not been sent).
    pub jobs_resumed: usize,
    /// Kills before the proof was on the L1 after which no job was started again: the proof was
    /// in flight and landed.
    pub killed_in_flight: usize,
    /// Epochs whose claim the restarted proposer sent again (it had not landed before the kill).
    pub claims_resent: usize,
    /// Claim transactions mined and reverted (the proposer's log): a second claim sent for an
    /// epoch would be. (A claim refused by gas estimation is never sent.)
    pub claims_refused: usize,
    /// Proving jobs that failed and were tried again (the prover node's log).
    pub proving_failures: usize,
    /// Slowest restart (until it answered `/healthz`).
    pub slowest_restart: Duration,
}

impl fmt::Display for ProverCrash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |kills: &[Duration]| kills.iter().map(|d| format!("{} ms", d.as_millis())).collect::<Vec<_>>();
        write!(
            f,
            "prover-crash: prover node killed {} times while proving (at {}), proposer killed {} times as it sent a \
             claim (at {}); {} epochs: {} claimed, {} proven, {} double claims, {} double proofs, {} bonds slashed, \
             bond staked at the end {}; prover kills: {} after its proof landed, {} before it was sent (the job resumed \
             after the restart), {} with it in flight; {} claims sent again after a restart; {} claims refused by \
             the L1 after being sent, {} proving jobs failed; slowest restart {}",
            self.prover_kills.len(),
            list(&self.prover_kills).join(", "),
            self.proposer_kills.len(),
            list(&self.proposer_kills).join(", "),
            self.epochs,
            self.claimed,
            self.proven,
            self.double_claims,
            self.double_proofs,
            self.slashed,
            self.staked_at_end,
            self.killed_after_proof,
            self.jobs_resumed,
            self.killed_in_flight,
            self.claims_resent,
            self.claims_refused,
            self.proving_failures,
            secs(self.slowest_restart)
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Victim {
    Prover,
    Proposer,
}

/// The events of the JSON log at `path` whose message is `message`.
fn logged(path: &std::path::Path, message: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(log_event).filter(|e| e["message"].as_str() == Some(message)).collect()
}

/// What the proposer logs between simulating a claim and sending it.
const CLAIMING: &str = "simulated; sending the claim";

/// 5. The prover node killed with SIGKILL while proving, `rounds` times at moments from the start
///    of its proving job to just after its proof went out; the proposer killed `rounds` times
///    the moment it logs that it is sending a claim. Each is restarted at once. Afterwards, from
///    the rollup's logs: every epoch claimed once and proven once, no bond slashed, none left
///    staked.
pub async fn prover_crash(setup: &crate::Setup, rounds: usize) -> anyhow::Result<ProverCrash> {
    let proof_time = Duration::from_millis(1_500);
    let options = LoopOptions {
        rhythm: Rhythm { slot_duration: 3, epoch_duration: 4, claim_window_slots: 2 },
        proof_time,
        collect: Duration::from_millis(500),
        // The latency of a distant L1 node, so the moments between the proposer's simulation
        // and its claim landing (gas estimate, nonce, sending, receipt) are each long enough to
        // be killed in.
        proposer_latency: Duration::from_millis(25),
    };
    let mut live = Live::start(setup.exe.clone(), &setup.database_url, "prover_crash", &options).await?;
    let result = crash_rounds(&mut live, rounds, proof_time).await;
    let stopped = live.stop().await;
    let report = result?;
    stopped?;
    Ok(report)
}

async fn crash_rounds(live: &mut Live, rounds: usize, proof_time: Duration) -> anyhow::Result<ProverCrash> {
    let prover_delays = [
        Duration::ZERO,
        proof_time / 2,
        proof_time + Duration::from_millis(30),
        proof_time + Duration::from_millis(150),
    ];
    let proposer_delays = [0, 30, 60, 90, 120, 200].map(Duration::from_millis);
    let mut marker = Tail::new(live.proving_marker.clone());
    let mut proposer_log = Tail::new(live.proposer.log().to_path_buf());
    let (mut proving, mut claiming) = (BTreeSet::new(), BTreeSet::new());
    // (when, whom, when its moment was seen, epoch)
    let mut due: Vec<(Instant, Victim, Instant, u64)> = Vec::new();
    let (mut prover_kills, mut proposer_kills, mut killed_epochs) = (Vec::new(), Vec::new(), BTreeSet::new());
    let (mut killed_before_proof, mut resumed) = (BTreeSet::new(), BTreeSet::new());
    let mut killed_after_proof = 0;
    let mut slowest_restart = Duration::ZERO;
    let epoch_time = Duration::from_secs(live.config.slot_duration * live.config.epoch_duration);
    let limit = Instant::now() + epoch_time * (rounds as u32 * 2 + 6);
    loop {
        anyhow::ensure!(
            Instant::now() < limit,
            "{} of {rounds} prover kills and {} proposer kills before the time ran out",
            prover_kills.len(),
            proposer_kills.len()
        );
        for line in proposer_log.lines() {
            let Some(event) = log_event(&line) else { continue };
            if event["message"].as_str() == Some(CLAIMING)
                && let Some(epoch) = event["epoch"].as_u64()
                && claiming.insert(epoch)
                && proposer_kills.len() + due.iter().filter(|d| d.1 == Victim::Proposer).count() < rounds
            {
                let delay = proposer_delays[claiming.len() % proposer_delays.len()];
                due.push((Instant::now() + delay, Victim::Proposer, Instant::now(), epoch));
            }
        }
        for line in marker.lines() {
            let Ok(epoch) = line.trim().parse::<u64>() else { continue };
            if !proving.insert(epoch) {
                if killed_before_proof.contains(&epoch) {
                    resumed.insert(epoch);
                }
            } else if prover_kills.len() + due.iter().filter(|d| d.1 == Victim::Prover).count() < rounds {
                let delay = prover_delays[proving.len() % prover_delays.len()];
                due.push((Instant::now() + delay, Victim::Prover, Instant::now(), epoch));
            }
        }
        let now = Instant::now();
        for (_, victim, seen, epoch) in due.extract_if(.., |d| d.0 <= now).collect::<Vec<_>>() {
            let service = if victim == Victim::Prover { &mut live.prover } else { &mut live.proposer };
            let delay = seen.elapsed();
            service.kill().await?;
            if victim == Victim::Prover {
                if live.actor.epoch(epoch).await?.state == rollup_l1::EpochState::Proven {
                    killed_after_proof += 1;
                } else {
                    killed_before_proof.insert(epoch);
                }
            }
            let restarting = Instant::now();
            service.restart().await?;
            slowest_restart = slowest_restart.max(restarting.elapsed());
            killed_epochs.insert(epoch);
            if victim == Victim::Prover { prover_kills.push(delay) } else { proposer_kills.push(delay) }
        }
        if prover_kills.len() >= rounds && proposer_kills.len() >= rounds && due.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Wait until every epoch a kill touched is settled on the L1 (proven, or pruned).
    let last = killed_epochs.last().copied().unwrap_or_default();
    let settled_by = Instant::now() + epoch_time * 3;
    let record = loop {
        let record = live.l1_record().await?;
        if record.proofs.contains_key(&last) || record.pruned.contains(&last) || Instant::now() > settled_by {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Jobs resumed after the last kills.
    for line in marker.lines() {
        if let Ok(epoch) = line.trim().parse::<u64>()
            && killed_before_proof.contains(&epoch)
        {
            resumed.insert(epoch);
        }
    }
    let first = killed_epochs.first().copied().unwrap_or_default();
    let epochs: Vec<u64> = record.blocks.range(first..=last).map(|(epoch, _)| *epoch).collect();
    let in_range = |epoch: &u64| (first..=last).contains(epoch);
    Ok(ProverCrash {
        epochs: epochs.len(),
        claimed: epochs.iter().filter(|e| record.claims.get(e).is_some_and(|c| c.len() == 1)).count(),
        proven: epochs
            .iter()
            .filter(|e| {
                record.proofs.get(e).is_some_and(|proofs| {
                    proofs.iter().all(|p| p.submitter == live.prover_address && p.bond_provider == live.prover_address)
                })
            })
            .count(),
        double_claims: record.double_claims(),
        double_proofs: record.double_proofs(),
        slashed: record.slashed.keys().filter(|e| in_range(e)).count(),
        staked_at_end: live.prover_staked().await?,
        prover_kills,
        proposer_kills,
        killed_after_proof,
        jobs_resumed: resumed.len(),
        killed_in_flight: killed_before_proof.len() - resumed.len(),
        claims_resent: {
            let mut sent = std::collections::BTreeMap::new();
            for event in logged(live.proposer.log(), CLAIMING) {
                *sent.entry(event["epoch"].as_u64()).or_insert(0) += 1;
            }
            sent.values().filter(|n| **n > 1).count()
        },
        claims_refused: logged(live.proposer.log(), "claim mined but reverted; trying again").len(),
        proving_failures: logged(live.prover.log(), "proving job failed; retrying next poll").len(),
        slowest_restart,
    })
}

/// What the services showed while the L1 was cut off, and how long after the cut.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutageSeen {
    /// The node's `/readyz` answered 503 with `l1: false`.
    pub node_unready: Option<Duration>,
    /// The node's `coordination_node_l1_up` gauge read 0.
    pub node_gauge: Option<Duration>,
    /// The prover node's `prover_node_l1_up` read 0.
    pub prover_gauge: Option<Duration>,
    /// The proposer's `proposer_l1_up` read 0.
    pub proposer_gauge: Option<Duration>,
    /// After the L1 came back: the node ready again.
    pub node_ready_again: Option<Duration>,
}

impl fmt::Display for OutageSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node unready after {} (l1_up 0 after {}), prover l1_up 0 after {}, proposer l1_up 0 after {}; node ready \
             again {} after the L1 returned",
            maybe_secs(self.node_unready),
            maybe_secs(self.node_gauge),
            maybe_secs(self.prover_gauge),
            maybe_secs(self.proposer_gauge),
            maybe_secs(self.node_ready_again)
        )
    }
}

/// Scenario 3's figures.
#[derive(Debug)]
pub struct L1Outage {
    /// How long each cut lasted.
    pub outage: Duration,
    /// The epoch claimed (with the prover node's quote) during the first cut.
    pub claimed_during: u64,
    /// After the L1 returned: the node serving that claim, and the prover node's proof of it on
    /// the L1.
    pub claim_seen_after: Option<Duration>,
    /// The prover node's proof of it landed this long after the L1 returned.
    pub proven_after: Option<Duration>,
    /// The epoch pruned (its claim's bond slashed) during the second cut.
    pub pruned_during: u64,
    /// After the L1 returned: the node serving that epoch as pruned.
    pub prune_seen_after: Option<Duration>,
    /// Epochs whose claim window opened after a cut ended and that the proposer claimed, of
    /// those with blocks.
    pub proposer_claims: (usize, usize),
    /// What showed each outage.
    pub seen: [OutageSeen; 2],
    /// Epochs with blocks over the run whose state or claim the node serves differently from the
    /// L1's record (claims, proofs and prunes missed), with the first.
    pub node_differences: (usize, Option<String>),
    /// Epochs of the run with blocks.
    pub epochs: usize,
    /// The prover node's claimed epochs not proven, and its bonds slashed.
    pub prover_missed: (usize, usize),
}

impl fmt::Display for L1Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "l1-outage: two cuts of {} each. Claimed during the first (epoch {}): the node served the claim {} after \
             the L1 returned, the prover node's proof landed {} after. Pruned during the second (epoch {}): the node \
             served it {} after. The proposer claimed {} of {} epochs whose window opened after a cut. Over {} epochs \
             the node differs from the L1 on {}{}; the prover node missed {} proofs, {} bonds slashed. First cut: {}. \
             Second cut: {}",
            secs(self.outage),
            self.claimed_during,
            maybe_secs(self.claim_seen_after),
            maybe_secs(self.proven_after),
            self.pruned_during,
            maybe_secs(self.prune_seen_after),
            self.proposer_claims.0,
            self.proposer_claims.1,
            self.epochs,
            self.node_differences.0,
            self.node_differences.1.as_ref().map(|d| format!(" (first: {d})")).unwrap_or_default(),
            self.prover_missed.0,
            self.prover_missed.1,
            self.seen[0],
            self.seen[1]
        )
    }
}

async fn get_text(http: &reqwest::Client, url: &str) -> String {
    match http.get(url).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Cuts the L1 off for `outage`, calling `during` once the L1 time reaches `act_at` (unix
/// seconds), and watches what the services show; returns what they showed and when the L1 came
/// back.
async fn cut_for(
    live: &Live,
    outage: Duration,
    act_at: Option<u64>,
    during: impl AsyncFnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<(OutageSeen, Instant)> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let mut seen = OutageSeen::default();
    let mut during = Some(during);
    live.set_l1_cut(true);
    let cut = Instant::now();
    while cut.elapsed() < outage {
        let since = Some(cut.elapsed());
        if seen.node_unready.is_none() {
            let (status, body) = crate::fetch_json(&http, &format!("{}/readyz", live.node.base())).await;
            if status == 503 && body["l1"] == false {
                seen.node_unready = since;
            }
        }
        let node = get_text(&http, &format!("{}/metrics", live.node.base())).await;
        if seen.node_gauge.is_none() && gauge(&node, "coordination_node_l1_up") == Some(0.0) {
            seen.node_gauge = since;
        }
        let prover = get_text(&http, &format!("{}/metrics", live.prover_metrics)).await;
        if seen.prover_gauge.is_none() && gauge(&prover, "prover_node_l1_up") == Some(0.0) {
            seen.prover_gauge = since;
        }
        let proposer = get_text(&http, &format!("{}/metrics", live.proposer_metrics)).await;
        if seen.proposer_gauge.is_none() && gauge(&proposer, "proposer_l1_up") == Some(0.0) {
            seen.proposer_gauge = since;
        }
        let due = match act_at {
            None => true,
            Some(at) => live.anvil.timestamp().await.is_ok_and(|now| now >= at),
        };
        if due && let Some(action) = during.take() {
            action().await?;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::ensure!(during.is_none(), "the action planned during the outage did not come due");
    live.set_l1_cut(false);
    let back = Instant::now();
    while back.elapsed() < Duration::from_secs(30) {
        if crate::fetch_json(&http, &format!("{}/readyz", live.node.base())).await.0 == 200 {
            seen.node_ready_again = Some(back.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((seen, back))
}

/// Polls `check` every 50 ms (at least once) until it is true or `limit` passes; how long it
/// took.
async fn until(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if check().await {
            return Some(started.elapsed());
        }
        if started.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 3. The L1 cut off from the node, the prover node and the proposer (a proxy that forwards
///    nothing) for `outage`, twice. During the first cut another proposer claims an epoch with
///    the prover node's quote: the prover node must prove it once the L1 is back. During the
///    second, an epoch claimed with another prover's quote passes its proof deadline and is
///    pruned. After each, the proposer must claim the next epoch with blocks; at the end, the
///    node's view of every epoch must match the L1's record.
pub async fn l1_outage(setup: &crate::Setup, outage: Duration, rhythm: Rhythm) -> anyhow::Result<L1Outage> {
    let options = LoopOptions {
        rhythm,
        proof_time: Duration::ZERO,
        proposer_latency: Duration::ZERO,
        // The proposer claims in the last slot of each window, so a claim made by the tool in
        // the first slot comes first.
        collect: Duration::from_secs(3_600),
    };
    let live = Live::start(setup.exe.clone(), &setup.database_url, "l1_outage", &options).await?;
    let result = outage_phases(&live, outage).await;
    let stopped = live.stop().await;
    let report = result?;
    stopped?;
    Ok(report)
}

async fn outage_phases(live: &Live, outage: Duration) -> anyhow::Result<L1Outage> {
    let config = live.config;
    let http = reqwest::Client::new();
    let slot_time = Duration::from_secs(config.slot_duration);
    let epoch_time = slot_time * config.epoch_duration as u32;
    let node = live.node.base();

    // First cut: the epoch running now ends; once the prover node's quote for it is stored, the
    // L1 is cut and the tool claims the epoch with that quote.
    let claimed = config.epoch_at_slot(live.slot().await? + 1);
    live.wait_for_slot(config.first_slot(claimed + 1), epoch_time * 2).await?;
    // The proposer is cut off first, as the window opens, so that it cannot claim the epoch
    // while the prover node's quote is on its way (on a slow machine that can take a slot).
    live.proposer_proxy.set_cut(true);
    let client = node_api::client::NodeClient::new(format!("{node}/").parse()?)?;
    let mut quote = None;
    until(slot_time * 3 / 2, async || {
        let quotes = client.claimable_quotes(claimed, 10).await.unwrap_or_default();
        quote = quotes.into_iter().find(|q| q.quote.prover == live.prover_address);
        quote.is_some()
    })
    .await;
    let quote =
        quote.ok_or_else(|| anyhow::anyhow!("the prover node's quote for epoch {claimed} did not reach the node"))?;
    let (first_seen, back) = cut_for(live, outage, None, async || {
        live.actor.claim_epoch_proof_right(&quote).await?;
        Ok(())
    })
    .await?;
    let claim_seen_after = until(slot_time * 4, async || {
        crate::fetch_json(&http, &format!("{node}/epochs/{claimed}")).await.1["claim"].is_object()
    })
    .await
    .map(|_| back.elapsed());
    let proof_limit = (config.slot_start(config.first_slot(claimed + 2)) + config.slot_duration)
        .saturating_sub(live.anvil.timestamp().await?);
    let proven_after = until(Duration::from_secs(proof_limit), async || {
        live.l1_record().await.is_ok_and(|r| r.proofs.contains_key(&claimed))
    })
    .await
    .map(|_| back.elapsed());

    // Second cut: the epoch after next is claimed by the tool with another prover's quote, at
    // once; the L1 is cut around its proof deadline, when the tool prunes it.
    let pruned = claimed + 2;
    live.wait_for_slot(config.first_slot(pruned + 1), epoch_time * 3).await?;
    let other = live.second_prover_quote(pruned, 1).await?;
    live.actor.claim_epoch_proof_right(&other).await?;
    let deadline = config.slot_start(config.first_slot(pruned + 2));
    let cut_at = deadline.saturating_sub(outage.as_secs() / 2);
    while live.anvil.timestamp().await? < cut_at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (second_seen, back) = cut_for(live, outage, Some(deadline), async || {
        live.actor.prune().await?;
        Ok(())
    })
    .await?;
    let prune_seen_after = until(slot_time * 4, async || {
        crate::fetch_json(&http, &format!("{node}/epochs/{pruned}")).await.1["state"] == "pruned"
    })
    .await
    .map(|_| back.elapsed());

    // The proposer: the epochs after each cut, claimed once their window opens.
    let after_first = claimed + 1;
    let after_second = config.epoch_at_slot(live.slot().await?);
    live.wait_for_slot(config.first_slot(after_second + 1) + config.claim_window_slots, epoch_time * 3).await?;
    // Its proof, before the node is compared with the L1.
    until(epoch_time, async || {
        live.l1_record().await.is_ok_and(|r| r.proofs.contains_key(&after_second) || r.pruned.contains(&after_second))
    })
    .await;
    let record = live.l1_record().await?;
    let with_blocks: Vec<u64> =
        [after_first, after_second].into_iter().filter(|e| record.blocks.contains_key(e)).collect();
    let proposer_claims = with_blocks
        .iter()
        .filter(|e| record.claims.get(e).is_some_and(|c| c.iter().any(|c| c.proposer == live.proposer_address)))
        .count();

    // The node against the L1, epoch by epoch (waiting for it to catch up with the last one).
    let _ = until(Duration::from_secs(10), async || {
        crate::fetch_json(&http, &format!("{node}/epochs/{after_second}")).await.1["state"] != "claimed"
    })
    .await;
    let mut differences = Vec::new();
    for (&epoch, _) in record.blocks.range(claimed..=after_second) {
        let (_, view) = crate::fetch_json(&http, &format!("{node}/epochs/{epoch}")).await;
        let expected = expected_state(&record, epoch);
        let claim = record.claims.get(&epoch).and_then(|c| c.last()).map(|c| c.quote_id.to_string());
        let served_claim = view["claim"]["quoteId"].as_str().map(str::to_owned);
        if view["state"] != expected || served_claim != claim {
            differences
                .push(format!("epoch {epoch}: L1 {expected} {claim:?}, node {} {served_claim:?}", view["state"]));
        }
    }
    let prover_claims: Vec<u64> = record
        .claims
        .iter()
        .filter(|(e, c)| **e >= claimed && c.iter().any(|c| c.bond_provider == live.prover_address))
        .map(|(e, _)| *e)
        .collect();
    Ok(L1Outage {
        outage,
        claimed_during: claimed,
        claim_seen_after,
        proven_after,
        pruned_during: pruned,
        prune_seen_after,
        proposer_claims: (proposer_claims, with_blocks.len()),
        seen: [first_seen, second_seen],
        node_differences: (differences.len(), differences.into_iter().next()),
        epochs: record.blocks.range(claimed..=after_second).count(),
        prover_missed: (
            prover_claims.iter().filter(|e| !record.proofs.contains_key(e)).count(),
            record.slashed.values().flatten().filter(|who| **who == live.prover_address).count(),
        ),
    })
}

/// The state the node should serve for `epoch`, from the L1's record.
fn expected_state(record: &L1Record, epoch: u64) -> &'static str {
    if record.pruned.contains(&epoch) {
        "pruned"
    } else if record.proofs.contains_key(&epoch) {
        "proven"
    } else if record.claims.contains_key(&epoch) {
        "claimed"
    } else {
        "complete"
    }
}
