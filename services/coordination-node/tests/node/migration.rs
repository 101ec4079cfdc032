//! A database created by the first schema (`0001`: every id, address and uint256 as text) is
//! migrated in place when the node starts on it, and everything in it reads back the same.

use std::path::PathBuf;

use alloy::primitives::{Address, B256, U256};
use coordination_node::store::{ChainCursor, ChainUpdate, ClaimRecord, EpochRecord, InsertOutcome, QuoteStatus, Store};
use sqlx::migrate::Migrator;

use crate::{store::quote, support::BlankDb};

/// A value bound into a statement written for the first schema.
enum Value {
    Text(String),
    Int(i64),
}

use Value::{Int, Text};

/// Creates the first schema at `url` and runs `statements` on it, on either backend.
async fn first_schema_with(url: &str, statements: &[(&str, Vec<Value>)]) {
    let folder = if url.starts_with("sqlite:") { "sqlite" } else { "postgres" };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(folder);
    let migrator = Migrator::new(dir).await.expect("reads the migrations");
    macro_rules! run {
        ($pool:expr) => {{
            let pool = $pool;
            migrator.run_to(1, &pool).await.expect("applies 0001");
            for (sql, values) in statements {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(*sql));
                for value in values {
                    query = match value {
                        Text(text) => query.bind(text.clone()),
                        Int(int) => query.bind(*int),
                    };
                }
                query.execute(&pool).await.expect("writes a first-schema row");
            }
            pool.close().await;
        }};
    }
    if folder == "sqlite" {
        run!(sqlx::SqlitePool::connect(url).await.expect("opens"));
    } else {
        run!(sqlx::PgPool::connect(url).await.expect("connects"));
    }
}

async fn data_written_by_the_first_schema_survives(blank: BlankDb) {
    let (pending_id, pending) = {
        let (_, mut signed) = quote(0, 3, 10_000);
        signed.quote.total_fees = U256::MAX;
        signed.quote.bond_amount = U256::MAX - U256::from(1);
        signed.quote.valid_until_slot = U256::from(u64::MAX);
        // Re-signed with the changed fields.
        let signer: epoch_quote::QuoteSigner =
            "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d".parse().expect("key");
        let signed = signer.sign(signed.quote, &crate::store::domain());
        (signed.id(&crate::store::domain()), signed)
    };
    let (old_id, old) = quote(0, 3, 500);
    let claim = ClaimRecord {
        epoch: 2,
        quote_id: B256::repeat_byte(0xc1),
        bond_provider: Address::repeat_byte(0xab),
        proposer: Address::repeat_byte(0xcd),
        bond_amount: U256::from(10).pow(U256::from(30)),
        basis_point_fee: 250,
        claimed_at_slot: 9,
        l1_block: 40,
        l1_tx: B256::repeat_byte(0x7e),
    };
    let insert_quote = "INSERT INTO quotes (id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, \
         rollup_address, basis_point_fee, bond_amount, valid_until_slot, valid_until_slot_u64, signature, status, \
         status_l1_block, received_at_ms, status_changed_at_ms) \
         VALUES ($1, $2, $3, 1, 2, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $12)";
    let quote_values = |id: B256, q: &epoch_quote::SignedEpochProofQuote, status: &str, at: i64| {
        vec![
            Text(id.to_string()),
            Text(q.quote.prover.to_string()),
            Int(q.quote.epoch_number.saturating_to::<i64>()),
            Text(q.quote.total_fees.to_string()),
            Text(q.quote.rollup_address.to_string()),
            Int(i64::from(q.quote.basis_point_fee)),
            Text(q.quote.bond_amount.to_string()),
            Text(q.quote.valid_until_slot.to_string()),
            Int(i64::try_from(q.quote.valid_until_slot.saturating_to::<u64>()).unwrap_or(i64::MAX)),
            Text(q.signature.to_string()),
            Text(status.to_owned()),
            Int(at),
        ]
    };
    // Epoch 6's only quote expired at L1 block 41: its epoch has no pending quote when migrated.
    let (lapsed_id, lapsed) = quote(1, 6, 300);
    let statements = vec![
        (insert_quote, quote_values(old_id, &old, "superseded", 1_000)),
        (insert_quote, quote_values(pending_id, &pending, "pending", 2_000)),
        (insert_quote, quote_values(lapsed_id, &lapsed, "expired", 3_000)),
        ("UPDATE quotes SET status_l1_block = 41 WHERE id = $1", vec![Text(lapsed_id.to_string())]),
        (
            "INSERT INTO l2_blocks (number, epoch, slot, proposer, tx_count, fees, archive, l1_block) \
             VALUES (5, 3, 13, $1, 4, $2, $3, 41)",
            vec![
                Text(Address::repeat_byte(7).to_string()),
                Text(U256::MAX.to_string()),
                Text(B256::repeat_byte(5).to_string()),
            ],
        ),
        (
            "INSERT INTO epochs (epoch, init_block, final_block, block_count, tx_count, total_fees) \
             VALUES (3, 5, 5, 1, 4, $1)",
            vec![Text(U256::MAX.to_string())],
        ),
        (
            "INSERT INTO claims (epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, \
             claimed_at_slot, l1_block, l1_tx, outcome) VALUES (2, $1, $2, $3, $4, 250, 9, 40, $5, 'open')",
            vec![
                Text(claim.quote_id.to_string()),
                Text(claim.bond_provider.to_string()),
                Text(claim.proposer.to_string()),
                Text(claim.bond_amount.to_string()),
                Text(claim.l1_tx.to_string()),
            ],
        ),
        (
            "INSERT INTO provers (address, deposit, l1_block) VALUES ($1, $2, 41)",
            vec![Text(pending.quote.prover.to_string()), Text(U256::MAX.to_string())],
        ),
        (
            "INSERT INTO chain_cursor (id, l1_block, l1_hash, l1_timestamp, proven_block, pending_block) \
             VALUES (1, 41, $1, 1700000000, 4, 5)",
            vec![Text(B256::repeat_byte(0x41).to_string())],
        ),
        ("INSERT INTO l1_blocks (number, hash) VALUES (41, $1)", vec![Text(B256::repeat_byte(0x41).to_string())]),
        ("INSERT INTO events (kind, data, created_at_ms) VALUES ('chain_reorg', '{\"forkL1Block\":40}', 1)", vec![]),
        // Events of the first version: an epoch as a number, as a decimal string (a quote's), and
        // none at all (a superseded quote's: its epoch is that of the quote that replaced it).
        (
            "INSERT INTO events (kind, data, created_at_ms) VALUES ('epoch_completed', $1, 2)",
            vec![Text(
                r#"{"epoch":2,"initBlock":1,"finalBlock":4,"blockCount":4,"txCount":0,"totalFees":"0"}"#.to_owned(),
            )],
        ),
        (
            "INSERT INTO events (kind, data, created_at_ms) VALUES ('quote_superseded', $1, 3)",
            vec![Text(format!(r#"{{"id":"{old_id}","by":"{pending_id}"}}"#))],
        ),
        (
            "INSERT INTO events (kind, data, created_at_ms) VALUES ('quote_accepted', $1, 4)",
            vec![Text(format!(
                r#"{{"id":"{pending_id}","prover":"{}","epoch":"4","basisPointFee":1,"bondAmount":"1"}}"#,
                pending.quote.prover
            ))],
        ),
        ("INSERT INTO events (kind, data, created_at_ms) VALUES ('chain_reorg', '{\"forkL1Block\":41}', 5)", vec![]),
    ];
    first_schema_with(&blank.url, &statements).await;

    // The node starts on it: the migration runs, and everything reads back as it was written.
    let store = Store::connect(&blank.url).await.expect("migrates the first schema");
    let record = store.quote(pending_id).await.expect("reads").expect("kept");
    assert_eq!((record.quote, record.status, record.received_at_ms), (pending, QuoteStatus::Pending, 2_000));
    let record = store.quote(old_id).await.expect("reads").expect("kept");
    assert_eq!((record.quote, record.status), (old, QuoteStatus::Superseded));
    assert!(record.seq < store.quote(pending_id).await.expect("reads").expect("kept").seq, "arrival order kept");
    assert_eq!(
        store.epoch(3).await.expect("reads"),
        Some(EpochRecord {
            epoch: 3,
            init_block: 5,
            final_block: 5,
            block_count: 1,
            tx_count: 4,
            total_fees: U256::MAX,
            proven_at: None,
            pruned: false
        })
    );
    assert_eq!(store.open_claim().await.expect("reads"), Some(claim));
    // Migration 0003 counted the quotes already stored, per prover and epoch.
    let counted: Vec<_> = store
        .quotes_by_epoch(3, 3)
        .await
        .expect("reads")
        .into_iter()
        .map(|r| (r.prover, r.quotes, r.best_fee))
        .collect();
    let lowest = old.quote.basis_point_fee.min(pending.quote.basis_point_fee);
    assert_eq!(counted, vec![(pending.quote.prover, 2, lowest)]);
    assert_eq!(store.prover_deposit(pending.quote.prover).await.expect("reads"), Some(U256::MAX));
    assert_eq!(
        store.cursor().await.expect("reads"),
        Some(ChainCursor {
            l1_block: 41,
            l1_hash: B256::repeat_byte(0x41),
            l1_timestamp: 1_700_000_000,
            proven_block: 4,
            pending_block: 5
        })
    );
    assert_eq!(store.l1_block_hash(41).await.expect("reads"), Some(B256::repeat_byte(0x41)));
    let events = store.events_after(0, 10).await.expect("reads");
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["chain_reorg", "epoch_completed", "quote_superseded", "quote_accepted", "chain_reorg"]
    );
    assert_eq!(events[0].data, r#"{"forkL1Block":40}"#);
    // Migration 0004 gave each event its epoch: retention keeps, from epoch 3 on, the superseded
    // quote's event (its replacement's epoch, 3) and what follows; from epoch 4 on, the quote
    // accepted for "4"; from epoch 5 on only the newest event.
    let seq = |n: usize| events[n].seq;
    assert_eq!(store.first_event_kept(2).await.expect("reads"), seq(1));
    assert_eq!(store.first_event_kept(3).await.expect("reads"), seq(2));
    assert_eq!(store.first_event_kept(4).await.expect("reads"), seq(3));
    assert_eq!(store.first_event_kept(5).await.expect("reads"), seq(4));

    // Migration 0005 counted the pending quote: with room for one, epoch 3 is full for another
    // prover, and the migrated quote's own prover still has its place.
    let (other_id, other) = quote(1, 3, 450);
    assert_eq!(store.insert_quote(other_id, &other, 1).await.expect("answers"), InsertOutcome::EpochFull);

    // The node goes on from there: a newer quote of the same prover supersedes the migrated one
    // (the converted addresses compare equal), and expiry compares the converted slots.
    let (newer_id, newer) = quote(0, 3, 400);
    assert_eq!(
        store.insert_quote(newer_id, &newer, 1).await.expect("stores"),
        InsertOutcome::Stored { superseded: vec![pending_id] }
    );
    let update = ChainUpdate { current_slot: 11, ..ChainUpdate::default() };
    store
        .apply(ChainCursor { l1_block: 42, ..store.cursor().await.expect("reads").expect("set") }, &update)
        .await
        .expect("applies");
    assert_eq!(store.quote(newer_id).await.expect("reads").expect("kept").status, QuoteStatus::Expired);
    assert!(events.len() < store.events_after(0, 10).await.expect("reads").len(), "new events follow the old");

    // Starting again finds nothing left to convert.
    drop(store);
    let again = Store::connect(&blank.url).await.expect("starts again");
    assert_eq!(again.quote(pending_id).await.expect("reads").expect("kept").status, QuoteStatus::Superseded);

    // A reorg drops L1 blocks 41 and 42: epoch 6's quote (expired at 41) is pending again, and
    // counts towards the cap (migration 0005 gave its epoch a count too).
    let cursor = again.cursor().await.expect("reads").expect("set");
    again.rollback_to(ChainCursor { l1_block: 40, ..cursor }, &[]).await.expect("rolls back");
    assert_eq!(again.quote(lapsed_id).await.expect("reads").expect("kept").status, QuoteStatus::Pending);
    let (late_id, late) = quote(0, 6, 350);
    assert_eq!(again.insert_quote(late_id, &late, 1).await.expect("answers"), InsertOutcome::EpochFull);
}

#[tokio::test]
async fn data_written_by_the_first_schema_survives_on_postgres() {
    data_written_by_the_first_schema_survives(BlankDb::postgres().await).await;
}

#[tokio::test]
async fn data_written_by_the_first_schema_survives_on_sqlite() {
    data_written_by_the_first_schema_survives(BlankDb::sqlite().await).await;
}
