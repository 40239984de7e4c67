//! A user-space stand-in for the kernel's uverbs layer: one [`UverbsFile`] per open of the
//! device, taking `RDMA_VERBS_IOCTL` calls by the address of their header exactly as the kernel
//! takes them from `ioctl(2)`.

mod bundle;
mod call;
mod file_stats;
mod objects;
mod table;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use accelverbs_kernel_abi::objects::Ucontext;
use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::ids::ACCEL_DRIVER_ID;
use accelverbs_uapi::ioctl::{IoctlAttr, IoctlHdr, MAX_IOCTL_LENGTH, RDMA_VERBS_IOCTL};
use zerocopy::{FromBytes, IntoBytes};

use crate::hw::qp::{Progress, Runner};
use crate::hw::SoftHardware;
use crate::memory::UserSpace;
use crate::SoftDevice;
use bundle::Bundle;
use call::{check_handles, Call};
pub(crate) use file_stats::FileCounters;
use table::ObjectTable;

#[derive(Debug, Default)]
struct FileState {
    ucontext: Option<Arc<Ucontext<SoftHardware>>>,
    objects: ObjectTable,
}

/// One open of the device (`struct ib_uverbs_file`). Dropping it is closing it: every object
/// it created is destroyed, children first.
#[derive(Debug)]
pub struct UverbsFile {
    device: Arc<SoftDevice>,
    /// The process that opened it: its memory and descriptor table.
    user: Arc<dyn UserSpace>,
    /// What it holds, for QUERY_FILES.
    counters: Arc<FileCounters>,
    state: Mutex<FileState>,
    /// The ucontext's id once GET_CONTEXT ran (0 before), for the lock-free inline paths.
    ctx_id: AtomicU32,
    /// Most objects the file may hold at once (a daemon's per-client limit), if any.
    max_objects: Option<usize>,
}

impl UverbsFile {
    pub(crate) fn new(device: Arc<SoftDevice>, user: Arc<dyn UserSpace>) -> Self {
        let counters = Arc::new(FileCounters::new(Arc::clone(&user)));
        device.file_opened(&counters);
        Self { device, user, counters, state: Mutex::new(FileState::default()), ctx_id: AtomicU32::new(0), max_objects: None }
    }

    /// Limits the objects the file may hold at once: a creation past `max` fails with
    /// `EAGAIN`, as the rdma cgroup refuses an object over its `hca_object` limit.
    pub fn limit_objects(&mut self, max: usize) {
        self.max_objects = Some(max);
    }

    /// `ioctl(fd, request, hdr_addr)`. `hdr_addr` is the caller's address of an
    /// `ib_uverbs_ioctl_hdr` followed by its attributes.
    ///
    /// Addresses are read and written with `copy_from_user`/`copy_to_user`, so a bad one is
    /// `EFAULT`, never a crash; but a good one is really written, and memory named by a command
    /// (a registered region) is really used by the device afterwards.
    ///
    /// # Safety
    /// As for `ioctl(2)` on a uverbs descriptor: every output the attributes point at must be
    /// memory the caller lets the device write now, and every range registered (an MR) must
    /// stay mapped, and unread and unwritten by Rust references while the device may access
    /// it, until the object naming it is destroyed.
    pub unsafe fn ioctl(&self, request: u32, hdr_addr: u64) -> Result<(), Errno> {
        if request != RDMA_VERBS_IOCTL {
            return Err(Errno::ENOTTY);
        }
        let mut raw = [0u8; core::mem::size_of::<IoctlHdr>()];
        self.user.copy_from_user(&mut raw, hdr_addr)?;
        let hdr = IoctlHdr::read_from_bytes(&raw).map_err(|_| Errno::EFAULT)?;
        if hdr.length as usize > MAX_IOCTL_LENGTH || hdr.length as usize != IoctlHdr::expected_length(hdr.num_attrs) {
            return Err(Errno::EINVAL);
        }
        if hdr.reserved1 != 0 || hdr.reserved2 != 0 {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let method = objects::find(hdr.object_id, hdr.method_id)?;
        if hdr.driver_id != ACCEL_DRIVER_ID {
            return Err(Errno::EINVAL);
        }
        let mut attrs = vec![IoctlAttr::default(); hdr.num_attrs as usize];
        self.user.copy_from_user(attrs.as_mut_bytes(), hdr_addr.wrapping_add(core::mem::size_of::<IoctlHdr>() as u64))?;
        let mut bundle = Bundle::parse(&*self.user, hdr_addr, &attrs, method.attrs)?;

        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        check_handles(method, &bundle, &state.objects)?;
        if method.creates() && self.max_objects.is_some_and(|max| state.objects.len() >= max) {
            return Err(Errno::EAGAIN);
        }
        let mut call = Call {
            device: &self.device,
            driver: &self.device.driver,
            user: &self.user,
            counters: &self.counters,
            ucontext: &state.ucontext,
            new_ucontext: None,
            objects: &mut state.objects,
            created: None,
            destroyed: None,
        };
        (method.handler)(&mut call, &mut bundle)?;
        let (created, destroyed, new_ucontext) = (call.created.take(), call.destroyed.take(), call.new_ucontext.take());
        if let Some(gone) = destroyed.and_then(|handle| state.objects.remove(handle)) {
            self.counters.destroyed(gone.type_id());
        }
        bundle.flush_outputs()?;
        if new_ucontext.is_some() {
            state.ucontext = new_ucontext;
            self.counters.context_opened();
        }
        if let Some((attr, obj)) = created {
            let type_id = obj.type_id();
            let handle = state.objects.insert(obj)?;
            if let Err(e) = bundle.write_new_handle(attr, handle) {
                state.objects.remove(handle);
                return Err(e);
            }
            self.counters.created(type_id);
        }
        if let Some(ctx) = &state.ucontext {
            self.ctx_id.store(ctx.id(), Ordering::Release);
        }
        Ok(())
    }

    /// `mmap(fd, offset, len)`: the engine wake-word page is the only mappable object.
    pub fn mmap(&self, offset: u64, len: usize) -> Result<*mut u8, Errno> {
        self.check_mmap(offset, len)?;
        Ok(self.device.driver.hardware().uar.base())
    }

    /// What a process outside this one maps for `mmap(fd, offset, len)`: the memfd of the UAR
    /// page, sealed against resizing.
    pub fn mmap_fd(&self, offset: u64, len: usize) -> Result<std::os::fd::BorrowedFd<'_>, Errno> {
        self.check_mmap(offset, len)?;
        Ok(self.device.driver.hardware().uar.memfd())
    }

    fn check_mmap(&self, offset: u64, len: usize) -> Result<(), Errno> {
        let (uar_offset, uar_len) = accelverbs_kernel_abi::Hardware::uar_mapping(self.device.driver.hardware());
        if offset != uar_offset || len == 0 || len as u64 > uar_len {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// Inline execution: runs pending work of QP `qpn` on the calling thread. Only QPs of this
    /// file's context; others are `ENOENT`.
    pub fn drive_qp(&self, qpn: u32) -> Result<usize, Errno> {
        let qp = self.device.driver.hardware().qp(qpn).ok_or(Errno::ENOENT)?;
        if qp.ctx_id != self.ctx_id.load(Ordering::Acquire) {
            return Err(Errno::ENOENT);
        }
        let mut done = 0;
        while let Progress::Worked(n) = qp.process(Runner::Inline) {
            done += n;
        }
        Ok(done)
    }

    /// Inline execution: runs pending work of every QP completing to CQ `cqn`.
    pub fn drive_cq(&self, cqn: u32) -> Result<usize, Errno> {
        let cq = self.device.driver.hardware().cq(cqn).ok_or(Errno::ENOENT)?;
        if cq.ctx_id != self.ctx_id.load(Ordering::Acquire) {
            return Err(Errno::ENOENT);
        }
        let qps = cq.qps.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut done = 0;
        for qp in &qps {
            if let Progress::Worked(n) = qp.process(Runner::Inline) {
                done += n;
            }
        }
        Ok(done)
    }
}

impl Drop for UverbsFile {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        state.objects.destroy_all();
        state.ucontext = None;
    }
}
