//! The C boundary: no panic may unwind into libibverbs or the application (it would abort the
//! host program), and failures are reported the way each verb's C contract says.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs an entry point's body; a panic (a bug here, never an input) becomes `on_panic` and a
/// line on stderr instead of an abort of the host program.
pub fn guard<R>(verb: &str, on_panic: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(_) => {
            eprintln!("accelverbs: internal error in {verb}; the call failed");
            on_panic
        }
    }
}

/// Sets `errno` (for the verbs that return a pointer, NULL on failure).
pub fn set_errno(errno: i32) {
    // SAFETY: `__errno_location` returns this thread's errno slot.
    unsafe { *libc::__errno_location() = errno };
}

/// The errno a provider error stands for.
pub fn errno_of(error: &accelverbs::Error) -> i32 {
    error.errno().unwrap_or(libc::EIO)
}

/// NULL with `errno` set, for pointer-returning verbs.
pub fn null_with<T>(errno: i32) -> *mut T {
    set_errno(errno);
    std::ptr::null_mut()
}

/// Moves `value` to the heap for C to hold; [`reclaim`] takes it back.
pub fn leak<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back a box made by [`leak`].
///
/// # Safety
/// `ptr` came from `leak::<T>` and is not used again.
pub unsafe fn reclaim<T>(ptr: *mut T) -> Box<T> {
    // SAFETY: the caller's contract.
    unsafe { Box::from_raw(ptr) }
}

/// Waits until the application acked `reported` events of an object (`ibv_ack_cq_events`,
/// `ibv_ack_async_event` count them in `*completed` under `mutex` and signal `cond`).
///
/// # Safety
/// The three are the live object's, initialised by libibverbs.
pub unsafe fn wait_for_acks(
    mutex: *mut libc::pthread_mutex_t,
    cond: *mut libc::pthread_cond_t,
    completed: *const u32,
    reported: u32,
) {
    // SAFETY: the caller's contract; the count is read under the lock its writers hold.
    unsafe {
        libc::pthread_mutex_lock(mutex);
        while completed.read_volatile() != reported {
            libc::pthread_cond_wait(cond, mutex);
        }
        libc::pthread_mutex_unlock(mutex);
    }
}
