-- The SMS campaign manager (seed 000). Messages to send — a campaign's recipients and single
-- sends — are one outbox: each row is the message and its job (state, attempts, lease).
CREATE TABLE campaigns (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    owner_id      TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    message       TEXT    NOT NULL,
    rate          TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    start_at      BIGINT,
    created_at    BIGINT  NOT NULL,
    started_at    BIGINT,
    completed_at  BIGINT,
    updated_at    BIGINT  NOT NULL,
    duplicates    BIGINT  NOT NULL DEFAULT 0,
    encoding      TEXT    NOT NULL,
    segments      BIGINT  NOT NULL
);
CREATE INDEX campaigns_owner ON campaigns (owner_id, seq);
CREATE INDEX campaigns_state ON campaigns (state);

CREATE TABLE sms_messages (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    owner_id         TEXT    NOT NULL,
    campaign_id      TEXT,
    phone            TEXT    NOT NULL,
    fields           TEXT    NOT NULL DEFAULT '{}',
    text             TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    lease_until      BIGINT,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    sent_at          BIGINT,
    delivered_at     BIGINT
);
-- One message per number per campaign (single sends have no campaign: NULLs differ).
CREATE UNIQUE INDEX sms_messages_campaign_phone ON sms_messages (campaign_id, phone);
CREATE INDEX sms_messages_due ON sms_messages (campaign_id, state, next_attempt_at);
CREATE INDEX sms_messages_owner ON sms_messages (owner_id, created_at);

CREATE TABLE contacts (
    owner_id    TEXT   NOT NULL,
    phone       TEXT   NOT NULL,
    fields      TEXT   NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (owner_id, phone)
);

-- Numbers never sent to: per owner, or for everyone ('*', a STOP reply).
CREATE TABLE suppressions (
    owner_id    TEXT   NOT NULL,
    phone       TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (owner_id, phone)
);

-- Phone reports seen, so a webhook delivered twice is applied once.
CREATE TABLE sms_reports (
    message_id   TEXT   NOT NULL,
    event        TEXT   NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (message_id, event)
);
