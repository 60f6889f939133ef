//! The token endpoint's request as it arrives: an `Authorization` header (first line) and a
//! form body (the rest) — form parsing with the repeated-parameter rule, Basic credentials,
//! the choice of client authentication, and that authentication against the fixture's
//! clients (client assertions included). The same body is also read as an authorization
//! request's query.

use crate::{fixture, ISSUER};
use axum::http::{header, HeaderMap, HeaderValue};

/// One input.
pub fn run(data: &[u8]) {
    let f = fixture();
    let (auth, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if let Ok(v) = HeaderValue::from_bytes(auth) {
        headers.insert(header::AUTHORIZATION, v);
    }
    if let Ok(form) = lanyard_server::oidc::oauth_form(&headers, body) {
        if let Ok(basic) = lanyard_server::oidc::basic_credentials(&headers) {
            if let Ok(p) = lanyard_idp::client_auth::presented(&form, basic) {
                let audiences = [format!("{ISSUER}/token"), ISSUER.to_string()];
                let _ = f.rt.block_on(lanyard_idp::client_auth::authenticate(
                    &f.provider,
                    p,
                    &audiences,
                ));
            }
        }
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let _ =
        f.rt.block_on(lanyard_idp::authorize::validate(&f.provider, &params));
}
