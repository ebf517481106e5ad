//! One transaction that creates accounts and organizations with their uniqueness claims. Each
//! conditional write is added with the [`Claim`] it stands for, so a cancelled transaction
//! comes back as the claim that did not hold ([`CreationError::Taken`]), never as a position
//! in a write list.

use thanotopolis_store::{Store, StoreError, Write};

/// What a conditional write of a creation claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The account's e-mail address within its organization.
    Email,
    /// The account's username within its organization.
    Username,
    /// The organization's subdomain, across organizations.
    Subdomain,
    /// The organization joined exists and is active.
    ActiveTenant,
    /// The item being created does not exist yet (a fresh id: only a race can take it).
    NewItem,
}

#[derive(Debug, thiserror::Error)]
pub enum CreationError {
    #[error("{0:?} is taken")]
    Taken(Claim),
    /// Raced with another transaction on the same items; nothing was written.
    #[error("creation conflicted with a concurrent one")]
    Conflict,
    #[error(transparent)]
    Store(StoreError),
}

/// The writes of one creation, each conditional one with its claim.
#[derive(Default)]
pub struct Creation {
    writes: Vec<Write>,
    claims: Vec<Option<Claim>>,
}

impl Creation {
    pub fn new() -> Self {
        Self::default()
    }

    /// A write whose condition stands for `claim`.
    pub fn claim(&mut self, claim: Claim, write: Write) {
        self.writes.push(write);
        self.claims.push(Some(claim));
    }

    /// Writes whose conditions only a race can fail (a session's fresh keys).
    pub fn extend(&mut self, writes: impl IntoIterator<Item = Write>) {
        for write in writes {
            self.writes.push(write);
            self.claims.push(None);
        }
    }

    /// Commits all writes or none; a failed condition names its claim.
    pub async fn commit(self, store: &dyn Store) -> Result<(), CreationError> {
        match store.transact(self.writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionCanceled { failed }) => Err(failed
                .iter()
                .find_map(|i| self.claims.get(*i).copied().flatten())
                .map_or(CreationError::Conflict, CreationError::Taken)),
            Err(StoreError::TransactionConflict) => Err(CreationError::Conflict),
            Err(e) => Err(CreationError::Store(e)),
        }
    }
}

/// What importing one record of the old backend did (or, in a dry run, would do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Imported {
    Created,
    /// Imported before: nothing was written.
    AlreadyThere,
    /// Cannot be imported, and why (the importer lists it; nothing was written).
    Refused(String),
}
