//! Shared helpers for the auth tests: the fixture keys, token signing, and a loopback JWKS server
//! that counts its requests.

pub(crate) mod keys {
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Algorithm, DecodingKey};

    pub(crate) const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/keys/rsa-public.pem");
    pub(crate) const RSA_PUBLIC_PKCS1: &str =
        include_str!("../../tests/fixtures/keys/rsa-public-pkcs1.pem");
    pub(crate) const RSA_PRIVATE: &str = include_str!("../../tests/fixtures/keys/rsa-private.pem");
    pub(crate) const RSA_OTHER_PUBLIC: &str =
        include_str!("../../tests/fixtures/keys/rsa-other-public.pem");
    pub(crate) const RSA_OTHER_PRIVATE: &str =
        include_str!("../../tests/fixtures/keys/rsa-other-private.pem");
    pub(crate) const EC_PUBLIC: &str = include_str!("../../tests/fixtures/keys/ec-p256-public.pem");
    pub(crate) const EC_PRIVATE: &str =
        include_str!("../../tests/fixtures/keys/ec-p256-private.pem");
    pub(crate) const EC_P384_PUBLIC: &str =
        include_str!("../../tests/fixtures/keys/ec-p384-public.pem");

    /// The JWK of an RSA public key, with `kid` and `alg: RS256`.
    pub(crate) fn rsa_jwk(public_pem: &str, kid: &str) -> Jwk {
        let key = DecodingKey::from_rsa_pem(public_pem.as_bytes()).expect("rsa public pem");
        let mut jwk = Jwk::from_decoding_key(&key, Some(Algorithm::RS256)).expect("rsa jwk");
        jwk.common.key_id = Some(kid.to_owned());
        jwk
    }

    /// The JWK of an EC P-256 public key, with `kid` and no `alg`.
    pub(crate) fn ec_jwk(public_pem: &str, kid: &str) -> Jwk {
        let key = DecodingKey::from_ec_pem(public_pem.as_bytes()).expect("ec public pem");
        let mut jwk = Jwk::from_decoding_key(&key, None).expect("ec jwk");
        jwk.common.key_id = Some(kid.to_owned());
        jwk
    }
}

pub(crate) mod tokens {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::Value;

    use super::keys;

    /// Seconds since the epoch.
    pub(crate) fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// Standard valid claims for `sub`: issued now, expiring in ten minutes.
    pub(crate) fn claims(sub: &str) -> Value {
        serde_json::json!({ "sub": sub, "iat": now(), "exp": now() + 600 })
    }

    /// `claims` with `edit` applied (to add, change or remove claims).
    pub(crate) fn claims_with(
        sub: &str,
        edit: impl FnOnce(&mut serde_json::Map<String, Value>),
    ) -> Value {
        let mut value = claims(sub);
        if let Value::Object(map) = &mut value {
            edit(map);
        }
        value
    }

    pub(crate) fn sign(
        alg: Algorithm,
        key: &EncodingKey,
        kid: Option<&str>,
        claims: &Value,
    ) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, key).expect("sign test token")
    }

    pub(crate) fn rsa_key() -> EncodingKey {
        EncodingKey::from_rsa_pem(keys::RSA_PRIVATE.as_bytes()).expect("rsa private pem")
    }

    pub(crate) fn rsa_other_key() -> EncodingKey {
        EncodingKey::from_rsa_pem(keys::RSA_OTHER_PRIVATE.as_bytes()).expect("other private pem")
    }

    pub(crate) fn ec_key() -> EncodingKey {
        EncodingKey::from_ec_pem(keys::EC_PRIVATE.as_bytes()).expect("ec private pem")
    }

    pub(crate) fn rs256(claims: &Value) -> String {
        sign(Algorithm::RS256, &rsa_key(), None, claims)
    }

    pub(crate) fn hs256(secret: &[u8], claims: &Value) -> String {
        let key = EncodingKey::from_secret(secret).expect("hmac key");
        sign(Algorithm::HS256, &key, None, claims)
    }

    /// An unsigned token: `{"alg":"none"}` header, the claims, and an empty signature.
    pub(crate) fn unsigned(claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.")
    }
}

pub(crate) mod jwks_server {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use jsonwebtoken::jwk::{Jwk, JwkSet};

    #[derive(Clone, Default)]
    struct Shared {
        keys: Arc<Mutex<Vec<Jwk>>>,
        failing: Arc<Mutex<bool>>,
        hits: Arc<AtomicUsize>,
    }

    /// A JWKS endpoint on 127.0.0.1 whose keys can be changed while it runs.
    pub(crate) struct JwksServer {
        addr: SocketAddr,
        shared: Shared,
        task: tokio::task::JoinHandle<()>,
    }

    impl JwksServer {
        pub(crate) async fn start(keys: Vec<Jwk>) -> JwksServer {
            let shared = Shared {
                keys: Arc::new(Mutex::new(keys)),
                ..Shared::default()
            };
            let app = Router::new()
                .route("/.well-known/jwks.json", get(serve_jwks))
                .with_state(shared.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            let addr = listener.local_addr().expect("local addr");
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            JwksServer { addr, shared, task }
        }

        pub(crate) fn url(&self) -> String {
            format!("http://{}/.well-known/jwks.json", self.addr)
        }

        /// Requests served so far.
        pub(crate) fn hits(&self) -> usize {
            self.shared.hits.load(Ordering::SeqCst)
        }

        /// Serve these keys from now on (a rotation at the issuer).
        pub(crate) fn set_keys(&self, keys: Vec<Jwk>) {
            *self.shared.keys.lock().expect("keys lock") = keys;
        }

        /// Answer 500 from now on (or again 200).
        pub(crate) fn set_failing(&self, failing: bool) {
            *self.shared.failing.lock().expect("failing lock") = failing;
        }
    }

    impl Drop for JwksServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn serve_jwks(State(shared): State<Shared>) -> Response {
        shared.hits.fetch_add(1, Ordering::SeqCst);
        if *shared.failing.lock().expect("failing lock") {
            return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
        }
        let keys = shared.keys.lock().expect("keys lock").clone();
        axum::Json(JwkSet { keys }).into_response()
    }
}
