//! The daemon's mapping of a client's sealed memfd.

use std::os::fd::{AsRawFd, BorrowedFd};

use accelverbs_kernel_abi::Errno;

/// A shared mapping of a whole sealed memfd, unmapped when the last pin of it goes.
#[derive(Debug)]
pub struct SharedMapping {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by this value; the device reaches its bytes only through the
// atomics and copies its shared-memory rules prescribe.
unsafe impl Send for SharedMapping {}
// SAFETY: as above.
unsafe impl Sync for SharedMapping {}

impl SharedMapping {
    /// Maps `len` bytes of `fd`, which the caller checked is a memfd sealed against
    /// shrinking and at least that long, so the mapping can never lose its backing.
    pub fn map(fd: BorrowedFd<'_>, len: usize) -> Result<Self, Errno> {
        // SAFETY: a new shared mapping of a file; it aliases no memory of this process.
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.as_raw_fd(), 0)
        };
        if base == libc::MAP_FAILED {
            return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOMEM)));
        }
        Ok(Self { base: base.cast(), len })
    }

    pub fn base(&self) -> *mut u8 {
        self.base
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `map` mapped; every pin holds an `Arc` of this value, so
        // nothing reaches it any more.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}
