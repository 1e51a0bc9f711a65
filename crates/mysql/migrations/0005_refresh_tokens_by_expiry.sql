-- Expired refresh tokens are purged in batches (Sessions::purge_expired, hourly): a
-- range read of this index instead of a scan of every token ever issued.
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
