//! The admin dashboard's figures, shared by the admin API (which serves them) and the scheduled
//! rollup (which snapshots them for super_admins): the window a usage figure covers, the
//! figures themselves, and the all-organization snapshot.

pub mod figures;
pub mod snapshot;
mod window;

pub use window::Window;
