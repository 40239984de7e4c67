//! The FUSE broker: hands each verbs process that asks a FUSE connection of its own (a
//! `/dev/fuse` descriptor and a detached mount of it whose root is a regular file), over which
//! the plugin serves libibverbs' command file. One connection per process, because two
//! processes serving one `/dev/fuse` descriptor would split its requests at random; made here,
//! because mounting needs privileges (root, or this launcher's user namespace) that the
//! program it runs no longer has. The mounts are never attached anywhere: they vanish with the
//! last descriptor.
//!
//! Protocol (the plugin's `fuse_broker.rs`): connect to the socket named by
//! `ACCELVERBS_FUSE_BROKER`, send one byte `F`; the answer is one byte `F` carrying the two
//! descriptors (`SCM_RIGHTS`), device first.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::mount_api::{cvt, new_filesystem};

/// The request and answer byte.
const REQUEST: u8 = b'F';

/// A listening broker socket.
#[derive(Debug)]
pub struct FuseBroker {
    listener: OwnedFd,
}

impl FuseBroker {
    /// Listens at `path` (a fresh path in a directory only this user can reach).
    pub fn bind(path: &Path) -> io::Result<Self> {
        // SAFETY: plain socket creation; a non-negative result is ours.
        let raw =
            cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) }.into(), || "socket".into())?;
        // SAFETY: `raw` is a fresh descriptor.
        let listener = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
        // SAFETY: an all-zero `sockaddr_un` is valid; the path is copied in, bounded.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() >= addr.sun_path.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("socket path too long: {}", path.display())));
        }
        for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let size = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: `addr` is a valid `sockaddr_un` of `size` bytes.
        cvt(unsafe { libc::bind(listener.as_raw_fd(), (&addr as *const libc::sockaddr_un).cast(), size) }.into(), || {
            format!("bind({})", path.display())
        })?;
        // SAFETY: a bound socket of ours.
        cvt(unsafe { libc::listen(listener.as_raw_fd(), 64) }.into(), || "listen".into())?;
        Ok(Self { listener })
    }

    /// The listening descriptor, to poll for a waiting client.
    pub fn fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    /// Accepts one client and answers it. A client that asks wrongly gets nothing; the broker
    /// goes on either way.
    pub fn serve_one(&self) -> io::Result<()> {
        // SAFETY: accepts on our listening socket; a non-negative result is ours.
        let raw = cvt(
            unsafe { libc::accept4(self.fd(), std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) }.into(),
            || "accept".into(),
        )?;
        // SAFETY: fresh descriptor.
        let client = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
        let mut byte = 0u8;
        // SAFETY: reads one byte into a live local.
        if unsafe { libc::recv(client.as_raw_fd(), (&mut byte as *mut u8).cast(), 1, 0) } != 1 || byte != REQUEST {
            return Ok(());
        }
        let (device, mount) = new_connection()?;
        send_two_fds(&client, [device.as_raw_fd(), mount.as_raw_fd()])
    }
}

/// A new FUSE connection: `/dev/fuse`, and a detached mount of it whose root is a regular
/// file owned by this user. Nothing here touches the mount: until the plugin's server answers
/// INIT, any access to it would sleep uninterruptibly.
fn new_connection() -> io::Result<(OwnedFd, OwnedFd)> {
    let dev = CString::new("/dev/fuse").expect("no NUL");
    // SAFETY: opens a NUL-terminated path; a non-negative result is ours.
    let raw = cvt(unsafe { libc::open(dev.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) }.into(), || "/dev/fuse".into())?;
    // SAFETY: fresh descriptor.
    let device = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
    // SAFETY: plain queries.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mount = new_filesystem(
        "fuse",
        &[
            ("fd", device.as_raw_fd().to_string()),
            // S_IFREG, octal: the root of the mount is the command file itself.
            ("rootmode", "100000".to_string()),
            ("user_id", uid.to_string()),
            ("group_id", gid.to_string()),
        ],
    )?;
    Ok((device, mount))
}

fn send_two_fds(client: &OwnedFd, fds: [RawFd; 2]) -> io::Result<()> {
    let byte = REQUEST;
    let mut iov = libc::iovec { iov_base: (&byte as *const u8).cast_mut().cast(), iov_len: 1 };
    let mut control = [0u64; 8];
    // SAFETY: an all-zero `msghdr` is valid; its buffers are live locals.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: `CMSG_SPACE` is arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of_val(&fds) as u32) } as usize;
    // SAFETY: fills the one control message inside `control`, which is large enough.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(&fds) as u32) as usize;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast::<RawFd>(), 2);
    }
    // SAFETY: `msg` names live buffers; MSG_NOSIGNAL turns a gone client into EPIPE.
    cvt(unsafe { libc::sendmsg(client.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) } as libc::c_long, || "sendmsg".into())?;
    Ok(())
}
