//! The sleep/wake handshake on an engine's wake word ([`crate::doorbell::EngineWakeWord`]),
//! both halves in one place: the provider calls [`poster_must_wake`] after publishing a
//! producer index, the device's engine calls [`engine_may_sleep`] before it sleeps.
//!
//! The poster stores its producer index and then reads the wake word; the engine stores the
//! wake word and then reads the producer indices. That is the store-buffer pattern: without a
//! SeqCst fence between each side's store and load, both could read the old value, the engine
//! sleeps and the work waits for its timeout. With the fences, whichever comes first in their
//! total order, the other side sees its store: either the poster sees the engine asleep (and
//! wakes it), or the engine sees the work (and stays up). `loom_tests` checks the model; the
//! system call itself (futex) stays with each side.

use core::sync::atomic::Ordering;

use crate::shared::SharedU32;

#[cfg(all(test, loom))]
use loom::sync::atomic::fence;

#[cfg(not(all(test, loom)))]
use core::sync::atomic::fence;

/// The word both sides reach: [`SharedU32`] in the device's UAR page (or a model's atomic).
pub trait WakeWord {
    fn load(&self, order: Ordering) -> u32;
    fn store(&self, value: u32, order: Ordering);
    fn swap(&self, value: u32, order: Ordering) -> u32;
}

impl WakeWord for SharedU32 {
    fn load(&self, order: Ordering) -> u32 {
        SharedU32::load(self, order)
    }
    fn store(&self, value: u32, order: Ordering) {
        SharedU32::store(self, value, order)
    }
    fn swap(&self, value: u32, order: Ordering) -> u32 {
        SharedU32::swap(self, value, order)
    }
}

/// Poster side, after publishing a producer index: true if the engine announced sleep and the
/// caller must wake it (`FUTEX_WAKE`); the announcement is taken, so one poster wakes it.
/// While the engine polls this costs a fence and one load, no system call.
pub fn poster_must_wake(wake: &impl WakeWord) -> bool {
    fence(Ordering::SeqCst);
    wake.load(Ordering::Relaxed) != 0 && wake.swap(0, Ordering::SeqCst) != 0
}

/// Engine side: announces sleep, then runs `work_appeared` once more. True: sleep on the
/// word while it reads 1 (`FUTEX_WAIT`). False: work appeared, the announcement is withdrawn.
pub fn engine_may_sleep(wake: &impl WakeWord, work_appeared: impl FnOnce() -> bool) -> bool {
    wake.store(1, Ordering::Relaxed);
    fence(Ordering::SeqCst);
    if work_appeared() {
        wake.store(0, Ordering::Relaxed);
        return false;
    }
    true
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicU32;
    use loom::sync::Arc;

    struct Word(AtomicU32);

    impl WakeWord for Word {
        fn load(&self, order: Ordering) -> u32 {
            self.0.load(order)
        }
        fn store(&self, value: u32, order: Ordering) {
            self.0.store(value, order)
        }
        fn swap(&self, value: u32, order: Ordering) -> u32 {
            self.0.swap(value, order)
        }
    }

    /// A poster publishing while the engine decides to sleep: if the engine sleeps, the poster
    /// saw it and wakes it. No lost wake-up.
    #[test]
    fn an_engine_never_sleeps_through_a_doorbell() {
        loom::model(|| {
            let wake = Arc::new(Word(AtomicU32::new(0)));
            let producer = Arc::new(AtomicU32::new(0));
            let poster = {
                let (wake, producer) = (Arc::clone(&wake), Arc::clone(&producer));
                loom::thread::spawn(move || {
                    producer.store(1, Ordering::Release);
                    poster_must_wake(&*wake)
                })
            };
            let slept = engine_may_sleep(&*wake, || producer.load(Ordering::Acquire) != 0);
            let woke = poster.join().unwrap();
            assert!(!slept || woke, "the engine sleeps and nobody wakes it");
        });
    }
}
