//! Access to memory the application shares with the device. The application may change it at
//! any moment, so the device only ever reads it with atomics or copies it out before looking.

use std::sync::atomic::{AtomicU8, Ordering};

pub use accelverbs_uapi::shared::SharedU32;

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
