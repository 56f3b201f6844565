-- Owners: the users and applications that hold keys (seed 003's "User 1", "App 1").
CREATE TABLE owners (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('user', 'app')),
    created_at  BIGINT  NOT NULL
);

-- API keys. Only the SHA-256 of the key string is kept; `id` is the public part of the key.
CREATE TABLE api_keys (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    owner_id      TEXT    NOT NULL REFERENCES owners (id),
    role          TEXT    NOT NULL,
    label         TEXT,
    key_hash      BLOB    NOT NULL,
    metadata      TEXT    NOT NULL DEFAULT '{}',
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT,
    replaced_by   TEXT,
    -- Value of counters('keys') at the key's last change: lets every process find changed keys.
    revision      BIGINT  NOT NULL
);
CREATE INDEX api_keys_owner_id ON api_keys (owner_id);
CREATE INDEX api_keys_revision ON api_keys (revision);

CREATE TABLE counters (
    name   TEXT   PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('keys', 0);
