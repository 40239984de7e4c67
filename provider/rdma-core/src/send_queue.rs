//! A QP's send queue as C drives it. Any thread may post on any QP, so the accelverbs QP (one
//! producer, `&mut`) sits behind a lock; and an `ibv_wr_start` … `ibv_wr_complete` sequence
//! holds it across calls (rdma-core's providers take their QP lock in `wr_start` and drop it in
//! `wr_complete`), so the lock is a flag taken and released by hand, not a guard.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

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
    /// The thread inside an `ibv_wr_*` sequence (0: none).
    sequence: AtomicI32,
    queue: UnsafeCell<Queue>,
}

/// This thread's id.
fn thread_id() -> i32 {
    // SAFETY: `gettid` takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

// SAFETY: `queue` is reached only by the holder of `locked` (acquire/release on it order the
// holders' accesses); `Qp` is `Send`.
unsafe impl Sync for SendQueue {}

impl SendQueue {
    pub fn new(qp: Qp) -> Self {
        let queue = Queue { qp, building: None, error: 0 };
        Self { locked: AtomicBool::new(false), sequence: AtomicI32::new(0), queue: UnsafeCell::new(queue) }
    }

    /// Takes the lock for the rest of this scope; `EDEADLK` from inside this thread's own
    /// `ibv_wr_*` sequence on the QP.
    pub fn lock(&self) -> Result<Guard<'_>, i32> {
        if self.in_own_sequence() {
            return Err(libc::EDEADLK);
        }
        self.acquire();
        Ok(Guard(self))
    }

    /// Runs `f` on the queue for `ibv_post_recv`, which touches only the receive queue: under
    /// the lock, or inside this thread's own `ibv_wr_*` sequence under the lock the sequence
    /// holds (the request being built is left alone), as verbs keeps the two queues apart.
    pub fn for_receive<R>(&self, f: impl FnOnce(&mut Queue) -> R) -> R {
        match self.in_sequence() {
            Some(queue) => f(queue),
            None => {
                self.acquire();
                f(&mut Guard(self))
            }
        }
    }

    /// `ibv_wr_start`: takes the lock until [`SendQueue::end_sequence`]; `false` (nothing
    /// taken) if this thread is already inside a sequence on the QP.
    pub fn begin_sequence(&self) -> bool {
        let me = thread_id();
        if self.sequence.load(Ordering::Relaxed) == me {
            return false;
        }
        self.acquire();
        self.sequence.store(me, Ordering::Relaxed);
        true
    }

    /// Whether this thread is inside a sequence on the QP. Only a thread stores its own id, so
    /// equality means it holds the lock; with no sequence open (the common case, every
    /// `ibv_post_send`) the thread's id, a system call, is not even asked for.
    fn in_own_sequence(&self) -> bool {
        let owner = self.sequence.load(Ordering::Relaxed);
        owner != 0 && owner == thread_id()
    }

    /// The queue, if this thread is inside a sequence on the QP.
    #[allow(clippy::mut_from_ref)] // The lock the sequence holds makes the reference unique.
    pub fn in_sequence(&self) -> Option<&mut Queue> {
        if !self.in_own_sequence() {
            return None;
        }
        // SAFETY: this thread holds the lock (checked above) and the verbs contract keeps a
        // thread's calls on a QP sequential, so no other reference from here is alive.
        Some(unsafe { &mut *self.queue.get() })
    }

    /// `ibv_wr_complete`, `ibv_wr_abort`: ends this thread's sequence.
    ///
    /// # Safety
    /// The caller is inside the sequence ([`SendQueue::in_sequence`] answered `Some`) and holds
    /// no reference it returned.
    pub unsafe fn end_sequence(&self) {
        self.sequence.store(0, Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
    }

    fn acquire(&self) {
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
