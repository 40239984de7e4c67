//! The rule that once destroy returns, the device never touches the object's user memory
//! again, for the accesses that do not take the object's lock (an engine's lock-free look at a
//! doorbell to decide whether a QP has work).
//!
//! A look announces itself in `peeking` and then checks `closed`; `close` sets `closed` and
//! then waits for `peeking` to drain. A SeqCst fence sits between the store and the load on
//! each side (the Dekker pattern), so either the look sees the gate closed and reads nothing,
//! or `close` sees the look and waits for it. `loom_tests` below checks the model (loom
//! models SeqCst fences, not SeqCst accesses, which is one more reason to use fences).

use crate::sync::{fence, spin_loop, AtomicBool, AtomicU32, Ordering};

/// Guards lock-free device reads of one object's user memory against its destruction.
#[derive(Debug, Default)]
pub struct AccessGate {
    closed: AtomicBool,
    peeking: AtomicU32,
}

impl AccessGate {
    /// Runs `look` unless the gate is closed; `close` will not return while it runs.
    pub fn peek<R>(&self, look: impl FnOnce() -> R) -> Option<R> {
        self.peeking.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let result = (!self.closed.load(Ordering::Relaxed)).then(look);
        // Release: the look's reads happen before a `close` that sees the count drop.
        self.peeking.fetch_sub(1, Ordering::Release);
        result
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the gate and waits out the looks already inside: a handful of loads each, so
    /// spinning beats sleeping.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        // Acquire pairs with a finishing look's release.
        while self.peeking.load(Ordering::Acquire) != 0 {
            spin_loop();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Memory freed after `close` returns is never read by a look.
    #[test]
    fn no_look_reads_memory_freed_after_close() {
        loom::model(|| {
            let gate = Arc::new(AccessGate::default());
            let freed = Arc::new(AtomicBool::new(false));
            let engine = {
                let (gate, freed) = (Arc::clone(&gate), Arc::clone(&freed));
                loom::thread::spawn(move || {
                    gate.peek(|| assert!(!freed.load(Ordering::Relaxed), "read after destroy"));
                })
            };
            gate.close();
            freed.store(true, Ordering::Relaxed);
            engine.join().unwrap();
        });
    }
}
