//! Completion channels: an eventfd that is readable while events are queued.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use accelverbs_kernel_abi::{Errno, HwCompChannel};

/// A completion channel on the soft device.
#[derive(Debug)]
pub struct SoftCompChannel {
    /// Semaphore-mode eventfd: its count equals the number of queued events.
    fd: OwnedFd,
    events: Mutex<VecDeque<u64>>,
}

impl SoftCompChannel {
    pub fn new() -> Result<Self, Errno> {
        // SAFETY: eventfd takes no pointers; a non-negative return is a new descriptor we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_SEMAPHORE | libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOMEM)));
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd, events: Mutex::new(VecDeque::new()) })
    }

    /// Queues an event for the CQ with `user_handle` and makes the descriptor readable.
    pub fn push(&self, user_handle: u64) {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).push_back(user_handle);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

impl HwCompChannel for SoftCompChannel {
    fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    fn next_event(&self) -> Option<u64> {
        let event = self.events.lock().unwrap_or_else(|e| e.into_inner()).pop_front()?;
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd; in semaphore
        // mode this takes exactly one count, matching the event just dequeued.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        Some(event)
    }
}
