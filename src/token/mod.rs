//! Everything about the JWT the registry verifies: the signing key and its identifiers
//! (libtrust `kid` for distribution 2.x, RFC 7638 thumbprint for 3.x, `x5c` for both), the
//! claim set, and the signer. Pure apart from reading and writing the key files.

mod claims;
mod der;
mod key_id;
mod pem;
mod signer;
mod signing_key;

pub use claims::{Access, Claims};
pub use key_id::{jwk_thumbprint, libtrust_key_id, PublicJwk};
pub use pem::{decode_pem, encode_pem, PemBlock};
pub use signer::{IssuedToken, TokenSigner};
pub use signing_key::{KeyError, KeyFiles, SigningKey};
