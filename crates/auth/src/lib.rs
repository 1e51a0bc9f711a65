//! Credentials: argon2id password hashing and stateless HS256 access tokens.

mod password;
mod token;

pub use password::Argon2Hasher;
pub use token::{AccessClaims, Principal, TokenCodec, TokenError};
