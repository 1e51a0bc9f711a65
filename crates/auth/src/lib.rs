//! Credentials: argon2id password hashing on a bounded pool of its own, and stateless
//! HS256 access tokens.

mod admission;
mod hash_pool;
mod password;
mod token;

pub use admission::AdmissionCodec;
pub use hash_pool::{Busy, HashPool, HashPoolSettings, Lost};
pub use password::{Argon2Hasher, Argon2Settings};
pub use token::{AccessClaims, Principal, TokenCodec, TokenError};
