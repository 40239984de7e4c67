//! A QP's send queue as C drives it. Any thread may post on any QP, so the accelverbs QP (one
//! producer, `&mut`) sits behind a lock; and an `ibv_wr_start` … `ibv_wr_complete` sequence
//! holds it across calls (rdma-core's providers take their QP lock in `wr_start` and drop it in
//! `wr_complete`), so the lock is a flag taken and released by hand, not a guard.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

use accelverbs::uapi::wqe::Wqe;
use accelverbs::Qp;

/// What the lock protects.
pub struct Queue {
    pub qp: Qp,
    /// The `ibv_wr_*` request being built (its opcode given, its SGE maybe not yet).
    pub building: Option<Wqe>,
    /// The first error of the current `ibv_wr_*` sequence, reported by `wr_complete`.
    pub error: i32,
}

pub struct SendQueue {
    locked: AtomicBool,
    queue: UnsafeCell<Queue>,
}

// SAFETY: `queue` is reached only by the holder of `locked` (acquire/release on it order the
// holders' accesses); `Qp` is `Send`.
unsafe impl Sync for SendQueue {}

impl SendQueue {
    pub fn new(qp: Qp) -> Self {
        Self { locked: AtomicBool::new(false), queue: UnsafeCell::new(Queue { qp, building: None, error: 0 }) }
    }

    /// Takes the lock for the rest of this scope.
    pub fn lock(&self) -> Guard<'_> {
        self.acquire();
        Guard(self)
    }

    /// Takes the lock until [`SendQueue::release`] (`ibv_wr_start`).
    pub fn acquire(&self) {
        let mut spins = 0u32;
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Releases the lock taken by [`SendQueue::acquire`] (`ibv_wr_complete`, `ibv_wr_abort`).
    ///
    /// # Safety
    /// The calling sequence holds the lock, and no reference from [`SendQueue::held`] remains.
    pub unsafe fn release(&self) {
        self.locked.store(false, Ordering::Release);
    }

    /// The queue, while the calling sequence holds the lock.
    ///
    /// # Safety
    /// The caller holds the lock (taken by `acquire`, the verbs contract for `ibv_wr_*`), and
    /// keeps no other reference from this method alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn held(&self) -> &mut Queue {
        // SAFETY: the caller's contract.
        unsafe { &mut *self.queue.get() }
    }
}

/// The lock, held for a scope.
pub struct Guard<'a>(&'a SendQueue);

impl Deref for Guard<'_> {
    type Target = Queue;
    fn deref(&self) -> &Queue {
        // SAFETY: this guard holds the lock.
        unsafe { &*self.0.queue.get() }
    }
}

impl DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Queue {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.0.queue.get() }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.locked.store(false, Ordering::Release);
    }
}
