//! Completion channels: a file descriptor to sleep on until an armed CQ completes.

use std::marker::PhantomData;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use accelverbs_uapi::ids::{comp_channel as cc, object};

use crate::brand::Unbranded;
use crate::context::ContextInner;
use crate::event_wait::wait_for;
use crate::ioctl::Command;
use crate::{Context, Error};

#[derive(Debug)]
pub(crate) struct ChannelInner {
    pub ctx: Arc<ContextInner>,
    pub handle: u32,
    fd: RawFd,
}

impl Drop for ChannelInner {
    fn drop(&mut self) {
        let mut cmd = Command::new(object::COMP_CHANNEL, cc::METHOD_DESTROY);
        cmd.handle(cc::ATTR_HANDLE, self.handle);
        if self.ctx.call(&mut cmd).is_ok() {
            self.ctx.channel.release_fd(self.fd);
        }
    }
}

/// A completion channel (`ibv_comp_channel`). Its descriptor is readable while events are
/// queued, so it can sit in an epoll set; [`CompletionChannel::get_event`] blocks on it.
#[derive(Debug)]
pub struct CompletionChannel<B = Unbranded> {
    pub(crate) inner: Arc<ChannelInner>,
    brand: PhantomData<B>,
}

impl<B> Clone for CompletionChannel<B> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner), brand: PhantomData }
    }
}

impl<B> Context<B> {
    /// `ibv_create_comp_channel`.
    pub fn create_comp_channel(&self) -> Result<CompletionChannel<B>, Error> {
        let mut fd: i32 = -1;
        let mut cmd = Command::new(object::COMP_CHANNEL, cc::METHOD_ALLOC);
        let h = cmd.new_object(cc::ATTR_HANDLE);
        cmd.output(cc::ATTR_ALLOC_FD, &mut fd);
        self.inner.run("create_comp_channel", &mut cmd)?;
        let handle = cmd.new_handle(h);
        Ok(CompletionChannel { inner: Arc::new(ChannelInner { ctx: Arc::clone(&self.inner), handle, fd }), brand: PhantomData })
    }
}

impl<B> CompletionChannel<B> {
    /// Waits for the next event (`ibv_get_cq_event`) and returns the [`crate::Cq::id`] of the
    /// CQ that fired, or `None` after `timeout` (`None` waits forever). The CQ must be armed
    /// again with `req_notify` for its next event.
    pub fn get_event(&self, timeout: Option<Duration>) -> Result<Option<u64>, Error> {
        wait_for(self.inner.fd, self.inner.ctx.channel.gone_fd(), timeout, "get_cq_event", || {
            let mut user_handle = 0u64;
            let mut cmd = Command::new(object::COMP_CHANNEL, cc::METHOD_GET_EVENT);
            cmd.handle(cc::ATTR_HANDLE, self.inner.handle).output(cc::ATTR_GET_EVENT_CQ_USER_HANDLE, &mut user_handle);
            match self.inner.ctx.call(&mut cmd) {
                Ok(()) => Ok(Some(user_handle)),
                Err(libc::EAGAIN) => Ok(None),
                Err(errno) => Err(errno),
            }
        })
    }
}

impl<B> AsRawFd for CompletionChannel<B> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd
    }
}
