-- Pending quotes counted per epoch and per prover and epoch, kept by the database on every insert,
-- status change and delete of a quote (a trigger per row), so storing a batch reads one row per
-- epoch and per prover instead of counting the epoch's pending quotes.

ALTER TABLE prover_epoch_quotes ADD COLUMN pending INTEGER NOT NULL DEFAULT 0 CHECK (pending >= 0);

CREATE TABLE epoch_pending (
    epoch INTEGER PRIMARY KEY,
    pending INTEGER NOT NULL CHECK (pending >= 0)
);

UPDATE prover_epoch_quotes SET pending = (
    SELECT COUNT(*) FROM quotes q
    WHERE q.epoch = prover_epoch_quotes.epoch AND q.prover = prover_epoch_quotes.prover AND q.status = 'pending');
INSERT INTO epoch_pending (epoch, pending)
    SELECT epoch, SUM(status = 'pending') FROM quotes GROUP BY epoch;

DROP TRIGGER quotes_counted;
CREATE TRIGGER quotes_counted AFTER INSERT ON quotes
BEGIN
    INSERT INTO prover_epoch_quotes (epoch, prover, quotes, best_fee, pending)
        VALUES (NEW.epoch, NEW.prover, 1, NEW.basis_point_fee, NEW.status = 'pending')
        ON CONFLICT (epoch, prover) DO UPDATE
            SET quotes = quotes + 1, best_fee = min(best_fee, excluded.best_fee), pending = pending + excluded.pending;
    INSERT INTO epoch_pending (epoch, pending) VALUES (NEW.epoch, NEW.status = 'pending')
        ON CONFLICT (epoch) DO UPDATE SET pending = pending + excluded.pending;
END;

CREATE TRIGGER quotes_pending_updated AFTER UPDATE OF status ON quotes
    WHEN (OLD.status = 'pending') <> (NEW.status = 'pending')
BEGIN
    UPDATE prover_epoch_quotes SET pending = pending + iif(NEW.status = 'pending', 1, -1)
        WHERE epoch = NEW.epoch AND prover = NEW.prover;
    UPDATE epoch_pending SET pending = pending + iif(NEW.status = 'pending', 1, -1) WHERE epoch = NEW.epoch;
END;

CREATE TRIGGER quotes_pending_deleted AFTER DELETE ON quotes WHEN OLD.status = 'pending'
BEGIN
    UPDATE prover_epoch_quotes SET pending = pending - 1 WHERE epoch = OLD.epoch AND prover = OLD.prover;
    UPDATE epoch_pending SET pending = pending - 1 WHERE epoch = OLD.epoch;
END;
