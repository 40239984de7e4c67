//! The control path to a device. A channel carries uverbs ioctls (the bytes of an
//! `ib_uverbs_ioctl_hdr` and its attributes, by address) and maps device pages; the provider
//! reaches a device through nothing else.

use std::fmt::Debug;
use std::ptr::NonNull;

/// One open of a device (a uverbs file).
///
/// # Safety
/// The provider trusts its channel as a program trusts its kernel. An implementation must
/// write only the memory that a call's attributes name as outputs, and `mmap` must return
/// memory valid for `len` bytes of atomic reads and writes for as long as the channel lives.
pub unsafe trait Channel: Send + Sync + Debug {
    /// `ioctl(fd, request, hdr_addr)`; `Err` carries the errno.
    ///
    /// # Safety
    /// `hdr_addr` is read as an `ib_uverbs_ioctl_hdr` and its attributes, which the device
    /// follows: every output they point at must be memory the device may write now, and
    /// memory they register must stay mapped, and free of Rust references while the device
    /// may use it, until the object naming it is destroyed. [`crate::ioctl::Command`] builds
    /// calls that keep this.
    unsafe fn ioctl(&self, request: u32, hdr_addr: u64) -> Result<(), i32>;

    /// `mmap(fd, offset, len)`.
    fn mmap(&self, offset: u64, len: usize) -> Result<NonNull<u8>, i32>;

    /// Runs QP `qpn`'s posted work on this thread (inline execution); devices that cannot,
    /// answer `EOPNOTSUPP`.
    fn drive_qp(&self, _qpn: u32) -> Result<(), i32> {
        Err(libc::EOPNOTSUPP)
    }

    /// Runs the posted work of every QP completing to CQ `cqn` on this thread.
    fn drive_cq(&self, _cqn: u32) -> Result<(), i32> {
        Err(libc::EOPNOTSUPP)
    }
}
