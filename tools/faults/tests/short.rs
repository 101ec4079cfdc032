//! The short form of each fault scenario, as the test command runs it: the figures that
//! `RELIABILITY.md` reports for the long form must hold here too.

use std::time::Duration;

use faults::{Setup, Size};

fn setup() -> Setup {
    Setup {
        exe: env!("CARGO_BIN_EXE_faults").into(),
        database_url: std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
        size: Size::short(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_killed_under_load_loses_no_acknowledged_quote_and_the_node_recovers_alone() {
    let report = faults::database_crash(&setup()).await.expect("the scenario runs");
    println!("{report}");
    assert!(report.acknowledged > 0, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    assert_eq!(report.outage_errors_without_code, 0, "{report}");
    // The node's own request timeout is 10 s: nothing waits past it.
    assert!(report.slowest_outage_answer < Duration::from_secs(10), "{report}");
    assert!(report.back_to_first_201.is_some_and(|d| d < Duration::from_secs(10)), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_under_load_loses_nothing_and_resumes_its_stream_and_its_watcher() {
    let report = faults::node_crash(&setup()).await.expect("the scenario runs");
    println!("{report}");
    assert!(report.acknowledged > 0, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    assert!(report.events_stored > report.acknowledged, "{report}");
    assert_eq!((report.events_missed, report.events_repeated), (0, 0), "{report}");
    assert_eq!(report.quotes_without_event, 0, "{report}");
    assert!(report.stream_connections >= 3, "the stream client reconnected after each kill: {report}");
    assert!(report.restart_to_first_201.is_some(), "{report}");
    assert!(report.claim_while_down_seen_after.is_some(), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_watchers_replica_dies_another_leads_and_intake_never_stops() {
    let report = faults::replica_failover(&setup()).await.expect("the scenario runs");
    println!("{report}");
    assert!(report.new_leader_after.is_some_and(|d| d < Duration::from_secs(10)), "{report}");
    assert!(report.acknowledged > 0, "{report}");
    assert_eq!((report.lost, report.refused), (0, 0), "{report}");
    assert!(report.longest_intake_pause < Duration::from_secs(2), "{report}");
    assert_eq!((report.events_missed, report.events_repeated), (0, 0), "{report}");
    assert!(report.claim_seen_after.is_some(), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_reorgs_of_depth_1_4_and_12_the_node_agrees_with_a_fresh_node() {
    let report = faults::reorgs(&setup(), &[1, 4, 12]).await.expect("the scenario runs");
    println!("{report}");
    assert_eq!(report.depths.len(), 3, "{report}");
    assert!(report.depths.iter().all(|(_, equal, _)| *equal), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_flooding_invalid_quotes_is_cut_off_and_honest_quotes_still_propagate() {
    let report = faults::gossip_flood(&setup(), 100).await.expect("the scenario runs");
    println!("{report}");
    assert!(report.flood_sent > 0, "{report}");
    assert!(report.flooder_blocked_after.is_some_and(|d| d < Duration::from_secs(2)), "{report}");
    assert!(report.flood_refused > 0 && !report.flooder_connected_at_end, "cut off and kept off: {report}");
    assert_eq!(report.flood_stored, 0, "{report}");
    // Every honest quote arrived (the propagation would have failed otherwise); how much slower
    // under the flood is measured by the long form in a release build (RELIABILITY.md).
    assert!(report.flooded.1 < Duration::from_secs(2), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_clients_get_codes_and_bounded_memory_while_honest_intake_goes_on() {
    let report = faults::hostile_clients(&setup(), 1_000).await.expect("the scenario runs");
    println!("{report}");
    assert!(report.disturbed_rate > 0.0 && report.disturbed_refused == 0, "{report}");
    // The rate beside them against the rate alone is measured by the long form in a release
    // build (RELIABILITY.md); a debug build on a shared machine only shows it does not collapse.
    assert!(report.disturbed_rate > report.undisturbed_rate / 10.0, "{report}");
    assert_eq!(report.drip.0, "HTTP/1.1 408 Request Timeout ×100", "{report}");
    assert!(report.drip.1 < Duration::from_secs(12), "{report}");
    assert_eq!(report.one_address_streams, (32, 8), "{report}");
    assert_eq!(report.idle.1, report.idle.0, "the node keeps serving idle clients: {report}");
    assert!(report.resident.2 < 256_000_000, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prover_killed_while_proving_and_a_proposer_killed_as_it_claims_cost_no_bond_and_no_double_claim() {
    let report = faults::prover_crash(&setup(), 3).await.expect("the scenario runs");
    println!("{report}");
    assert_eq!((report.prover_kills.len(), report.proposer_kills.len()), (3, 3), "{report}");
    assert!(report.epochs >= 3, "{report}");
    assert_eq!(report.claimed, report.epochs, "every epoch claimed exactly once: {report}");
    assert_eq!(report.proven, report.epochs, "every epoch proven by the prover node: {report}");
    assert_eq!((report.double_claims, report.double_proofs, report.slashed), (0, 0, 0), "{report}");
    assert_eq!(report.staked_at_end, alloy::primitives::U256::ZERO, "every bond returned: {report}");
    // A second claim sent for an epoch would be refused by the L1 (and show here).
    assert_eq!(report.claims_refused, 0, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn while_the_l1_is_cut_off_nothing_is_missed_and_readiness_and_metrics_show_it() {
    let rhythm = faults::live::Rhythm { slot_duration: 3, epoch_duration: 8, claim_window_slots: 2 };
    let report = faults::l1_outage(&setup(), Duration::from_secs(15), rhythm).await.expect("the scenario runs");
    println!("{report}");
    assert!(report.claim_seen_after.is_some(), "the node saw the claim made during the cut: {report}");
    assert!(report.proven_after.is_some(), "the prover node proved the epoch claimed during the cut: {report}");
    assert!(report.prune_seen_after.is_some(), "the node saw the prune made during the cut: {report}");
    assert_eq!(report.proposer_claims.0, report.proposer_claims.1, "{report}");
    assert!(report.proposer_claims.1 >= 1, "{report}");
    assert_eq!(report.node_differences.0, 0, "{report}");
    assert_eq!(report.prover_missed, (0, 0), "{report}");
    for seen in &report.seen {
        // Each L1 request gives up after 10 s, so the outage shows within a poll of that.
        let within = |d: Option<Duration>| d.is_some_and(|d| d < Duration::from_secs(14));
        assert!(within(seen.node_unready) && within(seen.node_gauge), "{report}");
        assert!(within(seen.prover_gauge) && within(seen.proposer_gauge), "{report}");
        assert!(seen.node_ready_again.is_some_and(|d| d < Duration::from_secs(5)), "{report}");
    }
}
