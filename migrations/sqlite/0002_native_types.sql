-- Native column types. Ids, hashes, addresses and signatures become BLOBs of their fixed size;
-- uint256 values (fees, bonds, deposits, validUntilSlot) become 32-byte big-endian BLOBs, which
-- SQLite compares in numeric order. `valid_until_slot` was also kept as an INTEGER copy for
-- comparisons; the BLOB column now serves both. SQLite cannot change a column's type, so each
-- table is rebuilt: hex columns are converted here; uint256 columns are copied as their decimal
-- text and converted to BLOBs by the node right after this migration (SQLite has no arithmetic
-- wide enough), a step that is repeated at every start until no text value remains.

CREATE TABLE quotes_native (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    prover BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    epoch_init_block INTEGER NOT NULL,
    epoch_final_block INTEGER NOT NULL,
    total_fees BLOB NOT NULL,
    rollup_address BLOB NOT NULL,
    basis_point_fee INTEGER NOT NULL CHECK (basis_point_fee BETWEEN 0 AND 10000),
    bond_amount BLOB NOT NULL,
    valid_until_slot BLOB NOT NULL,
    signature BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'expired', 'superseded', 'proven', 'slashed')),
    status_l1_block INTEGER NOT NULL DEFAULT 0,
    received_at_ms INTEGER NOT NULL,
    status_changed_at_ms INTEGER NOT NULL
);
INSERT INTO quotes_native (seq, id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, rollup_address,
        basis_point_fee, bond_amount, valid_until_slot, signature, status, status_l1_block, received_at_ms,
        status_changed_at_ms)
    SELECT seq, unhex(substr(id, 3)), unhex(substr(prover, 3)), epoch, epoch_init_block, epoch_final_block, total_fees,
        unhex(substr(rollup_address, 3)), basis_point_fee, bond_amount, valid_until_slot, unhex(substr(signature, 3)),
        status, status_l1_block, received_at_ms, status_changed_at_ms
    FROM quotes;
DROP TABLE quotes;
ALTER TABLE quotes_native RENAME TO quotes;
CREATE INDEX quotes_epoch_status_fee ON quotes (epoch, status, basis_point_fee, seq);
CREATE INDEX quotes_prover_epoch ON quotes (prover, epoch);
CREATE INDEX quotes_pending_valid_until ON quotes (valid_until_slot) WHERE status = 'pending';
CREATE INDEX quotes_pending_prover_epoch ON quotes (prover, epoch) WHERE status = 'pending';

CREATE TABLE l2_blocks_native (
    number INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    proposer BLOB NOT NULL,
    tx_count INTEGER NOT NULL,
    fees BLOB NOT NULL,
    archive BLOB NOT NULL,
    l1_block INTEGER NOT NULL,
    pruned_at_l1 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (number, l1_block)
);
INSERT INTO l2_blocks_native (number, epoch, slot, proposer, tx_count, fees, archive, l1_block, pruned_at_l1)
    SELECT number, epoch, slot, unhex(substr(proposer, 3)), tx_count, fees, unhex(substr(archive, 3)), l1_block,
        pruned_at_l1
    FROM l2_blocks;
DROP TABLE l2_blocks;
ALTER TABLE l2_blocks_native RENAME TO l2_blocks;
CREATE INDEX l2_blocks_epoch ON l2_blocks (epoch, pruned_at_l1);

CREATE TABLE epochs_native (
    epoch INTEGER PRIMARY KEY,
    init_block INTEGER NOT NULL,
    final_block INTEGER NOT NULL,
    block_count INTEGER NOT NULL,
    tx_count INTEGER NOT NULL,
    total_fees BLOB NOT NULL,
    proven_at_l1 INTEGER NOT NULL DEFAULT 0,
    pruned_at_l1 INTEGER NOT NULL DEFAULT 0
);
INSERT INTO epochs_native SELECT epoch, init_block, final_block, block_count, tx_count, total_fees, proven_at_l1,
    pruned_at_l1 FROM epochs;
DROP TABLE epochs;
ALTER TABLE epochs_native RENAME TO epochs;

CREATE TABLE claims_native (
    epoch INTEGER NOT NULL,
    quote_id BLOB NOT NULL,
    bond_provider BLOB NOT NULL,
    proposer BLOB NOT NULL,
    bond_amount BLOB NOT NULL,
    basis_point_fee INTEGER NOT NULL,
    claimed_at_slot INTEGER NOT NULL,
    l1_block INTEGER NOT NULL,
    l1_tx BLOB NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('open', 'proven', 'slashed')),
    outcome_l1_block INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (epoch, l1_block, quote_id)
);
INSERT INTO claims_native SELECT epoch, unhex(substr(quote_id, 3)), unhex(substr(bond_provider, 3)),
    unhex(substr(proposer, 3)), bond_amount, basis_point_fee, claimed_at_slot, l1_block, unhex(substr(l1_tx, 3)),
    outcome, outcome_l1_block FROM claims;
DROP TABLE claims;
ALTER TABLE claims_native RENAME TO claims;
CREATE INDEX claims_quote_id ON claims (quote_id);

CREATE TABLE provers_native (
    address BLOB NOT NULL PRIMARY KEY,
    deposit BLOB NOT NULL,
    l1_block INTEGER NOT NULL
);
INSERT INTO provers_native SELECT unhex(substr(address, 3)), deposit, l1_block FROM provers;
DROP TABLE provers;
ALTER TABLE provers_native RENAME TO provers;

CREATE TABLE chain_cursor_native (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    l1_block INTEGER NOT NULL,
    l1_hash BLOB NOT NULL,
    l1_timestamp INTEGER NOT NULL,
    proven_block INTEGER NOT NULL,
    pending_block INTEGER NOT NULL
);
INSERT INTO chain_cursor_native SELECT id, l1_block, unhex(substr(l1_hash, 3)), l1_timestamp, proven_block,
    pending_block FROM chain_cursor;
DROP TABLE chain_cursor;
ALTER TABLE chain_cursor_native RENAME TO chain_cursor;

CREATE TABLE l1_blocks_native (
    number INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
INSERT INTO l1_blocks_native SELECT number, unhex(substr(hash, 3)) FROM l1_blocks;
DROP TABLE l1_blocks;
ALTER TABLE l1_blocks_native RENAME TO l1_blocks;
