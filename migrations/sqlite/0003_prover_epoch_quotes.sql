-- How many quotes each prover sent for each epoch and the lowest fee among them, kept by the
-- database as quotes are inserted (a trigger per inserted row), so the market statistics, the
-- prover pages and the leaderboard read a row per prover and epoch instead of every quote.
-- Quotes are never deleted, so the counts only grow.

CREATE TABLE prover_epoch_quotes (
    epoch INTEGER NOT NULL,
    prover BLOB NOT NULL,
    quotes INTEGER NOT NULL CHECK (quotes > 0),
    best_fee INTEGER NOT NULL CHECK (best_fee BETWEEN 0 AND 10000),
    PRIMARY KEY (epoch, prover)
) WITHOUT ROWID;
-- A prover's epochs, newest first.
CREATE INDEX prover_epoch_quotes_prover ON prover_epoch_quotes (prover, epoch);

INSERT INTO prover_epoch_quotes (epoch, prover, quotes, best_fee)
    SELECT epoch, prover, COUNT(*), MIN(basis_point_fee) FROM quotes GROUP BY epoch, prover;

CREATE TRIGGER quotes_counted AFTER INSERT ON quotes
BEGIN
    INSERT INTO prover_epoch_quotes (epoch, prover, quotes, best_fee)
        VALUES (NEW.epoch, NEW.prover, 1, NEW.basis_point_fee)
        ON CONFLICT (epoch, prover) DO UPDATE
            SET quotes = quotes + 1, best_fee = min(best_fee, excluded.best_fee);
END;
