-- The message drop (seed 004). Rows are found by a hash of the message id and hold the body
-- encrypted under a key derived from that id: the database alone yields neither the URLs nor
-- the messages.
CREATE TABLE messages (
    lookup      TEXT PRIMARY KEY,
    sealed      BLOB NOT NULL,
    burn        INTEGER NOT NULL,
    delete_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX messages_expiry ON messages (expires_at);
