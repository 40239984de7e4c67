//! The uverbs ioctl framing, byte-identical to the kernel's `rdma/rdma_user_ioctl_cmds.h`.
//!
//! One ioctl carries an [`IoctlHdr`] immediately followed by `num_attrs` [`IoctlAttr`]s.
//! An attribute's `data` is either inline (pointer-type attributes of at most 8 bytes, IDR
//! handles, enum values) or the user address of `len` bytes.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `RDMA_IOCTL_MAGIC`.
pub const RDMA_IOCTL_MAGIC: u32 = 0x1b;

/// `_IOWR(RDMA_IOCTL_MAGIC, 1, struct ib_uverbs_ioctl_hdr)`.
pub const RDMA_VERBS_IOCTL: u32 = (3 << 30) | ((core::mem::size_of::<IoctlHdr>() as u32) << 16) | (RDMA_IOCTL_MAGIC << 8) | 1;

/// Attribute flag (user input): the kernel must understand this attribute or fail.
pub const UVERBS_ATTR_F_MANDATORY: u16 = 1 << 0;
/// Attribute flag (kernel output): the kernel wrote this output attribute.
pub const UVERBS_ATTR_F_VALID_OUTPUT: u16 = 1 << 1;

/// The largest header + attribute array the kernel accepts (`hdr.length > PAGE_SIZE` fails).
pub const MAX_IOCTL_LENGTH: usize = 4096;

/// `struct ib_uverbs_ioctl_hdr`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IoctlHdr {
    /// Bytes of header plus attributes; must equal `size_of(hdr) + num_attrs * size_of(attr)`.
    pub length: u16,
    pub object_id: u16,
    pub method_id: u16,
    pub num_attrs: u16,
    /// Must be zero.
    pub reserved1: u64,
    /// `enum rdma_driver_id` of the device the caller expects.
    pub driver_id: u32,
    /// Must be zero.
    pub reserved2: u32,
}
assert_layout!(IoctlHdr, 24; length @ 0, object_id @ 2, method_id @ 4, num_attrs @ 6,
    reserved1 @ 8, driver_id @ 16, reserved2 @ 20);

/// `struct ib_uverbs_attr`. `attr_data` is the kernel's union of `enum_data { elem_id, reserved }`
/// and `reserved`; for every type but ENUM_IN it must be zero.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IoctlAttr {
    pub attr_id: u16,
    pub len: u16,
    pub flags: u16,
    pub attr_data: u16,
    /// Inline value, object handle, or user address of `len` bytes.
    pub data: u64,
}
assert_layout!(IoctlAttr, 16; attr_id @ 0, len @ 2, flags @ 4, attr_data @ 6, data @ 8);

impl IoctlHdr {
    /// The `length` a header with `num_attrs` attributes must carry.
    pub const fn expected_length(num_attrs: u16) -> usize {
        core::mem::size_of::<IoctlHdr>() + num_attrs as usize * core::mem::size_of::<IoctlAttr>()
    }
}

/// Pointer-type attributes of at most this many bytes travel inline in `data`.
pub const INLINE_DATA_MAX: usize = core::mem::size_of::<u64>();
