-- Pending quotes counted per epoch and per prover and epoch, kept by the database on every insert,
-- status change and delete of a quote (statement-level triggers over the rows each statement
-- touched), so storing a batch reads one row per epoch and per prover instead of counting the
-- epoch's pending quotes: that count walked every index entry a superseded quote left behind
-- and slowed intake down as an epoch filled.
--
-- With the counts, the `seq` of the last pending quote inserted per prover and epoch
-- (`pending_seq`, set on insert and never cleared): while the prover has exactly one pending
-- quote in the epoch and that one is still pending, it is the one, so a newer quote supersedes it
-- by its key instead of looking it up among the pending quotes, whose indexes also hold an entry
-- for every quote superseded since the last vacuum.
--
-- No quote may change between the backfill below and the triggers (a replica of the earlier
-- build still running): the migration holds the table's lock until it commits.

LOCK TABLE quotes IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE prover_epoch_quotes
    ADD COLUMN pending BIGINT NOT NULL DEFAULT 0 CHECK (pending >= 0),
    ADD COLUMN pending_seq BIGINT;

CREATE TABLE epoch_pending (
    epoch BIGINT PRIMARY KEY,
    pending BIGINT NOT NULL CHECK (pending >= 0)
);

UPDATE prover_epoch_quotes p SET pending = c.pending, pending_seq = c.pending_seq
    FROM (SELECT epoch, prover, COUNT(*) AS pending, MAX(seq) AS pending_seq FROM quotes
          WHERE status = 'pending' GROUP BY epoch, prover) AS c
    WHERE p.epoch = c.epoch AND p.prover = c.prover;
INSERT INTO epoch_pending (epoch, pending)
    SELECT epoch, COUNT(*) FILTER (WHERE status = 'pending') FROM quotes GROUP BY epoch;

CREATE OR REPLACE FUNCTION count_inserted_quotes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO prover_epoch_quotes AS p (epoch, prover, quotes, best_fee, pending, pending_seq)
        SELECT epoch, prover, COUNT(*), MIN(basis_point_fee), COUNT(*) FILTER (WHERE status = 'pending'),
            MAX(seq) FILTER (WHERE status = 'pending')
        FROM inserted GROUP BY epoch, prover
        ON CONFLICT (epoch, prover) DO UPDATE
            SET quotes = p.quotes + EXCLUDED.quotes, best_fee = LEAST(p.best_fee, EXCLUDED.best_fee),
                pending = p.pending + EXCLUDED.pending, pending_seq = COALESCE(EXCLUDED.pending_seq, p.pending_seq);
    INSERT INTO epoch_pending AS e (epoch, pending)
        SELECT epoch, COUNT(*) FILTER (WHERE status = 'pending') FROM inserted GROUP BY epoch
        ON CONFLICT (epoch) DO UPDATE SET pending = e.pending + EXCLUDED.pending;
    RETURN NULL;
END
$$;

-- An update moves the counts by the rows that became pending less the rows that stopped being;
-- a delete by the pending rows it removed. Both rows exist by then: every epoch holding a quote
-- has its `epoch_pending` row (from the backfill above or the insert), and retention deletes one
-- only once the epoch holds no quote.
CREATE FUNCTION count_updated_quotes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH change AS (
        SELECT epoch, prover, SUM(d) AS d FROM (
            SELECT epoch, prover, 1 AS d FROM now_rows WHERE status = 'pending'
            UNION ALL
            SELECT epoch, prover, -1 FROM before_rows WHERE status = 'pending') AS c
        GROUP BY epoch, prover HAVING SUM(d) <> 0),
    by_prover AS (
        UPDATE prover_epoch_quotes p SET pending = p.pending + change.d
        FROM change WHERE p.epoch = change.epoch AND p.prover = change.prover)
    UPDATE epoch_pending e SET pending = e.pending + c.d
        FROM (SELECT epoch, SUM(d) AS d FROM change GROUP BY epoch HAVING SUM(d) <> 0) AS c
        WHERE e.epoch = c.epoch;
    RETURN NULL;
END
$$;

CREATE FUNCTION count_deleted_quotes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH change AS (
        SELECT epoch, prover, COUNT(*) AS d FROM before_rows WHERE status = 'pending' GROUP BY epoch, prover),
    by_prover AS (
        UPDATE prover_epoch_quotes p SET pending = p.pending - change.d
        FROM change WHERE p.epoch = change.epoch AND p.prover = change.prover)
    UPDATE epoch_pending e SET pending = e.pending - c.d
        FROM (SELECT epoch, SUM(d) AS d FROM change GROUP BY epoch) AS c
        WHERE e.epoch = c.epoch;
    RETURN NULL;
END
$$;

CREATE TRIGGER quotes_pending_updated AFTER UPDATE ON quotes
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS now_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_updated_quotes();
CREATE TRIGGER quotes_pending_deleted AFTER DELETE ON quotes
    REFERENCING OLD TABLE AS before_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_deleted_quotes();
