//! Access tokens (JWT, HS256 pinned) and refresh tokens (opaque, stored only as a hash).

use crate::UserRecord;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thanotopolis_service::config::AuthSettings;
use uuid::Uuid;

pub const ISSUER: &str = "thanotopolis";
pub const AUDIENCE: &str = "thanotopolis-api";
/// The `typ` claim of access tokens; nothing else is accepted as one.
pub const ACCESS_TOKEN_TYPE: &str = "access";

/// Claims of an access token. `role` is informational: requests use the stored role. `sid`
/// names the session (refresh-token family) the token was issued in: every request reads that
/// family, so logging out ends the access token at once.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub tenant_id: String,
    pub sid: String,
    pub email: String,
    pub role: String,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    pub typ: String,
}

pub fn issue_access(settings: &AuthSettings, user: &UserRecord, session_id: Uuid) -> String {
    let now = crate::now_epoch();
    let claims = AccessClaims {
        sub: user.id.to_string(),
        tenant_id: user.tenant_id.to_string(),
        sid: session_id.to_string(),
        email: user.email.clone(),
        role: user.role.as_str().into(),
        iat: now,
        exp: now + settings.access_ttl.as_secs() as i64,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        jti: Uuid::new_v4().to_string(),
        typ: ACCESS_TOKEN_TYPE.into(),
    };
    crate::hs256::install();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&settings.jwt_secret),
    )
    .expect("HS256 signing with an in-memory key cannot fail")
}

/// Who a verified access token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessSubject {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub session_id: Uuid,
}

/// The verified subject of an access token, or `None` for anything else: a bad signature,
/// another algorithm (`none` included), expiry, wrong issuer or audience, no session, or a
/// token that is not an access token.
pub fn verify_access(settings: &AuthSettings, token: &str) -> Option<AccessSubject> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = 5;
    crate::hs256::install();
    let data = jsonwebtoken::decode::<AccessClaims>(
        token,
        &DecodingKey::from_secret(&settings.jwt_secret),
        &validation,
    )
    .ok()?;
    let c = data.claims;
    if c.typ != ACCESS_TOKEN_TYPE {
        return None;
    }
    Some(AccessSubject {
        user_id: c.sub.parse().ok()?,
        tenant_id: c.tenant_id.parse().ok()?,
        session_id: c.sid.parse().ok()?,
    })
}

/// A refresh token as the client holds it: tenant id, user id and 256 random bits, base64url.
/// The ids let the server read the user and tenant in the same round trip as the token; only
/// the random part makes it unguessable.
pub struct RefreshToken {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub value: String,
}

impl RefreshToken {
    pub fn generate(tenant_id: Uuid, user_id: Uuid) -> Self {
        Self::from_parts(tenant_id, user_id, &crate::random_bytes::<32>())
    }

    pub fn parse(value: &str) -> Option<Self> {
        if value.len() > 128 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
        if raw.len() != 64 {
            return None;
        }
        Some(RefreshToken {
            tenant_id: Uuid::from_slice(&raw[..16]).ok()?,
            user_id: Uuid::from_slice(&raw[16..32]).ok()?,
            value: value.to_string(),
        })
    }

    /// The one successor this token can ever have: its random part is an HMAC of this token
    /// under the server's key, so a retried or concurrent refresh of one token yields the same
    /// successor (one chain), and nobody without the key can compute it.
    pub fn successor(&self, key: &[u8]) -> RefreshToken {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(b"thanotopolis refresh successor\0");
        mac.update(self.value.as_bytes());
        let random: [u8; 32] = mac.finalize().into_bytes().into();
        Self::from_parts(self.tenant_id, self.user_id, &random)
    }

    fn from_parts(tenant_id: Uuid, user_id: Uuid, random: &[u8; 32]) -> Self {
        let mut raw = Vec::with_capacity(64);
        raw.extend_from_slice(tenant_id.as_bytes());
        raw.extend_from_slice(user_id.as_bytes());
        raw.extend_from_slice(random);
        RefreshToken {
            tenant_id,
            user_id,
            value: URL_SAFE_NO_PAD.encode(raw),
        }
    }

    /// What is stored: SHA-256 of the token (a 256-bit random secret needs no slow hash).
    pub fn hash(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.value.as_bytes()))
    }
}
