//! WebAuthn passkeys and security keys (webauthn-rs): registration, second-factor
//! authentication, and passwordless sign-in with a discoverable credential. Sign counters are
//! checked by webauthn-rs; a credential whose counter goes backwards is refused as possibly
//! cloned.

use serde_json::Value;
use url::Url;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Webauthn,
    WebauthnBuilder, WebauthnError,
};

/// Why a ceremony failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// Configuration (relying-party id or origins) is unusable.
    #[error("WebAuthn is misconfigured: {0}")]
    Config(String),
    /// The browser's answer does not verify (bad signature, wrong origin or challenge, …).
    #[error("the passkey could not be verified")]
    Invalid,
    /// The authenticator's counter went backwards: the credential may have been cloned.
    #[error("this passkey may have been copied; it has been refused")]
    PossiblyCloned,
    /// Stored data does not decode.
    #[error("stored passkey data is unreadable")]
    Corrupt,
}

impl From<WebauthnError> for PasskeyError {
    fn from(e: WebauthnError) -> Self {
        match e {
            WebauthnError::CredentialPossibleCompromise => PasskeyError::PossiblyCloned,
            _ => PasskeyError::Invalid,
        }
    }
}

/// The relying party.
pub struct Passkeys {
    webauthn: Webauthn,
}

/// What a successful authentication tells the caller to store.
pub struct Verified {
    /// The credential used (base64url id).
    pub credential_id: String,
    /// The updated credential, when its counter or flags changed.
    pub updated: Option<Passkey>,
}

fn cred_id_b64(id: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// The base64url id of a stored passkey.
pub fn credential_id(p: &Passkey) -> String {
    cred_id_b64(p.cred_id().as_ref())
}

impl Passkeys {
    /// A relying party `rp_id` (a domain, e.g. `localhost` or `sso.example.com`) accepting the
    /// given origins.
    pub fn new(rp_id: &str, rp_name: &str, origins: &[String]) -> Result<Self, PasskeyError> {
        let first = origins
            .first()
            .ok_or_else(|| PasskeyError::Config("at least one origin is required".into()))?;
        let url =
            |o: &str| Url::parse(o).map_err(|e| PasskeyError::Config(format!("origin {o:?}: {e}")));
        let first = url(first)?;
        let rest = origins[1..]
            .iter()
            .map(|o| url(o))
            .collect::<Result<Vec<_>, _>>()?;
        let mut b = WebauthnBuilder::new(rp_id, &first)
            .map_err(|e| PasskeyError::Config(e.to_string()))?
            .rp_name(rp_name);
        for o in &rest {
            b = b.append_allowed_origin(o);
        }
        Ok(Self {
            webauthn: b.build().map_err(|e| PasskeyError::Config(e.to_string()))?,
        })
    }

    /// Starts registering a passkey for `user` (his existing ones are excluded). Returns the
    /// options for `navigator.credentials.create` and the state to keep.
    pub fn start_registration(
        &self,
        user: Uuid,
        name: &str,
        display: &str,
        existing: &[Passkey],
    ) -> Result<(Value, PasskeyRegistration), PasskeyError> {
        let exclude: Vec<CredentialID> = existing.iter().map(|p| p.cred_id().clone()).collect();
        let (ccr, state) =
            self.webauthn
                .start_passkey_registration(user, name, display, Some(exclude))?;
        let mut options = serde_json::to_value(&ccr).map_err(|_| PasskeyError::Corrupt)?;
        // Ask for a discoverable credential, so the passkey can also sign in without a username.
        if let Some(sel) = options.pointer_mut("/publicKey/authenticatorSelection") {
            sel["residentKey"] = Value::String("required".into());
            sel["requireResidentKey"] = Value::Bool(true);
        }
        Ok((options, state))
    }

    /// Finishes a registration.
    pub fn finish_registration(
        &self,
        response: &Value,
        state: &PasskeyRegistration,
    ) -> Result<Passkey, PasskeyError> {
        let cred: RegisterPublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| PasskeyError::Invalid)?;
        Ok(self.webauthn.finish_passkey_registration(&cred, state)?)
    }

    /// Starts a second-factor authentication with the person's passkeys.
    pub fn start_authentication(
        &self,
        passkeys: &[Passkey],
    ) -> Result<(Value, PasskeyAuthentication), PasskeyError> {
        let (rcr, state) = self.webauthn.start_passkey_authentication(passkeys)?;
        Ok((
            serde_json::to_value(&rcr).map_err(|_| PasskeyError::Corrupt)?,
            state,
        ))
    }

    /// Finishes a second-factor authentication; `passkeys` are the person's.
    pub fn finish_authentication(
        &self,
        response: &Value,
        state: &PasskeyAuthentication,
        passkeys: &[Passkey],
    ) -> Result<Verified, PasskeyError> {
        let cred: PublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| PasskeyError::Invalid)?;
        let result = self.webauthn.finish_passkey_authentication(&cred, state)?;
        Ok(verified(&result, passkeys))
    }

    /// Starts a passwordless sign-in (any discoverable passkey of this site).
    pub fn start_discoverable(&self) -> Result<(Value, DiscoverableAuthentication), PasskeyError> {
        let (rcr, state) = self.webauthn.start_discoverable_authentication()?;
        let mut options = serde_json::to_value(&rcr).map_err(|_| PasskeyError::Corrupt)?;
        // A button press, not conditional mediation.
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        Ok((options, state))
    }

    /// Which person a discoverable response claims to be (to be verified next).
    pub fn identify(&self, response: &Value) -> Result<Uuid, PasskeyError> {
        let cred: PublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| PasskeyError::Invalid)?;
        Ok(self.webauthn.identify_discoverable_authentication(&cred)?.0)
    }

    /// Finishes a passwordless sign-in against the claimed person's passkeys.
    pub fn finish_discoverable(
        &self,
        response: &Value,
        state: DiscoverableAuthentication,
        passkeys: &[Passkey],
    ) -> Result<Verified, PasskeyError> {
        let cred: PublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| PasskeyError::Invalid)?;
        let used = cred_id_b64(cred.get_credential_id());
        let pk = passkeys
            .iter()
            .find(|p| credential_id(p) == used)
            .ok_or(PasskeyError::Invalid)?;
        let key: DiscoverableKey = pk.into();
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(&cred, state, &key)?;
        Ok(verified(&result, passkeys))
    }
}

fn verified(result: &webauthn_rs::prelude::AuthenticationResult, passkeys: &[Passkey]) -> Verified {
    let id = cred_id_b64(result.cred_id().as_ref());
    let updated = passkeys
        .iter()
        .find(|p| credential_id(p) == id)
        .and_then(|p| {
            let mut p = p.clone();
            p.update_credential(result)
                .filter(|changed| *changed)
                .map(|_| p)
        });
    Verified {
        credential_id: id,
        updated,
    }
}
