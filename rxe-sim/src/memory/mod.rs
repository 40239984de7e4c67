//! The RDMA core's services for the process behind one uverbs file: what the kernel reaches
//! through `current` while it serves that file (`copy_from_user`, `copy_to_user`,
//! `ib_umem_get`, `fd_install`). In-process, the file's process is this one
//! ([`OwnProcess`]); behind the daemon it is the client at the other end of the socket
//! (`crate::daemon::ClientSpace`).

mod by_copy;
mod own_process;

use std::os::fd::BorrowedFd;
use std::sync::Arc;

use accelverbs_kernel_abi::{Errno, RdmaCore};

pub(crate) use by_copy::Charge;
pub use by_copy::{check_vmas, ClientCopy, CopiedRegion, ProcessCopy, ProcessFiles, Vma};
pub use own_process::{OwnProcess, UserPages};

/// The user side of one uverbs file.
pub trait UserSpace: Send + Sync + std::fmt::Debug {
    /// Reads `dst.len()` bytes at `addr`: `EFAULT` for memory the process cannot read, never
    /// a crash.
    fn copy_from_user(&self, dst: &mut [u8], addr: u64) -> Result<(), Errno>;
    /// Writes `src` at `addr`: `EFAULT` for memory the process cannot write.
    fn copy_to_user(&self, addr: u64, src: &[u8]) -> Result<(), Errno>;
    /// Pins memory of this process for the device, charged to its locked-memory limit.
    fn memory(&self) -> Arc<dyn RdmaCore>;
    /// Gives the process `fd` (`fd_install`) and returns its number there. The device keeps
    /// its own: in-process that is the same descriptor, so the caller must not close it.
    fn install_fd(&self, fd: BorrowedFd<'_>) -> Result<i32, Errno>;
    /// Who the process is, as `SO_PEERCRED` names it.
    fn credentials(&self) -> Credentials;
    /// Bytes this file has pinned, and the most it may.
    fn locked_memory(&self) -> (u64, u64);
    /// Bytes of memory the process shares with the device by mapping (0 in-process).
    fn shared_bytes(&self) -> u64 {
        0
    }
}

/// A process's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    pub pid: u32,
    pub uid: u32,
}

impl Credentials {
    /// This process's.
    pub fn own() -> Self {
        // SAFETY: getpid and getuid take nothing and cannot fail.
        unsafe { Self { pid: libc::getpid() as u32, uid: libc::getuid() } }
    }
}
