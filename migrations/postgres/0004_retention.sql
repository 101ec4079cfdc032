-- Retention: the node deletes the quotes and events of epochs proven or pruned long ago. Each
-- event records the epoch it concerns (NULL: none, as a reorg), so the events of old epochs can
-- be told apart without reading their JSON; `retention` records what was deleted, so a reader
-- can tell a range that was pruned from one that never held anything.

ALTER TABLE events ADD COLUMN epoch BIGINT;

-- The events already stored: the epoch in their data, or (a superseded quote's event, which did
-- not carry it) the epoch of the quote that replaced it.
UPDATE events SET epoch = CASE
    WHEN data::jsonb ->> 'epoch' ~ '^[0-9]{1,18}$' THEN (data::jsonb ->> 'epoch')::BIGINT
    WHEN kind = 'quote_superseded' AND data::jsonb ->> 'by' ~ '^0x[0-9a-f]{64}$' THEN
        (SELECT q.epoch FROM quotes q WHERE q.id = decode(substr(data::jsonb ->> 'by', 3), 'hex'))
END;

CREATE TABLE retention (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- Every quote of an epoch below this one has been deleted.
    quotes_before_epoch BIGINT NOT NULL CHECK (quotes_before_epoch >= 0),
    -- Every event up to this sequence number has been deleted.
    events_through BIGINT NOT NULL CHECK (events_through >= 0)
);
INSERT INTO retention (id, quotes_before_epoch, events_through) VALUES (1, 0, 0);
