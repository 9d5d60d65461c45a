//! The independent floor of the token benchmark: the least any token server can do per
//! request. A minimal actix-web server with two workers that answers every request with one
//! freshly ES256-signed token of the shape portcullis issues (`x5c` included, a unique `jti`
//! from the system's random number generator), built with ring and nothing of portcullis.
//!
//! Built only for the benchmark: `cargo build --release --features bench-floor --bin
//! portcullis-floor` (`scripts/bench.sh` does it). Usage: `portcullis-floor ADDR`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{web, App, HttpResponse, HttpServer};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    /// `base64url(header).`: the header (with its `x5c`) never changes for a key.
    header: String,
}

impl Signer {
    fn new() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("a P-256 key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the key just made");
        // A certificate-sized x5c entry (what a self-signed P-256 certificate weighs) and a
        // libtrust-shaped kid: the floor signs the same bytes portcullis does.
        let mut cert = vec![0u8; 400];
        rng.fill(&mut cert).expect("random");
        cert[..65].copy_from_slice(key.public_key().as_ref());
        let header = format!(
            r#"{{"alg":"ES256","kid":"ABCD:EFGH:IJKL:MNOP:QRST:UVWX:YZ23:4567:ABCD:EFGH:IJKL:MNOP","typ":"JWT","x5c":["{}"]}}"#,
            BASE64.encode(&cert)
        );
        Signer {
            key,
            rng,
            header: format!("{}.", BASE64URL_NOPAD.encode(header.as_bytes())),
        }
    }

    fn body(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let mut id = [0u8; 16];
        self.rng.fill(&mut id).expect("random");
        let claims = format!(
            r#"{{"iss":"portcullis","sub":"bench","aud":"bench","exp":{},"nbf":{},"iat":{now},"jti":"{}","access":[{{"type":"repository","name":"team/app","actions":["pull","push"]}}]}}"#,
            now + 300,
            now - 10,
            BASE64URL_NOPAD.encode(&id)
        );
        let mut token = self.header.clone();
        token.push_str(&BASE64URL_NOPAD.encode(claims.as_bytes()));
        let sig = self.key.sign(&self.rng, token.as_bytes()).expect("signing");
        token.push('.');
        token.push_str(&BASE64URL_NOPAD.encode(sig.as_ref()));
        format!(
            r#"{{"token":"{token}","access_token":"{token}","expires_in":300,"issued_at":"{now}"}}"#
        )
    }
}

async fn token(signer: web::Data<Signer>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .body(signer.body())
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5002".into());
    let signer = web::Data::from(Arc::new(Signer::new()));
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(signer.clone())
                .default_service(web::to(token))
        })
        .workers(2)
        .bind(addr)?
        .run()
        .await
    })
}
