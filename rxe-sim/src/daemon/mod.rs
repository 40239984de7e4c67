//! `accel-simd`: the soft device as a service many processes share, each connection one
//! uverbs file (see `uapi::daemon` for the protocol, docs/DAEMON.md for the threat model).

mod client_space;
mod connection;
pub(crate) mod log;
mod server;
mod shared_mapping;

pub use accelverbs_uapi::daemon::transport::sealed_memfd;
pub use server::{ClientLimits, Listener};
