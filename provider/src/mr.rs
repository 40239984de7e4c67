//! Memory regions.

use std::marker::PhantomData;
use std::sync::Arc;

use accelverbs_uapi::ids::{mr, object};
use accelverbs_uapi::wqe::Sge;

use crate::mem::PageBuffer;
use crate::pd::PdInner;
use crate::{Access, Error, Pd};

/// Registered memory (`ibv_mr`). It owns or mutably borrows its buffer, so the buffer cannot
/// be freed or touched by safe code elsewhere while the device may access it.
///
/// Reading or writing the contents while a posted work request targets them races with the
/// device, as with any DMA: poll the completion first.
#[derive(Debug)]
pub struct MemoryRegion<'a> {
    pd: Arc<PdInner>,
    handle: u32,
    lkey: u32,
    rkey: u32,
    ptr: *mut u8,
    len: usize,
    _owned: Option<PageBuffer>,
    _borrowed: PhantomData<&'a mut [u8]>,
}

// SAFETY: the region's memory is owned (PageBuffer) or exclusively borrowed for 'a; moving the
// handle between threads moves that exclusive access with it.
unsafe impl Send for MemoryRegion<'_> {}
// SAFETY: shared references only read (`as_slice`); mutation needs `&mut self`.
unsafe impl Sync for MemoryRegion<'_> {}

impl Pd {
    /// Allocates `len` zeroed, page-aligned bytes and registers them (`ibv_reg_mr` on a fresh
    /// buffer).
    pub fn alloc_mr(&self, len: usize, access: Access) -> Result<MemoryRegion<'static>, Error> {
        let buf = PageBuffer::new(len, "MR buffer")?;
        let ptr = buf.as_ptr();
        // SAFETY: `buf` is a fresh mapping of at least `len` bytes, owned by the region.
        unsafe { self.register(ptr, len, access, Some(buf)) }
    }

    /// Registers caller memory (`ibv_reg_mr`); the region borrows it mutably until dropped.
    pub fn reg_mr<'a>(&self, buf: &'a mut [u8], access: Access) -> Result<MemoryRegion<'a>, Error> {
        // SAFETY: the exclusive borrow of `buf` is held by the region for 'a.
        unsafe { self.register(buf.as_mut_ptr(), buf.len(), access, None) }
    }

    /// # Safety
    /// `ptr..ptr+len` must stay valid and otherwise unaccessed for the region's lifetime.
    unsafe fn register<'a>(
        &self,
        ptr: *mut u8,
        len: usize,
        access: Access,
        owned: Option<PageBuffer>,
    ) -> Result<MemoryRegion<'a>, Error> {
        let (mut lkey, mut rkey) = (0u32, 0u32);
        let mut cmd = crate::ioctl::Command::new(object::MR, mr::METHOD_REG);
        let h = cmd.new_object(mr::ATTR_REG_HANDLE);
        cmd.handle(mr::ATTR_REG_PD_HANDLE, self.inner.handle)
            .input_u64(mr::ATTR_REG_ADDR, ptr as u64)
            .input_u64(mr::ATTR_REG_LENGTH, len as u64)
            .input_u32(mr::ATTR_REG_ACCESS, access.bits())
            .output(mr::ATTR_REG_RESP_LKEY, &mut lkey)
            .output(mr::ATTR_REG_RESP_RKEY, &mut rkey);
        self.inner.ctx.run("reg_mr", &mut cmd)?;
        let handle = cmd.new_handle(h);
        Ok(MemoryRegion { pd: Arc::clone(&self.inner), handle, lkey, rkey, ptr, len, _owned: owned, _borrowed: PhantomData })
    }
}

impl MemoryRegion<'_> {
    pub fn lkey(&self) -> u32 {
        self.lkey
    }

    pub fn rkey(&self) -> u32 {
        self.rkey
    }

    /// Address of the first byte, as work requests name it.
    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `len` bytes at `offset` into the region. Not checked here: the device checks every SGE
    /// against the region and completes a bad one with a protection error.
    pub fn sge(&self, offset: usize, len: u32) -> Sge {
        Sge { addr: self.addr().wrapping_add(offset as u64), length: len, lkey: self.lkey }
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the region owns or exclusively borrows `len` valid bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes this the only reference handed out.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for MemoryRegion<'_> {
    fn drop(&mut self) {
        let mut cmd = crate::ioctl::Command::new(object::MR, mr::METHOD_DESTROY);
        cmd.handle(mr::ATTR_DESTROY_HANDLE, self.handle);
        // Deregistration returns only after in-flight device accesses finished, so the buffer
        // (freed right after) is no longer used. Failure is impossible for a live handle.
        let _ = cmd.execute(&*self.pd.ctx.channel);
    }
}
