//! MR access rights.

use accelverbs_uapi::verbs::access;

/// Access rights of a memory region (`IBV_ACCESS_*`). Local reads are always allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Access(u32);

impl Access {
    /// The device may write the region (the destination of COPY needs this).
    pub const LOCAL_WRITE: Access = Access(access::LOCAL_WRITE);
    pub const REMOTE_WRITE: Access = Access(access::REMOTE_WRITE);
    pub const REMOTE_READ: Access = Access(access::REMOTE_READ);

    pub const fn empty() -> Self {
        Access(0)
    }

    /// From raw `IBV_ACCESS_*` bits; the driver rejects bits it does not know.
    pub const fn from_bits(bits: u32) -> Self {
        Access(bits)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Access {
    type Output = Access;
    fn bitor(self, rhs: Access) -> Access {
        Access(self.0 | rhs.0)
    }
}
