//! The daemon protocol's framing on a `SOCK_SEQPACKET` unix socket: one [`DaemonMsg`] per
//! packet, with at most one descriptor in `SCM_RIGHTS`; and the sealed memfds that carry
//! shared memory.

use std::format;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use zerocopy::IntoBytes;

use super::DaemonMsg;

/// Bytes of control data one descriptor needs (`CMSG_SPACE(sizeof(int))`), rounded up.
const CMSG_BUF: usize = 32;

/// Control-message buffer aligned as `cmsghdr` requires.
#[repr(C, align(8))]
struct CmsgBuf([u8; CMSG_BUF]);

/// Sends `msg`, with `fd` if given. Never raises SIGPIPE: a closed peer is `EPIPE`.
pub fn send(sock: BorrowedFd<'_>, msg: &DaemonMsg, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let mut iov = libc::iovec { iov_base: msg.as_bytes().as_ptr() as *mut libc::c_void, iov_len: size_of::<DaemonMsg>() };
    let mut cmsg = CmsgBuf([0; CMSG_BUF]);
    // SAFETY: an all-zero msghdr is a valid empty one.
    let mut hdr: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    if let Some(fd) = fd {
        hdr.msg_control = cmsg.0.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE only computes a size.
        hdr.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<i32>() as u32) } as usize;
        // SAFETY: `hdr` points at `cmsg`, which has room for one header and one int (checked
        // by CMSG_BUF >= CMSG_SPACE(4)); CMSG_FIRSTHDR and CMSG_DATA stay inside it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(size_of::<i32>() as u32) as usize;
            libc::CMSG_DATA(c).cast::<i32>().write_unaligned(fd.as_raw_fd());
        }
    }
    loop {
        // SAFETY: `hdr` names `iov` (the message's bytes, only read) and `cmsg`, both alive
        // across the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &hdr, libc::MSG_NOSIGNAL) };
        if n == size_of::<DaemonMsg>() as isize {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if n < 0 && err.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return Err(if n < 0 { err } else { io::Error::from_raw_os_error(libc::EMSGSIZE) });
    }
}

/// Receives one message and the descriptor that came with it. End of stream is
/// `UnexpectedEof`; a packet of another size is `EPROTO` (its descriptor, if any, is closed).
pub fn recv(sock: BorrowedFd<'_>) -> io::Result<(DaemonMsg, Option<OwnedFd>)> {
    let mut msg = DaemonMsg::default();
    let mut iov = libc::iovec { iov_base: msg.as_mut_bytes().as_mut_ptr().cast(), iov_len: size_of::<DaemonMsg>() };
    let mut cmsg = CmsgBuf([0; CMSG_BUF]);
    // SAFETY: an all-zero msghdr is a valid empty one.
    let mut hdr: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = cmsg.0.as_mut_ptr().cast();
    hdr.msg_controllen = CMSG_BUF;
    let n = loop {
        // SAFETY: `hdr` names `msg`'s bytes and `cmsg`, writable and alive across the call;
        // MSG_CMSG_CLOEXEC makes any descriptor received close-on-exec.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut hdr, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    let fd = take_fd(&hdr);
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if n != size_of::<DaemonMsg>() || hdr.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
        return Err(io::Error::from_raw_os_error(libc::EPROTO));
    }
    Ok((msg, fd))
}

/// The descriptors a received message carries: the first is returned, any others closed.
fn take_fd(hdr: &libc::msghdr) -> Option<OwnedFd> {
    let mut first = None;
    // SAFETY: walks the control messages recvmsg wrote into the buffer `hdr` names, with the
    // libc macros that bound every step by `msg_controllen`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<i32>();
                let count = ((*c).cmsg_len - libc::CMSG_LEN(0) as usize) / size_of::<i32>();
                for i in 0..count {
                    // Each descriptor received is a new one this process owns.
                    let fd = OwnedFd::from_raw_fd(data.add(i).read_unaligned());
                    if first.is_none() {
                        first = Some(fd);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    first
}

/// The seals every memfd shared with the device carries: its size can no longer change, so a
/// mapping of it can never fault for lack of backing.
pub const SHARED_SEALS: i32 = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

/// A new memfd of `len` bytes, sealed with [`SHARED_SEALS`].
pub fn sealed_memfd(name: &core::ffi::CStr, len: usize) -> io::Result<OwnedFd> {
    // SAFETY: memfd_create reads the NUL-terminated name; a non-negative return is a new
    // descriptor we own.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is the descriptor memfd_create just returned, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: resizes our own memfd; no memory is passed.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: seals our own memfd; no memory is passed.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, SHARED_SEALS) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Checks that `fd` is a memfd on tmpfs sealed with [`SHARED_SEALS`] and at least `len` bytes
/// long: `EINVAL` for any other descriptor (a file, a pipe, an unsealed memfd, a hugetlbfs one,
/// whose holes fault with SIGBUS when the huge-page pool is empty), `EFAULT` if it is too short.
/// On tmpfs a page punched out after sharing is faulted back in as zeros: a mapping of it can
/// never kill whoever reads it.
pub fn check_sealed(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    // SAFETY: F_GET_SEALS only reads the descriptor's state; other files answer EINVAL.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 || seals & SHARED_SEALS != SHARED_SEALS {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: an all-zero statfs is valid; fstatfs writes only into it.
    let mut fs: libc::statfs = unsafe { MaybeUninit::zeroed().assume_init() };
    // SAFETY: as above; `fs` lives across the call.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut fs) } != 0 || fs.f_type != libc::TMPFS_MAGIC {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: an all-zero stat is valid; fstat writes only into it.
    let mut st: libc::stat = unsafe { MaybeUninit::zeroed().assume_init() };
    // SAFETY: as above; `st` lives across the call.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if (st.st_size as u64) < len {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    Ok(())
}

/// The address of the unix socket at `path`.
pub fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: an all-zero sockaddr_un is valid.
    let mut addr: libc::sockaddr_un = unsafe { MaybeUninit::zeroed().assume_init() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() || bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket path must be 1 to {} bytes with no NUL", addr.sun_path.len() - 1),
        ));
    }
    for (dst, &b) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = b as libc::c_char;
    }
    Ok((addr, size_of::<libc::sockaddr_un>() as libc::socklen_t))
}

/// A new `SOCK_SEQPACKET` unix socket.
pub fn seqpacket_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers; a non-negative return is a new descriptor we own.
    let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` was just returned by socket.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Connects to the daemon at `path`.
pub fn connect(path: &Path) -> io::Result<OwnedFd> {
    let (addr, len) = sockaddr(path)?;
    let fd = seqpacket_socket()?;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes, alive across the call.
    if unsafe { libc::connect(fd.as_raw_fd(), (&addr as *const libc::sockaddr_un).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}
