//! OpenID Provider metadata (OpenID Connect Discovery 1.0, RFC 8414).

use crate::authorize::SCOPES;
use crate::provider::ProviderSettings;
use serde_json::{json, Value};

/// The metadata document; `acr_values` are the classes the server can satisfy.
pub fn metadata(s: &ProviderSettings, acr_values: &[&str]) -> Value {
    json!({
        "issuer": s.issuer,
        "authorization_endpoint": s.endpoint("/authorize"),
        "token_endpoint": s.endpoint("/token"),
        "userinfo_endpoint": s.endpoint("/userinfo"),
        "jwks_uri": s.endpoint("/jwks"),
        "introspection_endpoint": s.endpoint("/introspect"),
        "revocation_endpoint": s.endpoint("/revoke"),
        "end_session_endpoint": s.endpoint("/logout"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
            "name", "given_name", "family_name", "preferred_username", "updated_at", "email",
            "roles", "main_role", "tenant", "accounts", "main_account", "location"],
        "acr_values_supported": acr_values,
        "prompt_values_supported": ["none", "login"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
    })
}
