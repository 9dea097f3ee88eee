-- A database as schema version 1 of openclaw-store left it (ingress, pairing, allow entries),
-- with a little data in each table. Never edit: a later schema is a new file.
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

INSERT INTO ingress (account, event_id, lane, payload, received_at, state, attempts, available_at)
VALUES ('default', 'SMpending', 'sender:+15550001', X'426f64793d6869', 1000, 'pending', 0, 1000);
INSERT INTO ingress (account, event_id, lane, payload, received_at, state, attempts, available_at)
VALUES ('default', 'SMclaimed', 'sender:+15550002', X'426f64793d796f', 1100, 'claimed', 1, 1100);
INSERT INTO ingress (account, event_id, lane, payload, received_at, state, attempts, available_at, finished_at)
VALUES ('default', 'SMdone', 'sender:+15550001', X'', 900, 'completed', 1, 900, 950);
INSERT INTO pairing_requests VALUES ('sms', 'default', '+15550003', 'ABCD2345', '{"accountId":"default"}', 500, 600);
INSERT INTO allow_entries VALUES ('sms', 'default', '+15550004', 700);
PRAGMA user_version = 1;
