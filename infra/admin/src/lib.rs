//! The operator's tool, `thanotopolis-admin`, as a library: what its commands do, so tests run
//! them on a test's store. `import_postgres` brings an old backend's database into the store.

pub mod import_postgres;
