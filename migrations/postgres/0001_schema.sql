-- The whole schema as SQLite's migrations 0001–0007 leave it, in PostgreSQL's types. Later
-- changes are new files, in step with the SQLite ones.

-- Owners: the users and applications that hold keys (seed 003's "User 1", "App 1").
CREATE TABLE owners (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('user', 'app')),
    created_at  BIGINT  NOT NULL
);

-- API keys. Only the SHA-256 of the key string is kept; `id` is the public part of the key.
CREATE TABLE api_keys (
    seq                 BIGSERIAL PRIMARY KEY,
    id                  TEXT    NOT NULL UNIQUE,
    owner_id            TEXT    NOT NULL REFERENCES owners (id),
    role                TEXT    NOT NULL,
    label               TEXT,
    key_hash            BYTEA   NOT NULL,
    metadata            TEXT    NOT NULL DEFAULT '{}',
    enabled             BOOLEAN NOT NULL DEFAULT TRUE,
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT,
    last_used_at        BIGINT,
    revoked_at          BIGINT,
    replaced_by         TEXT,
    -- Value of counters('keys') at the key's last change: lets every node find changed keys.
    revision            BIGINT  NOT NULL,
    rate_limit          TEXT,
    quota_limit         BIGINT,
    quota_refill        TEXT,
    quota_set_at        BIGINT,
    quota_used          BIGINT  NOT NULL DEFAULT 0,
    quota_period_start  BIGINT
);
CREATE INDEX api_keys_owner_id ON api_keys (owner_id);
CREATE INDEX api_keys_revision ON api_keys (revision);

-- Named counters. Their rows are also the locks that serialise key changes (`keys`), audit
-- appends (`audit`) and the message drop's size check (`messages`) across every node.
CREATE TABLE counters (
    name   TEXT   PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('keys', 0), ('audit', 0), ('messages', 0);

-- Login sessions. The session token itself is never stored: it is derived from the server's
-- session key, the id and the salt (see src/auth/session.rs), so this table holds no secret.
CREATE TABLE sessions (
    id          TEXT    PRIMARY KEY,
    salt        BYTEA   NOT NULL,
    owner_id    TEXT    NOT NULL REFERENCES owners (id),
    key_id      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    ended_at    BIGINT,
    end_reason  TEXT
);
CREATE INDEX sessions_key_id ON sessions (key_id);
CREATE INDEX sessions_owner_id ON sessions (owner_id);

-- The audit trail: append-only, each row carrying the hash of the previous one. `extra` is
-- TEXT, not JSONB: the hash covers its exact bytes.
CREATE TABLE audit_events (
    seq         BIGINT  PRIMARY KEY,
    at_ms       BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    route       TEXT,
    message     TEXT    NOT NULL,
    context     TEXT    NOT NULL,
    owner_id    TEXT,
    key_id      TEXT,
    client      TEXT,
    extra       TEXT    NOT NULL DEFAULT '{}',
    prev_hash   BYTEA   NOT NULL,
    hash        BYTEA   NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at_ms);
CREATE INDEX audit_events_kind ON audit_events (kind);

-- The message drop (seed 004). Rows are found by a hash of the message id and hold the body
-- encrypted under a key derived from that id: the database alone yields neither the URLs nor
-- the messages.
CREATE TABLE messages (
    lookup      TEXT    PRIMARY KEY,
    sealed      BYTEA   NOT NULL,
    burn        BOOLEAN NOT NULL,
    delete_hash TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX messages_expiry ON messages (expires_at);

-- The live-message count is kept by triggers, so every writer keeps it right: every node, an
-- operator clearing the table by hand, a restored backup.
CREATE FUNCTION messages_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE counters SET value = value + 1 WHERE name = 'messages';
    ELSE
        UPDATE counters SET value = value - 1 WHERE name = 'messages';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_counted AFTER INSERT OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_counted();

-- One-time values (signature nonces, envelope token ids) remembered by the database, so a
-- cluster without Redis is still replay-safe. Only a digest of the value is kept.
CREATE TABLE nonces (
    digest      BYTEA  PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX nonces_expiry ON nonces (expires_at);
