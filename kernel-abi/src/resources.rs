//! Resource accounting against the device's limits, lock-free.

use core::sync::atomic::{AtomicU32, Ordering};

use alloc::sync::Arc;

use crate::Errno;

/// A count of live objects of one kind, with a ceiling from the device capabilities.
#[derive(Debug)]
pub struct ResourceCounter {
    live: AtomicU32,
    max: u32,
}

impl ResourceCounter {
    pub const fn new(max: u32) -> Self {
        Self { live: AtomicU32::new(0), max }
    }

    /// Takes one unit, or `ENOMEM` when the ceiling is reached (as the kernel's drivers do).
    pub fn acquire(self: &Arc<Self>) -> Result<ResourceGuard, Errno> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1))
            .map_err(|_| Errno::ENOMEM)?;
        Ok(ResourceGuard { counter: Arc::clone(self) })
    }

    pub fn live(&self) -> u32 {
        self.live.load(Ordering::Acquire)
    }

    pub fn max(&self) -> u32 {
        self.max
    }
}

/// One unit of a [`ResourceCounter`], given back when dropped; objects embed theirs.
#[derive(Debug)]
pub struct ResourceGuard {
    counter: Arc<ResourceCounter>,
}

impl Drop for ResourceGuard {
    fn drop(&mut self) {
        self.counter.live.fetch_sub(1, Ordering::AcqRel);
    }
}
