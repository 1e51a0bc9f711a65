//! Credentials: argon2id password hashing on a bounded pool of its own, and stateless
//! HS256 access tokens; the waiting room's admission tokens and place tickets.

mod admission;
mod hash_pool;
mod labelled_key;
mod password;
mod place_ticket;
mod token;

pub use admission::AdmissionCodec;
pub use hash_pool::{Busy, HashPool, HashPoolSettings, Lost};
pub use password::{Argon2Hasher, Argon2Settings};
pub use place_ticket::PlaceTicketCodec;
pub use token::{AccessClaims, Principal, TokenCodec, TokenError};
