//! The per-file object table (the kernel's per-`ib_uverbs_file` IDR): handles → objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use accelverbs_kernel_abi::objects::{CompChannel, Cq, Mr, Pd, Qp};
use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::ids::object;

use crate::hw::SoftHardware;

type H = SoftHardware;

/// An object a user context created.
#[derive(Debug, Clone)]
pub enum UObject {
    Pd(Arc<Pd<H>>),
    /// Held so the MR stays registered while the handle exists.
    Mr(#[allow(dead_code)] Arc<Mr<H>>),
    CompChannel(Arc<CompChannel<H>>),
    Cq(Arc<Cq<H>>),
    Qp(Arc<Qp<H>>),
}

impl UObject {
    /// The `UVERBS_OBJECT_*` type id.
    pub fn type_id(&self) -> u16 {
        match self {
            UObject::Pd(_) => object::PD,
            UObject::Mr(_) => object::MR,
            UObject::CompChannel(_) => object::COMP_CHANNEL,
            UObject::Cq(_) => object::CQ,
            UObject::Qp(_) => object::QP,
        }
    }

    /// The destroy preconditions (`EBUSY` while children use it).
    pub fn check_destroy(&self) -> Result<(), Errno> {
        match self {
            UObject::Pd(pd) => pd.check_destroy(),
            UObject::CompChannel(c) => c.check_destroy(),
            UObject::Cq(cq) => cq.check_destroy(),
            UObject::Mr(_) | UObject::Qp(_) => Ok(()),
        }
    }
}

/// Handles of one file. Handles are never reused within a file while it is open.
#[derive(Debug, Default)]
pub struct ObjectTable {
    next: u32,
    objects: BTreeMap<u32, UObject>,
}

impl ObjectTable {
    pub fn insert(&mut self, obj: UObject) -> Result<u32, Errno> {
        let handle = self.next;
        self.next = self.next.checked_add(1).ok_or(Errno::ENOMEM)?;
        self.objects.insert(handle, obj);
        Ok(handle)
    }

    /// The object `handle` names, if it has type `type_id`: `ENOENT` for no such handle,
    /// `EINVAL` for the wrong type.
    pub fn get(&self, handle: u32, type_id: u16) -> Result<&UObject, Errno> {
        let obj = self.objects.get(&handle).ok_or(Errno::ENOENT)?;
        if obj.type_id() != type_id {
            return Err(Errno::EINVAL);
        }
        Ok(obj)
    }

    pub fn remove(&mut self, handle: u32) -> Option<UObject> {
        self.objects.remove(&handle)
    }

    /// Destroys everything, children before parents (the kernel's `uverbs_destroy_ufile_hw`):
    /// QPs, then MRs, CQs, completion channels, PDs.
    pub fn destroy_all(&mut self) {
        for type_id in [object::QP, object::MR, object::CQ, object::COMP_CHANNEL, object::PD] {
            self.objects.retain(|_, o| o.type_id() != type_id);
        }
        debug_assert!(self.objects.is_empty());
    }
}
