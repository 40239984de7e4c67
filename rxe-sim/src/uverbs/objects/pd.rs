//! Protection domains.

use accelverbs_kernel_abi::objects::Pd;
use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::ids::{object, pd};

use super::ObjectType;
use crate::hw::SoftHardware;
use crate::uverbs::bundle::{Access, AttrSpec as A, Bundle};
use crate::uverbs::call::{Call, Method};

#[derive(Debug)]
pub struct PdType;

impl ObjectType for PdType {
    const ID: u16 = object::PD;
    const DESTROY_ORDER: u8 = 50;
    type Object = Pd<SoftHardware>;
    const METHODS: &'static [Method] = &[
        Method {
            id: pd::METHOD_ALLOC,
            attrs: &[A::handle(pd::ATTR_ALLOC_HANDLE, object::PD, Access::New, true)],
            handler: alloc,
        },
        Method {
            id: pd::METHOD_DESTROY,
            attrs: &[A::handle(pd::ATTR_DESTROY_HANDLE, object::PD, Access::Destroy, true)],
            handler: destroy,
        },
    ];

    fn check_destroy(pd: &Self::Object) -> Result<(), Errno> {
        pd.check_destroy()
    }
}

fn alloc(call: &mut Call<'_>, _b: &mut Bundle) -> Result<(), Errno> {
    let pd = call.ctx()?.alloc_pd()?;
    call.create::<PdType>(pd::ATTR_ALLOC_HANDLE, pd);
    Ok(())
}

fn destroy(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.destroy::<PdType>(b, pd::ATTR_DESTROY_HANDLE).map(drop)
}
