//! Signed download links: a short-lived token that lets a browser fetch one export of one user
//! from the REST route without a JWT.
//!
//! A token is `v1.<expiry>.<sub>.<mac>`: the expiry in Unix seconds, the user's `sub` in
//! base64url, and an HMAC-SHA256 in base64url (no padding), so it is safe in a URL as is. The MAC
//! covers the `sub`, the expiry and the canonical export parameters (start date, end date, time
//! zone name, format and `SectionSet::as_param`), so the token is worthless for any other user,
//! parameter value, or moment after its expiry, and under any other secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::ExportRequest;
use super::cells::date;
use crate::error::AppError;

/// How long a download link stays valid after it is issued.
pub const LINK_LIFETIME: TimeDelta = TimeDelta::minutes(5);

/// First part of every token; a new layout gets a new version.
const TOKEN_VERSION: &str = "v1";

/// Domain separation: a MAC made for anything else with the same secret never matches.
const MAC_CONTEXT: &[u8] = b"usage-api export download link v1";

type HmacSha256 = Hmac<Sha256>;

/// Signs and verifies download tokens with a server secret.
#[derive(Clone)]
pub struct LinkSigner {
    /// HMAC state already keyed with the secret; cloned for each token.
    keyed: HmacSha256,
}

impl fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkSigner { .. }")
    }
}

/// Why a token was refused. Clients are only told "Unauthorized".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the download token is malformed")]
    Malformed,
    /// Another secret, a changed token, or other parameters than the token was issued for.
    #[error("the download token does not match the request")]
    BadSignature,
    #[error("the download token has expired")]
    Expired,
}

impl From<LinkError> for AppError {
    fn from(_: LinkError) -> Self {
        AppError::Unauthenticated
    }
}

impl LinkSigner {
    /// A signer with this secret (any length; replicas of one site share it).
    pub fn new(secret: &[u8]) -> Self {
        LinkSigner {
            keyed: <HmacSha256 as KeyInit>::new(&hmac_key(secret)),
        }
    }

    /// A signer with a fresh random 256-bit secret: links stay valid only in this process.
    pub fn random() -> Self {
        let secret: [u8; 32] = rand::random();
        LinkSigner::new(&secret)
    }

    /// A token for `sub` to download exactly `request`, valid until `expires_at` (whole seconds,
    /// rounded down).
    pub fn sign(&self, sub: &str, request: &ExportRequest, expires_at: DateTime<Utc>) -> String {
        let expires = expires_at.timestamp();
        let tag = self.mac(sub, expires, request).finalize().into_bytes();
        format!(
            "{TOKEN_VERSION}.{expires}.{}.{}",
            URL_SAFE_NO_PAD.encode(sub.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks `token` for `request` at `now` and returns the `sub` it was issued to.
    ///
    /// The MAC is compared in constant time. A token is valid strictly before its expiry.
    pub fn verify(
        &self,
        token: &str,
        request: &ExportRequest,
        now: DateTime<Utc>,
    ) -> Result<String, LinkError> {
        let mut parts = token.split('.');
        let (Some(TOKEN_VERSION), Some(expires), Some(sub), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(LinkError::Malformed);
        };
        let expires: i64 = expires
            .parse()
            .ok()
            .filter(|value: &i64| value.to_string() == expires)
            .ok_or(LinkError::Malformed)?;
        let sub = URL_SAFE_NO_PAD
            .decode(sub)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(LinkError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| LinkError::Malformed)?;
        self.mac(&sub, expires, request)
            .verify_slice(&tag)
            .map_err(|_| LinkError::BadSignature)?;
        if now.timestamp() >= expires {
            return Err(LinkError::Expired);
        }
        Ok(sub)
    }

    /// The MAC state over everything a token is bound to, each field prefixed by its length so
    /// that no two different field lists give the same input.
    fn mac(&self, sub: &str, expires: i64, request: &ExportRequest) -> HmacSha256 {
        let range = &request.range;
        let (start, end) = (date(range.start()), date(range.end()));
        let sections = request.sections.as_param();
        let fields: [&[u8]; 8] = [
            MAC_CONTEXT,
            sub.as_bytes(),
            &expires.to_be_bytes(),
            start.as_bytes(),
            end.as_bytes(),
            range.zone().name().as_bytes(),
            request.format.as_str().as_bytes(),
            sections.as_bytes(),
        ];
        let mut mac = self.keyed.clone();
        for field in fields {
            let length = u64::try_from(field.len()).unwrap_or(u64::MAX);
            mac.update(&length.to_be_bytes());
            mac.update(field);
        }
        mac
    }
}

/// The HMAC key block for `secret`, as RFC 2104 derives it: the secret padded with zeros to the
/// hash's block size, or its SHA-256 digest padded so when it is longer than a block. Building
/// it here lets the signer be keyed without a fallible call.
fn hmac_key(secret: &[u8]) -> Key<HmacSha256> {
    let mut key = Key::<HmacSha256>::default();
    if secret.len() <= key.len() {
        key[..secret.len()].copy_from_slice(secret);
    } else {
        let digest = Sha256::digest(secret);
        key[..digest.len()].copy_from_slice(&digest);
    }
    key
}

/// The REST query for `request`, with the token when there is one:
/// `start_date=2025-01-01&end_date=2025-01-31&format=csv&include=all&time_zone=UTC&token=…`.
/// Values are form-encoded (`Europe/Paris` becomes `Europe%2FParis`).
pub fn query_string(request: &ExportRequest, token: Option<&str>) -> String {
    let range = &request.range;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("start_date", &date(range.start()))
        .append_pair("end_date", &date(range.end()))
        .append_pair("format", request.format.as_str())
        .append_pair("include", &request.sections.as_param())
        .append_pair("time_zone", range.zone().name());
    if let Some(token) = token {
        query.append_pair("token", token);
    }
    query.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{ExportFormat, ExportSection, SectionSet};
    use crate::usage::DateRange;
    use crate::usage::range::parse_date;
    use chrono_tz::Tz;

    fn request(
        start: &str,
        end: &str,
        zone: Tz,
        format: ExportFormat,
        sections: SectionSet,
    ) -> ExportRequest {
        let day = |text: &str| parse_date(text).unwrap_or_else(|e| panic!("{e}"));
        let range = DateRange::resolve(Some(day(start)), Some(day(end)), zone, 366, Utc::now())
            .unwrap_or_else(|e| panic!("{e}"));
        ExportRequest {
            format,
            sections,
            range,
        }
    }

    fn base_request() -> ExportRequest {
        request(
            "2025-01-01",
            "2025-01-31",
            chrono_tz::Europe::Paris,
            ExportFormat::Csv,
            SectionSet::all(),
        )
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    const NOW: &str = "2025-02-01T10:00:00Z";
    const EXPIRES: &str = "2025-02-01T10:05:00Z";

    fn signer() -> LinkSigner {
        LinkSigner::new(b"a server secret that is long enough")
    }

    #[test]
    fn a_fresh_token_verifies_and_gives_the_sub_back() {
        let signer = signer();
        let request = base_request();
        for sub in ["user_2abc", "", "a.b.c", "ünïcode ✓/+=&?"] {
            let token = signer.sign(sub, &request, at(EXPIRES));
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "{token}"
            );
            assert_eq!(signer.verify(&token, &request, at(NOW)).as_deref(), Ok(sub));
        }
    }

    #[test]
    fn a_token_is_valid_strictly_before_its_expiry() {
        let signer = signer();
        let request = base_request();
        let token = signer.sign("user_1", &request, at(EXPIRES));
        assert!(
            signer
                .verify(&token, &request, at("2025-02-01T10:04:59Z"))
                .is_ok()
        );
        assert_eq!(
            signer.verify(&token, &request, at(EXPIRES)),
            Err(LinkError::Expired)
        );
        assert_eq!(
            signer.verify(&token, &request, at("2025-03-01T00:00:00Z")),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn any_changed_character_is_refused() {
        let signer = signer();
        let request = base_request();
        let token = signer.sign("user_1", &request, at(EXPIRES));
        for index in 0..token.len() {
            for replacement in ['A', '0', '_', '-', '.'] {
                let mut changed = token.clone().into_bytes();
                if changed[index] == replacement as u8 {
                    continue;
                }
                changed[index] = replacement as u8;
                let changed = String::from_utf8(changed).unwrap_or_default();
                assert!(
                    signer.verify(&changed, &request, at(NOW)).is_err(),
                    "{changed} was accepted"
                );
            }
        }
        for bad in [
            "",
            "v1",
            &token[..token.len() - 1],
            &format!("{token}A"),
            &format!("{token}."),
            &token.replacen("v1.", "v2.", 1),
        ] {
            assert!(
                signer.verify(bad, &request, at(NOW)).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn a_token_cannot_be_moved_to_another_sub_or_expiry() {
        let signer = signer();
        let request = base_request();
        let token = signer.sign("user_1", &request, at(EXPIRES));
        let parts: Vec<&str> = token.split('.').collect();
        let other_sub = URL_SAFE_NO_PAD.encode("user_2");
        let moved = format!("{}.{}.{other_sub}.{}", parts[0], parts[1], parts[3]);
        assert_eq!(
            signer.verify(&moved, &request, at(NOW)),
            Err(LinkError::BadSignature)
        );
        let later = at("2025-02-02T10:05:00Z").timestamp();
        let extended = format!("{}.{later}.{}.{}", parts[0], parts[2], parts[3]);
        assert_eq!(
            signer.verify(&extended, &request, at(NOW)),
            Err(LinkError::BadSignature)
        );
        let padded = format!("{}.0{}.{}.{}", parts[0], parts[1], parts[2], parts[3]);
        assert_eq!(
            signer.verify(&padded, &request, at(NOW)),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn a_token_is_bound_to_every_parameter() {
        let signer = signer();
        let paris = chrono_tz::Europe::Paris;
        let all = SectionSet::all();
        let token = signer.sign("user_1", &base_request(), at(EXPIRES));
        let others = [
            request("2025-01-02", "2025-01-31", paris, ExportFormat::Csv, all),
            request("2025-01-01", "2025-01-30", paris, ExportFormat::Csv, all),
            request(
                "2025-01-01",
                "2025-01-31",
                chrono_tz::Europe::Berlin,
                ExportFormat::Csv,
                all,
            ),
            request("2025-01-01", "2025-01-31", paris, ExportFormat::Json, all),
            request(
                "2025-01-01",
                "2025-01-31",
                paris,
                ExportFormat::Csv,
                SectionSet::only(ExportSection::Summary),
            ),
        ];
        for other in others {
            assert_eq!(
                signer.verify(&token, &other, at(NOW)),
                Err(LinkError::BadSignature),
                "{other:?}"
            );
        }
    }

    #[test]
    fn the_same_sections_in_another_order_are_the_same_export() {
        let signer = signer();
        let paris = chrono_tz::Europe::Paris;
        let listed = |text: &str| SectionSet::parse_list(text).unwrap_or_else(|e| panic!("{e}"));
        let issued = request(
            "2025-01-01",
            "2025-01-31",
            paris,
            ExportFormat::Csv,
            listed("tools,summary"),
        );
        let asked = request(
            "2025-01-01",
            "2025-01-31",
            paris,
            ExportFormat::Csv,
            listed("summary,tools"),
        );
        let token = signer.sign("user_1", &issued, at(EXPIRES));
        assert!(signer.verify(&token, &asked, at(NOW)).is_ok());
        let everything = request(
            "2025-01-01",
            "2025-01-31",
            paris,
            ExportFormat::Csv,
            listed("summary,conversations,tools,models"),
        );
        let token = signer.sign("user_1", &everything, at(EXPIRES));
        assert!(signer.verify(&token, &base_request(), at(NOW)).is_ok());
    }

    #[test]
    fn another_secret_refuses_the_token() {
        let request = base_request();
        let token = signer().sign("user_1", &request, at(EXPIRES));
        let other = LinkSigner::new(b"a server secret that is long enougH");
        assert_eq!(
            other.verify(&token, &request, at(NOW)),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            LinkSigner::random().verify(&token, &request, at(NOW)),
            Err(LinkError::BadSignature)
        );
        let first = LinkSigner::random().sign("user_1", &request, at(EXPIRES));
        let second = LinkSigner::random().sign("user_1", &request, at(EXPIRES));
        assert_ne!(first, second);
    }

    #[test]
    fn the_key_is_the_standard_hmac_key() {
        for secret in [&b""[..], b"short", &[7u8; 64], &[9u8; 65], &[1u8; 200]] {
            let mut ours = <HmacSha256 as KeyInit>::new(&hmac_key(secret));
            let mut standard =
                <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap_or_else(|e| panic!("{e}"));
            ours.update(b"message");
            standard.update(b"message");
            assert_eq!(
                ours.finalize().into_bytes(),
                standard.finalize().into_bytes()
            );
        }
        // RFC 4231, test case 2.
        let mut mac = <HmacSha256 as KeyInit>::new(&hmac_key(b"Jefe"));
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        assert_eq!(format!("{:?}", signer()), "LinkSigner { .. }");
    }

    #[test]
    fn link_errors_are_unauthenticated() {
        for error in [
            LinkError::Malformed,
            LinkError::BadSignature,
            LinkError::Expired,
        ] {
            assert!(matches!(AppError::from(error), AppError::Unauthenticated));
        }
    }

    #[test]
    fn query_string_encodes_every_parameter() {
        let request = request(
            "2025-01-01",
            "2025-01-31",
            chrono_tz::America::Argentina::Buenos_Aires,
            ExportFormat::Json,
            SectionSet::parse_list("models,summary").unwrap_or_else(|e| panic!("{e}")),
        );
        let token = signer().sign("user_1", &request, at(EXPIRES));
        let query = query_string(&request, Some(&token));
        assert!(
            query.starts_with(
                "start_date=2025-01-01&end_date=2025-01-31&format=json&include=summary%2Cmodels\
             &time_zone=America%2FArgentina%2FBuenos_Aires&token=v1."
            ),
            "{query}"
        );
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let expected = [
            ("start_date", "2025-01-01"),
            ("end_date", "2025-01-31"),
            ("format", "json"),
            ("include", "summary,models"),
            ("time_zone", "America/Argentina/Buenos_Aires"),
            ("token", token.as_str()),
        ];
        assert_eq!(
            pairs,
            expected.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
        );
        assert_eq!(
            query_string(&base_request(), None),
            "start_date=2025-01-01&end_date=2025-01-31&format=csv&include=all&time_zone=Europe%2FParis"
        );
    }
}
