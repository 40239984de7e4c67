//! Access to memory the application shares with the device. The application may change it at
//! any moment, so the device only ever reads it with atomics or copies it out before looking.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// A `u32` in shared memory (a doorbell index or wake word).
#[derive(Debug, Clone, Copy)]
pub struct SharedU32(*const AtomicU32);

// SAFETY: the pointee is an atomic in memory that stays mapped while its owner may access it
// (until the owning object is quiesced; see `SharedU32::new`); atomics are safe to use from any
// thread.
unsafe impl Send for SharedU32 {}
// SAFETY: as above; every access is an atomic operation.
unsafe impl Sync for SharedU32 {}

impl SharedU32 {
    /// # Safety
    /// `ptr` must be 4-byte aligned and stay valid for reads and writes for as long as the
    /// returned value (or a copy) is used.
    pub unsafe fn new(ptr: *mut u8) -> Self {
        Self(ptr.cast::<AtomicU32>())
    }

    pub fn load(&self, order: Ordering) -> u32 {
        // SAFETY: valid and aligned per `new`'s contract.
        unsafe { (*self.0).load(order) }
    }

    pub fn store(&self, value: u32, order: Ordering) {
        // SAFETY: valid and aligned per `new`'s contract.
        unsafe { (*self.0).store(value, order) }
    }

    pub fn swap(&self, value: u32, order: Ordering) -> u32 {
        // SAFETY: valid and aligned per `new`'s contract.
        unsafe { (*self.0).swap(value, order) }
    }

    pub fn as_ptr(&self) -> *const AtomicU32 {
        self.0
    }
}

/// Publishes a byte (a CQE's owner bit) with release ordering.
///
/// # Safety
/// `ptr` must be valid for writes.
pub unsafe fn store_release_u8(ptr: *mut u8, value: u8) {
    // SAFETY: valid per the caller; AtomicU8 has alignment 1.
    unsafe { AtomicU8::from_ptr(ptr).store(value, Ordering::Release) }
}

/// Sleeps while `*word == expected` (FUTEX_WAIT), at most `timeout`.
pub fn futex_wait(word: &SharedU32, expected: u32, timeout: std::time::Duration) {
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    // SAFETY: the futex word is a valid aligned u32 (SharedU32 contract); the kernel only reads
    // it and `ts`, which lives across the call.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, &ts as *const libc::timespec, 0usize, 0u32);
    }
}

/// Wakes one waiter on `word` (FUTEX_WAKE).
pub fn futex_wake(word: &SharedU32) {
    // SAFETY: the futex word is a valid aligned u32; FUTEX_WAKE does not access it.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1, 0usize, 0usize, 0u32);
    }
}
