//! Signed usage tags. Live speech-to-text goes from the browser straight to Deepgram, which
//! files each stream's usage under the `tag` parameters of its URL; the URL passes through the
//! browser, which could change a plain tag to another organization's id and bill it. So the
//! tag names the organization and the user and carries an HMAC of both keyed by a secret the
//! browser never sees (the Deepgram API key): only a tag this backend issued verifies, and
//! only a verified tag yields a [`TenantScope`].

use crate::TenantScope;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

const PREFIX: &str = "thanotopolis";

fn mac(secret: &[u8], tenant_id: Uuid, user_id: Uuid) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{tenant_id}:{user_id}").as_bytes());
    // 128 bits of the MAC: Deepgram tags are short strings.
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
}

/// The tag for a use by `user_id` of `scope`'s organization:
/// `thanotopolis:{tenant_id}:{user_id}:{mac}` (111 characters).
pub fn tag(secret: &[u8], scope: &TenantScope, user_id: Uuid) -> String {
    let tenant_id = scope.tenant_id();
    format!(
        "{PREFIX}:{tenant_id}:{user_id}:{}",
        mac(secret, tenant_id, user_id)
    )
}

/// The organization and user of a tag [`tag`] made with the same secret; `None` for any other
/// string (someone else's tags, or a forged or altered one).
pub fn verify(secret: &[u8], tag: &str) -> Option<(TenantScope, Uuid)> {
    let mut parts = tag.split(':');
    let (prefix, tenant, user, given) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if prefix != PREFIX || parts.next().is_some() {
        return None;
    }
    let (tenant_id, user_id) = (Uuid::parse_str(tenant).ok()?, Uuid::parse_str(user).ok()?);
    let expected = mac(secret, tenant_id, user_id);
    // Constant-time comparison of the two MACs.
    let same = expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then(|| (TenantScope::trusted(tenant_id), user_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_issued_tag_verifies() {
        let scope = TenantScope::new_tenant();
        let user = Uuid::new_v4();
        let tag = tag(b"secret", &scope, user);
        assert_eq!(verify(b"secret", &tag), Some((scope, user)));
        assert_eq!(verify(b"other secret", &tag), None);
        let other = TenantScope::new_tenant().tenant_id();
        let forged = tag.replace(&scope.tenant_id().to_string(), &other.to_string());
        assert_eq!(
            verify(b"secret", &forged),
            None,
            "another organization's id"
        );
        assert_eq!(verify(b"secret", "tenant:x"), None);
        assert_eq!(verify(b"secret", &format!("{tag}:more")), None);
        assert!(tag.len() <= 128);
    }
}
