-- Login sessions. The session token itself is never stored: it is derived from the server's
-- session key, the id and the salt (see src/auth/session.rs), so this table holds no secret.
CREATE TABLE sessions (
    id          TEXT    PRIMARY KEY,
    salt        BLOB    NOT NULL,
    owner_id    TEXT    NOT NULL REFERENCES owners (id),
    key_id      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    ended_at    BIGINT,
    end_reason  TEXT
);
CREATE INDEX sessions_key_id ON sessions (key_id);
CREATE INDEX sessions_owner_id ON sessions (owner_id);

-- The audit trail: append-only, each row carrying the hash of the previous one.
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
    prev_hash   BLOB    NOT NULL,
    hash        BLOB    NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at_ms);
CREATE INDEX audit_events_kind ON audit_events (kind);
