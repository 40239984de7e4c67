//! The atomics the device's lock-free protocols use: std's, or loom's when the crate is built
//! with `--cfg loom` so the protocol modules can be model-checked (`tests/loom.sh`).

#[cfg(all(test, loom))]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU8, Ordering};
#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU8, Ordering};

/// A busy-wait step: under loom, a yield so the model lets the awaited thread run.
pub(crate) fn spin_loop() {
    #[cfg(all(test, loom))]
    loom::thread::yield_now();
    #[cfg(not(all(test, loom)))]
    std::hint::spin_loop();
}
