//! The repository behaves the same on PostgreSQL and SQLite.

use alloy::primitives::{Address, B256, U256};
use coordination_node::{
    domain::ClaimOutcome,
    store::{
        ChainCursor, ChainEvent, ChainUpdate, ClaimRecord, EpochClosed, InsertOutcome, L2BlockRecord, QuoteStatus,
        Store, StoreError,
    },
};
use epoch_quote::{EpochProofQuote, QuoteDomain, QuoteSigner, SignedEpochProofQuote};

use crate::both_backends;

const KEYS: [&str; 3] = [
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];

pub(crate) fn domain() -> QuoteDomain {
    QuoteDomain::new(31337, Address::repeat_byte(0x42))
}

pub(crate) fn quote(key: usize, epoch: u64, fee: u32) -> (B256, SignedEpochProofQuote) {
    let signer: QuoteSigner = KEYS[key].parse().expect("key");
    let q = EpochProofQuote {
        prover: signer.address(),
        epoch_number: U256::from(epoch),
        epoch_init_block: U256::from(1),
        epoch_final_block: U256::from(2),
        total_fees: U256::from(10_000),
        rollup_address: domain().rollup(),
        basis_point_fee: fee,
        bond_amount: U256::from(5_000),
        valid_until_slot: U256::from(10),
    };
    let signed = signer.sign(q, &domain());
    (signed.id(&domain()), signed)
}

fn block(number: u64, epoch: u64, fees: u64) -> ChainEvent {
    block_at(number, epoch, fees, 100 + number)
}

fn block_at(number: u64, epoch: u64, fees: u64, l1_block: u64) -> ChainEvent {
    ChainEvent::BlockProposed(L2BlockRecord {
        number,
        epoch,
        slot: epoch * 4 + number,
        proposer: Address::repeat_byte(7),
        tx_count: 3,
        fees: U256::from(fees),
        archive: B256::repeat_byte(number as u8),
        l1_block,
    })
}

fn cursor(l1_block: u64) -> ChainCursor {
    ChainCursor { l1_block, l1_hash: B256::repeat_byte(1), l1_timestamp: 1_000, proven_block: 0, pending_block: 0 }
}

async fn apply(store: &Store, l1_block: u64, events: Vec<ChainEvent>) {
    let update = ChainUpdate { events, ..ChainUpdate::default() };
    store.apply(cursor(l1_block), &update).await.expect("applies");
}

/// The ids of an epoch's pending quotes, best first (the first ten).
async fn pending_ids(store: &Store, epoch: u64) -> Vec<B256> {
    store
        .quotes_page(epoch, Some(QuoteStatus::Pending), None, None, 10)
        .await
        .expect("reads")
        .iter()
        .map(|q| q.id)
        .collect()
}

async fn status(store: &Store, id: B256) -> QuoteStatus {
    store.quote(id).await.expect("reads").expect("stored").status
}

both_backends!(a_quote_round_trips_and_is_stored_once, |store: Store, _url: String| async move {
    let (id, signed) = quote(0, 3, 250);
    assert_eq!(
        store.insert_quote(id, &signed, 100).await.expect("stores"),
        InsertOutcome::Stored { superseded: vec![] }
    );
    let record = store.quote(id).await.expect("reads").expect("found");
    assert_eq!((record.id, record.quote, record.status), (id, signed, QuoteStatus::Pending));
    assert_eq!(store.insert_quote(id, &signed, 100).await.expect("answers"), InsertOutcome::AlreadyStored);
    assert_eq!(store.quote(B256::repeat_byte(9)).await.expect("reads"), None);
});

both_backends!(a_newer_quote_supersedes_the_provers_older_one, |store: Store, _url: String| async move {
    let (old, old_quote) = quote(0, 3, 250);
    let (other, other_quote) = quote(1, 3, 300);
    let (new, new_quote) = quote(0, 3, 200);
    store.insert_quote(old, &old_quote, 100).await.expect("stores");
    store.insert_quote(other, &other_quote, 100).await.expect("stores");
    assert_eq!(
        store.insert_quote(new, &new_quote, 100).await.expect("stores"),
        InsertOutcome::Stored { superseded: vec![old] }
    );
    assert_eq!(status(&store, old).await, QuoteStatus::Superseded);
    assert_eq!(status(&store, other).await, QuoteStatus::Pending, "another prover's quote is untouched");
    let best = pending_ids(&store, 3).await;
    assert_eq!(best, vec![new, other], "lowest fee first");
});

both_backends!(the_per_epoch_cap_bounds_storage, |store: Store, _url: String| async move {
    let (a, qa) = quote(0, 3, 250);
    let (b, qb) = quote(1, 3, 260);
    let (c, qc) = quote(1, 4, 260);
    store.insert_quote(a, &qa, 1).await.expect("stores");
    assert_eq!(store.insert_quote(b, &qb, 1).await.expect("answers"), InsertOutcome::EpochFull);
    assert!(store.quote(b).await.expect("reads").is_none());
    assert!(
        matches!(store.insert_quote(c, &qc, 1).await.expect("answers"), InsertOutcome::Stored { .. }),
        "other epochs are not full"
    );
});

/// Checks the pending counts the database keeps (per epoch, and per prover and epoch) against
/// the quotes themselves.
async fn counts_agree(url: &str) {
    type Counts = (Vec<(i64, i64)>, Vec<(i64, Vec<u8>, i64)>);
    macro_rules! read {
        ($pool:expr, $kept:expr, $counted:expr) => {{
            let pool = $pool;
            let by_epoch: Vec<(i64, i64)> = sqlx::query_as($kept.0).fetch_all(&pool).await.expect("reads");
            let by_prover: Vec<(i64, Vec<u8>, i64)> = sqlx::query_as($kept.1).fetch_all(&pool).await.expect("reads");
            let counted_epoch: Vec<(i64, i64)> = sqlx::query_as($counted.0).fetch_all(&pool).await.expect("reads");
            let counted_prover: Vec<(i64, Vec<u8>, i64)> =
                sqlx::query_as($counted.1).fetch_all(&pool).await.expect("reads");
            pool.close().await;
            ((by_epoch, by_prover), (counted_epoch, counted_prover))
        }};
    }
    // Every epoch holding a quote has its count, zero included; a prover's row stays after its
    // quotes are deleted (it also counts what they sent), so only its non-zero counts compare.
    let kept_sql = (
        "SELECT epoch, pending FROM epoch_pending ORDER BY epoch",
        "SELECT epoch, prover, pending FROM prover_epoch_quotes WHERE pending <> 0 ORDER BY epoch, prover",
    );
    let counted_sql = (
        "SELECT epoch, SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) FROM quotes GROUP BY epoch ORDER BY epoch",
        "SELECT epoch, prover, COUNT(*) FROM quotes WHERE status = 'pending' GROUP BY epoch, prover ORDER BY epoch, prover",
    );
    let (kept, counted): (Counts, Counts) = if url.starts_with("sqlite:") {
        read!(sqlx::SqlitePool::connect(url).await.expect("opens"), kept_sql, counted_sql)
    } else {
        read!(sqlx::PgPool::connect(url).await.expect("connects"), kept_sql, counted_sql)
    };
    assert_eq!(kept, counted, "the pending counts kept match the quotes");
}

both_backends!(the_cap_and_supersede_follow_every_change_of_a_pending_quote, |store: Store, url: String| async move {
    // Room for two pending quotes in epoch 3; every quote is valid through slot 10.
    let (a, qa) = quote(0, 3, 250);
    let (b, qb) = quote(1, 3, 260);
    store.insert_quote(a, &qa, 2).await.expect("stores");
    let expire = ChainUpdate { current_slot: 11, ..ChainUpdate::default() };
    store.apply(cursor(200), &expire).await.expect("expires");
    assert_eq!(status(&store, a).await, QuoteStatus::Expired);
    counts_agree(&url).await;

    // The expired quote no longer counts, nor does it stand in for its prover: a newer quote of
    // theirs supersedes nothing.
    let (a2, qa2) = quote(0, 3, 240);
    assert_eq!(store.insert_quote(a2, &qa2, 2).await.expect("stores"), InsertOutcome::Stored { superseded: vec![] });

    // The expiry's L1 block leaves the chain: the prover has two pending quotes again, and the
    // epoch is full for anyone else.
    store.rollback_to(cursor(150), &[]).await.expect("rolls back");
    assert_eq!((status(&store, a).await, status(&store, a2).await), (QuoteStatus::Pending, QuoteStatus::Pending));
    assert_eq!(store.insert_quote(b, &qb, 2).await.expect("answers"), InsertOutcome::EpochFull);
    counts_agree(&url).await;

    // The prover's next quote supersedes both, and the room it frees is taken.
    let (a3, qa3) = quote(0, 3, 230);
    let mut both = vec![a, a2];
    both.sort();
    assert_eq!(store.insert_quote(a3, &qa3, 2).await.expect("stores"), InsertOutcome::Stored { superseded: both });
    assert!(matches!(store.insert_quote(b, &qb, 2).await.expect("stores"), InsertOutcome::Stored { .. }));
    let (a4, qa4) = quote(0, 3, 220);
    assert_eq!(
        store.insert_quote(a4, &qa4, 2).await.expect("stores"),
        InsertOutcome::Stored { superseded: vec![a3] },
        "one pending quote again: superseded by its key"
    );
    let pending = pending_ids(&store, 3).await;
    assert_eq!(pending, vec![a4, b]);
    counts_agree(&url).await;

    // A claim takes the epoch's quotes out of pending: once it is rolled back they count again.
    let claim = ClaimRecord { epoch: 3, quote_id: b, bond_provider: qb.quote.prover, l1_block: 160, ..store_claim() };
    apply(&store, 160, vec![ChainEvent::Claimed(claim)]).await;
    counts_agree(&url).await;
    store.rollback_to(cursor(155), &[]).await.expect("rolls back");
    let (c, qc) = quote(1, 3, 200);
    assert_eq!(
        store.insert_quote(c, &qc, 2).await.expect("stores"),
        InsertOutcome::Stored { superseded: vec![b] },
        "the prover whose quote was claimed and restored"
    );
    // Two pending (a4 and c): full at two, room at three.
    let (e, qe) = quote(2, 3, 210);
    assert_eq!(store.insert_quote(e, &qe, 2).await.expect("answers"), InsertOutcome::EpochFull);
    assert!(matches!(store.insert_quote(e, &qe, 3).await.expect("stores"), InsertOutcome::Stored { .. }));
    counts_agree(&url).await;
});

both_backends!(epochs_follow_blocks_claims_proofs_and_prunes, |store: Store, _url: String| async move {
    apply(&store, 101, vec![block(1, 0, 3_000), block(2, 0, 7_000)]).await;
    let epoch = store.epoch(0).await.expect("reads").expect("known");
    assert_eq!((epoch.init_block, epoch.final_block, epoch.block_count, epoch.tx_count), (1, 2, 2, 6));
    assert_eq!(epoch.total_fees, U256::from(10_000));
    assert!(!epoch.proven() && !epoch.pruned);

    let (claimed, claimed_quote) = quote(0, 0, 250);
    let (loser, loser_quote) = quote(1, 0, 300);
    store.insert_quote(claimed, &claimed_quote, 100).await.expect("stores");
    store.insert_quote(loser, &loser_quote, 100).await.expect("stores");
    let claim = ClaimRecord {
        epoch: 0,
        quote_id: claimed,
        bond_provider: claimed_quote.quote.prover,
        proposer: Address::repeat_byte(7),
        bond_amount: U256::from(5_000),
        basis_point_fee: 250,
        claimed_at_slot: 4,
        l1_block: 110,
        l1_tx: B256::repeat_byte(0xcc),
    };
    apply(&store, 110, vec![ChainEvent::Claimed(claim.clone())]).await;
    assert_eq!(status(&store, claimed).await, QuoteStatus::Claimed);
    assert_eq!(status(&store, loser).await, QuoteStatus::Expired);
    assert_eq!(store.open_claim().await.expect("reads"), Some(claim));

    apply(&store, 111, vec![ChainEvent::Proven { epoch: 0, l1_block: 111 }]).await;
    assert_eq!(status(&store, claimed).await, QuoteStatus::Proven);
    assert!(store.epoch(0).await.expect("reads").expect("known").proven());
    assert_eq!(store.open_claim().await.expect("reads"), None);

    // Epoch 1 is claimed, not proven, slashed and pruned; then new blocks start it afresh.
    apply(&store, 120, vec![block(3, 1, 500)]).await;
    let (q1, q1_quote) = quote(0, 1, 100);
    store.insert_quote(q1, &q1_quote, 100).await.expect("stores");
    let claim1 = ClaimRecord { epoch: 1, quote_id: q1, l1_block: 121, ..store_claim() };
    apply(&store, 121, vec![ChainEvent::Claimed(claim1)]).await;
    apply(
        &store,
        130,
        vec![
            ChainEvent::Slashed { epoch: 1, l1_block: 130 },
            ChainEvent::EpochPruned { epoch: 1, l1_block: 130 },
            ChainEvent::Pruned { proven_block: 2, l1_block: 130 },
        ],
    )
    .await;
    assert_eq!(status(&store, q1).await, QuoteStatus::Slashed);
    assert!(store.epoch(1).await.expect("reads").expect("known").pruned);
    apply(&store, 131, vec![block_at(3, 1, 900, 131)]).await;
    let epoch1 = store.epoch(1).await.expect("reads").expect("known");
    assert_eq!((epoch1.block_count, epoch1.total_fees, epoch1.pruned), (1, U256::from(900), false));
});

fn store_claim() -> ClaimRecord {
    ClaimRecord {
        epoch: 0,
        quote_id: B256::ZERO,
        bond_provider: Address::repeat_byte(1),
        proposer: Address::repeat_byte(2),
        bond_amount: U256::from(1),
        basis_point_fee: 1,
        claimed_at_slot: 0,
        l1_block: 0,
        l1_tx: B256::ZERO,
    }
}

both_backends!(the_cursor_deposits_and_expiry_persist, |store: Store, _url: String| async move {
    assert_eq!(store.cursor().await.expect("reads"), None);
    let (q, signed) = quote(0, 3, 250);
    store.insert_quote(q, &signed, 100).await.expect("stores");
    let prover = signed.quote.prover;
    let update = ChainUpdate {
        events: vec![],
        deposits: vec![(prover, U256::from(50_000))],
        l1_blocks: vec![(200, B256::repeat_byte(2))],
        current_slot: 10,
        completed_epochs: 0..0,
    };
    let at = ChainCursor {
        l1_block: 200,
        l1_hash: B256::repeat_byte(2),
        l1_timestamp: 5_000,
        proven_block: 4,
        pending_block: 6,
    };
    store.apply(at, &update).await.expect("applies");
    assert_eq!(store.cursor().await.expect("reads"), Some(at));
    assert_eq!(store.prover_deposit(prover).await.expect("reads"), Some(U256::from(50_000)));
    assert_eq!(store.l1_block_hash(200).await.expect("reads"), Some(B256::repeat_byte(2)));
    assert_eq!(status(&store, q).await, QuoteStatus::Pending, "valid through slot 10");
    // An older reading never overwrites a newer one.
    store.set_prover_deposit(prover, U256::from(1), 150).await.expect("writes");
    assert_eq!(store.prover_deposit(prover).await.expect("reads"), Some(U256::from(50_000)));
    let later = ChainUpdate { current_slot: 11, ..ChainUpdate::default() };
    store.apply(ChainCursor { l1_block: 201, ..at }, &later).await.expect("applies");
    assert_eq!(status(&store, q).await, QuoteStatus::Expired);
});

both_backends!(a_stored_quote_survives_a_restart, |store: Store, url: String| async move {
    let (id, signed) = quote(0, 3, 250);
    store.insert_quote(id, &signed, 100).await.expect("stores");
    drop(store);
    let reopened = Store::connect(&url).await.expect("reconnects; migrations already applied");
    assert_eq!(reopened.quote(id).await.expect("reads").map(|q| q.quote), Some(signed));
});

both_backends!(a_rollback_undoes_exactly_what_the_dropped_l1_blocks_did, |store: Store, _url: String| async move {
    apply(&store, 101, vec![block(1, 0, 3_000), block(2, 0, 7_000)]).await;
    let (q, signed) = quote(0, 0, 250);
    let (other, other_signed) = quote(1, 0, 300);
    store.insert_quote(q, &signed, 100).await.expect("stores");
    store.insert_quote(other, &other_signed, 100).await.expect("stores");
    let claim = ClaimRecord { epoch: 0, quote_id: q, l1_block: 110, ..store_claim() };
    apply(&store, 110, vec![ChainEvent::Claimed(claim.clone())]).await;
    apply(
        &store,
        130,
        vec![
            ChainEvent::Slashed { epoch: 0, l1_block: 130 },
            ChainEvent::EpochPruned { epoch: 0, l1_block: 130 },
            ChainEvent::Pruned { proven_block: 0, l1_block: 130 },
        ],
    )
    .await;
    assert_eq!(status(&store, q).await, QuoteStatus::Slashed);

    // The prune's block leaves the chain: back to claimed, the epoch whole again.
    store.rollback_to(cursor(120), &[]).await.expect("rolls back");
    assert_eq!(status(&store, q).await, QuoteStatus::Claimed);
    assert_eq!(status(&store, other).await, QuoteStatus::Expired, "still lost to the claim");
    let epoch = store.epoch(0).await.expect("reads").expect("known");
    assert_eq!((epoch.block_count, epoch.pruned, epoch.total_fees), (2, false, U256::from(10_000)));
    assert_eq!(store.open_claim().await.expect("reads"), Some(claim));
    assert_eq!(store.cursor().await.expect("reads").map(|c| c.l1_block), Some(120));

    // The claim's block leaves too: both quotes pending, no claim, blocks kept.
    store.rollback_to(cursor(105), &[]).await.expect("rolls back");
    assert_eq!((status(&store, q).await, status(&store, other).await), (QuoteStatus::Pending, QuoteStatus::Pending));
    assert_eq!(store.open_claim().await.expect("reads"), None);
    assert_eq!(store.epoch(0).await.expect("reads").expect("known").block_count, 2);

    // And the blocks' own L1 blocks: the epoch is gone.
    store.rollback_to(cursor(100), &[]).await.expect("rolls back");
    assert_eq!(store.epoch(0).await.expect("reads"), None);
});

both_backends!(a_rollback_puts_back_the_deposits_read_on_the_dropped_blocks, |store: Store, _url: String| async move {
    let (a, b, c) = (Address::repeat_byte(0xa), Address::repeat_byte(0xb), Address::repeat_byte(0xc));
    store.set_prover_deposit(a, U256::from(100), 90).await.expect("stores");
    store.set_prover_deposit(b, U256::from(200), 95).await.expect("stores");
    // Read on blocks that then leave the chain: a deposit that grew, a prover first seen there.
    store.set_prover_deposit(b, U256::from(250), 110).await.expect("stores");
    store.set_prover_deposit(c, U256::from(300), 112).await.expect("stores");
    assert_eq!(store.deposits_read_after(100).await.expect("reads"), vec![b, c]);
    assert_eq!(store.deposits_read_after(u64::MAX).await.expect("reads"), Vec::<Address>::new());

    // The watcher reads them again as of the fork and hands them over with the rollback.
    store.rollback_to(cursor(100), &[(b, U256::from(200)), (c, U256::ZERO)]).await.expect("rolls back");
    assert_eq!(store.prover_deposit(a).await.expect("reads"), Some(U256::from(100)), "read before the fork");
    assert_eq!(store.prover_deposit(b).await.expect("reads"), Some(U256::from(200)));
    assert_eq!(store.prover_deposit(c).await.expect("reads"), Some(U256::ZERO));
    assert_eq!(store.deposits_read_after(100).await.expect("reads"), Vec::<Address>::new());
    // A reading on the new branch wins over the one made at the fork.
    store.set_prover_deposit(b, U256::from(220), 101).await.expect("stores");
    assert_eq!(store.prover_deposit(b).await.expect("reads"), Some(U256::from(220)));
    let view = store.load_view().await.expect("reads");
    assert_eq!(view.deposits.get(&b), Some(&U256::from(220)));
});

both_backends!(a_batch_is_stored_as_if_one_by_one, |store: Store, _url: String| async move {
    let (a, qa) = quote(0, 3, 250);
    let (b, qb) = quote(0, 3, 200);
    let (c, qc) = quote(1, 3, 300);
    let outcomes = store.insert_quotes(&[(a, qa), (b, qb), (a, qa), (c, qc)], 1).await.expect("stores");
    assert_eq!(
        outcomes,
        vec![
            InsertOutcome::Stored { superseded: vec![] },
            InsertOutcome::Stored { superseded: vec![a] },
            InsertOutcome::AlreadyStored,
            InsertOutcome::EpochFull,
        ]
    );
    assert_eq!((status(&store, a).await, status(&store, b).await), (QuoteStatus::Superseded, QuoteStatus::Pending));
    assert!(store.quote(c).await.expect("reads").is_none());
    // The batch's events are numbered in order: the quotes accepted as listed, then the superseded.
    let events: Vec<(String, String)> =
        store.events_after(0, 10).await.expect("reads").into_iter().map(|e| (e.kind, e.data)).collect();
    let told: Vec<(&str, bool, bool)> = events
        .iter()
        .map(|(kind, data)| (kind.as_str(), data.contains(&a.to_string()), data.contains(&b.to_string())))
        .collect();
    assert_eq!(
        told,
        [("quote_accepted", true, false), ("quote_accepted", false, true), ("quote_superseded", true, true)]
    );
    // A prover replacing its own quote is not refused by the cap.
    let (d, qd) = quote(0, 3, 100);
    assert_eq!(
        store.insert_quotes(&[(d, qd)], 1).await.expect("stores"),
        vec![InsertOutcome::Stored { superseded: vec![b] }]
    );
});

both_backends!(a_batch_larger_than_one_statement_is_stored_whole, |store: Store, url: String| async move {
    // 2,100 quotes: prover 0's first 1,100 (across SQLite's 1,000-row statements), then prover 1's.
    let quotes: Vec<_> =
        (0..2_100u32).map(|n| if n < 1_100 { quote(0, 3, n + 1) } else { quote(1, 3, n + 1) }).collect();
    let outcomes = store.insert_quotes(&quotes, 10).await.expect("stores");
    let superseded_by = |first: usize, last: usize| {
        let mut ids: Vec<B256> = quotes[first..last].iter().map(|(id, _)| *id).collect();
        ids.sort();
        InsertOutcome::Stored { superseded: ids }
    };
    assert_eq!(outcomes[1_099], superseded_by(0, 1_099));
    assert_eq!(outcomes[2_099], superseded_by(1_100, 2_099));
    let plain = outcomes.iter().filter(|o| **o == InsertOutcome::Stored { superseded: vec![] }).count();
    assert_eq!(plain, 2_098, "every other quote stored, superseded within the batch");
    let pending = pending_ids(&store, 3).await;
    assert_eq!(pending, vec![quotes[1_099].0, quotes[2_099].0]);
    counts_agree(&url).await;
    // The quotes accepted are told in the batch's order, across statements.
    let accepted: Vec<String> = store
        .events_after(0, 5_000)
        .await
        .expect("reads")
        .into_iter()
        .filter(|e| e.kind == "quote_accepted")
        .map(|e| e.data)
        .collect();
    assert_eq!(accepted.len(), 2_100);
    for (data, (id, _)) in accepted.iter().zip(&quotes) {
        assert!(data.contains(&id.to_string()), "{data} tells {id}");
    }
});

/// A quote inserted while a watcher step that claims its epoch is committing (here: a transaction
/// holding the same lock the watcher's steps take) waits for that step, then sees the claim and
/// is refused: it is never left pending on a claimed epoch.
#[tokio::test]
async fn an_insert_racing_a_claim_being_committed_sees_it() {
    use sqlx::Connection;
    let db = crate::support::TestDb::postgres().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connects");
    let mut step = conn.begin().await.expect("begins");
    sqlx::query("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE").execute(&mut *step).await.expect("locks");
    sqlx::query(
        "INSERT INTO claims (epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, \
         claimed_at_slot, l1_block, l1_tx, outcome) VALUES (0, $1, $2, $3, '5000', 100, 4, 10, $4, 'open')",
    )
    .bind(B256::repeat_byte(9).as_slice())
    .bind(Address::repeat_byte(1).as_slice())
    .bind(Address::repeat_byte(2).as_slice())
    .bind(B256::repeat_byte(3).as_slice())
    .execute(&mut *step)
    .await
    .expect("claims");

    let (id, signed) = quote(0, 0, 100);
    let store = db.store.clone();
    let insert = tokio::spawn(async move { store.insert_quote(id, &signed, 100).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!insert.is_finished(), "the insert waits for the step in flight");
    step.commit().await.expect("commits");
    let outcome = insert.await.expect("joins").expect("inserts");
    assert_eq!(outcome, InsertOutcome::EpochClosed(EpochClosed::Claimed));
    assert!(db.store.quote(id).await.expect("reads").is_none(), "not stored");
}

/// When the events lock cannot be had (here: a `lock_timeout` set on the database while another
/// transaction holds the lock), the write fails and its connection is not handed out again inside
/// the failed transaction: every later statement of the store succeeds.
#[tokio::test]
async fn a_lock_that_times_out_leaves_no_connection_in_a_failed_transaction() {
    use sqlx::Connection;
    let db = crate::support::TestDb::postgres().await;
    let name = db.url.rsplit('/').next().expect("a database name").to_owned();
    let mut holder = sqlx::PgConnection::connect(&db.url).await.expect("connects");
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{name}\" SET lock_timeout = '200ms'")))
        .execute(&mut holder)
        .await
        .expect("sets the timeout");
    // Connections opened from now on have the timeout.
    let store = Store::connect(&db.url).await.expect("connects");
    let mut step = holder.begin().await.expect("begins");
    sqlx::query("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE").execute(&mut *step).await.expect("locks");
    let (a, qa) = quote(0, 3, 300);
    assert!(store.insert_quote(a, &qa, 10).await.is_err(), "the lock timed out");
    step.commit().await.expect("commits");

    for fee in 0..5 {
        let (id, q) = quote(0, 3, 200 - fee);
        assert!(matches!(store.insert_quote(id, &q, 10).await.expect("stores"), InsertOutcome::Stored { .. }));
        assert!(store.quote(id).await.expect("reads").is_some());
    }
    assert!(store.quote(a).await.expect("reads").is_none(), "the failed write stored nothing");
}

/// On PostgreSQL a newer quote supersedes its prover's one pending quote by the key recorded
/// when that quote was inserted; when the quote at that key is no longer the pending one, the
/// pending quote is looked up instead, never left pending beside the newer one.
#[tokio::test]
async fn a_stale_record_of_the_pending_quote_falls_back_to_looking_it_up() {
    let db = crate::support::TestDb::postgres().await;
    let (a, qa) = quote(0, 3, 300);
    let (b, qb) = quote(0, 3, 250);
    db.store.insert_quote(a, &qa, 10).await.expect("stores");
    db.store.insert_quote(b, &qb, 10).await.expect("stores");
    // The record points at the superseded quote, as it would if the pending one had got there
    // by some other way than an insert.
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connects");
    sqlx::query("UPDATE prover_epoch_quotes SET pending_seq = (SELECT seq FROM quotes WHERE id = $1)")
        .bind(a.as_slice())
        .execute(&pool)
        .await
        .expect("writes");
    let (c, qc) = quote(0, 3, 200);
    assert_eq!(db.store.insert_quote(c, &qc, 10).await.expect("stores"), InsertOutcome::Stored { superseded: vec![b] });
    assert_eq!(
        (status(&db.store, a).await, status(&db.store, b).await),
        (QuoteStatus::Superseded, QuoteStatus::Superseded)
    );
    counts_agree(&db.url).await;
    pool.close().await;
}

both_backends!(extreme_values_round_trip, |store: Store, _url: String| async move {
    let signer: QuoteSigner = KEYS[1].parse().expect("key");
    let extreme = |valid_until_slot: U256, epoch: u64| {
        let q = EpochProofQuote {
            prover: signer.address(),
            epoch_number: U256::from(epoch),
            epoch_init_block: U256::from(i64::MAX as u64 - 1),
            epoch_final_block: U256::from(i64::MAX as u64),
            total_fees: U256::MAX,
            rollup_address: domain().rollup(),
            basis_point_fee: 10_000,
            bond_amount: U256::MAX,
            valid_until_slot,
        };
        let signed = signer.sign(q, &domain());
        (signed.id(&domain()), signed)
    };
    let (max, max_quote) = extreme(U256::MAX, 1);
    let (at_u64_max, at_u64_max_quote) = extreme(U256::from(u64::MAX), 2);
    let (below, below_quote) = extreme(U256::from(u64::MAX - 1), 3);
    for (id, q) in [(max, max_quote), (at_u64_max, at_u64_max_quote), (below, below_quote)] {
        assert!(matches!(store.insert_quote(id, &q, 10).await.expect("stores"), InsertOutcome::Stored { .. }));
        assert_eq!(store.quote(id).await.expect("reads").expect("stored").quote, q);
    }
    // Expiry compares whole uint256 values: at slot u64::MAX only the quote valid until
    // u64::MAX - 1 has expired.
    let update = ChainUpdate { current_slot: u64::MAX, ..ChainUpdate::default() };
    store.apply(cursor(1), &update).await.expect("applies");
    assert_eq!(status(&store, max).await, QuoteStatus::Pending);
    assert_eq!(status(&store, at_u64_max).await, QuoteStatus::Pending);
    assert_eq!(status(&store, below).await, QuoteStatus::Expired);

    store.set_prover_deposit(signer.address(), U256::MAX, 1).await.expect("stores");
    assert_eq!(store.prover_deposit(signer.address()).await.expect("reads"), Some(U256::MAX));
    apply(&store, 2, vec![block(1, 4, 0)]).await;
    let max_block = ChainEvent::BlockProposed(L2BlockRecord {
        fees: U256::MAX,
        ..match block(2, 4, 0) {
            ChainEvent::BlockProposed(b) => b,
            _ => unreachable!("a block"),
        }
    });
    apply(&store, 3, vec![max_block]).await;
    assert_eq!(store.epoch(4).await.expect("reads").expect("stored").total_fees, U256::MAX);
    let claim = ClaimRecord {
        epoch: 1,
        quote_id: max,
        bond_provider: signer.address(),
        proposer: Address::repeat_byte(2),
        bond_amount: U256::MAX,
        basis_point_fee: 10_000,
        claimed_at_slot: i64::MAX as u64,
        l1_block: 4,
        l1_tx: B256::repeat_byte(0xff),
    };
    apply(&store, 4, vec![ChainEvent::Claimed(claim.clone())]).await;
    assert_eq!(store.open_claim().await.expect("reads"), Some(claim.clone()));

    // A value that does not fit its column is refused with the column's name, and nothing of
    // the step is written (never a clamped number).
    let too_late = ClaimRecord { epoch: 2, claimed_at_slot: u64::MAX, l1_block: 5, ..claim };
    let update = ChainUpdate { events: vec![ChainEvent::Claimed(too_late)], ..ChainUpdate::default() };
    let error = store.apply(cursor(5), &update).await.expect_err("does not fit");
    assert!(matches!(error, StoreError::OutOfRange { column: "claims.claimed_at_slot", .. }), "{error}");
    assert_eq!(store.cursor().await.expect("reads").map(|c| c.l1_block), Some(4));
    // A read for a value beyond what any row holds finds nothing (or has no bound): not an error.
    assert_eq!(store.epoch(u64::MAX).await.expect("reads"), None);
    assert!(store.claims_of_epoch(u64::MAX).await.expect("reads").is_empty());
    assert!(store.quotes_page(u64::MAX, None, None, None, 10).await.expect("reads").is_empty());
    assert_eq!(store.l1_block_hash(u64::MAX).await.expect("reads"), None);
    assert_eq!(store.claims(None, Some(u64::MAX), 10).await.expect("reads").len(), 1);
    let (huge, huge_quote) = extreme(U256::from(1), 1 << 63);
    let error = store.insert_quote(huge, &huge_quote, 10).await.expect_err("does not fit");
    assert!(matches!(error, StoreError::OutOfRange { column: "quotes.epoch", .. }), "{error}");
});

both_backends!(a_value_that_cannot_be_read_back_names_its_row_and_column, |store: Store, url: String| async move {
    let (id, q) = quote(0, 3, 100);
    store.insert_quote(id, &q, 10).await.expect("stores");
    crate::support::execute(&url, "UPDATE quotes SET epoch_final_block = -5").await;
    let error = store.quote(id).await.expect_err("cannot be read back");
    assert!(
        matches!(&error, StoreError::Corrupt { table: "quotes", column: "epoch_final_block", row, .. } if row == "seq 1"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "corrupt row: quotes seq 1, column epoch_final_block: -5 is negative");
});

both_backends!(market_counts_follow_quotes_and_claims, |store: Store, _url: String| async move {
    apply(&store, 101, vec![block(1, 0, 3_000), block(2, 0, 7_000)]).await;
    apply(&store, 102, vec![block(3, 1, 500)]).await;
    let (a500, a500_quote) = quote(0, 0, 500);
    let (a250, a250_quote) = quote(0, 0, 250);
    let (b300, b300_quote) = quote(1, 0, 300);
    let (a100, a100_quote) = quote(0, 1, 100);
    // One batch in which a prover supersedes its own quote, then the same batch again (nothing
    // new), then one quote alone.
    let batch = [(a500, a500_quote), (a250, a250_quote), (b300, b300_quote)];
    store.insert_quotes(&batch, 100).await.expect("stores");
    let again = store.insert_quotes(&batch, 100).await.expect("reads");
    assert!(again.iter().all(|o| *o == InsertOutcome::AlreadyStored), "{again:?}");
    store.insert_quote(a100, &a100_quote, 100).await.expect("stores");
    let (a, b) = (a500_quote.quote.prover, b300_quote.quote.prover);

    let mut rows: Vec<_> = store
        .quotes_by_epoch(0, 1)
        .await
        .expect("reads")
        .into_iter()
        .map(|r| (r.epoch, r.prover, r.quotes, r.best_fee))
        .collect();
    rows.sort();
    let mut expected = vec![(0, a, 2, 250), (0, b, 1, 300), (1, a, 1, 100)];
    expected.sort();
    assert_eq!(rows, expected, "a row per prover and epoch: quotes counted once each, the lowest fee");
    assert_eq!(store.quotes_by_epoch(1, 1).await.expect("reads").len(), 1);
    assert_eq!(store.quotes_by_epoch(2, u64::MAX).await.expect("reads"), Vec::new());

    let mut totals: Vec<_> =
        store.quote_totals(None).await.expect("reads").into_iter().map(|t| (t.prover, t.quotes, t.epochs)).collect();
    totals.sort();
    let mut expected = vec![(a, 3, 2), (b, 1, 1)];
    expected.sort();
    assert_eq!(totals, expected);
    let only_b: Vec<_> = store.quote_totals(Some(b)).await.expect("reads").into_iter().map(|t| t.quotes).collect();
    assert_eq!(only_b, vec![1]);
    let epochs: Vec<u64> = store.prover_epochs(a, 10).await.expect("reads").into_iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, vec![1, 0], "newest first");
    assert_eq!(store.prover_epochs(a, 1).await.expect("reads").len(), 1);

    let claim = ClaimRecord {
        epoch: 0,
        quote_id: a250,
        bond_provider: a,
        basis_point_fee: 250,
        l1_block: 110,
        ..store_claim()
    };
    apply(&store, 110, vec![ChainEvent::Claimed(claim.clone())]).await;
    let payouts = store.claim_payouts(None).await.expect("reads");
    assert_eq!(payouts.len(), 1);
    assert_eq!((payouts[0].prover, payouts[0].outcome), (a, ClaimOutcome::Open));
    assert_eq!(payouts[0].payout, U256::from(250), "10000 in fees × 250 / 10000");
    apply(&store, 111, vec![ChainEvent::Proven { epoch: 0, l1_block: 111 }]).await;
    let payouts = store.claim_payouts(Some(a)).await.expect("reads");
    assert_eq!((payouts.len(), payouts[0].outcome), (1, ClaimOutcome::Proven));
    assert_eq!(store.claim_payouts(Some(b)).await.expect("reads"), Vec::new());
    assert_eq!(store.claims_of_epochs(0, 1).await.expect("reads"), vec![(claim, ClaimOutcome::Proven)]);
    assert_eq!(store.claims_of_epochs(1, 1).await.expect("reads"), Vec::new());

    let page: Vec<_> =
        store.epochs_page(None, 10).await.expect("reads").into_iter().map(|e| (e.epoch, e.proven_at)).collect();
    assert_eq!(page, vec![(1, None), (0, Some(111))], "newest first, with the proof's L1 block");
    let older: Vec<u64> = store.epochs_page(Some(1), 10).await.expect("reads").into_iter().map(|e| e.epoch).collect();
    assert_eq!(older, vec![0]);
    assert_eq!(
        store.epochs_page(Some(u64::MAX), 1).await.expect("reads").len(),
        1,
        "a bound beyond every epoch is none"
    );

    assert!(store.claim_payouts(Some(a)).await.expect("reads")[0].quoted, "the node holds a's quotes for epoch 0");
    // A claim on epoch 1 for a quote of b that the node never stored: not an epoch b quoted for.
    let unseen =
        ClaimRecord { epoch: 1, quote_id: B256::repeat_byte(0x77), bond_provider: b, l1_block: 112, ..store_claim() };
    apply(&store, 112, vec![ChainEvent::Claimed(unseen)]).await;
    let payouts = store.claim_payouts(Some(b)).await.expect("reads");
    assert_eq!((payouts.len(), payouts[0].quoted), (1, false));
});

#[test]
fn a_payout_is_what_the_rollup_computes_at_the_extremes() {
    use epoch_quote::prover_payout;
    assert_eq!(prover_payout(U256::MAX, 1), Some(U256::MAX / U256::from(10_000)));
    assert_eq!(prover_payout(U256::MAX, 2), None, "the product overflows: the rollup reverts");
    let largest = U256::MAX / U256::from(10_000);
    assert_eq!(prover_payout(largest, 10_000), Some(largest));
    assert_eq!(prover_payout(U256::from(9_999), 1), Some(U256::ZERO), "rounded down, as the rollup pays");
    assert_eq!(prover_payout(U256::from(10_000), 250), Some(U256::from(250)));
}

/// Block `number` of `epoch` at L1 block `l1_block`, and the epoch's end.
async fn end_epoch(store: &Store, l1_block: u64, epoch: u64, number: u64) {
    let update = ChainUpdate {
        events: vec![block_at(number, epoch, 1_000, l1_block)],
        completed_epochs: epoch..epoch + 1,
        ..ChainUpdate::default()
    };
    store.apply(cursor(l1_block), &update).await.expect("applies");
}

/// Events as stored: `(seq, kind)`.
async fn stored_events(store: &Store) -> Vec<(i64, String)> {
    store.events_after(0, 1000).await.expect("reads").into_iter().map(|e| (e.seq, e.kind)).collect()
}

both_backends!(
    retention_deletes_the_quotes_and_events_of_settled_epochs_oldest_first,
    |store: Store, url: String| async move {
        // In chain order: epoch 0 ends, draws three quotes (one superseded), is claimed and proven;
        // epoch 1 ends, draws two quotes and is pruned; epoch 2 ends and draws one (unsettled);
        // epoch 3 ends, draws one and is proven.
        end_epoch(&store, 101, 0, 1).await;
        let (a0, a0_quote) = quote(0, 0, 300);
        let (b0, b0_quote) = quote(1, 0, 200);
        let (a0_newer, a0_newer_quote) = quote(0, 0, 100);
        for (id, q) in [(a0, a0_quote), (b0, b0_quote), (a0_newer, a0_newer_quote)] {
            store.insert_quote(id, &q, 100).await.expect("stores");
        }
        let claim = ClaimRecord {
            epoch: 0,
            quote_id: a0_newer,
            bond_provider: a0_quote.quote.prover,
            l1_block: 102,
            ..store_claim()
        };
        apply(&store, 102, vec![ChainEvent::Claimed(claim.clone())]).await;
        apply(&store, 103, vec![ChainEvent::Proven { epoch: 0, l1_block: 103 }]).await;
        end_epoch(&store, 104, 1, 2).await;
        let epoch1: Vec<_> = [quote(0, 1, 300), quote(1, 1, 200)].into();
        store.insert_quotes(&epoch1, 100).await.expect("stores");
        apply(&store, 105, vec![ChainEvent::EpochPruned { epoch: 1, l1_block: 105 }]).await;
        end_epoch(&store, 106, 2, 3).await;
        let (c2, c2_quote) = quote(0, 2, 300);
        store.insert_quote(c2, &c2_quote, 100).await.expect("stores");
        end_epoch(&store, 107, 3, 4).await;
        let (c3, c3_quote) = quote(1, 3, 300);
        store.insert_quote(c3, &c3_quote, 100).await.expect("stores");
        apply(&store, 108, vec![ChainEvent::Proven { epoch: 3, l1_block: 108 }]).await;

        // The floor stops at the first epoch neither proven nor pruned, whatever the window asks.
        assert_eq!(store.retention_floor(10, u64::MAX).await.expect("reads"), 2);
        assert_eq!(store.retention_floor(1, u64::MAX).await.expect("reads"), 1);
        assert_eq!(store.retention_floor(u64::MAX, u64::MAX).await.expect("reads"), 2);
        // Settled only once the proof or prune is old enough: epoch 1's prune (L1 block 105) is
        // not as of block 104, epoch 0's proof (103) is not as of block 102.
        assert_eq!(store.retention_floor(10, 105).await.expect("reads"), 2);
        assert_eq!(store.retention_floor(10, 104).await.expect("reads"), 1);
        assert_eq!(store.retention_floor(10, 102).await.expect("reads"), 0);

        // Quotes below the floor go in batches, oldest epochs first; the mark moves once none is left.
        assert_eq!(store.prune_quotes(2, 2).await.expect("prunes"), 2);
        assert_eq!(store.retention_marks().await.expect("reads").quotes_before_epoch, 0, "not all gone yet");
        assert!(store.quote(c2).await.expect("reads").is_some());
        assert_eq!(store.prune_quotes(2, 2).await.expect("prunes"), 2);
        assert_eq!(store.prune_quotes(2, 2).await.expect("prunes"), 1);
        assert_eq!(store.retention_marks().await.expect("reads").quotes_before_epoch, 2);
        assert_eq!(store.prune_quotes(2, 2).await.expect("prunes"), 0);
        for id in [a0, b0, a0_newer, epoch1[0].0, epoch1[1].0] {
            assert!(store.quote(id).await.expect("reads").is_none(), "{id} deleted");
        }
        for id in [c2, c3] {
            assert!(store.quote(id).await.expect("reads").is_some(), "{id} kept");
        }
        assert_eq!(store.quote_count().await.expect("reads"), 2);
        counts_agree(&url).await;
        // Claims, epochs and each prover's counts are kept: the records and payouts stay whole.
        assert_eq!(store.claims_of_epoch(0).await.expect("reads").len(), 1);
        assert!(store.epoch(0).await.expect("reads").expect("kept").proven());
        assert_eq!(store.quotes_by_epoch(0, 1).await.expect("reads").len(), 4);
        assert_eq!(store.claim_payouts(None).await.expect("reads").len(), 1);
        // A lower floor later never moves the mark back.
        store.prune_quotes(1, 2).await.expect("prunes");
        assert_eq!(store.retention_marks().await.expect("reads").quotes_before_epoch, 2);

        // Events: those before the first event of epoch 2 go, oldest first, in batches.
        let before = stored_events(&store).await;
        let latest = store.latest_event_seq().await.expect("reads");
        let kept_from = store.first_event_kept(2).await.expect("reads");
        let first_of_2 = store
            .events_after(0, 1000)
            .await
            .expect("reads")
            .into_iter()
            .find(|e| e.kind == "epoch_completed" && e.data.contains(r#""epoch":2,"#))
            .map(|e| e.seq);
        assert_eq!(Some(kept_from), first_of_2, "{before:?}");
        let doomed = before.iter().filter(|(seq, _)| *seq < kept_from).count() as u64;
        assert!(doomed >= 8, "epoch 0 and 1's events: {before:?}");
        let mut deleted = 0;
        loop {
            let n = store.prune_events(kept_from, 3).await.expect("prunes");
            deleted += n;
            if n < 3 {
                break;
            }
        }
        assert_eq!(deleted, doomed);
        let after = stored_events(&store).await;
        assert_eq!(after, before.iter().filter(|(seq, _)| *seq >= kept_from).cloned().collect::<Vec<_>>());
        let marks = store.retention_marks().await.expect("reads");
        assert_eq!(
            marks.events_through,
            before.iter().map(|(seq, _)| *seq).filter(|seq| *seq < kept_from).max().unwrap_or(0)
        );
        assert_eq!(store.latest_event_seq().await.expect("reads"), latest);

        // With nothing newer to keep, the newest event still stays: sequence numbers never go back.
        let all_but_newest = store.first_event_kept(100).await.expect("reads");
        assert_eq!(all_but_newest, latest);
        while store.prune_events(all_but_newest, 1000).await.expect("prunes") > 0 {}
        assert_eq!(stored_events(&store).await.into_iter().map(|(seq, _)| seq).collect::<Vec<_>>(), vec![latest]);
        assert_eq!(store.latest_event_seq().await.expect("reads"), latest);
        assert_eq!(store.retention_marks().await.expect("reads").events_through, latest - 1);
        // The next event follows the newest.
        let (d2, d2_quote) = quote(1, 2, 250);
        assert!(matches!(store.insert_quote(d2, &d2_quote, 100).await.expect("stores"), InsertOutcome::Stored { .. }));
        assert!(store.latest_event_seq().await.expect("reads") > latest);
    }
);

both_backends!(an_empty_store_has_nothing_to_prune, |store: Store, _url: String| async move {
    assert_eq!(store.retention_floor(7, 0).await.expect("reads"), 7);
    assert_eq!(store.prune_quotes(7, 10).await.expect("prunes"), 0);
    assert_eq!(store.first_event_kept(0).await.expect("reads"), 0);
    assert_eq!(store.prune_events(0, 10).await.expect("prunes"), 0);
    assert_eq!(
        store.retention_marks().await.expect("reads"),
        coordination_node::store::RetentionMarks { quotes_before_epoch: 7, events_through: 0 }
    );
});
