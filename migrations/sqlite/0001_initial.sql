-- Quotes as received, in arrival order (seq), with their lifecycle status.
CREATE TABLE quotes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
    received_at_ms BIGINT NOT NULL,
    status_changed_at_ms BIGINT NOT NULL
);
CREATE INDEX quotes_epoch_status_fee ON quotes (epoch, status, basis_point_fee, seq);
CREATE INDEX quotes_prover_epoch ON quotes (prover, epoch);

-- L2 blocks proposed on L1, with the L1 block that carried them (for reorgs).
CREATE TABLE l2_blocks (
    number BIGINT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    slot BIGINT NOT NULL,
    proposer TEXT NOT NULL,
    tx_count BIGINT NOT NULL,
    fees TEXT NOT NULL,
    archive TEXT NOT NULL,
    l1_block BIGINT NOT NULL
);
CREATE INDEX l2_blocks_epoch ON l2_blocks (epoch);

-- Epochs with blocks: their range, size and fees, and whether proven or pruned.
CREATE TABLE epochs (
    epoch BIGINT PRIMARY KEY,
    init_block BIGINT NOT NULL,
    final_block BIGINT NOT NULL,
    block_count BIGINT NOT NULL,
    tx_count BIGINT NOT NULL,
    total_fees TEXT NOT NULL,
    proven BIGINT NOT NULL DEFAULT 0,
    pruned BIGINT NOT NULL DEFAULT 0
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
