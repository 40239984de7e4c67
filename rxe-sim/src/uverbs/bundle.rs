//! Attribute parsing with the kernel's rules (`uverbs_ioctl.c`): every attribute is checked
//! against the method's spec before a handler sees it; user data is copied in, never read in
//! place; outputs are buffered and copied out only once the handler succeeded.

use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::ioctl::{IoctlAttr, IoctlHdr, INLINE_DATA_MAX, UVERBS_ATTR_F_MANDATORY, UVERBS_ATTR_F_VALID_OUTPUT};
use zerocopy::{FromBytes, Immutable, IntoBytes};
use zeroize::Zeroizing;

use crate::memory::UserSpace;

/// How a method uses an object-handle attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The method creates the object; the kernel writes the new handle back into `data`.
    New,
    /// The method uses an existing object.
    Read,
    /// The method destroys the object.
    Destroy,
}

/// The type of one attribute, as the method declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    /// An object handle of type `object`.
    Idr { object: u16, access: Access },
    /// Input bytes: `len` must be at least `min`; beyond `max` it must be zero (`zero_trailing`)
    /// or is rejected.
    PtrIn { min: u16, max: u16, zero_trailing: bool },
    /// Output buffer of at least `min` bytes.
    PtrOut { min: u16 },
}

/// One attribute a method accepts.
#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    pub id: u16,
    pub kind: AttrKind,
    pub mandatory: bool,
}

impl AttrSpec {
    /// A fixed-size input of type `T` (`UVERBS_ATTR_TYPE`): exactly its size.
    pub const fn input<T>(id: u16, mandatory: bool) -> Self {
        let n = core::mem::size_of::<T>() as u16;
        Self { id, kind: AttrKind::PtrIn { min: n, max: n, zero_trailing: false }, mandatory }
    }
    /// A struct input (`UVERBS_ATTR_STRUCT`): shorter is an error, longer must be zero-padded.
    pub const fn input_struct<T>(id: u16, mandatory: bool) -> Self {
        let n = core::mem::size_of::<T>() as u16;
        Self { id, kind: AttrKind::PtrIn { min: n, max: n, zero_trailing: true }, mandatory }
    }
    /// Variable-length input bytes: `min..=max` of them.
    pub const fn input_bytes(id: u16, min: u16, max: u16, mandatory: bool) -> Self {
        Self { id, kind: AttrKind::PtrIn { min, max, zero_trailing: false }, mandatory }
    }
    pub const fn output<T>(id: u16, mandatory: bool) -> Self {
        Self { id, kind: AttrKind::PtrOut { min: core::mem::size_of::<T>() as u16 }, mandatory }
    }
    pub const fn handle(id: u16, object: u16, access: Access, mandatory: bool) -> Self {
        Self { id, kind: AttrKind::Idr { object, access }, mandatory }
    }
}

/// A validated attribute: where it sits in the caller's array, and what it said.
#[derive(Debug, Clone, Copy)]
struct Present {
    index: usize,
    attr: IoctlAttr,
}

/// The attributes of one call, validated against the method's specs.
#[derive(Debug)]
pub struct Bundle<'u> {
    user: &'u dyn UserSpace,
    hdr_addr: u64,
    present: Vec<(u16, Present)>,
    outputs: Vec<(usize, Vec<u8>, u64)>,
}

/// Byte offset of attribute `index` in the caller's ioctl buffer.
fn attr_addr(hdr_addr: u64, index: usize) -> u64 {
    hdr_addr.wrapping_add((core::mem::size_of::<IoctlHdr>() + index * core::mem::size_of::<IoctlAttr>()) as u64)
}

/// Copies in the bytes of a pointer attribute (inline when it fits in `data`).
fn fetch(user: &dyn UserSpace, attr: &IoctlAttr) -> Result<Vec<u8>, Errno> {
    let len = attr.len as usize;
    if len <= INLINE_DATA_MAX {
        return Ok(attr.data.to_ne_bytes()[..len].to_vec());
    }
    let mut buf = vec![0u8; len];
    user.copy_from_user(&mut buf, attr.data)?;
    Ok(buf)
}

impl<'u> Bundle<'u> {
    /// Validates `attrs` against `specs` as `uverbs_set_attr` and `uverbs_fill_attr` do; the
    /// caller's memory is `user`'s.
    pub fn parse(user: &'u dyn UserSpace, hdr_addr: u64, attrs: &[IoctlAttr], specs: &'static [AttrSpec]) -> Result<Self, Errno> {
        let mut present: Vec<(u16, Present)> = Vec::with_capacity(attrs.len());
        for (index, attr) in attrs.iter().enumerate() {
            let Some(spec) = specs.iter().find(|s| s.id == attr.attr_id) else {
                // Unknown attributes are ignored unless the caller insists.
                if attr.flags & UVERBS_ATTR_F_MANDATORY != 0 {
                    return Err(Errno::EPROTONOSUPPORT);
                }
                continue;
            };
            if present.iter().any(|(id, _)| *id == attr.attr_id) {
                return Err(Errno::EINVAL);
            }
            if attr.attr_data != 0 {
                return Err(Errno::EINVAL);
            }
            match spec.kind {
                AttrKind::Idr { .. } => {
                    if attr.len != 0 {
                        return Err(Errno::EINVAL);
                    }
                }
                AttrKind::PtrIn { min, max, zero_trailing } => {
                    if attr.len < min || (!zero_trailing && attr.len > max) {
                        return Err(Errno::EINVAL);
                    }
                    if attr.len > max {
                        // Newer user space may send a longer struct; fine only if the extra is zero.
                        let bytes = fetch(user, attr)?;
                        if bytes[max as usize..].iter().any(|&b| b != 0) {
                            return Err(Errno::EOPNOTSUPP);
                        }
                    }
                }
                AttrKind::PtrOut { min } => {
                    if attr.len < min {
                        return Err(Errno::EINVAL);
                    }
                }
            }
            present.push((attr.attr_id, Present { index, attr: *attr }));
        }
        if specs.iter().any(|s| s.mandatory && !present.iter().any(|(id, _)| *id == s.id)) {
            return Err(Errno::EINVAL);
        }
        Ok(Self { user, hdr_addr, present, outputs: Vec::new() })
    }

    fn get(&self, id: u16) -> Option<&Present> {
        self.present.iter().find(|(i, _)| *i == id).map(|(_, p)| p)
    }

    pub fn has(&self, id: u16) -> bool {
        self.get(id).is_some()
    }

    /// An input value, zero-extended if the caller sent an older, shorter struct.
    pub fn read<T: FromBytes + IntoBytes>(&self, id: u16) -> Result<Option<T>, Errno> {
        let Some(p) = self.get(id) else { return Ok(None) };
        let bytes = fetch(self.user, &p.attr)?;
        let mut value = T::new_zeroed();
        let dst = value.as_mut_bytes();
        let n = dst.len().min(bytes.len());
        dst[..n].copy_from_slice(&bytes[..n]);
        Ok(Some(value))
    }

    /// A mandatory input's bytes.
    pub fn require_bytes(&self, id: u16) -> Result<Vec<u8>, Errno> {
        let p = self.get(id).ok_or(Errno::EINVAL)?;
        fetch(self.user, &p.attr)
    }

    /// A mandatory input's bytes, copied into memory that is zeroed when dropped: for key
    /// material, which must leave no copy behind.
    pub fn require_secret(&self, id: u16) -> Result<Zeroizing<Vec<u8>>, Errno> {
        let p = self.get(id).ok_or(Errno::EINVAL)?;
        let len = p.attr.len as usize;
        let mut buf = Zeroizing::new(vec![0u8; len]);
        if len <= INLINE_DATA_MAX {
            let inline = Zeroizing::new(p.attr.data.to_ne_bytes());
            buf.copy_from_slice(&inline[..len]);
        } else {
            self.user.copy_from_user(&mut buf, p.attr.data)?;
        }
        Ok(buf)
    }

    /// A mandatory input (the spec guarantees presence; absence here is a table bug → EINVAL).
    pub fn require<T: FromBytes + IntoBytes>(&self, id: u16) -> Result<T, Errno> {
        self.read(id)?.ok_or(Errno::EINVAL)
    }

    /// The handle an object attribute names.
    pub fn handle(&self, id: u16) -> Option<u32> {
        // Handles are u32 (the kernel's IDR limit); bigger values cannot name anything.
        self.get(id).map(|p| u32::try_from(p.attr.data).unwrap_or(u32::MAX))
    }

    /// The size of the caller's buffer for output `id`, if it sent one.
    pub fn output_len(&self, id: u16) -> Option<usize> {
        self.get(id).map(|p| p.attr.len as usize)
    }

    /// Queues output bytes; written to the caller (truncated to its buffer) if the call succeeds.
    pub fn write_bytes(&mut self, id: u16, bytes: &[u8]) {
        if let Some(p) = self.get(id).copied() {
            let len = (p.attr.len as usize).min(bytes.len());
            self.outputs.push((p.index, bytes[..len].to_vec(), p.attr.data));
        }
    }

    /// Queues an output; written to the caller (truncated to its buffer) if the call succeeds.
    pub fn write<T: IntoBytes + Immutable>(&mut self, id: u16, value: &T) {
        if let Some(p) = self.get(id).copied() {
            let len = (p.attr.len as usize).min(core::mem::size_of::<T>());
            self.outputs.push((p.index, value.as_bytes()[..len].to_vec(), p.attr.data));
        }
    }

    /// Copies every queued output to the caller and marks it valid.
    pub fn flush_outputs(&mut self) -> Result<(), Errno> {
        for (index, bytes, addr) in self.outputs.drain(..) {
            self.user.copy_to_user(addr, &bytes)?;
            let flags_addr = attr_addr(self.hdr_addr, index) + core::mem::offset_of!(IoctlAttr, flags) as u64;
            let mut flags = [0u8; 2];
            self.user.copy_from_user(&mut flags, flags_addr)?;
            let flags = u16::from_ne_bytes(flags) | UVERBS_ATTR_F_VALID_OUTPUT;
            self.user.copy_to_user(flags_addr, &flags.to_ne_bytes())?;
        }
        Ok(())
    }

    /// Writes a new object's handle into the `data` of the attribute `id`.
    pub fn write_new_handle(&self, id: u16, handle: u32) -> Result<(), Errno> {
        let p = self.get(id).ok_or(Errno::EINVAL)?;
        let data_addr = attr_addr(self.hdr_addr, p.index) + core::mem::offset_of!(IoctlAttr, data) as u64;
        self.user.copy_to_user(data_addr, &u64::from(handle).to_ne_bytes())
    }
}
