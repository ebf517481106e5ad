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

/// Claims of an access token. `role` is informational: requests use the stored role.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub tenant_id: String,
    pub email: String,
    pub role: String,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    pub typ: String,
}

pub fn issue_access(settings: &AuthSettings, user: &UserRecord) -> String {
    let now = crate::now_epoch();
    let claims = AccessClaims {
        sub: user.id.to_string(),
        tenant_id: user.tenant_id.to_string(),
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

/// The verified (user id, tenant id) of an access token, or `None` for anything else: a bad
/// signature, another algorithm (`none` included), expiry, wrong issuer or audience, or a
/// token that is not an access token.
pub fn verify_access(settings: &AuthSettings, token: &str) -> Option<(Uuid, Uuid)> {
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
    Some((c.sub.parse().ok()?, c.tenant_id.parse().ok()?))
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
        let mut raw = Vec::with_capacity(64);
        raw.extend_from_slice(tenant_id.as_bytes());
        raw.extend_from_slice(user_id.as_bytes());
        raw.extend_from_slice(&crate::random_bytes::<32>());
        RefreshToken {
            tenant_id,
            user_id,
            value: URL_SAFE_NO_PAD.encode(raw),
        }
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

    /// What is stored: SHA-256 of the token (a 256-bit random secret needs no slow hash).
    pub fn hash(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.value.as_bytes()))
    }
}
