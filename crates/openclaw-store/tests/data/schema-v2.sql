-- A database as schema version 2 of openclaw-store left it (version 1's tables, then held
-- first messages, opt-outs, history, deliveries, outbound intents and meta), with a little data
-- in each table. Made from the V1 and V2 steps of src/sqlite/schema.rs, verbatim.
-- Never edit: a later schema is a new file.
CREATE TABLE ingress (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    event_id TEXT NOT NULL,
    lane TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'claimed', 'held', 'completed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL,
    last_error TEXT,
    dead_reason TEXT,
    finished_at INTEGER,
    UNIQUE (account, event_id)
) STRICT;
CREATE INDEX ingress_lane ON ingress (account, lane, id) WHERE state IN ('pending', 'claimed');
CREATE INDEX ingress_ready ON ingress (id) WHERE state = 'pending';
CREATE INDEX ingress_completed ON ingress (account, finished_at) WHERE state = 'completed';
CREATE INDEX ingress_dead ON ingress (account, finished_at) WHERE state = 'dead';
CREATE TABLE pairing_requests (
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    code TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    PRIMARY KEY (channel, account, sender_id)
) STRICT;
CREATE UNIQUE INDEX pairing_code ON pairing_requests (channel, account, code);
CREATE TABLE allow_entries (
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    entry TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (channel, account, entry)
) STRICT;
ALTER TABLE pairing_requests ADD COLUMN held_event_id INTEGER;
CREATE TABLE opt_outs (
    account TEXT NOT NULL,
    number TEXT NOT NULL,
    keyword TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (account, number)
) STRICT;
CREATE TABLE history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    peer TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    at INTEGER NOT NULL
) STRICT;
CREATE INDEX history_peer ON history (account, peer, id);
CREATE TABLE deliveries (
    account TEXT NOT NULL,
    message_sid TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    first_observed_at INTEGER NOT NULL,
    last_observed_at INTEGER NOT NULL,
    conflict INTEGER NOT NULL,
    observations INTEGER NOT NULL,
    PRIMARY KEY (account, message_sid)
) STRICT;
CREATE INDEX deliveries_last ON deliveries (last_observed_at);
CREATE INDEX deliveries_account_last ON deliveries (account, last_observed_at);
CREATE TABLE outbound_intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reply_id TEXT NOT NULL,
    account TEXT NOT NULL,
    recipient TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    part_index INTEGER NOT NULL,
    part_count INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'ambiguous')),
    message_sid TEXT,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (reply_id, part_index)
) STRICT;
CREATE INDEX outbound_unfinished ON outbound_intents (account, id) WHERE state IN ('pending', 'ambiguous');
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

INSERT INTO ingress (account, event_id, lane, payload, received_at, state, attempts, available_at)
VALUES ('default', 'SMpending', 'sender:+15550001', X'426f64793d6869', 1000, 'pending', 0, 1000);
INSERT INTO ingress (account, event_id, lane, payload, received_at, state, attempts, available_at)
VALUES ('default', 'SMheld', 'sender:+15550003', X'426f64793d6865', 1050, 'held', 1, 1050);
INSERT INTO ingress (account, event_id, lane, payload, received_at, state, attempts, available_at, finished_at)
VALUES ('default', 'SMdone', 'sender:+15550001', X'', 900, 'completed', 1, 900, 950);
INSERT INTO pairing_requests (channel, account, sender_id, code, meta_json, created_at, last_seen_at, held_event_id)
VALUES ('sms', 'default', '+15550003', 'ABCD2345', '{"accountId":"default"}', 500, 1050, 2);
INSERT INTO allow_entries VALUES ('sms', 'default', '+15550004', 700);
INSERT INTO opt_outs VALUES ('default', '+15550005', 'STOP', 800);
INSERT INTO history (account, peer, role, text, at) VALUES ('default', '+15550001', 'user', 'hello', 900);
INSERT INTO history (account, peer, role, text, at) VALUES ('default', '+15550001', 'assistant', 'hi there', 940);
INSERT INTO deliveries VALUES ('default', 'SMout1', 'delivered', NULL, 960, 990, 0, 2);
INSERT INTO outbound_intents (reply_id, account, recipient, body_hash, part_index, part_count, state, message_sid, error, created_at, updated_at)
VALUES ('SMdone', 'default', '+15550001', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 0, 2, 'sent', 'SMout1', NULL, 945, 950);
INSERT INTO outbound_intents (reply_id, account, recipient, body_hash, part_index, part_count, state, message_sid, error, created_at, updated_at)
VALUES ('SMdone', 'default', '+15550001', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 1, 2, 'ambiguous', NULL, 'timeout after dispatch', 945, 955);
INSERT INTO meta VALUES ('legacy_import_done_at', '400');
PRAGMA user_version = 2;
