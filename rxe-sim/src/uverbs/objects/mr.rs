//! Memory regions.

use accelverbs_kernel_abi::objects::Mr;
use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::ids::{mr, object};
use accelverbs_uapi::wqe::Sge;
use zerocopy::FromBytes;

use super::pd::PdType;
use super::ObjectType;
use crate::hw::SoftHardware;
use crate::uverbs::bundle::{Access, AttrSpec as A, Bundle};
use crate::uverbs::call::{Call, Method};

#[derive(Debug)]
pub struct MrType;

impl ObjectType for MrType {
    const ID: u16 = object::MR;
    const DESTROY_ORDER: u8 = 20;
    /// Held so the MR stays registered while the handle exists.
    type Object = Mr<SoftHardware>;
    const METHODS: &'static [Method] = &[
        Method {
            id: mr::METHOD_REG,
            attrs: &[
                A::handle(mr::ATTR_REG_HANDLE, object::MR, Access::New, true),
                A::handle(mr::ATTR_REG_PD_HANDLE, object::PD, Access::Read, true),
                A::input::<u64>(mr::ATTR_REG_ADDR, true),
                A::input::<u64>(mr::ATTR_REG_LENGTH, true),
                A::input::<u32>(mr::ATTR_REG_ACCESS, true),
                A::output::<u32>(mr::ATTR_REG_RESP_LKEY, true),
                A::output::<u32>(mr::ATTR_REG_RESP_RKEY, true),
            ],
            handler: reg,
        },
        Method {
            id: mr::METHOD_DESTROY,
            attrs: &[A::handle(mr::ATTR_DESTROY_HANDLE, object::MR, Access::Destroy, true)],
            handler: destroy,
        },
        Method {
            id: mr::METHOD_ADVISE,
            attrs: &[
                A::handle(mr::ATTR_ADVISE_PD_HANDLE, object::PD, Access::Read, true),
                A::input::<u32>(mr::ATTR_ADVISE_ADVICE, true),
                A::input::<u32>(mr::ATTR_ADVISE_FLAGS, true),
                A::input_bytes(mr::ATTR_ADVISE_SGE_LIST, SGE_BYTES as u16, u16::MAX, true),
            ],
            handler: advise,
        },
    ];
}

fn reg(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.ctx()?;
    let pd = call.object::<PdType>(b, mr::ATTR_REG_PD_HANDLE)?;
    let addr: u64 = b.require(mr::ATTR_REG_ADDR)?;
    let length: u64 = b.require(mr::ATTR_REG_LENGTH)?;
    let access: u32 = b.require(mr::ATTR_REG_ACCESS)?;
    let mr = pd.reg_mr(addr, length, access)?;
    b.write(mr::ATTR_REG_RESP_LKEY, &mr.lkey());
    b.write(mr::ATTR_REG_RESP_RKEY, &mr.rkey());
    call.create::<MrType>(mr::ATTR_REG_HANDLE, mr);
    Ok(())
}

const SGE_BYTES: usize = core::mem::size_of::<Sge>();

/// ADVISE_MR: the SGE list is whole `ib_uverbs_sge`s (`EINVAL` otherwise).
fn advise(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let pd = call.object::<PdType>(b, mr::ATTR_ADVISE_PD_HANDLE)?;
    let advice: u32 = b.require(mr::ATTR_ADVISE_ADVICE)?;
    let flags: u32 = b.require(mr::ATTR_ADVISE_FLAGS)?;
    let bytes = b.require_bytes(mr::ATTR_ADVISE_SGE_LIST)?;
    if bytes.len() % SGE_BYTES != 0 {
        return Err(Errno::EINVAL);
    }
    let sges = bytes
        .chunks_exact(SGE_BYTES)
        .map(|c| Sge::read_from_bytes(c).map_err(|_| Errno::EINVAL))
        .collect::<Result<Vec<_>, _>>()?;
    pd.advise_mr(advice, flags, &sges)
}

fn destroy(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.destroy::<MrType>(b, mr::ATTR_DESTROY_HANDLE).map(drop)
}
