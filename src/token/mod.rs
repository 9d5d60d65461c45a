//! Everything about the JWT the registry verifies: the signing key and its identifiers
//! (libtrust `kid` for distribution 2.x, RFC 7638 thumbprint for 3.x, `x5c` for both), the
//! claim set, the signer, and the ring of keys a rotation goes through (kept in the database).

mod claims;
mod der;
mod key_id;
mod key_ring;
mod key_sealer;
mod pem;
mod signer;
mod signing_key;

pub use claims::{Access, Claims};

/// The SubjectPublicKeyInfo (DER) of an X.509 certificate (DER).
pub fn cert_spki(cert: &[u8]) -> Option<Vec<u8>> {
    der::cert_info(cert).map(|c| c.spki)
}
pub use key_id::{jwk_thumbprint, libtrust_key_id, PublicJwk};
pub use key_ring::{KeyRing, KeyState, RingError, RingKey, REGISTRY_LEEWAY};
pub use key_sealer::{KeySealer, KEK_FILE};
pub use pem::{decode_pem, encode_pem, PemBlock};
pub use signer::{ActiveKey, IssuedToken, KeySlot, TokenSigner};
pub use signing_key::{KeyError, KeyFiles, SigningKey};
