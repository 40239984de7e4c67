//! The provider's side of the doorbell protocol, with each barrier named for what it orders.

use std::sync::atomic::{fence, Ordering};

use accelverbs_uapi::shared::SharedU32;

/// Publishes WQEs written below `producer`: the release store orders the WQE bytes before the
/// index, so a device that reads the index with acquire sees whole WQEs.
pub(crate) fn publish_producer(db_producer: &SharedU32, producer: u32) {
    db_producer.store(producer, Ordering::Release);
}

/// Wakes the engine if it announced sleep. The SeqCst fence orders our producer store before
/// the wake-word load; the engine fences between setting the word and re-checking producers.
/// So either it sees our work or we see it sleeping: no lost wake-up, and no system call while
/// it polls.
pub(crate) fn wake_engine_if_sleeping(wake: &SharedU32) {
    fence(Ordering::SeqCst);
    if wake.load(Ordering::Relaxed) != 0 && wake.swap(0, Ordering::SeqCst) != 0 {
        // SAFETY: FUTEX_WAKE on a valid aligned u32; the kernel does not dereference it.
        unsafe { libc::syscall(libc::SYS_futex, wake.as_ptr(), libc::FUTEX_WAKE, 1, 0usize, 0usize, 0u32) };
    }
}
