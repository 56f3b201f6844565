-- One-time values (signature nonces, envelope token ids) remembered by the database, for
-- nodes that share it without Redis. Only a digest of the value is kept, until it expires.
CREATE TABLE nonces (
    digest      BLOB   PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX nonces_expiry ON nonces (expires_at);
