//! Linux errno values, as the kernel's uverbs handlers return them.

/// A positive Linux errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    pub const ENOENT: Errno = Errno(2);
    pub const EIO: Errno = Errno(5);
    pub const EBADF: Errno = Errno(9);
    pub const EAGAIN: Errno = Errno(11);
    pub const ENOMEM: Errno = Errno(12);
    pub const EFAULT: Errno = Errno(14);
    pub const EBUSY: Errno = Errno(16);
    pub const EINVAL: Errno = Errno(22);
    pub const ENOSPC: Errno = Errno(28);
    pub const ENOTTY: Errno = Errno(25);
    /// A peer that broke the protocol.
    pub const EPROTO: Errno = Errno(71);
    /// A message (wrapped key material) that does not authenticate.
    pub const EBADMSG: Errno = Errno(74);
    pub const EPROTONOSUPPORT: Errno = Errno(93);
    pub const EOPNOTSUPP: Errno = Errno(95);
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "errno {}", self.0)
    }
}
