//! Verifier tests with real keys (`tests/fixtures/keys/`) and a loopback JWKS server.

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::KeyAlgorithm;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::auth::mint_dev_token;
use crate::auth::test_support::jwks_server::JwksServer;
use crate::auth::test_support::keys;
use crate::auth::test_support::tokens::{self, claims, claims_with, now};

const DEV_SECRET: &str = "a-dev-secret-for-tests-only";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

fn verifier(config: AuthConfig) -> Verifier {
    Verifier::from_config(&config).expect("a valid configuration")
}

fn rsa_pem_config() -> AuthConfig {
    AuthConfig {
        public_key_pem: Some(fixture("rsa-public.pem")),
        ..AuthConfig::default()
    }
}

fn rsa_verifier() -> Verifier {
    verifier(rsa_pem_config())
}

fn jwks_verifier(url: String, settings: JwksSettings) -> Verifier {
    let config = AuthConfig {
        jwks_url: Some(url),
        ..AuthConfig::default()
    };
    Verifier::from_config_with(&config, settings).expect("a valid configuration")
}

fn no_refetch_limit() -> JwksSettings {
    JwksSettings {
        min_refetch_interval: Duration::ZERO,
        ..JwksSettings::default()
    }
}

async fn accepted(verifier: &Verifier, token: &str) -> String {
    match verifier.verify(token).await {
        Ok(user) => user.sub,
        Err(error) => panic!("token refused: {error}"),
    }
}

async fn refused(verifier: &Verifier, token: &str) -> AuthError {
    match verifier.verify(token).await {
        Ok(user) => panic!("token accepted for {:?}", user.sub),
        Err(error) => error,
    }
}

fn rejected_kind(error: &AuthError) -> Option<&ErrorKind> {
    match error {
        AuthError::Rejected(inner) => Some(inner.kind()),
        _ => None,
    }
}

// ---- keys and algorithms ----

#[tokio::test]
async fn valid_rs256_token_with_the_pem_key_passes() {
    let token = tokens::rs256(&claims("user_rsa"));
    assert_eq!(accepted(&rsa_verifier(), &token).await, "user_rsa");
}

#[tokio::test]
async fn pkcs1_rsa_pem_is_accepted_too() {
    let verifier = verifier(AuthConfig {
        public_key_pem: Some(fixture("rsa-public-pkcs1.pem")),
        ..AuthConfig::default()
    });
    let token = tokens::rs256(&claims("user_rsa"));
    assert_eq!(accepted(&verifier, &token).await, "user_rsa");
}

#[tokio::test]
async fn valid_es256_token_with_the_pem_key_passes() {
    let verifier = verifier(AuthConfig {
        public_key_pem: Some(fixture("ec-p256-public.pem")),
        ..AuthConfig::default()
    });
    let token = tokens::sign(
        Algorithm::ES256,
        &tokens::ec_key(),
        None,
        &claims("user_ec"),
    );
    assert_eq!(accepted(&verifier, &token).await, "user_ec");
    // The EC key allows ES256 only: an RS256 token finds no key.
    let rs256 = tokens::rs256(&claims("user_ec"));
    assert!(matches!(
        refused(&verifier, &rs256).await,
        AuthError::NoKeyForAlgorithm(Algorithm::RS256)
    ));
}

#[tokio::test]
async fn dev_token_from_mint_dev_token_passes() {
    let verifier = verifier(AuthConfig {
        dev_secret: Some(DEV_SECRET.to_owned()),
        ..AuthConfig::default()
    });
    let token = mint_dev_token(DEV_SECRET, "user_dev", Duration::from_secs(60)).expect("mint");
    assert_eq!(accepted(&verifier, &token).await, "user_dev");

    let forged =
        mint_dev_token("another-secret", "user_dev", Duration::from_secs(60)).expect("mint");
    assert_eq!(
        rejected_kind(&refused(&verifier, &forged).await),
        Some(&ErrorKind::InvalidSignature)
    );
}

#[tokio::test]
async fn verifier_minted_dev_token_carries_the_configured_iss_and_aud() {
    let verifier = verifier(AuthConfig {
        dev_secret: Some(DEV_SECRET.to_owned()),
        issuer: Some("https://issuer.test".to_owned()),
        audience: Some("usage-api".to_owned()),
        ..AuthConfig::default()
    });
    let token = verifier
        .mint_dev_token("user_dev", Duration::from_secs(60))
        .expect("mint");
    assert_eq!(accepted(&verifier, &token).await, "user_dev");
    // The plain dev token lacks them and is refused by this verifier.
    let plain = mint_dev_token(DEV_SECRET, "user_dev", Duration::from_secs(60)).expect("mint");
    assert!(refused(&verifier, &plain).await.to_string().contains("iss"));

    let without_secret = rsa_verifier();
    assert!(matches!(
        without_secret.mint_dev_token("user_dev", Duration::from_secs(60)),
        Err(AuthSetupError::NoDevSecret)
    ));
}

#[tokio::test]
async fn token_signed_by_another_key_fails() {
    let token = tokens::sign(
        Algorithm::RS256,
        &tokens::rsa_other_key(),
        None,
        &claims("user_rsa"),
    );
    assert_eq!(
        rejected_kind(&refused(&rsa_verifier(), &token).await),
        Some(&ErrorKind::InvalidSignature)
    );
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_bytes_fails() {
    let confused = tokens::hs256(keys::RSA_PUBLIC.as_bytes(), &claims("attacker"));
    // Only the RSA key configured: no key accepts HS256 at all.
    assert!(matches!(
        refused(&rsa_verifier(), &confused).await,
        AuthError::NoKeyForAlgorithm(Algorithm::HS256)
    ));
    // With a dev secret too, HS256 is checked against that secret only.
    let both = verifier(AuthConfig {
        dev_secret: Some(DEV_SECRET.to_owned()),
        ..rsa_pem_config()
    });
    assert_eq!(
        rejected_kind(&refused(&both, &confused).await),
        Some(&ErrorKind::InvalidSignature)
    );
    // And the RSA key still works in the same verifier.
    assert_eq!(
        accepted(&both, &tokens::rs256(&claims("user_rsa"))).await,
        "user_rsa"
    );
}

#[tokio::test]
async fn alg_none_is_never_accepted() {
    let all_sources = verifier(AuthConfig {
        dev_secret: Some(DEV_SECRET.to_owned()),
        ..rsa_pem_config()
    });
    let token = tokens::unsigned(&claims("attacker"));
    assert!(matches!(
        refused(&all_sources, &token).await,
        AuthError::Malformed(_)
    ));
}

#[tokio::test]
async fn missing_garbage_and_malformed_tokens_fail() {
    let verifier = rsa_verifier();
    assert!(matches!(
        refused(&verifier, "").await,
        AuthError::MissingToken
    ));
    for garbage in [
        "garbage",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "....",
        "eyJhbGciOiJSUzI1NiJ9",
        "eyJub3QiOiJhIGhlYWRlciJ9.e30.c2ln",
    ] {
        assert!(
            matches!(refused(&verifier, garbage).await, AuthError::Malformed(_)),
            "{garbage}"
        );
    }
    // A tampered payload.
    let token = tokens::rs256(&claims("user"));
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = "bm90IGpzb24";
    let broken = parts.join(".");
    assert!(rejected_kind(&refused(&verifier, &broken).await).is_some());

    let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert!(matches!(
        refused(&verifier, &huge).await,
        AuthError::TooLong { .. }
    ));
}

#[tokio::test]
async fn critical_header_extensions_are_refused() {
    let mut header = Header::new(Algorithm::RS256);
    header.crit = Some(vec!["exp".to_owned()]);
    let token = jsonwebtoken::encode(&header, &claims("user"), &tokens::rsa_key()).expect("sign");
    assert!(matches!(
        refused(&rsa_verifier(), &token).await,
        AuthError::CriticalHeader
    ));
}

#[tokio::test]
async fn kid_without_jwks_uses_the_key_for_the_algorithm() {
    let token = tokens::sign(
        Algorithm::RS256,
        &tokens::rsa_key(),
        Some("some-kid"),
        &claims("user_rsa"),
    );
    assert_eq!(accepted(&rsa_verifier(), &token).await, "user_rsa");
}

#[tokio::test]
async fn authenticate_reads_the_bearer_token_or_the_session_cookie() {
    use axum::http::{HeaderMap, HeaderValue};
    let verifier = rsa_verifier();
    let token = tokens::rs256(&claims("user_rsa"));

    let mut bearer = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    bearer.insert("authorization", value);
    let user = verifier.authenticate(&bearer).await.expect("bearer");
    assert_eq!(
        user,
        VerifiedUser {
            sub: "user_rsa".to_owned()
        }
    );

    let mut cookie = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("theme=dark; __session={token}")).expect("header");
    cookie.insert("cookie", value);
    assert_eq!(
        verifier.authenticate(&cookie).await.expect("cookie").sub,
        "user_rsa"
    );

    assert!(matches!(
        verifier.authenticate(&HeaderMap::new()).await,
        Err(AuthError::MissingToken)
    ));
}

// ---- time claims ----

#[tokio::test]
async fn expiry_has_a_leeway_of_five_seconds() {
    let verifier = rsa_verifier();
    let just_expired = tokens::rs256(&claims_with("user", |c| {
        c.insert("exp".into(), json!(now() - 3));
    }));
    assert_eq!(accepted(&verifier, &just_expired).await, "user");

    let expired = tokens::rs256(&claims_with("user", |c| {
        c.insert("exp".into(), json!(now() - 10));
    }));
    assert_eq!(
        rejected_kind(&refused(&verifier, &expired).await),
        Some(&ErrorKind::ExpiredSignature)
    );
}

#[tokio::test]
async fn not_before_is_honoured_with_the_same_leeway() {
    let verifier = rsa_verifier();
    let future = tokens::rs256(&claims_with("user", |c| {
        c.insert("nbf".into(), json!(now() + 60));
    }));
    assert_eq!(
        rejected_kind(&refused(&verifier, &future).await),
        Some(&ErrorKind::ImmatureSignature)
    );
    let almost = tokens::rs256(&claims_with("user", |c| {
        c.insert("nbf".into(), json!(now() + 3));
    }));
    assert_eq!(accepted(&verifier, &almost).await, "user");
    let malformed = tokens::rs256(&claims_with("user", |c| {
        c.insert("nbf".into(), json!("later"));
    }));
    assert!(rejected_kind(&refused(&verifier, &malformed).await).is_some());
}

#[tokio::test]
async fn exp_is_required_and_must_be_a_number() {
    let verifier = rsa_verifier();
    let missing = tokens::rs256(&claims_with("user", |c| {
        c.remove("exp");
    }));
    assert_eq!(
        rejected_kind(&refused(&verifier, &missing).await),
        Some(&ErrorKind::MissingRequiredClaim("exp".into()))
    );
    for bad in [json!("soon"), json!(null), json!(-5), json!({"at": 1})] {
        let token = tokens::rs256(&claims_with("user", |c| {
            c.insert("exp".into(), bad.clone());
        }));
        assert!(
            rejected_kind(&refused(&verifier, &token).await).is_some(),
            "exp {bad}"
        );
    }
}

// ---- sub ----

#[tokio::test]
async fn sub_must_be_a_non_empty_string() {
    let verifier = rsa_verifier();
    let missing = tokens::rs256(&claims_with("user", |c| {
        c.remove("sub");
    }));
    assert!(rejected_kind(&refused(&verifier, &missing).await).is_some());
    for bad in [json!(123), json!(null), json!(["user"]), json!(true)] {
        let token = tokens::rs256(&claims_with("user", |c| {
            c.insert("sub".into(), bad.clone());
        }));
        assert!(
            rejected_kind(&refused(&verifier, &token).await).is_some(),
            "sub {bad}"
        );
    }
    let empty = tokens::rs256(&claims(""));
    assert!(matches!(
        refused(&verifier, &empty).await,
        AuthError::EmptySubject
    ));
}

// ---- iss, aud, azp ----

fn with_issuer() -> Verifier {
    verifier(AuthConfig {
        issuer: Some("https://issuer.test".to_owned()),
        ..rsa_pem_config()
    })
}

#[tokio::test]
async fn iss_must_equal_the_configured_issuer() {
    let verifier = with_issuer();
    let good = tokens::rs256(&claims_with("user", |c| {
        c.insert("iss".into(), json!("https://issuer.test"));
    }));
    assert_eq!(accepted(&verifier, &good).await, "user");

    let wrong = tokens::rs256(&claims_with("user", |c| {
        c.insert("iss".into(), json!("https://evil.test"));
    }));
    assert_eq!(
        rejected_kind(&refused(&verifier, &wrong).await),
        Some(&ErrorKind::InvalidIssuer)
    );
    let missing = tokens::rs256(&claims("user"));
    assert_eq!(
        rejected_kind(&refused(&verifier, &missing).await),
        Some(&ErrorKind::MissingRequiredClaim("iss".into()))
    );
    let list = tokens::rs256(&claims_with("user", |c| {
        c.insert("iss".into(), json!(["https://issuer.test", "x"]));
    }));
    assert!(rejected_kind(&refused(&verifier, &list).await).is_some());
}

#[tokio::test]
async fn iss_of_the_wrong_type_fails() {
    let token = tokens::rs256(&claims_with("user", |c| {
        c.insert("iss".into(), json!(123));
    }));
    assert!(rejected_kind(&refused(&with_issuer(), &token).await).is_some());
    // Malformed even when no issuer is configured.
    assert!(rejected_kind(&refused(&rsa_verifier(), &token).await).is_some());
}

#[tokio::test]
async fn aud_must_contain_the_configured_audience() {
    let verifier = verifier(AuthConfig {
        audience: Some("usage-api".to_owned()),
        ..rsa_pem_config()
    });
    for good in [json!("usage-api"), json!(["other", "usage-api"])] {
        let token = tokens::rs256(&claims_with("user", |c| {
            c.insert("aud".into(), good.clone());
        }));
        assert_eq!(accepted(&verifier, &token).await, "user", "aud {good}");
    }
    for bad in [json!("other"), json!(["other", "more"]), json!([])] {
        let token = tokens::rs256(&claims_with("user", |c| {
            c.insert("aud".into(), bad.clone());
        }));
        assert!(
            rejected_kind(&refused(&verifier, &token).await).is_some(),
            "aud {bad}"
        );
    }
    let missing = tokens::rs256(&claims("user"));
    assert_eq!(
        rejected_kind(&refused(&verifier, &missing).await),
        Some(&ErrorKind::MissingRequiredClaim("aud".into()))
    );
}

#[tokio::test]
async fn aud_is_not_checked_when_no_audience_is_configured() {
    let verifier = rsa_verifier();
    for aud in [json!("someone-else"), json!(["a", "b"])] {
        let token = tokens::rs256(&claims_with("user", |c| {
            c.insert("aud".into(), aud.clone());
        }));
        assert_eq!(accepted(&verifier, &token).await, "user", "aud {aud}");
    }
    // Its type is still checked.
    let malformed = tokens::rs256(&claims_with("user", |c| {
        c.insert("aud".into(), json!(42));
    }));
    assert!(matches!(
        refused(&verifier, &malformed).await,
        AuthError::InvalidClaimType("aud")
    ));
}

#[tokio::test]
async fn azp_must_be_an_authorized_party_when_configured() {
    let verifier = verifier(AuthConfig {
        authorized_parties: vec![
            "https://app.test".to_owned(),
            " https://admin.test ".to_owned(),
            String::new(),
        ],
        ..rsa_pem_config()
    });
    let with_azp = |azp: serde_json::Value| {
        tokens::rs256(&claims_with("user", |c| {
            c.insert("azp".into(), azp);
        }))
    };
    assert_eq!(
        accepted(&verifier, &with_azp(json!("https://app.test"))).await,
        "user"
    );
    assert_eq!(
        accepted(&verifier, &with_azp(json!("https://admin.test"))).await,
        "user"
    );
    assert!(matches!(
        refused(&verifier, &with_azp(json!("https://evil.test"))).await,
        AuthError::UnauthorizedParty(_)
    ));
    assert!(rejected_kind(&refused(&verifier, &with_azp(json!(7))).await).is_some());
    // Without an azp claim there is nothing to check.
    assert_eq!(
        accepted(&verifier, &tokens::rs256(&claims("user"))).await,
        "user"
    );
    // Without configured parties any azp passes.
    assert_eq!(
        accepted(&rsa_verifier(), &with_azp(json!("https://evil.test"))).await,
        "user"
    );
}

// ---- configuration ----

#[test]
fn unreadable_or_unusable_key_files_are_one_line_errors() {
    let missing = fixture("does-not-exist.pem");
    let err = Verifier::from_config(&AuthConfig {
        public_key_pem: Some(missing.clone()),
        ..AuthConfig::default()
    })
    .expect_err("missing file");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot read USAGE_API_JWT_PUBLIC_KEY file {}: ",
            missing.display()
        )),
        "{text}"
    );
    assert!(!text.contains('\n'));

    let private = fixture("rsa-private.pem");
    let err = Verifier::from_config(&AuthConfig {
        public_key_pem: Some(private),
        ..AuthConfig::default()
    })
    .expect_err("private key");
    assert!(
        matches!(err, AuthSetupError::InvalidKeyFile { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("USAGE_API_JWT_PUBLIC_KEY"));

    let p384 = Verifier::from_config(&AuthConfig {
        public_key_pem: Some(fixture("ec-p384-public.pem")),
        ..AuthConfig::default()
    });
    assert!(p384.is_err());
}

#[test]
fn empty_settings_are_refused_rather_than_ignored() {
    for config in [
        AuthConfig {
            issuer: Some(" ".to_owned()),
            ..rsa_pem_config()
        },
        AuthConfig {
            audience: Some(String::new()),
            ..rsa_pem_config()
        },
        AuthConfig {
            dev_secret: Some(String::new()),
            ..AuthConfig::default()
        },
        AuthConfig {
            jwks_url: Some(String::new()),
            ..AuthConfig::default()
        },
    ] {
        let err = Verifier::from_config(&config).expect_err("empty setting");
        assert!(err.to_string().ends_with("is set but empty"), "{err}");
    }
}

#[test]
fn has_any_key_reports_whether_any_source_is_configured() {
    assert!(!verifier(AuthConfig::default()).has_any_key());
    assert!(rsa_verifier().has_any_key());
    assert!(
        verifier(AuthConfig {
            dev_secret: Some(DEV_SECRET.to_owned()),
            ..AuthConfig::default()
        })
        .has_any_key()
    );
    assert!(
        verifier(AuthConfig {
            jwks_url: Some("https://issuer.test/.well-known/jwks.json".to_owned()),
            ..AuthConfig::default()
        })
        .has_any_key()
    );
}

#[tokio::test]
async fn without_keys_every_token_fails() {
    let verifier = verifier(AuthConfig::default());
    let token = tokens::rs256(&claims("user"));
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::NoKeyForAlgorithm(_)
    ));
}

#[test]
fn debug_output_does_not_reveal_the_dev_secret() {
    let config = AuthConfig {
        dev_secret: Some(DEV_SECRET.to_owned()),
        ..rsa_pem_config()
    };
    assert!(!format!("{config:?}").contains(DEV_SECRET));
    assert!(!format!("{:?}", verifier(config)).contains(DEV_SECRET));
}

#[test]
fn verifier_is_shareable_between_tasks() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<Verifier>();
}

// ---- JWKS ----

fn rsa_kid_token(kid: &str, sub: &str) -> String {
    tokens::sign(
        Algorithm::RS256,
        &tokens::rsa_key(),
        Some(kid),
        &claims(sub),
    )
}

#[tokio::test]
async fn jwks_key_is_picked_by_kid() {
    let server = JwksServer::start(vec![
        keys::rsa_jwk(keys::RSA_PUBLIC, "rsa-1"),
        keys::ec_jwk(keys::EC_PUBLIC, "ec-1"),
    ])
    .await;
    let verifier = jwks_verifier(server.url(), JwksSettings::default());
    assert_eq!(server.hits(), 0, "the JWKS is fetched lazily");

    assert_eq!(
        accepted(&verifier, &rsa_kid_token("rsa-1", "user_rsa")).await,
        "user_rsa"
    );
    let ec = tokens::sign(
        Algorithm::ES256,
        &tokens::ec_key(),
        Some("ec-1"),
        &claims("user_ec"),
    );
    assert_eq!(accepted(&verifier, &ec).await, "user_ec");
    assert_eq!(server.hits(), 1, "cached after the first fetch");

    // The right kid does not excuse the wrong key or algorithm.
    let other = tokens::sign(
        Algorithm::RS256,
        &tokens::rsa_other_key(),
        Some("rsa-1"),
        &claims("user"),
    );
    assert_eq!(
        rejected_kind(&refused(&verifier, &other).await),
        Some(&ErrorKind::InvalidSignature)
    );
    let hs256 = tokens::sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(keys::RSA_PUBLIC.as_bytes()).expect("hmac key"),
        Some("rsa-1"),
        &claims("attacker"),
    );
    assert!(matches!(
        refused(&verifier, &hs256).await,
        AuthError::AlgorithmMismatch {
            token: Algorithm::HS256,
            key: Algorithm::RS256
        }
    ));
    // Without a kid, a JWKS-only verifier has no key to pick.
    assert!(matches!(
        refused(&verifier, &tokens::rs256(&claims("user"))).await,
        AuthError::NoKeyForAlgorithm(Algorithm::RS256)
    ));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn jwks_entries_whose_alg_disagrees_with_the_key_are_skipped() {
    let mut lying = keys::rsa_jwk(keys::RSA_PUBLIC, "rsa-1");
    lying.common.key_algorithm = Some(KeyAlgorithm::ES256);
    let server = JwksServer::start(vec![lying]).await;
    let verifier = jwks_verifier(server.url(), JwksSettings::default());
    assert!(matches!(
        refused(&verifier, &rsa_kid_token("rsa-1", "user")).await,
        AuthError::UnknownKeyId(_)
    ));
}

#[tokio::test]
async fn unknown_kid_refetches_and_picks_up_a_rotated_key() {
    let server = JwksServer::start(vec![keys::rsa_jwk(keys::RSA_PUBLIC, "old")]).await;
    let verifier = jwks_verifier(server.url(), no_refetch_limit());
    assert_eq!(
        accepted(&verifier, &rsa_kid_token("old", "user")).await,
        "user"
    );
    assert_eq!(server.hits(), 1);

    // The issuer rotates to a new key under a new kid.
    server.set_keys(vec![keys::rsa_jwk(keys::RSA_OTHER_PUBLIC, "new")]);
    let rotated = tokens::sign(
        Algorithm::RS256,
        &tokens::rsa_other_key(),
        Some("new"),
        &claims("user"),
    );
    assert_eq!(accepted(&verifier, &rotated).await, "user");
    assert_eq!(server.hits(), 2, "one refetch for the unknown kid");
    assert_eq!(accepted(&verifier, &rotated).await, "user");
    assert_eq!(server.hits(), 2);

    // The withdrawn key is no longer accepted.
    assert!(matches!(
        refused(&verifier, &rsa_kid_token("old", "user")).await,
        AuthError::UnknownKeyId(_)
    ));
}

#[tokio::test]
async fn random_kids_within_the_rate_limit_window_cause_no_fetches() {
    let server = JwksServer::start(vec![keys::rsa_jwk(keys::RSA_PUBLIC, "rsa-1")]).await;
    // Signed beforehand, so that the window is not spent signing.
    let random: Vec<String> = (0..20)
        .map(|i| rsa_kid_token(&format!("random-{i}"), "user"))
        .collect();
    let rotated = tokens::sign(
        Algorithm::RS256,
        &tokens::rsa_other_key(),
        Some("rsa-2"),
        &claims("user"),
    );
    let verifier = jwks_verifier(server.url(), JwksSettings::default());
    assert_eq!(
        accepted(&verifier, &rsa_kid_token("rsa-1", "user")).await,
        "user"
    );
    assert_eq!(server.hits(), 1);

    for token in &random {
        assert!(matches!(
            refused(&verifier, token).await,
            AuthError::UnknownKeyId(_)
        ));
    }
    // Even a genuinely new key waits for the window to pass.
    server.set_keys(vec![
        keys::rsa_jwk(keys::RSA_PUBLIC, "rsa-1"),
        keys::rsa_jwk(keys::RSA_OTHER_PUBLIC, "rsa-2"),
    ]);
    assert!(matches!(
        refused(&verifier, &rotated).await,
        AuthError::UnknownKeyId(_)
    ));
    assert_eq!(server.hits(), 1, "no fetch inside the rate-limit window");
    // Known keys keep working meanwhile.
    assert_eq!(
        accepted(&verifier, &rsa_kid_token("rsa-1", "user")).await,
        "user"
    );
}

#[tokio::test]
async fn concurrent_verifications_share_one_fetch() {
    let server = JwksServer::start(vec![keys::rsa_jwk(keys::RSA_PUBLIC, "rsa-1")]).await;
    let verifier = jwks_verifier(server.url(), JwksSettings::default());
    let token = rsa_kid_token("rsa-1", "user");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let verifier = verifier.clone();
            let token = token.clone();
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in futures_util::future::join_all(tasks).await {
        let user = task.expect("task").expect("verified");
        assert_eq!(user.sub, "user");
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn jwks_fetch_failure_is_unauthorized_and_recovers() {
    let server = JwksServer::start(vec![keys::rsa_jwk(keys::RSA_PUBLIC, "rsa-1")]).await;
    server.set_failing(true);
    let token = rsa_kid_token("rsa-1", "user");

    let limited = jwks_verifier(server.url(), JwksSettings::default());
    assert!(matches!(
        refused(&limited, &token).await,
        AuthError::JwksUnavailable(_)
    ));
    // Inside the window the failure is remembered, not retried.
    assert!(matches!(
        refused(&limited, &token).await,
        AuthError::JwksUnavailable(_)
    ));
    assert_eq!(server.hits(), 1);

    let verifier = jwks_verifier(server.url(), no_refetch_limit());
    assert!(matches!(
        refused(&verifier, &token).await,
        AuthError::JwksUnavailable(_)
    ));
    server.set_failing(false);
    assert_eq!(accepted(&verifier, &token).await, "user");
}

#[tokio::test]
async fn unreachable_jwks_is_unauthorized() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let verifier = jwks_verifier(format!("http://{addr}/jwks.json"), JwksSettings::default());
    let error = refused(&verifier, &rsa_kid_token("rsa-1", "user")).await;
    assert!(matches!(error, AuthError::JwksUnavailable(_)), "{error}");
    assert!(verifier.prefetch_jwks().await.is_err());
}

#[tokio::test]
async fn old_keys_are_refreshed_and_kept_when_the_refresh_fails() {
    let server = JwksServer::start(vec![keys::rsa_jwk(keys::RSA_PUBLIC, "rsa-1")]).await;
    let verifier = jwks_verifier(
        server.url(),
        JwksSettings {
            min_refetch_interval: Duration::ZERO,
            max_age: Duration::ZERO,
            ..JwksSettings::default()
        },
    );
    verifier.prefetch_jwks().await.expect("prefetch");
    assert_eq!(server.hits(), 1);
    let token = rsa_kid_token("rsa-1", "user");
    assert_eq!(accepted(&verifier, &token).await, "user");
    assert_eq!(server.hits(), 2, "an old cache is refreshed on use");

    server.set_failing(true);
    assert_eq!(accepted(&verifier, &token).await, "user");
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn several_sources_each_accept_their_own_tokens() {
    let server = JwksServer::start(vec![keys::rsa_jwk(keys::RSA_OTHER_PUBLIC, "jwks-1")]).await;
    let verifier = Verifier::from_config(&AuthConfig {
        jwks_url: Some(server.url()),
        dev_secret: Some(DEV_SECRET.to_owned()),
        ..rsa_pem_config()
    })
    .expect("config");

    let dev = mint_dev_token(DEV_SECRET, "dev_user", Duration::from_secs(60)).expect("mint");
    assert_eq!(accepted(&verifier, &dev).await, "dev_user");
    let pem = tokens::rs256(&claims("pem_user"));
    assert_eq!(accepted(&verifier, &pem).await, "pem_user");
    assert_eq!(server.hits(), 0, "tokens without kid never touch the JWKS");

    let jwks = tokens::sign(
        Algorithm::RS256,
        &tokens::rsa_other_key(),
        Some("jwks-1"),
        &claims("jwks_user"),
    );
    assert_eq!(accepted(&verifier, &jwks).await, "jwks_user");
    // A kid the JWKS does not know falls back to the PEM key for RS256.
    let pem_with_kid = rsa_kid_token("pem-kid", "pem_user");
    assert_eq!(accepted(&verifier, &pem_with_kid).await, "pem_user");
    // A kid the JWKS knows always means that JWKS key, never the PEM key.
    let wrong = tokens::sign(
        Algorithm::RS256,
        &tokens::rsa_key(),
        Some("jwks-1"),
        &claims("user"),
    );
    assert_eq!(
        rejected_kind(&refused(&verifier, &wrong).await),
        Some(&ErrorKind::InvalidSignature)
    );
}
