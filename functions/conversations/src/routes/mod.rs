//! The conversations function's routes, one file per resource: each parses the request, calls
//! the domain function in `thanotopolis-conversations` and shapes the answer.

pub(crate) mod agents;
pub(crate) mod conversations;
pub(crate) mod export;
pub(crate) mod listing;
pub(crate) mod messages;
pub(crate) mod participants;
pub(crate) mod sockets;
