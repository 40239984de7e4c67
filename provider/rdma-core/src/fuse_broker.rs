//! The plugin's side of accel-run's FUSE broker: one request, answered with a `/dev/fuse`
//! descriptor and a detached mount of it (whose root is the command file), both for this
//! process alone. accel-run names its socket in `ACCELVERBS_FUSE_BROKER`; the protocol is one
//! byte out, and one byte back carrying the two descriptors (`SCM_RIGHTS`).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

/// The environment variable naming the broker's socket.
pub const BROKER_ENV: &str = "ACCELVERBS_FUSE_BROKER";

/// The request byte and the answer's.
pub const REQUEST: u8 = b'F';

/// A FUSE connection of this process's own: the device descriptor the server reads requests
/// from, and the mount whose root file libibverbs writes commands to.
#[derive(Debug)]
pub struct FuseConnection {
    pub device: OwnedFd,
    pub mount: OwnedFd,
}

/// Asks the broker at `path` for a connection.
pub fn request(path: &OsStr) -> io::Result<FuseConnection> {
    // SAFETY: plain socket creation; a non-negative result is a descriptor we own.
    let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: an all-zero `sockaddr_un` is valid; the path is copied in below, bounded.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{BROKER_ENV} is longer than a socket path may be")));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    // SAFETY: `addr` is a valid `sockaddr_un` of the given size.
    if unsafe { libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), std::mem::size_of::<libc::sockaddr_un>() as u32) }
        != 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sends one byte from a live local.
    if unsafe { libc::send(fd, (&REQUEST as *const u8).cast(), 1, libc::MSG_NOSIGNAL) } != 1 {
        return Err(io::Error::last_os_error());
    }
    let [device, mount] = receive_two_fds(fd)?;
    Ok(FuseConnection { device, mount })
}

/// Receives one byte carrying exactly two descriptors.
fn receive_two_fds(fd: RawFd) -> io::Result<[OwnedFd; 2]> {
    let mut byte = 0u8;
    let mut iov = libc::iovec { iov_base: (&mut byte as *mut u8).cast(), iov_len: 1 };
    // Room for a header and two descriptors, aligned for `cmsghdr`.
    let mut control = [0u64; 8];
    // SAFETY: an all-zero `msghdr` is valid; its buffers are set to live locals below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: `msg` names live buffers of the sizes it gives.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: walks the control messages the kernel wrote into `control`, within `msg`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let count = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    // Each passed descriptor is new in this process and ours.
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if n != 1 || byte != REQUEST || msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the FUSE broker's answer is malformed"));
    }
    let two: [OwnedFd; 2] =
        fds.try_into().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the FUSE broker sent no descriptor pair"))?;
    Ok(two)
}
