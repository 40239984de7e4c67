//! A queue of events behind a descriptor that is readable exactly while events wait: what
//! completion channels and a context's asynchronous events are made of.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use accelverbs_kernel_abi::Errno;

#[derive(Debug)]
pub struct EventQueue<T> {
    /// The end of a unix stream pair that the owner of the queue polls: it holds one byte
    /// exactly while events are queued. Both change together under the lock, so a reader can
    /// never see one without the other (a readable descriptor with nothing queued would make
    /// `poll` spin).
    ///
    /// The descriptor is handed to clients in other processes, who share its open file
    /// description and may clear its `O_NONBLOCK` or write to it. So it is no eventfd (whose
    /// count a client could fill, and whose blocking mode it could set, to stall the engine
    /// that raises the event): the device reads it and writes the other end only with
    /// `MSG_DONTWAIT`, which no flag of the description can override, and what a client
    /// sends on it arrives at `sender`, which nobody reads.
    readable: OwnedFd,
    /// The device's end, never handed out.
    sender: OwnedFd,
    events: Mutex<VecDeque<T>>,
}

impl<T> EventQueue<T> {
    pub fn new() -> Result<Self, Errno> {
        let mut fds = [0; 2];
        // SAFETY: socketpair writes two descriptors into `fds`, which lives across the call.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0 {
            return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOMEM)));
        }
        // SAFETY: both were just returned by socketpair and are owned by nobody else.
        let (readable, sender) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(Self { readable, sender, events: Mutex::new(VecDeque::new()) })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> RawFd {
        self.readable.as_raw_fd()
    }

    /// Queues `event` and makes the descriptor readable.
    pub fn push(&self, event: T) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.push_back(event);
        if events.len() == 1 {
            self.set_readable();
        }
    }

    /// Dequeues the oldest event.
    pub fn pop(&self) -> Option<T> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let event = events.pop_front()?;
        if events.is_empty() {
            self.clear_readable();
        }
        Some(event)
    }

    /// Drops the queued events `keep` says no to (those of an object being destroyed).
    pub fn retain(&self, keep: impl Fn(&T) -> bool) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let had_any = !events.is_empty();
        events.retain(keep);
        if had_any && events.is_empty() {
            self.clear_readable();
        }
    }

    fn set_readable(&self) {
        // SAFETY: sends 1 byte from a live buffer on our own socket; MSG_DONTWAIT makes it
        // fail rather than block, MSG_NOSIGNAL makes a peer shut down by a client EPIPE rather
        // than SIGPIPE. Either failure costs only that client its wake-up.
        unsafe { libc::send(self.sender.as_raw_fd(), [1u8].as_ptr().cast(), 1, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    }

    fn clear_readable(&self) {
        let mut byte = [0u8; 1];
        // SAFETY: receives at most 1 byte into a live buffer from our own socket; MSG_DONTWAIT
        // makes it return at once if a client already took the byte.
        unsafe { libc::recv(self.readable.as_raw_fd(), byte.as_mut_ptr().cast(), 1, libc::MSG_DONTWAIT) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable<T>(q: &EventQueue<T>) -> bool {
        let mut pfd = libc::pollfd { fd: q.fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: polls one valid pollfd without waiting.
        unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
    }

    /// Defect: the count was raised outside the lock, so a reader racing the writer left the
    /// descriptor readable with nothing queued. Both sides now move together.
    #[test]
    #[cfg_attr(miri, ignore = "sockets and poll")]
    fn readable_exactly_while_events_are_queued_under_contention() {
        const EVENTS: u64 = 200_000;
        let q = EventQueue::new().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| (0..EVENTS).for_each(|i| q.push(i)));
            let mut seen = 0;
            while seen < EVENTS {
                if q.pop().is_some() {
                    seen += 1;
                }
            }
        });
        assert!(q.pop().is_none());
        assert!(!readable(&q), "descriptor readable with no event queued");
    }

    #[test]
    #[cfg_attr(miri, ignore = "sockets and poll")]
    fn dropping_an_objects_events_drops_only_them_and_their_readiness() {
        let q = EventQueue::new().unwrap();
        q.push((1, 10));
        q.push((2, 20));
        q.push((1, 11));
        q.retain(|&(object, _)| object != 1);
        assert!(readable(&q));
        assert_eq!(q.pop(), Some((2, 20)));
        assert!(!readable(&q));
        assert_eq!(q.pop(), None);
    }
}
