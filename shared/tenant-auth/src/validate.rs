//! Raw input parsed into valid values at the edge; the rest of the program only holds valid
//! values. A [`Validator`] collects every problem of a request so the 422 lists them all.

use serde_json::Value;
use thanotopolis_service::{ApiError, ApiResult, FieldError};

/// Longest short text field (names, phone, username).
pub const MAX_SHORT_TEXT: usize = 255;
/// Longest long text field (descriptions).
pub const MAX_LONG_TEXT: usize = 4_000;
/// Largest free-form JSON object field (an address), serialized.
pub const MAX_OBJECT_BYTES: usize = 4_096;

/// A syntactically valid e-mail address, trimmed and lower-cased (addresses are compared
/// case-insensitively, as users type them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_lowercase();
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("value is not a valid email address: missing @");
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let valid = s.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
            && domain.contains('.')
            && domain.split('.').all(label_ok);
        if valid {
            Ok(EmailAddress(s))
        } else {
            Err("value is not a valid email address")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organization's subdomain: `[a-z0-9-]{3,63}`, not starting or ending with `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subdomain(String);

impl Subdomain {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_lowercase();
        let valid = (3..=63).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if valid {
            Ok(Subdomain(s))
        } else {
            Err("subdomain must be 3-63 characters of a-z, 0-9 and '-', not starting or ending with '-'")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of 8 to 256 characters (long enough to matter, short enough that hashing it
/// cannot be used to burn CPU).
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw.chars().count() {
            0..=7 => Err("String should have at least 8 characters"),
            8..=256 => Ok(Password(raw.to_string())),
            _ => Err("String should have at most 256 characters"),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Collects field errors; [`Validator::finish`] turns them into one 422.
#[derive(Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem found by the caller's own check.
    pub fn reject(&mut self, field: &str, msg: impl Into<String>) {
        self.errors
            .push(FieldError::new(&["body", field], "value_error", msg));
    }

    pub fn email(&mut self, field: &str, raw: &str) -> Option<EmailAddress> {
        EmailAddress::parse(raw)
            .map_err(|m| self.reject(field, m))
            .ok()
    }

    pub fn subdomain(&mut self, field: &str, raw: &str) -> Option<Subdomain> {
        Subdomain::parse(raw)
            .map_err(|m| self.reject(field, m))
            .ok()
    }

    pub fn password(&mut self, field: &str, raw: &str) -> Option<Password> {
        Password::parse(raw).map_err(|m| self.reject(field, m)).ok()
    }

    /// A required text of 1..=`max` characters, trimmed.
    pub fn text(&mut self, field: &str, raw: &str, max: usize) -> Option<String> {
        let t = raw.trim();
        if t.is_empty() {
            self.reject(field, "String should have at least 1 character");
            None
        } else {
            self.optional_text(field, Some(t), max).flatten()
        }
    }

    /// An optional text: `Some(None)` when absent or blank, `None` when invalid.
    pub fn optional_text(
        &mut self,
        field: &str,
        raw: Option<&str>,
        max: usize,
    ) -> Option<Option<String>> {
        let Some(t) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
            return Some(None);
        };
        if t.chars().count() > max {
            self.reject(
                field,
                format!("String should have at most {max} characters"),
            );
            return None;
        }
        if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            self.reject(field, "String must not contain control characters");
            return None;
        }
        Some(Some(t.to_string()))
    }

    /// An optional free-form JSON object of at most [`MAX_OBJECT_BYTES`].
    pub fn optional_object(&mut self, field: &str, raw: Option<&Value>) -> Option<Option<Value>> {
        match raw {
            None | Some(Value::Null) => Some(None),
            Some(v @ Value::Object(_)) if v.to_string().len() <= MAX_OBJECT_BYTES => {
                Some(Some(v.clone()))
            }
            Some(Value::Object(_)) => {
                self.reject(
                    field,
                    format!("Object should be at most {MAX_OBJECT_BYTES} bytes"),
                );
                None
            }
            Some(_) => {
                self.reject(field, "Input should be a valid dictionary");
                None
            }
        }
    }

    /// Ok when nothing failed; otherwise the 422 listing every problem.
    pub fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}
