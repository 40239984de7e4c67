//! Completion channels as libibverbs sees them: a descriptor that reads
//! `struct ib_uverbs_comp_event_desc { u64 cq_handle }` records, the `ibv_cq` pointer of each
//! CQ that fired.
//!
//! The descriptor is one end of a `SOCK_SEQPACKET` socket pair made when libibverbs writes
//! `CREATE_COMP_CHANNEL` (`command_file.rs`); the other end is ours. When a CQ is created on
//! it, the channel is bound to a device completion channel of that context, and a forwarding
//! thread turns the device's events into records on our end. libibverbs never says when a
//! channel is destroyed (it only closes the descriptor): the forwarder ends when the
//! application's end is closed, and channels are found by descriptor number, checked against
//! the socket's inode so a reused number is not mistaken for the channel.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use accelverbs::CompletionChannel;

use crate::context::state;
use crate::cq::PluginCq;
use crate::sys;

/// One channel libibverbs created.
struct Channel {
    /// The application's end: descriptor number and identity.
    app_fd: RawFd,
    app_id: FileId,
    /// Ours: the forwarder sends records here.
    ours: OwnedFd,
    binding: Mutex<Option<Arc<Binding>>>,
}

/// A channel in use by CQs of one context.
pub struct Binding {
    context: usize,
    pub device: CompletionChannel,
    channel: Arc<Channel>,
    /// The CQs completing here, by the id the device reports, as `PluginCq` addresses.
    cqs: Mutex<HashMap<u64, usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn file_id(fd: RawFd) -> Option<FileId> {
    // SAFETY: `fstat` fills a local; a bad descriptor is an error return.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(FileId { dev: st.st_dev, ino: st.st_ino })
}

static CHANNELS: Mutex<Option<HashMap<RawFd, Arc<Channel>>>> = Mutex::new(None);

fn channels() -> MutexGuard<'static, Option<HashMap<RawFd, Arc<Channel>>>> {
    CHANNELS.lock().unwrap_or_else(|e| e.into_inner())
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// `CREATE_COMP_CHANNEL`: makes the socket pair and stores the application's descriptor
/// number at `response` (this process's memory, written as the kernel would: a bad address
/// is `EFAULT`, never a crash).
pub fn create(response: u64) -> Result<(), i32> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0 {
        return Err(errno());
    }
    // SAFETY: both descriptors are fresh and ours.
    let (app, ours) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let app_fd = app.as_raw_fd();
    let app_id = file_id(app_fd).ok_or_else(errno)?;
    let value = app_fd as u32;
    let local = libc::iovec { iov_base: (&value as *const u32).cast_mut().cast(), iov_len: 4 };
    let remote = libc::iovec { iov_base: response as *mut libc::c_void, iov_len: 4 };
    // SAFETY: copies 4 bytes from a live local to `response` in this very process; the kernel
    // checks the destination is mapped and writable.
    if unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) } != 4 {
        return Err(libc::EFAULT);
    }
    // The application owns its end from here on.
    let app_fd = std::os::fd::IntoRawFd::into_raw_fd(app);
    let channel = Arc::new(Channel { app_fd, app_id, ours, binding: Mutex::new(None) });
    channels().get_or_insert_with(HashMap::new).insert(app_fd, channel);
    Ok(())
}

/// The binding of `channel` (an `ibv_comp_channel` of `context`) for a new CQ, made on first
/// use: a device completion channel and its forwarder. `EINVAL` for a descriptor that is not
/// one of our channels, or a channel bound to another context.
///
/// # Safety
/// `context` is a context of this provider; `channel` is the application's channel.
pub unsafe fn bind(context: *mut sys::ibv_context, channel: *mut sys::ibv_comp_channel) -> Result<Arc<Binding>, i32> {
    // SAFETY: the caller's contract.
    let fd = unsafe { (*channel).fd };
    let found = channels().as_ref().and_then(|map| map.get(&fd).cloned()).ok_or(libc::EINVAL)?;
    if file_id(fd) != Some(found.app_id) {
        return Err(libc::EINVAL);
    }
    let mut binding = found.binding.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = binding.as_ref() {
        return if b.context == context as usize { Ok(Arc::clone(b)) } else { Err(libc::EINVAL) };
    }
    // SAFETY: the caller's contract.
    let device = unsafe { state(context) }.ctx.create_comp_channel().map_err(|e| crate::ffi::errno_of(&e))?;
    let made =
        Arc::new(Binding { context: context as usize, device, channel: Arc::clone(&found), cqs: Mutex::new(HashMap::new()) });
    let forwarder = Arc::clone(&made);
    std::thread::Builder::new()
        .name("accelverbs-events".into())
        .spawn(move || forward(&forwarder))
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EAGAIN))?;
    *binding = Some(Arc::clone(&made));
    Ok(made)
}

impl Binding {
    /// Routes the device's events for CQ `id` to `cq`.
    pub fn add_cq(&self, id: u64, cq: *const PluginCq) {
        self.cqs.lock().unwrap_or_else(|e| e.into_inner()).insert(id, cq as usize);
    }

    /// Stops routing events to CQ `id` and takes back the records already sent for it that
    /// nobody read (the kernel purges a destroyed CQ's events the same way); returns how many.
    pub fn remove_cq(&self, id: u64, cq: *const PluginCq) -> u32 {
        // Holding the map keeps the forwarder from sending meanwhile.
        let mut cqs = self.cqs.lock().unwrap_or_else(|e| e.into_inner());
        cqs.remove(&id);
        let channel = &self.channel;
        if file_id(channel.app_fd) != Some(channel.app_id) {
            return 0;
        }
        crate::records::take_back::<u64>(channel.app_fd, &channel.ours, |&record| record == cq as u64)
    }
}

/// The forwarder: device events become records until the application closes its end.
fn forward(binding: &Binding) {
    crate::command_file::block_signals();
    let ours = &binding.channel.ours;
    loop {
        let mut fds = [
            libc::pollfd { fd: binding.device_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: ours.as_raw_fd(), events: 0, revents: 0 },
        ];
        // SAFETY: polls two live pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 && errno() != libc::EINTR {
            break;
        }
        if fds[1].revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            break;
        }
        while let Ok(Some(id)) = binding.device.get_event(Some(Duration::ZERO)) {
            let cqs = binding.cqs.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(&cq) = cqs.get(&id) {
                // SAFETY: a CQ in the map is alive: `destroy_cq` removes it (under this lock)
                // before it goes.
                let plugin = unsafe { &*(cq as *const PluginCq) };
                if crate::records::send(ours, &(cq as u64)) {
                    plugin.event_sent();
                }
            }
        }
    }
    // Break the channel ↔ binding cycle so both go once the CQs let go.
    binding.channel.binding.lock().unwrap_or_else(|e| e.into_inner()).take();
    let mut map = channels();
    if let Some(map) = map.as_mut() {
        if map.get(&binding.channel.app_fd).is_some_and(|c| Arc::ptr_eq(c, &binding.channel)) {
            map.remove(&binding.channel.app_fd);
        }
    }
}

impl Binding {
    fn device_fd(&self) -> RawFd {
        self.device.as_raw_fd()
    }
}
