//! The daemon channel's wire protocol: what a client and `accel-simd` say over their unix
//! socket (`SOCK_SEQPACKET`, one message per packet, descriptors passed with `SCM_RIGHTS`).
//!
//! A connection is one open of the device (a uverbs file). Every message is one
//! [`DaemonMsg`]; the client asks, the daemon answers with [`MsgKind::Done`]. While it serves
//! an ioctl, the daemon may ask the client to take a descriptor ([`MsgKind::InstallFd`]), as
//! the kernel installs one in the caller's table; the client answers with the number it got
//! ([`MsgKind::FdInstalled`]) and keeps waiting for `Done`.
//!
//! The ioctl itself travels as the embedded channel carries it: the address of its header in
//! the client. The daemon reads the header and attributes, and writes outputs back, in the
//! client's memory (`process_vm_readv`/`writev`, the daemon's `copy_from_user`), so the bytes
//! and the kernel's rules are the same on every channel.
//!
//! Memory the device reaches directly (rings, doorbell records, shared buffers) is a sealed
//! memfd the client maps and hands over with [`MsgKind::ShareMemory`]: the seals forbid
//! shrinking it, so no client can make the daemon fault by truncating what it mapped.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

#[cfg(feature = "transport")]
pub mod transport;

/// Protocol revision, exchanged in [`MsgKind::Hello`] / its `Done`; a mismatch is `EPROTO`.
pub const PROTOCOL_VERSION: u64 = 2;

/// The environment variable naming the daemon's socket: when set, the provider (and the
/// rdma-core plugin) open the device through the daemon instead of in-process.
pub const SOCKET_ENV: &str = "ACCELVERBS_SOCKET";

wire_enum! {
    /// What a message is.
    pub enum MsgKind: u32 {
        /// Client → daemon, first message, with the client's `/proc/self/mem` opened for reading
        /// and writing: `a` = [`PROTOCOL_VERSION`]. `Done` carries the daemon's version in `a`.
        /// The daemon reaches the client's memory only through that descriptor, which stays
        /// bound to the memory the client had when it opened it: after an `exec` (or the
        /// client's death and its pid's reuse) it reaches nothing.
        Hello = 1,
        /// Client → daemon: `ioctl(fd, a as request, b as header address)`.
        Ioctl = 2,
        /// Client → daemon: `mmap(fd, offset a, length b)`. `Done` carries the memfd to map.
        Mmap = 3,
        /// Client → daemon, with a sealed memfd: it is mapped in the client at `a`, `b` bytes.
        ShareMemory = 4,
        /// Client → daemon: the shared mapping at `a` (`b` bytes) is going away.
        UnshareMemory = 5,
        /// Daemon → client, with a descriptor, during an ioctl: install it.
        InstallFd = 6,
        /// Client → daemon: the descriptor of `InstallFd` is number `a` in the client (or
        /// `errno` says why it could not be taken).
        FdInstalled = 7,
        /// Daemon → client: the request finished; `errno` is 0 or its error.
        Done = 8,
        /// Client → daemon, second message, with the client's `/proc/self/maps`: what its
        /// memory's protections are, read when a write must respect them (bound to the same
        /// memory as the `Hello` descriptor).
        ProcessMaps = 9,
    }
}

/// One message.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DaemonMsg {
    /// A [`MsgKind`].
    pub kind: u32,
    /// 0, or a positive errno (`Done`, `FdInstalled`).
    pub errno: i32,
    pub a: u64,
    pub b: u64,
}
assert_layout!(DaemonMsg, 24; kind @ 0, errno @ 4, a @ 8, b @ 16);

impl DaemonMsg {
    pub const fn new(kind: MsgKind, a: u64, b: u64) -> Self {
        Self { kind: kind as u32, errno: 0, a, b }
    }

    /// `Done` with `errno` (0: success).
    pub const fn done(errno: i32, a: u64, b: u64) -> Self {
        Self { kind: MsgKind::Done as u32, errno, a, b }
    }
}
