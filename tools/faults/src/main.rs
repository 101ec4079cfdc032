//! `faults`: runs the fault scenarios and prints a line of figures for each.
//!
//! ```text
//! faults [--short] all | db-crash | node-crash | l1-outage | reorgs | prover-crash | replica-failover
//!                  | hostile-clients | gossip-flood
//! ```

use clap::Parser;
use std::time::Duration;

use faults::{Setup, Size, live::Rhythm};

#[derive(Debug, Parser)]
#[command(name = "faults", about = "Breaks the running system on purpose and reports what was lost")]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
    /// The short form (a few seconds of load), as the test command runs it.
    #[arg(long, global = true)]
    short: bool,
    /// The shared PostgreSQL server (scenarios that need only a database of their own on it).
    #[arg(
        long,
        global = true,
        env = "TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
}

#[derive(Debug, clap::Subcommand)]
enum Scenario {
    /// Every scenario, one after the other.
    All,
    /// 1. PostgreSQL killed with SIGKILL under intake load, then restarted.
    DbCrash,
    /// 2. The node killed with SIGKILL under load and restarted.
    NodeCrash,
    /// 3. The L1 cut off from the node, the prover node and the proposer, twice: a claim made
    ///    and an epoch pruned while they cannot see it.
    L1Outage,
    /// 4. L1 reorgs of depth 1 to 12 (3 depths in the short form), each checked against a fresh
    ///    node.
    Reorgs,
    /// 5. The prover node killed while proving and the proposer killed as it claims, over several
    ///    epochs.
    ProverCrash,
    /// 6. Three replicas on one PostgreSQL; the one running the watcher killed with SIGKILL.
    ReplicaFailover,
    /// 7. Hostile clients (idle connections, slow-drip uploads, streams that never read) beside
    ///    honest intake.
    HostileClients,
    /// 8. A gossip peer flooding a node with invalid quotes while honest quotes propagate.
    GossipFlood,
    /// Runs a coordination node (what the scenarios start and kill).
    #[command(hide = true)]
    RunNode(Box<coordination_node::Config>),
    /// Runs a prover node.
    #[command(hide = true)]
    RunProver(Box<prover_node::Config>),
    /// Runs the proposer.
    #[command(hide = true)]
    RunProposer(Box<proposer::Config>),
    /// The prover node's proving command in scenario 5: notes the epoch in `marker`, waits, and
    /// prints the devnet verifier's proof.
    #[command(hide = true)]
    DevnetProve {
        /// A line per job is appended here.
        #[arg(long)]
        marker: std::path::PathBuf,
        /// How long proving takes.
        #[arg(long)]
        delay_ms: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Scenario::DevnetProve { marker, delay_ms } = &args.scenario {
        return faults::live::devnet_prove(marker, std::time::Duration::from_millis(*delay_ms));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match args.scenario {
            Scenario::RunNode(config) => {
                service_kit::telemetry::init(config.log_format);
                let node = coordination_node::Node::new((*config).clone()).await?;
                let listener = tokio::net::TcpListener::bind(config.listen_addr).await?;
                coordination_node::run(node, listener, service_kit::shutdown_signal()).await?;
                return Ok(());
            }
            Scenario::RunProver(config) => {
                service_kit::telemetry::init(config.log_format);
                return prover_node::serve(&config).await;
            }
            Scenario::RunProposer(config) => {
                service_kit::telemetry::init(config.log_format);
                return proposer::serve(&config).await;
            }
            _ => {}
        }
        let setup = Setup {
            exe: std::env::current_exe()?,
            database_url: args.database_url,
            size: if args.short { Size::short() } else { Size::long() },
        };
        // The services run in process groups of their own (so a kill takes their children), out
        // of reach of the terminal's Ctrl-C: on Ctrl-C the scenario is dropped, which kills them.
        tokio::select! {
            result = scenarios(&args.scenario, args.short, &setup) => result,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted: the services started are stopped; a scratch database may be left behind");
                Ok(())
            }
        }
    })
}

/// Runs `scenario` (or every one) and prints each one's figures.
async fn scenarios(scenario: &Scenario, short: bool, setup: &Setup) -> anyhow::Result<()> {
    let all = matches!(scenario, Scenario::All);
    if all || matches!(scenario, Scenario::DbCrash) {
        println!("{}", faults::database_crash(setup).await?);
    }
    if all || matches!(scenario, Scenario::NodeCrash) {
        println!("{}", faults::node_crash(setup).await?);
    }
    if all || matches!(scenario, Scenario::L1Outage) {
        let (outage, rhythm) = if short {
            (Duration::from_secs(15), Rhythm { slot_duration: 3, epoch_duration: 8, claim_window_slots: 2 })
        } else {
            (Duration::from_secs(60), Rhythm { slot_duration: 10, epoch_duration: 8, claim_window_slots: 2 })
        };
        println!("{}", faults::l1_outage(setup, outage, rhythm).await?);
    }
    if all || matches!(scenario, Scenario::Reorgs) {
        let depths: Vec<u64> = if short { vec![1, 4, 12] } else { (1..=12).collect() };
        println!("{}", faults::reorgs(setup, &depths).await?);
    }
    if all || matches!(scenario, Scenario::ProverCrash) {
        println!("{}", faults::prover_crash(setup, if short { 3 } else { 12 }).await?);
    }
    if all || matches!(scenario, Scenario::ReplicaFailover) {
        println!("{}", faults::replica_failover(setup).await?);
    }
    if all || matches!(scenario, Scenario::HostileClients) {
        println!("{}", faults::hostile_clients(setup, if short { 1_000 } else { 10_000 }).await?);
    }
    if all || matches!(scenario, Scenario::GossipFlood) {
        println!("{}", faults::gossip_flood(setup, if short { 100 } else { 500 }).await?);
    }
    Ok(())
}
