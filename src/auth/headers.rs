//! Where a request carries its end-user token: `Authorization: Bearer …`, else the `__session`
//! cookie (the Clerk convention).

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};

/// Name of the cookie that carries the session token when there is no bearer token.
pub const SESSION_COOKIE: &str = "__session";

/// Bearer token from `Authorization: Bearer x`, else the `__session` cookie value; None otherwise.
///
/// The scheme is matched case-insensitively. An `Authorization` header with another scheme or
/// an empty token does not hide a session cookie.
pub fn token_from_headers(headers: &HeaderMap) -> Option<&str> {
    bearer_token(headers).or_else(|| session_cookie(headers))
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    non_empty(token.trim())
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    // HTTP/2 may split cookies over several `Cookie` headers.
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.trim() == SESSION_COOKIE)
        .and_then(|(_, value)| {
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
                .unwrap_or(value);
            non_empty(unquoted)
        })
}

fn non_empty(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn bearer_token_is_taken_from_authorization() {
        let map = headers(&[("authorization", "Bearer abc.def.ghi")]);
        assert_eq!(token_from_headers(&map), Some("abc.def.ghi"));
        let map = headers(&[("authorization", "bearer   abc.def.ghi ")]);
        assert_eq!(token_from_headers(&map), Some("abc.def.ghi"));
    }

    #[test]
    fn bearer_wins_over_the_session_cookie() {
        let map = headers(&[
            ("cookie", "__session=from.cookie.x"),
            ("authorization", "Bearer from.header.x"),
        ]);
        assert_eq!(token_from_headers(&map), Some("from.header.x"));
    }

    #[test]
    fn session_cookie_is_found_among_other_cookies() {
        let map = headers(&[(
            "cookie",
            "theme=dark; __session_other=nope; __session=jwt.in.cookie; lang=en",
        )]);
        assert_eq!(token_from_headers(&map), Some("jwt.in.cookie"));
    }

    #[test]
    fn session_cookie_is_found_in_a_second_cookie_header() {
        let map = headers(&[
            ("cookie", "theme=dark"),
            ("cookie", "__session=\"quoted.jwt.value\""),
        ]);
        assert_eq!(token_from_headers(&map), Some("quoted.jwt.value"));
    }

    #[test]
    fn other_schemes_fall_back_to_the_cookie() {
        let map = headers(&[
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("cookie", "__session=jwt.in.cookie"),
        ]);
        assert_eq!(token_from_headers(&map), Some("jwt.in.cookie"));
    }

    #[test]
    fn neither_header_nor_cookie_gives_none() {
        assert_eq!(token_from_headers(&HeaderMap::new()), None);
        let map = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(token_from_headers(&map), None);
        let map = headers(&[("authorization", "Bearer "), ("cookie", "theme=dark")]);
        assert_eq!(token_from_headers(&map), None);
        let map = headers(&[("authorization", "Bearer"), ("cookie", "__session=")]);
        assert_eq!(token_from_headers(&map), None);
    }
}
