-- The live-message count is kept by triggers, so every writer keeps it right: the server,
-- an operator clearing the table by hand, a restored backup. Resynchronised once here.
CREATE TRIGGER messages_counted_insert AFTER INSERT ON messages
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'messages';
END;
CREATE TRIGGER messages_counted_delete AFTER DELETE ON messages
BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'messages';
END;
UPDATE counters SET value = (SELECT COUNT(*) FROM messages) WHERE name = 'messages';
