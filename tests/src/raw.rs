//! Speaking the ioctl ABI directly, as a C program on a real uverbs fd would: for tests of the
//! driver's rules that the safe provider API makes impossible to break (destroying a parent
//! first, closing a file with live objects, malformed calls).

use accelverbs::ioctl::Command;
use accelverbs::uapi::cmd::{
    CreateCqCmd, CreateCqResp, CreateQpCmd, CreateQpResp, GetContextCmd, GetContextResp, ResourceCounts,
};
use accelverbs::uapi::compress::{Format, StreamDirection};
use accelverbs::uapi::ids::{comp_stream, cq, crypto_key, device, mr, object, pd, qp, uhw};
use accelverbs::uapi::verbs::{DestroyCqResp, DestroyQpResp, QpCap, IB_UVERBS_QPT_DRIVER};
use std::sync::Arc;

use accelverbs::{Channel, SharedMemory};

/// Page-aligned zeroed memory for rings and doorbell records: this process's own, or shared
/// with a device in another process (a daemon, which reaches rings only there).
#[derive(Debug)]
pub struct Pages {
    ptr: *mut u8,
    len: usize,
    shared: Option<Arc<dyn SharedMemory>>,
}

// SAFETY: the mapping is owned by this value and reached only through addresses handed to the
// device; nothing here creates references into it.
unsafe impl Send for Pages {}
// SAFETY: as above.
unsafe impl Sync for Pages {}

impl Pages {
    pub fn new(len: usize) -> Self {
        let len = len.next_multiple_of(4096);
        // SAFETY: a fresh anonymous mapping; aliases nothing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        Self { ptr: p.cast(), len, shared: None }
    }

    /// `len` bytes the device behind `chan` can reach as a ring: shared with it if it lives in
    /// another process.
    pub fn for_device(chan: &dyn Channel, len: usize) -> Self {
        let Some(shared) = chan.shared_memory() else { return Self::new(len) };
        let len = len.next_multiple_of(4096);
        let ptr = shared.map(len).expect("memory shared with the device");
        Self { ptr: ptr.as_ptr(), len, shared: Some(shared) }
    }

    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }

    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Changes the protection of `len` bytes at `offset` (page multiples): guard pages.
    pub fn protect_range(&self, offset: usize, len: usize, prot: i32) {
        assert!(offset & 4095 == 0 && offset + len <= self.len, "whole pages");
        // SAFETY: as `protect`, for part of our own mapping.
        assert_eq!(unsafe { libc::mprotect(self.ptr.add(offset).cast(), len, prot) }, 0);
    }

    /// Changes the protection of the whole mapping (`PROT_READ`, `PROT_NONE`, ...).
    pub fn protect(&self, prot: i32) {
        // SAFETY: changes the protection of our own mapping only; nothing holds references
        // into it (tests reach it through addresses handed to the device).
        assert_eq!(unsafe { libc::mprotect(self.ptr.cast(), self.len, prot) }, 0);
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            // SAFETY: the mapping `map` made in `for_device`; the device no longer uses it
            // (the file that registered it closed first, see `RawFile`).
            unsafe { shared.unmap(std::ptr::NonNull::new(self.ptr).expect("mapped"), self.len) };
            return;
        }
        // SAFETY: unmaps the mapping made in `new`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A uverbs file driven by hand. Memory it registered is kept until the file is dropped.
#[derive(Debug)]
pub struct RawFile {
    pub chan: Box<dyn Channel>,
    pub memory: Vec<Pages>,
}

impl RawFile {
    pub fn new(chan: Box<dyn Channel>) -> Self {
        Self { chan, memory: Vec::new() }
    }

    /// Sends `c` on this file.
    pub fn call(&self, c: &mut Command<'_>) -> Result<(), i32> {
        // SAFETY: the memory a test's command hands the device (regions, rings) is `Pages`
        // kept in `memory`, which is dropped only after `chan` (declared first) closed the
        // file and destroyed every object; tests never hold references into it.
        unsafe { c.execute(&*self.chan) }
    }

    /// Sends `c` with its header as the test left it (`Command::execute_raw`); the test's
    /// headers only ever claim fewer attributes than `Command` holds (zeroed slots), never memory
    /// beyond it.
    pub fn call_raw(&self, c: &mut Command<'_>) -> Result<(), i32> {
        // SAFETY: as `call`; a corrupted length or count makes the device read at most the
        // command's own zeroed attribute slots or fail with EINVAL first.
        unsafe { c.execute_raw(&*self.chan) }
    }

    /// Live objects on the whole device (QUERY_RESOURCES needs no context).
    pub fn resource_counts(&self) -> ResourceCounts {
        let mut counts = ResourceCounts::default();
        let mut c = Command::new(object::DEVICE, device::METHOD_QUERY_RESOURCES);
        c.output(device::ATTR_QUERY_RESOURCES_RESP, &mut counts);
        self.call(&mut c).expect("QUERY_RESOURCES");
        counts
    }

    pub fn get_context(&self) -> Result<GetContextResp, i32> {
        let req = GetContextCmd::default();
        let mut resp = GetContextResp::default();
        let mut c = Command::new(object::DEVICE, device::METHOD_GET_CONTEXT);
        c.input(uhw::IN, &req).output(uhw::OUT, &mut resp);
        self.call(&mut c)?;
        Ok(resp)
    }

    pub fn alloc_pd(&self) -> Result<u32, i32> {
        let mut c = Command::new(object::PD, pd::METHOD_ALLOC);
        let h = c.new_object(pd::ATTR_ALLOC_HANDLE);
        self.call(&mut c)?;
        Ok(c.new_handle(h))
    }

    /// Registers `len` fresh bytes; returns (handle, lkey).
    pub fn reg_mr(&mut self, pd_handle: u32, len: usize, access: u32) -> Result<(u32, u32), i32> {
        let pages = Pages::for_device(&*self.chan, len);
        let (mut lkey, mut rkey) = (0u32, 0u32);
        let mut c = Command::new(object::MR, mr::METHOD_REG);
        let h = c.new_object(mr::ATTR_REG_HANDLE);
        c.handle(mr::ATTR_REG_PD_HANDLE, pd_handle)
            .input_u64(mr::ATTR_REG_ADDR, pages.addr())
            .input_u64(mr::ATTR_REG_LENGTH, len as u64)
            .input_u32(mr::ATTR_REG_ACCESS, access)
            .output(mr::ATTR_REG_RESP_LKEY, &mut lkey)
            .output(mr::ATTR_REG_RESP_RKEY, &mut rkey);
        self.call(&mut c)?;
        let handle = c.new_handle(h);
        self.memory.push(pages);
        Ok((handle, lkey))
    }

    pub fn create_cq(&mut self, entries: u32) -> Result<u32, i32> {
        let (ring, db) = (Pages::for_device(&*self.chan, 32 * entries as usize), Pages::for_device(&*self.chan, 64));
        self.create_cq_in(entries, ring, db)
    }

    /// CREATE_CQ with the ring and doorbell record in the given memory.
    pub fn create_cq_in(&mut self, entries: u32, ring: Pages, db: Pages) -> Result<u32, i32> {
        let req = CreateCqCmd { ring_addr: ring.addr(), db_addr: db.addr(), log_size: entries.trailing_zeros(), reserved: 0 };
        let (mut resp, mut granted) = (CreateCqResp::default(), 0u32);
        let mut c = Command::new(object::CQ, cq::METHOD_CREATE);
        let h = c.new_object(cq::ATTR_CREATE_HANDLE);
        c.input_u32(cq::ATTR_CREATE_CQE, entries)
            .input_u64(cq::ATTR_CREATE_USER_HANDLE, 0)
            .input_u32(cq::ATTR_CREATE_COMP_VECTOR, 0)
            .input(uhw::IN, &req)
            .output(uhw::OUT, &mut resp)
            .output(cq::ATTR_CREATE_RESP_CQE, &mut granted);
        self.call(&mut c)?;
        let handle = c.new_handle(h);
        self.memory.extend([ring, db]);
        Ok(handle)
    }

    pub fn create_qp(&mut self, pd_handle: u32, cq_handle: u32, depth: u32) -> Result<u32, i32> {
        let (ring, db) = (Pages::for_device(&*self.chan, 128 * depth as usize), Pages::for_device(&*self.chan, 128));
        self.create_qp_in(pd_handle, cq_handle, depth, ring, db)
    }

    /// CREATE_QP of verbs type `qp_type` (`IB_UVERBS_QPT_*`), as a C program would make its
    /// RC QP.
    pub fn create_qp_of_type(&mut self, pd_handle: u32, cq_handle: u32, depth: u32, qp_type: u32) -> Result<u32, i32> {
        let (ring, db) = (Pages::for_device(&*self.chan, 128 * depth as usize), Pages::for_device(&*self.chan, 128));
        self.create_qp_with(pd_handle, cq_handle, depth, qp_type, ring, db)
    }

    /// CREATE_QP with the send queue and doorbell record in the given memory.
    pub fn create_qp_in(&mut self, pd_handle: u32, cq_handle: u32, depth: u32, ring: Pages, db: Pages) -> Result<u32, i32> {
        self.create_qp_with(pd_handle, cq_handle, depth, IB_UVERBS_QPT_DRIVER, ring, db)
    }

    fn create_qp_with(
        &mut self,
        pd_handle: u32,
        cq_handle: u32,
        depth: u32,
        qp_type: u32,
        ring: Pages,
        db: Pages,
    ) -> Result<u32, i32> {
        let req = CreateQpCmd {
            sq_addr: ring.addr(),
            db_addr: db.addr(),
            log_sq_size: depth.trailing_zeros(),
            ..CreateQpCmd::default()
        };
        let cap = QpCap { max_send_wr: depth, max_send_sge: 1, ..QpCap::default() };
        let (mut resp, mut qpn) = (CreateQpResp::default(), 0u32);
        let mut c = Command::new(object::QP, qp::METHOD_CREATE);
        let h = c.new_object(qp::ATTR_CREATE_HANDLE);
        c.handle(qp::ATTR_CREATE_PD_HANDLE, pd_handle)
            .handle(qp::ATTR_CREATE_SEND_CQ_HANDLE, cq_handle)
            .input_u64(qp::ATTR_CREATE_USER_HANDLE, 0)
            .input(qp::ATTR_CREATE_CAP, &cap)
            .input_u32(qp::ATTR_CREATE_TYPE, qp_type)
            .input(uhw::IN, &req)
            .output(uhw::OUT, &mut resp)
            .output(qp::ATTR_CREATE_RESP_QP_NUM, &mut qpn);
        self.call(&mut c)?;
        let handle = c.new_handle(h);
        self.memory.extend([ring, db]);
        Ok(handle)
    }

    /// A compression context in PD `pd_handle`; its handle.
    pub fn create_stream(&self, pd_handle: u32, format: Format, direction: StreamDirection, level: i8) -> Result<u32, i32> {
        let mut number = 0u32;
        let mut c = Command::new(object::COMP_STREAM, comp_stream::METHOD_CREATE);
        let h = c.new_object(comp_stream::ATTR_HANDLE);
        c.handle(comp_stream::ATTR_CREATE_PD_HANDLE, pd_handle)
            .input_u32(comp_stream::ATTR_CREATE_FORMAT, u32::from(format as u8))
            .input_u32(comp_stream::ATTR_CREATE_DIRECTION, direction as u32)
            .input_u32(comp_stream::ATTR_CREATE_LEVEL, i32::from(level) as u32)
            .output(comp_stream::ATTR_CREATE_RESP_NUMBER, &mut number);
        self.call(&mut c)?;
        Ok(c.new_handle(h))
    }

    /// A crypto key in PD `pd_handle` from `material` exactly as given (no provider check);
    /// its handle.
    pub fn create_crypto_key(&self, pd_handle: u32, algorithm: u32, material: &[u8]) -> Result<u32, i32> {
        let mut number = 0u32;
        let mut c = Command::new(object::CRYPTO_KEY, crypto_key::METHOD_CREATE);
        let h = c.new_object(crypto_key::ATTR_HANDLE);
        c.handle(crypto_key::ATTR_CREATE_PD_HANDLE, pd_handle)
            .input_u32(crypto_key::ATTR_CREATE_ALGORITHM, algorithm)
            .input(crypto_key::ATTR_CREATE_MATERIAL, material)
            .output(crypto_key::ATTR_CREATE_RESP_NUMBER, &mut number);
        self.call(&mut c)?;
        Ok(c.new_handle(h))
    }

    pub fn destroy_crypto_key(&self, handle: u32) -> Result<(), i32> {
        let mut c = Command::new(object::CRYPTO_KEY, crypto_key::METHOD_DESTROY);
        c.handle(crypto_key::ATTR_HANDLE, handle);
        self.call(&mut c)
    }

    pub fn destroy_pd(&self, handle: u32) -> Result<(), i32> {
        let mut c = Command::new(object::PD, pd::METHOD_DESTROY);
        c.handle(pd::ATTR_DESTROY_HANDLE, handle);
        self.call(&mut c)
    }

    pub fn destroy_mr(&self, handle: u32) -> Result<(), i32> {
        let mut c = Command::new(object::MR, mr::METHOD_DESTROY);
        c.handle(mr::ATTR_DESTROY_HANDLE, handle);
        self.call(&mut c)
    }

    pub fn destroy_cq(&self, handle: u32) -> Result<(), i32> {
        let mut resp = DestroyCqResp::default();
        let mut c = Command::new(object::CQ, cq::METHOD_DESTROY);
        c.handle(cq::ATTR_DESTROY_HANDLE, handle).output(cq::ATTR_DESTROY_RESP, &mut resp);
        self.call(&mut c)
    }

    pub fn destroy_qp(&self, handle: u32) -> Result<(), i32> {
        let mut resp = DestroyQpResp::default();
        let mut c = Command::new(object::QP, qp::METHOD_DESTROY);
        c.handle(qp::ATTR_DESTROY_HANDLE, handle).output(qp::ATTR_DESTROY_RESP, &mut resp);
        self.call(&mut c)
    }
}
