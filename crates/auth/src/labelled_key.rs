//! HS256 under a key derived from the server secret and a label, for the waiting
//! room's tokens: each kind has its label, so none passes for another, nor for an
//! access token (signed with the secret itself).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

pub(crate) struct LabelledKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl LabelledKey {
    /// `label` names the kind of token (with a version: changing it voids the old ones).
    /// Tokens must carry `exp` and `sub`; no leeway on expiry.
    pub(crate) fn new(label: &[u8], secret: &[u8]) -> Self {
        let key = Sha256::new()
            .chain_update(label)
            .chain_update(b"\0")
            .chain_update(secret)
            .finalize();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
        }
    }

    pub(crate) fn sign(&self, claims: &impl Serialize) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The claims of a token signed with this key and not expired.
    pub(crate) fn verify<C: DeserializeOwned>(&self, token: &str) -> Option<C> {
        jsonwebtoken::decode::<C>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}
