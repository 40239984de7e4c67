//! The control path to a device. A channel carries uverbs ioctls (the bytes of an
//! `ib_uverbs_ioctl_hdr` and its attributes, by address) and maps device pages; the provider
//! reaches a device through nothing else.

use std::fmt::Debug;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::Arc;

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

    /// Where memory the device reaches directly (rings, doorbell records, owned regions)
    /// must come from: `None` for a device that reaches this process's memory itself (in
    /// process, or a kernel), or the mapper of a device in another process.
    fn shared_memory(&self) -> Option<Arc<dyn SharedMemory>> {
        None
    }

    /// The device gave this process descriptor `fd` (a completion channel's) and the object
    /// it belongs to is destroyed: close it if the channel installed a copy of its own.
    fn release_fd(&self, _fd: RawFd) {}

    /// What carries the calls, for `accel devinfo`: "embedded", "daemon at PATH".
    fn describe(&self) -> String;

    /// A descriptor that reports `POLLHUP` once the device is gone for good (a daemon's
    /// socket), for waits that must not outlive it; `None` for a device that cannot go.
    fn gone_fd(&self) -> Option<RawFd> {
        None
    }
}

/// Memory shared with a device that lives in another process: mapped here and there.
///
/// # Safety
/// `map` must return memory valid for `len` bytes of reads and writes, zeroed, until `unmap`.
pub unsafe trait SharedMemory: Send + Sync + Debug {
    /// Maps `len` bytes (a multiple of the page size) that the device maps too.
    fn map(&self, len: usize) -> Result<NonNull<u8>, i32>;

    /// Tells the device the mapping goes, then unmaps it here.
    ///
    /// # Safety
    /// `ptr` and `len` are a mapping `map` returned, which nothing uses any more.
    unsafe fn unmap(&self, ptr: NonNull<u8>, len: usize);
}
