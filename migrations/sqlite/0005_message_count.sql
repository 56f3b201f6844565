-- Live messages, kept in step by every insert and delete, so that a cap on the drop's size
-- costs one row update rather than a count of the table.
INSERT INTO counters (name, value) SELECT 'messages', COUNT(*) FROM messages;
