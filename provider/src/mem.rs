//! Page-aligned, zeroed memory from the kernel: rings, doorbell records, owned MR buffers.

use std::ptr::NonNull;
use std::sync::Arc;

use crate::channel::SharedMemory;
use crate::Error;

/// Memory the device reaches: an anonymous private mapping, or one shared with a device in
/// another process. Unmapped on drop.
#[derive(Debug)]
pub(crate) struct PageBuffer {
    ptr: NonNull<u8>,
    len: usize,
    /// Who mapped it, when it is shared with another process.
    shared: Option<Arc<dyn SharedMemory>>,
}

// SAFETY: the mapping is owned by this value; access to its contents is governed by the
// types that hand out pointers into it.
unsafe impl Send for PageBuffer {}
// SAFETY: as above; `&PageBuffer` only exposes the address.
unsafe impl Sync for PageBuffer {}

impl PageBuffer {
    /// `len` bytes (rounded up to pages) the device behind `shared` reaches: shared with it
    /// if it lives in another process, else private to this one.
    pub fn for_device(len: usize, what: &'static str, shared: Option<Arc<dyn SharedMemory>>) -> Result<Self, Error> {
        let Some(shared) = shared else { return Self::new(len, what) };
        let len = len.max(1).checked_next_multiple_of(4096).ok_or(Error::Map { what, errno: libc::ENOMEM })?;
        let ptr = shared.map(len).map_err(|errno| Error::Map { what, errno })?;
        Ok(Self { ptr, len, shared: Some(shared) })
    }

    pub fn new(len: usize, what: &'static str) -> Result<Self, Error> {
        let len = len.max(1).checked_next_multiple_of(4096).ok_or(Error::Map { what, errno: libc::ENOMEM })?;
        // SAFETY: a fresh anonymous mapping; it aliases nothing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::Map { what, errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOMEM) });
        }
        Ok(Self { ptr: NonNull::new(p.cast()).ok_or(Error::Map { what, errno: libc::ENOMEM })?, len, shared: None })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Keeps the mapping for the rest of the process (drop then unmaps nothing): for memory a
    /// device may still use because it could not be told to stop (a destroy that failed).
    pub fn leak(&mut self) {
        self.len = 0;
    }
}

impl Drop for PageBuffer {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        if let Some(shared) = &self.shared {
            // SAFETY: the mapping `map` made; nothing uses it any more (its owners destroy
            // the device objects referencing it first).
            unsafe { shared.unmap(self.ptr, self.len) };
            return;
        }
        // SAFETY: unmaps exactly the mapping created in `new`, which nothing uses any more
        // (its owners destroy the device objects referencing it first).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
