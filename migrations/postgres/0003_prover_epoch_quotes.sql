-- How many quotes each prover sent for each epoch and the lowest fee among them, kept by the
-- database as quotes are inserted (one statement-level trigger per insert, over the rows it
-- actually inserted), so the market statistics, the prover pages and the leaderboard read a row
-- per prover and epoch instead of every quote. Quotes are never deleted, so the counts only grow.

-- No quote may be inserted between the backfill below and the trigger (a replica of the earlier
-- version still running): held until this migration's transaction commits.
LOCK TABLE quotes IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE prover_epoch_quotes (
    epoch BIGINT NOT NULL,
    prover BYTEA NOT NULL CHECK (octet_length(prover) = 20),
    quotes BIGINT NOT NULL CHECK (quotes > 0),
    best_fee INTEGER NOT NULL CHECK (best_fee BETWEEN 0 AND 10000),
    PRIMARY KEY (epoch, prover)
);
-- A prover's epochs, newest first.
CREATE INDEX prover_epoch_quotes_prover ON prover_epoch_quotes (prover, epoch);

INSERT INTO prover_epoch_quotes (epoch, prover, quotes, best_fee)
    SELECT epoch, prover, COUNT(*), MIN(basis_point_fee) FROM quotes GROUP BY epoch, prover;

CREATE FUNCTION count_inserted_quotes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO prover_epoch_quotes AS p (epoch, prover, quotes, best_fee)
        SELECT epoch, prover, COUNT(*), MIN(basis_point_fee) FROM inserted GROUP BY epoch, prover
        ON CONFLICT (epoch, prover) DO UPDATE
            SET quotes = p.quotes + EXCLUDED.quotes, best_fee = LEAST(p.best_fee, EXCLUDED.best_fee);
    RETURN NULL;
END
$$;

CREATE TRIGGER quotes_counted AFTER INSERT ON quotes REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION count_inserted_quotes();
