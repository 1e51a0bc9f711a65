-- Refresh tokens of login sessions (crates/domain/src/session.rs). A row is one token,
-- keyed by the SHA-256 of the secret (64 lowercase hex digits; the secret itself is
-- never stored); family_id is the login it descends from. Ids and times as in 0001.
--
-- WITHOUT ROWID: every read is by token_hash, so the primary key is the table and a
-- lookup is one B-tree descent, not an index probe plus a rowid fetch.
-- No foreign key to users: the role is copied onto the row so a refresh never reads
-- users, and users are never deleted.
CREATE TABLE refresh_tokens (
    token_hash TEXT    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 64),
    family_id  BLOB    NOT NULL,
    user_id    BLOB    NOT NULL,
    role       TEXT    NOT NULL CHECK (role IN ('ADMIN', 'USER')),
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
) WITHOUT ROWID;
-- Revoking a family (a reuse, a logout) updates every token of one login: a range read
-- of this index instead of a scan of every token ever issued.
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
