//! Arming a CQ for one completion event (`req_notify_cq`) without a lock, and without ever
//! sleeping through a completion.
//!
//! The poster publishes completions, then looks whether the CQ is armed; the arming thread
//! stores the arm, then looks whether completions are waiting. Each side's store must be
//! ordered before its load: that is the store-buffer pattern, which x86 reorders too, and it
//! would let both sides miss each other (the CQ stays armed over a completion and the waiter
//! sleeps). A SeqCst fence on each side between the store and the load forbids it: whichever
//! fence comes first in their total order, the other side's load sees its store.
//! `loom_tests` below checks the model.

use crate::sync::{fence, AtomicU8, Ordering};

const NONE: u8 = 0;
const ANY: u8 = 1;
const SOLICITED: u8 = 2;

/// The arm of one CQ.
#[derive(Debug)]
pub struct Arming {
    armed: AtomicU8,
}

impl Default for Arming {
    fn default() -> Self {
        Self { armed: AtomicU8::new(NONE) }
    }
}

impl Arming {
    /// Poster side, after publishing completions (`solicited`: any of them was solicited or
    /// an error). True when the caller must raise the event; the arm is used up.
    pub fn completions_published(&self, solicited: bool) -> bool {
        fence(Ordering::SeqCst);
        self.take(solicited)
    }

    /// Arms for the next completion (`solicited_only`: the next solicited one).
    /// `completions_waiting` is evaluated after the arm is visible; if it finds completions
    /// (and any completion will do), the arm fires at once. True when the caller must raise the
    /// event.
    pub fn arm(&self, solicited_only: bool, completions_waiting: impl FnOnce() -> bool) -> bool {
        self.armed.store(if solicited_only { SOLICITED } else { ANY }, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        !solicited_only && completions_waiting() && self.take(true)
    }

    /// Disarms if armed for this kind of completion; true if this call did.
    fn take(&self, solicited: bool) -> bool {
        let armed = self.armed.load(Ordering::Relaxed);
        if armed == NONE || (armed == SOLICITED && !solicited) {
            return false;
        }
        self.armed.compare_exchange(armed, NONE, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicU32;
    use loom::sync::Arc;

    /// A completion posted while the CQ is being armed raises exactly one event: never none
    /// (the lost wake-up), never two.
    #[test]
    fn arming_never_sleeps_through_a_completion() {
        loom::model(|| {
            let arming = Arc::new(Arming::default());
            let produced = Arc::new(AtomicU32::new(0));
            let poster = {
                let (arming, produced) = (Arc::clone(&arming), Arc::clone(&produced));
                loom::thread::spawn(move || {
                    produced.fetch_add(1, Ordering::AcqRel);
                    u32::from(arming.completions_published(false))
                })
            };
            let at_arm = u32::from(arming.arm(false, || produced.load(Ordering::Acquire) != 0));
            let events = at_arm + poster.join().unwrap();
            assert_eq!(events, 1);
        });
    }

    /// Solicited-only arms ignore plain completions, and fire for a solicited one.
    #[test]
    fn solicited_arms_wait_for_a_solicited_completion() {
        loom::model(|| {
            let arming = Arc::new(Arming::default());
            assert!(!arming.arm(true, || true));
            let poster = {
                let arming = Arc::clone(&arming);
                loom::thread::spawn(move || (arming.completions_published(false), arming.completions_published(true)))
            };
            assert_eq!(poster.join().unwrap(), (false, true));
        });
    }
}
