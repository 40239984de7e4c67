//! A `u32` in memory shared between the application and the device (a doorbell index, a
//! wake word): the one type both sides use to reach such a word, always atomically.

use core::sync::atomic::{AtomicU32, Ordering};

/// A view of an aligned `u32` in shared memory. Copying it copies the view, not the word.
#[derive(Debug, Clone, Copy)]
pub struct SharedU32(*const AtomicU32);

// SAFETY: the word is only ever accessed atomically, which is sound from any thread; keeping the
// memory mapped while a view is used is the contract of `SharedU32::new`.
unsafe impl Send for SharedU32 {}
// SAFETY: as above.
unsafe impl Sync for SharedU32 {}

impl SharedU32 {
    /// # Safety
    /// `ptr` must be 4-byte aligned and valid for atomic reads and writes for as long as the
    /// returned view (or a copy of it) is used.
    pub unsafe fn new(ptr: *mut u8) -> Self {
        Self(ptr.cast::<AtomicU32>())
    }

    #[inline]
    fn word(&self) -> &AtomicU32 {
        // SAFETY: aligned and valid while the view is used (`new`'s contract).
        unsafe { &*self.0 }
    }

    #[inline]
    pub fn load(&self, order: Ordering) -> u32 {
        self.word().load(order)
    }

    #[inline]
    pub fn store(&self, value: u32, order: Ordering) {
        self.word().store(value, order)
    }

    pub fn swap(&self, value: u32, order: Ordering) -> u32 {
        self.word().swap(value, order)
    }

    /// The word's address, for `futex(2)`, which names a word by address.
    pub fn as_ptr(&self) -> *const AtomicU32 {
        self.0
    }
}
