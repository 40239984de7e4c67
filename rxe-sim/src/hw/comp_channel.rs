//! Completion channels: an eventfd that is readable exactly while events are queued.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use accelverbs_kernel_abi::{Errno, HwCompChannel};

/// One fired CQ, waiting to be read.
#[derive(Debug, Clone, Copy)]
struct Event {
    cqn: u32,
    user_handle: u64,
}

/// A completion channel on the soft device.
#[derive(Debug)]
pub struct SoftCompChannel {
    /// Semaphore-mode eventfd. Its count equals the length of `events` whenever the lock is
    /// free: both change together under the lock, so a reader can never see one without the
    /// other (a readable descriptor with nothing queued would make `poll` spin).
    fd: OwnedFd,
    events: Mutex<VecDeque<Event>>,
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

    /// Queues an event for CQ `cqn` (reported as `user_handle`) and makes the descriptor
    /// readable.
    pub fn push(&self, cqn: u32, user_handle: u64) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.push_back(Event { cqn, user_handle });
        self.add_count();
    }

    /// Drops the queued events of CQ `cqn`, which is being destroyed: the kernel purges a
    /// destroyed CQ's events from its channel too (`ib_uverbs_release_ucq`).
    pub fn purge(&self, cqn: u32) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let before = events.len();
        events.retain(|e| e.cqn != cqn);
        for _ in events.len()..before {
            self.take_count();
        }
    }

    fn add_count(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd. It cannot block or fail
        // short of 2^64 - 2 queued events.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn take_count(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd; in semaphore
        // mode this takes exactly one count, which exists because it mirrors a queued event.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

impl HwCompChannel for SoftCompChannel {
    fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    fn next_event(&self) -> Option<u64> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let event = events.pop_front()?;
        self.take_count();
        Some(event.user_handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(c: &SoftCompChannel) -> bool {
        let mut pfd = libc::pollfd { fd: c.fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: polls one valid pollfd without waiting.
        unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
    }

    /// Defect: the count was raised outside the lock, so a reader racing the writer left the
    /// descriptor readable with nothing queued. Both sides now move together.
    #[test]
    #[cfg_attr(miri, ignore = "eventfd and poll")]
    fn readable_exactly_while_events_are_queued_under_contention() {
        const EVENTS: u64 = 200_000;
        let c = SoftCompChannel::new().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| (0..EVENTS).for_each(|i| c.push(1, i)));
            let mut seen = 0;
            while seen < EVENTS {
                if c.next_event().is_some() {
                    seen += 1;
                }
            }
        });
        assert!(c.next_event().is_none());
        assert!(!readable(&c), "descriptor readable with no event queued");
    }

    #[test]
    #[cfg_attr(miri, ignore = "eventfd and poll")]
    fn purging_a_cq_drops_only_its_events_and_their_readiness() {
        let c = SoftCompChannel::new().unwrap();
        c.push(1, 10);
        c.push(2, 20);
        c.push(1, 11);
        c.purge(1);
        assert!(readable(&c));
        assert_eq!(c.next_event(), Some(20));
        assert!(!readable(&c));
        assert_eq!(c.next_event(), None);
    }
}
