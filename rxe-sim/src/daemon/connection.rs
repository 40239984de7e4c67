//! One client connection: one uverbs file, served until the client closes its end or dies.
//! Then the file is closed as the kernel closes a dead process's files: its QPs are stopped,
//! their work finished or flushed, every object destroyed, its keys zeroed.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::daemon::transport;
use accelverbs_uapi::daemon::{DaemonMsg, MsgKind, PROTOCOL_VERSION};

use std::sync::atomic::AtomicU64;

use super::client_space::ClientSpace;
use super::log::log;
use crate::memory::{Credentials, ProcessFiles, UserSpace};
use crate::SoftDevice;

/// Who connected, and what the server allows them.
#[derive(Debug)]
pub struct Client {
    pub credentials: Credentials,
    /// Bytes the client's process has pinned over all its connections.
    pub process_pinned: Arc<AtomicU64>,
    pub memlock_limit: u64,
    /// Most objects the connection may hold.
    pub max_objects: Option<usize>,
    /// Counts the connection among its process's while it lives.
    pub _connection: Arc<()>,
}

/// The handshake: `Hello` with the client's `/proc/self/mem`, then `ProcessMaps` with its
/// `/proc/self/maps`, each answered. Anything else ends the connection.
fn handshake(socket: &OwnedFd) -> io::Result<ProcessFiles> {
    let protocol = || io::Error::from_raw_os_error(libc::EPROTO);
    let (hello, mem) = transport::recv(socket.as_fd())?;
    let Some(mem) = mem.filter(|_| hello.kind == MsgKind::Hello as u32 && hello.a == PROTOCOL_VERSION) else {
        // Said once, with the version this daemon speaks; then the connection ends.
        let _ = transport::send(socket.as_fd(), &DaemonMsg::done(libc::EPROTO, PROTOCOL_VERSION, 0), None);
        return Err(protocol());
    };
    transport::send(socket.as_fd(), &DaemonMsg::done(0, PROTOCOL_VERSION, 0), None)?;
    let (maps_msg, maps) = transport::recv(socket.as_fd())?;
    if maps_msg.kind != MsgKind::ProcessMaps as u32 {
        return Err(protocol());
    }
    let files = ProcessFiles::new(mem, maps.ok_or_else(protocol)?);
    // A live process has mappings: a descriptor that shows none is not one's maps file.
    files.vmas().map_err(|_| protocol())?;
    transport::send(socket.as_fd(), &DaemonMsg::done(0, 0, 0), None)?;
    Ok(files)
}

/// Refuses a connection: reads the client's first message (waiting at most a second), answers
/// it with `errno`, and closes.
pub fn refuse(socket: &OwnedFd, errno: i32) {
    let timeout = libc::timeval { tv_sec: 1, tv_usec: 0 };
    // SAFETY: sets a socket option from a timeval that lives across the call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if transport::recv(socket.as_fd()).is_ok() {
        let _ = transport::send(socket.as_fd(), &DaemonMsg::done(errno, 0, 0), None);
    }
}

/// Serves `socket` until the client goes away.
pub fn serve(device: &Arc<SoftDevice>, socket: Arc<OwnedFd>, client: Client) {
    let pid = client.credentials.pid;
    let files = match handshake(&socket) {
        Ok(files) => files,
        Err(e) => {
            log!(Warn, "handshake_failed", "pid={pid} error=\"{e}\"");
            return;
        }
    };
    let space = Arc::new(ClientSpace::new(
        client.credentials,
        Arc::clone(&socket),
        files,
        client.process_pinned,
        client.memlock_limit,
        device.pinned_counter(),
    ));
    let mut file = device.open_for(Arc::clone(&space) as Arc<dyn UserSpace>);
    if let Some(max) = client.max_objects {
        file.limit_objects(max);
    }
    let end = loop {
        let (msg, fd) = match transport::recv(socket.as_fd()) {
            Ok(m) => m,
            Err(e) => break e,
        };
        let (reply, reply_fd) = match MsgKind::try_from(msg.kind) {
            Ok(MsgKind::Ioctl) => {
                space.begin_call();
                let request = u32::try_from(msg.a).unwrap_or(u32::MAX);
                // SAFETY: the file's user space is the client's: every address an ioctl names
                // is the client's, read and written through its mem file (which fails with
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
