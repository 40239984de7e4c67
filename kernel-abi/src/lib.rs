//! The accelverbs driver, written the way a kernel RDMA driver is: it validates what user space
//! asks for, accounts resources against the device's limits, keeps the objects' parent/child
//! rules, and programs the engines' queues. It reaches the rest of the world only through two
//! traits, so the same code can sit behind the user-space soft device (`rxe-sim`) today and in
//! a kernel module later:
//!
//! - [`RdmaCore`]: what the RDMA core gives a driver (pinning user pages, `ib_umem_get`).
//! - [`Hardware`]: the engines — MR translation table, completion queues, send queues.
//!
//! The crate is `#![no_std]` with `alloc`; it holds no locks (object state is atomics, and the
//! object tables belong to the uverbs layer that calls it).
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod device;
mod errno;
mod hardware;
pub mod objects;
mod qp_state;
mod resources;
#[cfg(test)]
mod tests;

pub use device::{Driver, Limits};
pub use errno::Errno;
pub use hardware::{
    CompStreamSetup, CqSetup, CryptoKeySetup, Hardware, HwAsyncEvents, HwCompChannel, HwCq, HwQp, MrSetup, PinnedMemory, QpSetup,
    RdmaCore, Reach, RecvQueueSetup, UserCopy,
};
pub use qp_state::transition_allowed;
pub use resources::{ResourceCounter, ResourceGuard};
