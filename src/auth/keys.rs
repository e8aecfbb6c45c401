//! Verification keys, each paired with the one algorithm it allows: PEM public keys (RSA →
//! RS256, EC P-256 → ES256), JWKS entries (by `kty`/`crv`, with `alg` agreeing when present),
//! and the HS256 dev secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Shortest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// A key and the only algorithm it verifies.
#[derive(Debug, Clone)]
pub(crate) struct VerificationKey {
    pub(crate) algorithm: Algorithm,
    pub(crate) key: DecodingKey,
}

impl VerificationKey {
    /// The HS256 key of the dev secret.
    pub(crate) fn dev_secret(secret: &str) -> Result<Self, String> {
        let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|e| e.to_string())?;
        Ok(VerificationKey {
            algorithm: Algorithm::HS256,
            key,
        })
    }

    /// A PEM public key: `PUBLIC KEY` (SPKI) holding RSA or EC P-256, or `RSA PUBLIC KEY`
    /// (PKCS#1). Private keys and certificates are refused with a hint.
    pub(crate) fn from_public_pem(pem: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(pem).map_err(|_| "not a PEM text file".to_owned())?;
        match pem_label(text) {
            Some("PUBLIC KEY" | "RSA PUBLIC KEY") => {}
            Some(label) if label.contains("PRIVATE KEY") => {
                return Err(
                    "it holds a private key; give the public key (openssl pkey -pubout)".to_owned(),
                );
            }
            Some(label) if label.contains("CERTIFICATE") => {
                return Err("it holds a certificate; give its public key \
                     (openssl x509 -pubkey -noout)"
                    .to_owned());
            }
            Some(label) => return Err(format!("unsupported PEM block {label:?}")),
            None => return Err("no PEM block found".to_owned()),
        }

        if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            let jwk = Jwk::from_decoding_key(&key, Some(Algorithm::RS256))
                .map_err(|e| format!("invalid RSA public key: {e}"))?;
            if let AlgorithmParameters::RSA(params) = &jwk.algorithm {
                check_rsa_modulus(&params.n)?;
            }
            return checked(Algorithm::RS256, key);
        }
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            let jwk = Jwk::from_decoding_key(&key, None)
                .map_err(|e| format!("invalid EC public key: {e}"))?;
            return match &jwk.algorithm {
                AlgorithmParameters::EllipticCurve(params)
                    if params.curve == EllipticCurve::P256 =>
                {
                    checked(Algorithm::ES256, key)
                }
                AlgorithmParameters::EllipticCurve(params) => Err(format!(
                    "EC key on curve {:?}; only P-256 (ES256) is supported",
                    params.curve
                )),
                _ => Err("invalid EC public key".to_owned()),
            };
        }
        Err("neither an RSA nor an EC P-256 public key".to_owned())
    }

    /// A JWKS entry, or why it is skipped. Only signature keys of kty RSA (RS256) or EC P-256
    /// (ES256) are used; an `alg` field, when present, must name that same algorithm.
    pub(crate) fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        if let Some(key_use) = &jwk.common.public_key_use
            && *key_use != PublicKeyUse::Signature
        {
            return Err(format!("use is {key_use:?}, not sig"));
        }
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(params) => {
                check_rsa_modulus(&params.n)?;
                Algorithm::RS256
            }
            AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::EllipticCurve(params) => {
                return Err(format!("unsupported curve {:?}", params.curve));
            }
            _ => return Err("unsupported key type (only RSA and EC P-256)".to_owned()),
        };
        if let Some(declared) = jwk.common.key_algorithm
            && declared != KeyAlgorithm::from(algorithm)
        {
            return Err(format!(
                "alg {declared} does not match the key type (expected {algorithm:?})"
            ));
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("invalid key: {e}"))?;
        checked(algorithm, key)
    }
}

/// Builds the verifier once so that a malformed key fails here rather than on every request.
fn checked(algorithm: Algorithm, key: DecodingKey) -> Result<VerificationKey, String> {
    let provider = CryptoProvider::try_get_default()
        .ok_or_else(|| "no JWT crypto provider is available".to_owned())?;
    (provider.verifier_factory)(&algorithm, &key).map_err(|e| format!("invalid key: {e}"))?;
    Ok(VerificationKey { algorithm, key })
}

fn check_rsa_modulus(n_base64url: &str) -> Result<(), String> {
    let n = URL_SAFE_NO_PAD
        .decode(n_base64url.trim_end_matches('='))
        .map_err(|_| "RSA modulus is not base64url".to_owned())?;
    let significant = n.iter().skip_while(|byte| **byte == 0).count();
    if significant < MIN_RSA_MODULUS_BYTES {
        return Err(format!(
            "RSA key of {} bits; at least 2048 are required",
            significant * 8
        ));
    }
    Ok(())
}

/// The label of the first PEM block (`PUBLIC KEY` for `-----BEGIN PUBLIC KEY-----`).
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &text[start..];
    let end = rest.find("-----")?;
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::keys;

    #[test]
    fn rsa_pem_allows_rs256_only() {
        let key = VerificationKey::from_public_pem(keys::RSA_PUBLIC.as_bytes()).expect("rsa key");
        assert_eq!(key.algorithm, Algorithm::RS256);
        let key =
            VerificationKey::from_public_pem(keys::RSA_PUBLIC_PKCS1.as_bytes()).expect("pkcs1 key");
        assert_eq!(key.algorithm, Algorithm::RS256);
    }

    #[test]
    fn ec_p256_pem_allows_es256_only() {
        let key = VerificationKey::from_public_pem(keys::EC_PUBLIC.as_bytes()).expect("ec key");
        assert_eq!(key.algorithm, Algorithm::ES256);
    }

    #[test]
    fn other_curves_private_keys_and_garbage_are_refused() {
        let err = VerificationKey::from_public_pem(keys::EC_P384_PUBLIC.as_bytes())
            .expect_err("P-384 must be refused");
        assert!(err.contains("P-256"), "{err}");
        let err = VerificationKey::from_public_pem(keys::RSA_PRIVATE.as_bytes())
            .expect_err("a private key must be refused");
        assert!(err.contains("private key"), "{err}");
        let err = VerificationKey::from_public_pem(b"hello").expect_err("garbage");
        assert!(err.contains("no PEM block"), "{err}");
        let err = VerificationKey::from_public_pem(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .expect_err("a broken key");
        assert!(!err.is_empty());
    }

    #[test]
    fn jwk_algorithm_follows_the_key_type_and_must_agree_with_alg() {
        let rsa = keys::rsa_jwk(keys::RSA_PUBLIC, "k1");
        assert_eq!(
            VerificationKey::from_jwk(&rsa).expect("rsa jwk").algorithm,
            Algorithm::RS256
        );
        let ec = keys::ec_jwk(keys::EC_PUBLIC, "e1");
        assert_eq!(
            VerificationKey::from_jwk(&ec).expect("ec jwk").algorithm,
            Algorithm::ES256
        );

        let mut lying = rsa.clone();
        lying.common.key_algorithm = Some(KeyAlgorithm::ES256);
        assert!(VerificationKey::from_jwk(&lying).is_err());
        let mut hmac_claim = rsa.clone();
        hmac_claim.common.key_algorithm = Some(KeyAlgorithm::HS256);
        assert!(VerificationKey::from_jwk(&hmac_claim).is_err());
        let mut encryption = rsa;
        encryption.common.public_key_use = Some(PublicKeyUse::Encryption);
        assert!(VerificationKey::from_jwk(&encryption).is_err());
    }

    #[test]
    fn symmetric_jwks_entries_are_never_used() {
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "oct", "kid": "s1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "alg": "HS256"
        }))
        .expect("oct jwk");
        assert!(VerificationKey::from_jwk(&jwk).is_err());
    }
}
