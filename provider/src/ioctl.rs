//! Building uverbs ioctls: a header and its attribute array in one buffer, laid out exactly as
//! `ioctl(fd, RDMA_VERBS_IOCTL, &hdr)` expects. Public so tools and tests can speak the ABI
//! directly, malformed calls included.

use std::marker::PhantomData;

use accelverbs_uapi::ids::ACCEL_DRIVER_ID;
use accelverbs_uapi::ioctl::{
    IoctlAttr, IoctlHdr, INLINE_DATA_MAX, RDMA_VERBS_IOCTL, UVERBS_ATTR_F_MANDATORY, UVERBS_ATTR_F_VALID_OUTPUT,
};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::Channel;

/// Most attributes one command carries (the largest method, CREATE_QP, takes 12).
pub const MAX_ATTRS: usize = 16;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Buffer {
    hdr: IoctlHdr,
    attrs: [IoctlAttr; MAX_ATTRS],
}

/// One ioctl under construction. Inputs and outputs are borrowed for `'a`: the device reads
/// and writes them through the addresses in the attributes during [`Command::execute`].
#[derive(Debug)]
pub struct Command<'a> {
    buf: Buffer,
    len: usize,
    _borrows: PhantomData<&'a mut ()>,
}

impl<'a> Command<'a> {
    pub fn new(object_id: u16, method_id: u16) -> Self {
        let hdr = IoctlHdr { object_id, method_id, driver_id: ACCEL_DRIVER_ID, ..IoctlHdr::default() };
        Self { buf: Buffer { hdr, attrs: [IoctlAttr::default(); MAX_ATTRS] }, len: 0, _borrows: PhantomData }
    }

    /// Appends a raw attribute; returns its index.
    ///
    /// # Safety
    /// If `attr` is a pointer attribute, `data` must name memory the device may read (input)
    /// or write (output) during [`Command::execute`], as `len` bytes.
    ///
    /// # Panics
    /// If the command already holds [`MAX_ATTRS`] attributes.
    pub unsafe fn attr(&mut self, attr: IoctlAttr) -> usize {
        self.push(attr)
    }

    fn push(&mut self, attr: IoctlAttr) -> usize {
        assert!(self.len < MAX_ATTRS, "more than {MAX_ATTRS} attributes");
        self.buf.attrs[self.len] = attr;
        self.len += 1;
        self.len - 1
    }

    /// An input the method requires; values of at most 8 bytes travel inline.
    ///
    /// # Panics
    /// If `value` is 64 KiB or longer (an attribute's length is a `u16`).
    pub fn input<T: IntoBytes + Immutable + ?Sized>(&mut self, id: u16, value: &'a T) -> &mut Self {
        let bytes = value.as_bytes();
        let len = u16::try_from(bytes.len()).expect("attribute longer than 64 KiB");
        let data = if bytes.len() <= INLINE_DATA_MAX {
            let mut inline = [0u8; 8];
            inline[..bytes.len()].copy_from_slice(bytes);
            u64::from_ne_bytes(inline)
        } else {
            bytes.as_ptr() as u64
        };
        self.push(IoctlAttr { attr_id: id, len, flags: UVERBS_ATTR_F_MANDATORY, attr_data: 0, data });
        self
    }

    /// An inline `u32` input (no borrow needed).
    pub fn input_u32(&mut self, id: u16, value: u32) -> &mut Self {
        self.push(IoctlAttr { attr_id: id, len: 4, flags: UVERBS_ATTR_F_MANDATORY, attr_data: 0, data: u64::from(value) });
        self
    }

    /// An inline `u64` input.
    pub fn input_u64(&mut self, id: u16, value: u64) -> &mut Self {
        self.push(IoctlAttr { attr_id: id, len: 8, flags: UVERBS_ATTR_F_MANDATORY, attr_data: 0, data: value });
        self
    }

    /// An output the device fills in.
    pub fn output<T: FromBytes + IntoBytes + ?Sized>(&mut self, id: u16, out: &'a mut T) -> &mut Self {
        let bytes = out.as_mut_bytes();
        let len = u16::try_from(bytes.len()).expect("attribute longer than 64 KiB");
        self.push(IoctlAttr { attr_id: id, len, flags: UVERBS_ATTR_F_MANDATORY, attr_data: 0, data: bytes.as_mut_ptr() as u64 });
        self
    }

    /// An existing object's handle.
    pub fn handle(&mut self, id: u16, handle: u32) -> &mut Self {
        self.push(IoctlAttr { attr_id: id, len: 0, flags: UVERBS_ATTR_F_MANDATORY, attr_data: 0, data: u64::from(handle) });
        self
    }

    /// The attribute the device writes a new object's handle into; returns its index for
    /// [`Command::new_handle`].
    pub fn new_object(&mut self, id: u16) -> usize {
        self.push(IoctlAttr { attr_id: id, len: 0, flags: UVERBS_ATTR_F_MANDATORY, attr_data: 0, data: 0 })
    }

    /// The handle the device wrote into attribute `index` (after a successful execute).
    pub fn new_handle(&self, index: usize) -> u32 {
        self.buf.attrs[index].data as u32
    }

    /// Whether the device marked output attribute `index` as written.
    pub fn output_valid(&self, index: usize) -> bool {
        self.buf.attrs[index].flags & UVERBS_ATTR_F_VALID_OUTPUT != 0
    }

    /// The header, to be filled in by `execute`; tests may corrupt it afterwards via
    /// [`Command::execute_raw`].
    pub fn header_mut(&mut self) -> &mut IoctlHdr {
        &mut self.buf.hdr
    }

    /// Fills in `length` and `num_attrs`, then sends the call.
    ///
    /// # Safety
    /// The safe builders make the device read and write only what they borrow, but what a
    /// call *does* can still break memory safety: registering memory (MR `REG`) or handing
    /// the device rings (CQ and QP `CREATE`) lets it read and write that memory later, after
    /// the borrows end. Such calls must keep [`Channel::ioctl`]'s contract for the memory
    /// they name; calls that only query or destroy need nothing more.
    pub unsafe fn execute(&mut self, channel: &dyn Channel) -> Result<(), i32> {
        self.buf.hdr.num_attrs = self.len as u16;
        self.buf.hdr.length = IoctlHdr::expected_length(self.len as u16) as u16;
        // SAFETY: the header counts exactly the attributes pushed, each built by a method that
        // borrows its memory for 'a (or by `attr`, whose caller vouched for it); the rest is
        // the caller's contract.
        unsafe { self.execute_raw(channel) }
    }

    /// Sends the call with the header exactly as it stands.
    ///
    /// # Safety
    /// A header claiming more attributes than were pushed makes the device read whatever
    /// follows them as attributes and write where they point: it must not (or those bytes
    /// must be vouched for as with [`Command::attr`]). An `MR` `REG` call built by hand
    /// registers memory under [`crate::Pd::reg_mr_raw`]'s contract.
    pub unsafe fn execute_raw(&mut self, channel: &dyn Channel) -> Result<(), i32> {
        // SAFETY: the caller keeps the contract above, which is `Channel::ioctl`'s.
        unsafe { channel.ioctl(RDMA_VERBS_IOCTL, std::ptr::addr_of_mut!(self.buf) as u64) }
    }
}
