//! One client connection: one uverbs file, served until the client closes its end or dies.
//! Then the file is closed as the kernel closes a dead process's files: its QPs are stopped,
//! their work finished or flushed, every object destroyed, its keys zeroed.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::daemon::transport;
use accelverbs_uapi::daemon::{DaemonMsg, MsgKind, PROTOCOL_VERSION};

use super::client_space::ClientSpace;
use super::log::log;
use crate::SoftDevice;

/// Serves `socket`, whose client `space` describes, until it goes away. `max_objects` bounds
/// what the client may hold at once.
pub fn serve(device: &Arc<SoftDevice>, socket: Arc<OwnedFd>, space: Arc<ClientSpace>, max_objects: Option<usize>) {
    let pid = crate::memory::UserSpace::credentials(&*space).pid;
    let mut file = device.open_for(Arc::clone(&space) as Arc<dyn crate::memory::UserSpace>);
    if let Some(max) = max_objects {
        file.limit_objects(max);
    }
    let end = loop {
        let (msg, fd) = match transport::recv(socket.as_fd()) {
            Ok(m) => m,
            Err(e) => break e,
        };
        let (reply, reply_fd) = match MsgKind::try_from(msg.kind) {
            Ok(MsgKind::Hello) if msg.a == PROTOCOL_VERSION => {
                (DaemonMsg::done(0, PROTOCOL_VERSION, u64::from(std::process::id())), None)
            }
            Ok(MsgKind::Hello) => (DaemonMsg::done(libc::EPROTO, PROTOCOL_VERSION, 0), None),
            Ok(MsgKind::Ioctl) => {
                let request = u32::try_from(msg.a).unwrap_or(u32::MAX);
                // SAFETY: the file's user space is the client's: every address an ioctl names
                // is the client's, read and written through process_vm_* (which fails with
                // EFAULT, never touches this process), and every pin resolves into a mapping
                // `space` owns and keeps alive while pinned. Nothing the client names can be
                // memory of this process, so `ioctl`'s contract holds whatever it sends.
                let result = unsafe { file.ioctl(request, msg.b) };
                (DaemonMsg::done(result.err().map_or(0, |e| e.0), 0, 0), None)
            }
            Ok(MsgKind::Mmap) => match usize::try_from(msg.b).map_err(|_| Errno::EINVAL).and_then(|len| file.mmap_fd(msg.a, len))
            {
                Ok(memfd) => (DaemonMsg::done(0, 0, 0), Some(memfd)),
                Err(e) => (DaemonMsg::done(e.0, 0, 0), None),
            },
            Ok(MsgKind::ShareMemory) => {
                let result = fd.ok_or(Errno::EINVAL).and_then(|fd| space.share(fd, msg.a, msg.b));
                (DaemonMsg::done(result.err().map_or(0, |e| e.0), 0, 0), None)
            }
            Ok(MsgKind::UnshareMemory) => {
                let result = space.unshare(msg.a, msg.b);
                (DaemonMsg::done(result.err().map_or(0, |e| e.0), 0, 0), None)
            }
            _ => {
                log!(Warn, "protocol_error", "pid={pid} kind={}", msg.kind);
                break io::Error::from_raw_os_error(libc::EPROTO);
            }
        };
        if let Err(e) = transport::send(socket.as_fd(), &reply, reply_fd) {
            break e;
        }
    };
    if end.kind() != io::ErrorKind::UnexpectedEof {
        log!(Warn, "connection_failed", "pid={pid} error=\"{end}\"");
    }
    // Closing the file destroys everything the client created, as the kernel does for a
    // process that exits or is killed with work in flight.
    drop(file);
}
