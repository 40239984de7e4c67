//! The provider's side of the doorbell protocol, with each barrier named for what it orders.

use std::sync::atomic::Ordering;

use accelverbs_uapi::shared::SharedU32;
use accelverbs_uapi::wake::poster_must_wake;

/// Publishes WQEs written below `producer`: the release store orders the WQE bytes before the
/// index, so a device that reads the index with acquire sees whole WQEs.
pub(crate) fn publish_producer(db_producer: &SharedU32, producer: u32) {
    db_producer.store(producer, Ordering::Release);
}

/// Wakes the engine if it announced sleep: the handshake (and why it loses no wake-up) is
/// `accelverbs_uapi::wake`, shared with the engine's side; no system call while it polls.
pub(crate) fn wake_engine_if_sleeping(wake: &SharedU32) {
    if poster_must_wake(wake) {
        // SAFETY: FUTEX_WAKE on a valid aligned u32; the kernel does not dereference it.
        unsafe { libc::syscall(libc::SYS_futex, wake.as_ptr(), libc::FUTEX_WAKE, 1, 0usize, 0usize, 0u32) };
    }
}
