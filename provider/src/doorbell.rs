//! The provider's side of the doorbell protocol, with each barrier named for what it orders.

use std::sync::atomic::{fence, AtomicU32, Ordering};

/// A `u32` in memory shared with the device.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedIndex(*const AtomicU32);

// SAFETY: points at an atomic inside a mapping owned by the object holding this value.
unsafe impl Send for SharedIndex {}
// SAFETY: as above; all access is atomic.
unsafe impl Sync for SharedIndex {}

impl SharedIndex {
    /// # Safety
    /// `ptr` must be 4-byte aligned and valid for as long as the value is used.
    pub unsafe fn new(ptr: *mut u8) -> Self {
        Self(ptr.cast::<AtomicU32>())
    }

    fn atomic(&self) -> &AtomicU32 {
        // SAFETY: valid and aligned per `new`'s contract.
        unsafe { &*self.0 }
    }

    pub fn load(&self, order: Ordering) -> u32 {
        self.atomic().load(order)
    }

    pub fn store(&self, v: u32, order: Ordering) {
        self.atomic().store(v, order)
    }
}

/// Publishes WQEs written below `producer`: the release store orders the WQE bytes before the
/// index, so a device that reads the index with acquire sees whole WQEs.
pub(crate) fn publish_producer(db_producer: &SharedIndex, producer: u32) {
    db_producer.store(producer, Ordering::Release);
}

/// Wakes the engine if it announced sleep. The SeqCst fence orders our producer store before
/// the wake-word load; the engine fences between setting the word and re-checking producers.
/// So either it sees our work or we see it sleeping: no lost wake-up, and no system call while
/// it polls.
pub(crate) fn wake_engine_if_sleeping(wake: &SharedIndex) {
    fence(Ordering::SeqCst);
    if wake.load(Ordering::Relaxed) != 0 && wake.atomic().swap(0, Ordering::SeqCst) != 0 {
        // SAFETY: FUTEX_WAKE on a valid aligned u32; the kernel does not dereference it.
        unsafe { libc::syscall(libc::SYS_futex, wake.0, libc::FUTEX_WAKE, 1, 0usize, 0usize, 0u32) };
    }
}
