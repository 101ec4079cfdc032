-- Quotes as received, in arrival order (seq), with their lifecycle status.
CREATE TABLE quotes (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    prover TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    epoch_init_block BIGINT NOT NULL,
    epoch_final_block BIGINT NOT NULL,
    total_fees TEXT NOT NULL,
    rollup_address TEXT NOT NULL,
    basis_point_fee INTEGER NOT NULL,
    bond_amount TEXT NOT NULL,
    valid_until_slot TEXT NOT NULL,
    valid_until_slot_u64 BIGINT NOT NULL,
    signature TEXT NOT NULL,
    status TEXT NOT NULL,
    -- The L1 block of the event that set the status (0: set by the node itself), so a reorg can
    -- undo exactly what the dropped blocks did.
    status_l1_block BIGINT NOT NULL DEFAULT 0,
    received_at_ms BIGINT NOT NULL,
    status_changed_at_ms BIGINT NOT NULL
);
CREATE INDEX quotes_epoch_status_fee ON quotes (epoch, status, basis_point_fee, seq);
CREATE INDEX quotes_prover_epoch ON quotes (prover, epoch);

-- L2 blocks proposed on L1, with the L1 block that carried them (for reorgs). A pruned block is
-- kept, marked with the L1 block of the prune, so a reorg of the prune can bring it back.
CREATE TABLE l2_blocks (
    number BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    slot BIGINT NOT NULL,
    proposer TEXT NOT NULL,
    tx_count BIGINT NOT NULL,
    fees TEXT NOT NULL,
    archive TEXT NOT NULL,
    l1_block BIGINT NOT NULL,
    pruned_at_l1 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (number, l1_block)
);
CREATE INDEX l2_blocks_epoch ON l2_blocks (epoch, pruned_at_l1);

-- Epochs with blocks: their range, size and fees, and the L1 blocks at which they were proven or
-- pruned (0: not).
CREATE TABLE epochs (
    epoch BIGINT PRIMARY KEY,
    init_block BIGINT NOT NULL,
    final_block BIGINT NOT NULL,
    block_count BIGINT NOT NULL,
    tx_count BIGINT NOT NULL,
    total_fees TEXT NOT NULL,
    proven_at_l1 BIGINT NOT NULL DEFAULT 0,
    pruned_at_l1 BIGINT NOT NULL DEFAULT 0
);

-- Claims seen on L1 (history), the open one has outcome 'open'.
CREATE TABLE claims (
    epoch BIGINT NOT NULL,
    quote_id TEXT NOT NULL,
    bond_provider TEXT NOT NULL,
    proposer TEXT NOT NULL,
    bond_amount TEXT NOT NULL,
    basis_point_fee INTEGER NOT NULL,
    claimed_at_slot BIGINT NOT NULL,
    l1_block BIGINT NOT NULL,
    l1_tx TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_l1_block BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (epoch, l1_block, quote_id)
);

-- Escrow deposits of provers the node has seen.
CREATE TABLE provers (
    address TEXT PRIMARY KEY,
    deposit TEXT NOT NULL,
    l1_block BIGINT NOT NULL
);

-- Where the L1 watcher is, and the chain's tips and clock as of that block.
CREATE TABLE chain_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    l1_block BIGINT NOT NULL,
    l1_hash TEXT NOT NULL,
    l1_timestamp BIGINT NOT NULL,
    proven_block BIGINT NOT NULL,
    pending_block BIGINT NOT NULL
);

-- Hashes of recently processed L1 blocks, to notice a reorg.
CREATE TABLE l1_blocks (
    number BIGINT PRIMARY KEY,
    hash TEXT NOT NULL
);

-- What happened, in order, for the live event stream: every replica streams from this table, so
-- a client resuming with Last-Event-ID gets the same sequence from any of them.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
