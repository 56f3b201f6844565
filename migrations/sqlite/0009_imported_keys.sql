-- Keys imported from another system (their hash only; the key string is the client's own):
-- `source` tells them from the keys issued here, and an imported key is found by its hash,
-- so a hash may belong to one key only.
ALTER TABLE api_keys ADD COLUMN source TEXT NOT NULL DEFAULT 'issued'
    CHECK (source IN ('issued', 'imported'));
CREATE UNIQUE INDEX api_keys_key_hash ON api_keys (key_hash);
-- Whether any imported key exists at all, answered without a scan: until one does, a string
-- that is not one of our keys is refused without a look-up.
CREATE INDEX api_keys_imported ON api_keys (source) WHERE source = 'imported';
