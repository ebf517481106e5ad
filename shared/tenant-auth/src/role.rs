use serde::{Deserialize, Serialize};

/// The role ladder: `user` (also spelled `member`) < `org_admin` < `admin` < `super_admin`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[serde(alias = "member")]
    User,
    OrgAdmin,
    Admin,
    SuperAdmin,
}

impl Role {
    /// Parses the frontend's vocabulary; `member` (the original column default) means `user`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" | "member" => Some(Role::User),
            "org_admin" => Some(Role::OrgAdmin),
            "admin" => Some(Role::Admin),
            "super_admin" => Some(Role::SuperAdmin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::OrgAdmin => "org_admin",
            Role::Admin => "admin",
            Role::SuperAdmin => "super_admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
