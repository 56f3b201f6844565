-- Per-key rate limit (e.g. "100/min") and usage quota.
ALTER TABLE api_keys ADD COLUMN rate_limit TEXT;
ALTER TABLE api_keys ADD COLUMN quota_limit BIGINT;
ALTER TABLE api_keys ADD COLUMN quota_refill TEXT;
-- When the quota was last set: a new setting starts a fresh count.
ALTER TABLE api_keys ADD COLUMN quota_set_at BIGINT;
-- Uses counted in the period starting at quota_period_start, as last flushed.
ALTER TABLE api_keys ADD COLUMN quota_used BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN quota_period_start BIGINT;
