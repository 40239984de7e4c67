//! Waiting for events behind a descriptor that is readable while any wait (completion
//! channels, a context's asynchronous events).

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::Error;

/// Whether `gone` (a channel's [`crate::Channel::gone_fd`]) reports the device gone.
pub(crate) fn device_gone(gone: Option<RawFd>) -> bool {
    let Some(fd) = gone else { return false };
    let mut pfd = libc::pollfd { fd, events: 0, revents: 0 };
    // SAFETY: polls one valid pollfd that lives across the call, without waiting.
    unsafe { libc::poll(&mut pfd, 1, 0) > 0 && pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0 }
}

/// Takes events with `take` (`Ok(None)`: none waiting), sleeping in `poll(2)` on `fd` between
/// tries, until one arrives (`Some`) or `timeout` passes (`None`; no timeout waits forever).
/// A wait ends with `EIO` when `gone` reports the device gone. `op` names the verb in errors.
pub(crate) fn wait_for<T>(
    fd: RawFd,
    gone: Option<RawFd>,
    timeout: Option<Duration>,
    op: &'static str,
    mut take: impl FnMut() -> Result<Option<T>, i32>,
) -> Result<Option<T>, Error> {
    // A timeout too long to add to the clock is no timeout.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        if let Some(event) = take().map_err(|errno| Error::Verbs { op, errno })? {
            return Ok(Some(event));
        }
        let wait_ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                left.as_millis().clamp(1, i32::MAX as u128) as i32
            }
        };
        // The device's end reports only hang-up (no events asked), so a live one never wakes us.
        let mut pfds = [
            libc::pollfd { fd, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: gone.unwrap_or(-1), events: 0, revents: 0 },
        ];
        // SAFETY: polls two pollfds that live across the call (a negative fd is ignored).
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), 2, wait_ms) };
        if pfds[1].revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            return Err(Error::Verbs { op, errno: libc::EIO });
        }
        if rc < 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
            if errno != libc::EINTR {
                return Err(Error::Verbs { op, errno });
            }
        }
    }
}
