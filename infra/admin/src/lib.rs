//! The operator's tool, `thanotopolis-admin`, as a library: what its commands do, so tests run
//! them on a test's store. `archive` exports an organization to a JSON-lines file and imports
//! one back, `erase` deletes an organization everywhere, `import_postgres` brings an old
//! backend's database into the store.

pub mod archive;
mod contents;
pub mod erase;
pub mod import_postgres;
