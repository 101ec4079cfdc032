-- Native column types. Ids, hashes, addresses and signatures become bytes of their fixed size;
-- uint256 values (fees, bonds, deposits, validUntilSlot) become NUMERIC(78,0), range-checked, so
-- the database itself can compare and sum them. `valid_until_slot` was also kept as a BIGINT copy
-- for comparisons; the NUMERIC column now serves both. Statuses and outcomes are checked against
-- the values the node writes. Rows written by 0001 are converted in place.

ALTER TABLE quotes
    ALTER COLUMN id TYPE BYTEA USING decode(substr(id, 3), 'hex'),
    ALTER COLUMN prover TYPE BYTEA USING decode(substr(prover, 3), 'hex'),
    ALTER COLUMN total_fees TYPE NUMERIC(78, 0) USING total_fees::NUMERIC,
    ALTER COLUMN rollup_address TYPE BYTEA USING decode(substr(rollup_address, 3), 'hex'),
    ALTER COLUMN bond_amount TYPE NUMERIC(78, 0) USING bond_amount::NUMERIC,
    ALTER COLUMN valid_until_slot TYPE NUMERIC(78, 0) USING valid_until_slot::NUMERIC,
    ALTER COLUMN signature TYPE BYTEA USING decode(substr(signature, 3), 'hex'),
    DROP COLUMN valid_until_slot_u64,
    ADD CONSTRAINT quotes_id_size CHECK (octet_length(id) = 32),
    ADD CONSTRAINT quotes_prover_size CHECK (octet_length(prover) = 20),
    ADD CONSTRAINT quotes_rollup_size CHECK (octet_length(rollup_address) = 20),
    ADD CONSTRAINT quotes_signature_size CHECK (octet_length(signature) = 65),
    ADD CONSTRAINT quotes_total_fees_uint256 CHECK (total_fees BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935),
    ADD CONSTRAINT quotes_bond_amount_uint256 CHECK (bond_amount BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935),
    ADD CONSTRAINT quotes_valid_until_slot_uint256 CHECK (valid_until_slot BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935),
    ADD CONSTRAINT quotes_basis_point_fee_range CHECK (basis_point_fee BETWEEN 0 AND 10000),
    ADD CONSTRAINT quotes_status_known CHECK (status IN ('pending', 'claimed', 'expired', 'superseded', 'proven', 'slashed'));

-- Expiry by slot reads only the pending quotes.
CREATE INDEX quotes_pending_valid_until ON quotes (valid_until_slot) WHERE status = 'pending';
-- Storing a quote looks up, and supersedes, the pending quote of its prover and epoch: one row
-- among all the prover's quotes of the epoch.
CREATE INDEX quotes_pending_prover_epoch ON quotes (prover, epoch) WHERE status = 'pending';

ALTER TABLE l2_blocks
    ALTER COLUMN proposer TYPE BYTEA USING decode(substr(proposer, 3), 'hex'),
    ALTER COLUMN fees TYPE NUMERIC(78, 0) USING fees::NUMERIC,
    ALTER COLUMN archive TYPE BYTEA USING decode(substr(archive, 3), 'hex'),
    ADD CONSTRAINT l2_blocks_proposer_size CHECK (octet_length(proposer) = 20),
    ADD CONSTRAINT l2_blocks_archive_size CHECK (octet_length(archive) = 32),
    ADD CONSTRAINT l2_blocks_fees_uint256 CHECK (fees BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935);

ALTER TABLE epochs
    ALTER COLUMN total_fees TYPE NUMERIC(78, 0) USING total_fees::NUMERIC,
    ADD CONSTRAINT epochs_total_fees_uint256 CHECK (total_fees BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935);

ALTER TABLE claims
    ALTER COLUMN quote_id TYPE BYTEA USING decode(substr(quote_id, 3), 'hex'),
    ALTER COLUMN bond_provider TYPE BYTEA USING decode(substr(bond_provider, 3), 'hex'),
    ALTER COLUMN proposer TYPE BYTEA USING decode(substr(proposer, 3), 'hex'),
    ALTER COLUMN bond_amount TYPE NUMERIC(78, 0) USING bond_amount::NUMERIC,
    ALTER COLUMN l1_tx TYPE BYTEA USING decode(substr(l1_tx, 3), 'hex'),
    ADD CONSTRAINT claims_quote_id_size CHECK (octet_length(quote_id) = 32),
    ADD CONSTRAINT claims_bond_provider_size CHECK (octet_length(bond_provider) = 20),
    ADD CONSTRAINT claims_proposer_size CHECK (octet_length(proposer) = 20),
    ADD CONSTRAINT claims_l1_tx_size CHECK (octet_length(l1_tx) = 32),
    ADD CONSTRAINT claims_bond_amount_uint256 CHECK (bond_amount BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935),
    ADD CONSTRAINT claims_outcome_known CHECK (outcome IN ('open', 'proven', 'slashed'));
CREATE INDEX claims_quote_id ON claims (quote_id);

ALTER TABLE provers
    ALTER COLUMN address TYPE BYTEA USING decode(substr(address, 3), 'hex'),
    ALTER COLUMN deposit TYPE NUMERIC(78, 0) USING deposit::NUMERIC,
    ADD CONSTRAINT provers_address_size CHECK (octet_length(address) = 20),
    ADD CONSTRAINT provers_deposit_uint256 CHECK (deposit BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935);

ALTER TABLE chain_cursor
    ALTER COLUMN l1_hash TYPE BYTEA USING decode(substr(l1_hash, 3), 'hex'),
    ADD CONSTRAINT chain_cursor_l1_hash_size CHECK (octet_length(l1_hash) = 32);

ALTER TABLE l1_blocks
    ALTER COLUMN hash TYPE BYTEA USING decode(substr(hash, 3), 'hex'),
    ADD CONSTRAINT l1_blocks_hash_size CHECK (octet_length(hash) = 32);
