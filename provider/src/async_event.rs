//! A context's asynchronous events (`ibv_get_async_event`): what the device reports about a
//! QP outside any completion, such as stopping it on its own.

use std::time::Duration;

use accelverbs_uapi::async_event::{AsyncEventDesc, AsyncEventType};
use accelverbs_uapi::ids::{device, object};

use crate::event_wait::wait_for;
use crate::ioctl::Command;
use crate::{Context, Error};

/// One asynchronous event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsyncEvent {
    pub kind: AsyncEventType,
    /// The QP it is about ([`crate::Qp::qpn`]).
    pub qpn: u32,
}

impl<B> Context<B> {
    /// The descriptor that is readable while asynchronous events wait, for poll or epoll.
    pub fn async_event_fd(&self) -> Result<std::os::fd::RawFd, Error> {
        if let Some(&fd) = self.inner.async_fd.get() {
            return Ok(fd);
        }
        let mut fd: i32 = -1;
        let mut cmd = Command::new(object::DEVICE, device::METHOD_ASYNC_EVENT_FD);
        cmd.output(device::ATTR_ASYNC_EVENT_FD, &mut fd);
        self.inner.run("async_event_fd", &mut cmd)?;
        // Two threads asking at once each got one; the loser's stays with the channel.
        Ok(*self.inner.async_fd.get_or_init(|| fd))
    }

    /// A descriptor that reports `POLLHUP` once the device is gone (a daemon's socket), to
    /// poll beside [`Context::async_event_fd`]; `None` for a device that cannot go.
    pub fn device_gone_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.channel.gone_fd()
    }

    /// Waits for the next asynchronous event (`ibv_get_async_event`), or `None` after
    /// `timeout` (`None` waits forever). When the device goes away (its daemon exits), the
    /// next event is [`AsyncEventType::DeviceFatal`], once; calls fail with `EIO` after it.
    pub fn get_async_event(&self, timeout: Option<Duration>) -> Result<Option<AsyncEvent>, Error> {
        let gone = self.inner.channel.gone_fd();
        let fatal = AsyncEvent { kind: AsyncEventType::DeviceFatal, qpn: 0 };
        let report_fatal = || !self.inner.fatal_reported.swap(true, std::sync::atomic::Ordering::AcqRel);
        if crate::event_wait::device_gone(gone) && report_fatal() {
            return Ok(Some(fatal));
        }
        // The device may go at any point of this call: an EIO then is the fatal event, once.
        let fatal_or = |e: Error| match e {
            Error::Verbs { errno: libc::EIO, .. } if crate::event_wait::device_gone(gone) && report_fatal() => Ok(Some(fatal)),
            e => Err(e),
        };
        let fd = match self.async_event_fd() {
            Ok(fd) => fd,
            Err(e) => return fatal_or(e),
        };
        let waited = wait_for(fd, gone, timeout, "get_async_event", || {
            let mut desc = AsyncEventDesc::default();
            let mut cmd = Command::new(object::DEVICE, device::METHOD_GET_ASYNC_EVENT);
            cmd.output(device::ATTR_GET_ASYNC_EVENT_DESC, &mut desc);
            match self.inner.call(&mut cmd) {
                Ok(()) => Ok(Some(desc)),
                Err(libc::EAGAIN) => Ok(None),
                Err(errno) => Err(errno),
            }
        });
        let event = match waited {
            Ok(event) => event,
            Err(e) => return fatal_or(e),
        };
        event
            .map(|desc| {
                let kind = AsyncEventType::try_from(desc.event_type)
                    .map_err(|_| Error::Protocol { op: "get_async_event", detail: "unknown event type" })?;
                Ok(AsyncEvent { kind, qpn: desc.number })
            })
            .transpose()
    }
}
