//! One method call: the schema a method declares, and what its handler works on, with typed
//! access to the objects its handle attributes name.

use std::sync::Arc;

use accelverbs_kernel_abi::objects::Ucontext;
use accelverbs_kernel_abi::{Driver, Errno};

use super::bundle::{Access, AttrKind, AttrSpec, Bundle};
use super::objects::ObjectType;
use super::table::{ObjectTable, UObject};
use super::FileCounters;
use crate::hw::SoftHardware;
use crate::memory::UserSpace;
use crate::SoftDevice;

type Handler = fn(&mut Call<'_>, &mut Bundle) -> Result<(), Errno>;

/// One method of an object type (`DECLARE_UVERBS_NAMED_METHOD`): its id within the object,
/// the attributes it takes, its handler.
#[derive(Debug)]
pub struct Method {
    pub id: u16,
    pub attrs: &'static [AttrSpec],
    pub handler: Handler,
}

impl Method {
    /// Whether the method creates an object (it has a new-handle attribute).
    pub fn creates(&self) -> bool {
        self.attrs.iter().any(|a| matches!(a.kind, AttrKind::Idr { access: Access::New, .. }))
    }
}

/// What a handler works on.
#[derive(Debug)]
pub struct Call<'a> {
    pub device: &'a Arc<SoftDevice>,
    pub driver: &'a Arc<Driver<SoftHardware>>,
    /// The process behind the file.
    pub user: &'a Arc<dyn UserSpace>,
    pub counters: &'a Arc<FileCounters>,
    pub ucontext: &'a Option<Arc<Ucontext<SoftHardware>>>,
    /// Set by GET_CONTEXT: installed only once the outputs reached the caller, so a call that
    /// fails with `EFAULT` on the way out leaves no context behind (and can be retried).
    pub new_ucontext: Option<Arc<Ucontext<SoftHardware>>>,
    pub objects: &'a mut ObjectTable,
    /// Set by a creating handler: committed (and its handle written back) only on success.
    pub created: Option<(u16, UObject)>,
    /// Set by a destroying handler after its preconditions held.
    pub destroyed: Option<u32>,
}

impl Call<'_> {
    pub fn ctx(&self) -> Result<&Arc<Ucontext<SoftHardware>>, Errno> {
        // The kernel answers EINVAL when a method needs a ucontext that was never created.
        self.ucontext.as_ref().ok_or(Errno::EINVAL)
    }

    /// The object of type `T` that attribute `attr` names: `ENOENT` for no such handle,
    /// `EINVAL` for another type.
    pub fn object<T: ObjectType>(&self, b: &Bundle, attr: u16) -> Result<Arc<T::Object>, Errno> {
        let handle = b.handle(attr).ok_or(Errno::EINVAL)?;
        self.objects.get_typed::<T>(handle)
    }

    /// Hands a new object to the caller under the handle attribute `attr`, once the call succeeds.
    pub fn create<T: ObjectType>(&mut self, attr: u16, object: Arc<T::Object>) {
        self.created = Some((attr, UObject::new::<T>(object)));
    }

    /// Removes the object attribute `attr` names once the call succeeds, if its destroy
    /// precondition holds now (`EBUSY` while children use it).
    pub fn destroy<T: ObjectType>(&mut self, b: &Bundle, attr: u16) -> Result<Arc<T::Object>, Errno> {
        let handle = b.handle(attr).ok_or(Errno::EINVAL)?;
        let object = self.objects.get_typed::<T>(handle)?;
        T::check_destroy(&object)?;
        self.destroyed = Some(handle);
        Ok(object)
    }
}

/// Checks the object-handle attributes of a call exist with the right type before the handler
/// runs (`uverbs_process_idr_attr`): `ENOENT`/`EINVAL` for bad handles.
pub fn check_handles(method: &Method, b: &Bundle, objects: &ObjectTable) -> Result<(), Errno> {
    for spec in method.attrs {
        if let AttrKind::Idr { object, access } = spec.kind {
            if access == Access::New {
                continue;
            }
            if let Some(handle) = b.handle(spec.id) {
                objects.get(handle, object)?;
            }
        }
    }
    Ok(())
}
