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

    /// Waits for the next asynchronous event (`ibv_get_async_event`), or `None` after
    /// `timeout` (`None` waits forever).
    pub fn get_async_event(&self, timeout: Option<Duration>) -> Result<Option<AsyncEvent>, Error> {
        let fd = self.async_event_fd()?;
        let event = wait_for(fd, timeout, "get_async_event", || {
            let mut desc = AsyncEventDesc::default();
            let mut cmd = Command::new(object::DEVICE, device::METHOD_GET_ASYNC_EVENT);
            cmd.output(device::ATTR_GET_ASYNC_EVENT_DESC, &mut desc);
            match self.inner.call(&mut cmd) {
                Ok(()) => Ok(Some(desc)),
                Err(libc::EAGAIN) => Ok(None),
                Err(errno) => Err(errno),
            }
        })?;
        event
            .map(|desc| {
                let kind = AsyncEventType::try_from(desc.event_type)
                    .map_err(|_| Error::Protocol { op: "get_async_event", detail: "unknown event type" })?;
                Ok(AsyncEvent { kind, qpn: desc.number })
            })
            .transpose()
    }
}
