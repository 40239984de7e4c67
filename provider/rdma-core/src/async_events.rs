//! Asynchronous events as libibverbs reads them: `ibv_get_async_event` reads
//! `struct ib_uverbs_async_event_desc` records from the context's `async_fd`, whose element is
//! the `ibv_qp` the event is about.
//!
//! `async_fd` is one end of a `SOCK_SEQPACKET` socket pair made with the context; a forwarding
//! thread waits on the device's async-event descriptor and turns each event (which names the
//! QP by number) into a record naming the QP's `ibv_qp`. A destroyed QP leaves the map first,
//! then takes back its unread records, then waits until the application acked the ones it
//! read (`ibv_ack_async_event`), as `ibv_cmd_destroy_qp` does.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use accelverbs::uapi::async_event::{AsyncEventDesc, AsyncEventType};
use accelverbs::Context;

use crate::qp::PluginQp;

/// A context's async events.
pub struct AsyncEvents {
    /// The application's end (`async_fd`), owned by libibverbs, which closes it.
    app_fd: RawFd,
    /// Ours: the forwarder sends records here.
    ours: OwnedFd,
    /// The context's QPs by number, as `PluginQp` addresses.
    qps: Mutex<HashMap<u32, usize>>,
    forwarder: Mutex<Option<JoinHandle<()>>>,
}

impl AsyncEvents {
    /// Makes the socket pair and starts the forwarder for `ctx`; returns the events and the
    /// descriptor for `async_fd`.
    pub fn start(ctx: &Context) -> Result<(Arc<AsyncEvents>, RawFd), i32> {
        let device_fd = ctx.async_event_fd().map_err(|e| crate::ffi::errno_of(&e))?;
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EMFILE));
        }
        // SAFETY: `socketpair` returned two descriptors nothing else owns.
        let (app, ours) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let events =
            Arc::new(AsyncEvents { app_fd: app.as_raw_fd(), ours, qps: Mutex::new(HashMap::new()), forwarder: Mutex::new(None) });
        let (forwarded, ctx) = (Arc::clone(&events), ctx.clone());
        let thread = std::thread::Builder::new()
            .name("accelverbs-async".into())
            .spawn(move || forward(&forwarded, &ctx, device_fd))
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EAGAIN))?;
        *events.forwarder.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        Ok((events, app.into_raw_fd()))
    }

    /// Routes events about QP `qpn` to `qp`.
    pub fn add_qp(&self, qpn: u32, qp: *const PluginQp) {
        self.qps.lock().unwrap_or_else(|e| e.into_inner()).insert(qpn, qp as usize);
    }

    /// Stops routing events to QP `qpn` and takes back the records sent for it that nobody
    /// read; returns how many.
    pub fn remove_qp(&self, qpn: u32, qp: *const PluginQp) -> u32 {
        // Holding the map keeps the forwarder from sending meanwhile.
        let mut qps = self.qps.lock().unwrap_or_else(|e| e.into_inner());
        qps.remove(&qpn);
        crate::records::take_back::<AsyncEventDesc>(self.app_fd, &self.ours, |r| r.element == qp as u64)
    }

    /// Ends the forwarder (before the context goes): shutting our end down wakes it.
    pub fn stop(&self) {
        // SAFETY: shuts down our own socket; the forwarder sees the hangup.
        unsafe { libc::shutdown(self.ours.as_raw_fd(), libc::SHUT_RDWR) };
        if let Some(thread) = self.forwarder.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

/// The forwarder: the device's events become records until our end is shut down or the
/// application's is closed.
fn forward(events: &AsyncEvents, ctx: &Context, device_fd: RawFd) {
    crate::command_file::block_signals();
    loop {
        // The third reports only the device going away (a daemon's socket closing).
        let mut fds = [
            libc::pollfd { fd: device_fd, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: events.ours.as_raw_fd(), events: 0, revents: 0 },
            libc::pollfd { fd: ctx.device_gone_fd().unwrap_or(-1), events: 0, revents: 0 },
        ];
        // SAFETY: polls three live pollfds (a negative fd is ignored).
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
        if fds[1].revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            return;
        }
        while let Ok(Some(event)) = ctx.get_async_event(Some(Duration::ZERO)) {
            if event.kind == AsyncEventType::DeviceFatal {
                // A device event (libibverbs reads `element` as a port number): the last one.
                let record = AsyncEventDesc { element: 0, event_type: event.kind as u32, number: 0 };
                crate::records::send(&events.ours, &record);
                return;
            }
            let qps = events.qps.lock().unwrap_or_else(|e| e.into_inner());
            // An event about a QP being destroyed (gone from the map) is dropped, as the
            // kernel drops a destroyed object's events.
            let Some(&qp) = qps.get(&event.qpn) else { continue };
            let record = AsyncEventDesc { element: qp as u64, event_type: event.kind as u32, number: 0 };
            if crate::records::send(&events.ours, &record) {
                // SAFETY: a QP in the map is alive: `destroy_qp` removes it (under this lock)
                // before it goes.
                unsafe { &*(qp as *const PluginQp) }.event_sent();
            }
        }
    }
}
