-- Refresh tokens of login sessions (crates/domain/src/session.rs), shared by every api
-- node so a token used or revoked on one is refused on all. A row is one token, keyed
-- by the SHA-256 of the secret (64 lowercase hex digits; the secret itself is never
-- stored); family_id is the login it descends from. Ids and times as in 0001.
--
-- The primary key is the hash: every read is by it, and InnoDB clusters the row with
-- it. Hashes arrive in random order, so inserts land at random pages; at one row per
-- login or refresh that costs nothing next to issued_coupons.
-- ascii_bin: hex digits need one byte each (utf8mb4 would reserve four per character
-- in the key) and compare byte for byte.
-- No foreign key to users: InnoDB would add an index on user_id and check it per
-- insert; the role is copied onto the row so a refresh never reads users, and users
-- are never deleted.
CREATE TABLE refresh_tokens (
    token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    family_id  BINARY(16) NOT NULL,
    user_id    BINARY(16) NOT NULL,
    role       VARCHAR(8) NOT NULL,
    issued_at  BIGINT     NOT NULL,
    expires_at BIGINT     NOT NULL,
    used_at    BIGINT     NULL,
    revoked_at BIGINT     NULL,
    CONSTRAINT refresh_tokens_hash_length CHECK (CHAR_LENGTH(token_hash) = 64),
    CONSTRAINT refresh_tokens_role_known CHECK (role IN ('ADMIN', 'USER'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
-- Revoking a family (a reuse, a logout) updates every token of one login: a range of
-- this index instead of a scan of every token ever issued. It also bounds what the
-- revoking UPDATE locks to that family's rows, so revocations of different sessions do
-- not wait for each other.
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
