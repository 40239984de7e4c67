//! Fixed-size records on a `SOCK_SEQPACKET` socket pair whose one end the application reads
//! (a completion channel's or the context's async-event descriptor) and whose other end a
//! forwarding thread writes: sending one, and taking back the unread ones of an object that
//! is going away.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Sends `record` on our end; false if the application's end is closed (or full).
pub fn send<R: IntoBytes + Immutable>(ours: &OwnedFd, record: &R) -> bool {
    let bytes = record.as_bytes();
    // SAFETY: sends a live local's bytes; MSG_NOSIGNAL turns a closed peer into EPIPE.
    unsafe { libc::send(ours.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) == bytes.len() as isize }
}

/// Takes back, from the application's end `app_fd`, the unread records `mine` picks, and
/// sends the others again in their order; returns how many it took. The caller keeps the
/// forwarder from sending meanwhile.
pub fn take_back<R: FromBytes + IntoBytes + Immutable>(app_fd: RawFd, ours: &OwnedFd, mine: impl Fn(&R) -> bool) -> u32 {
    let mut taken = 0;
    let mut others = Vec::new();
    loop {
        let mut record = R::new_zeroed();
        let bytes = record.as_mut_bytes();
        // SAFETY: reads one record into a live local, without waiting.
        let n = unsafe { libc::recv(app_fd, bytes.as_mut_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT) };
        if n != bytes.len() as isize {
            break;
        }
        if mine(&record) {
            taken += 1;
        } else {
            others.push(record);
        }
    }
    for record in &others {
        send(ours, record);
    }
    taken
}
