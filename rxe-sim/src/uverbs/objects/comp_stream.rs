//! Compression contexts (streams): the driver-namespace object that carries one compression
//! or decompression stream across work requests.

use accelverbs_kernel_abi::objects::CompStream;
use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::ids::{comp_stream, object};

use super::pd::PdType;
use super::ObjectType;
use crate::hw::SoftHardware;
use crate::uverbs::bundle::{Access, AttrSpec as A, Bundle};
use crate::uverbs::call::{Call, Method};

#[derive(Debug)]
pub struct CompStreamType;

impl ObjectType for CompStreamType {
    const ID: u16 = object::COMP_STREAM;
    /// After QPs (no request runs on it any more), before the PD it is scoped to.
    const DESTROY_ORDER: u8 = 15;
    type Object = CompStream<SoftHardware>;
    const METHODS: &'static [Method] = &[
        Method {
            id: comp_stream::METHOD_CREATE,
            attrs: &[
                A::handle(comp_stream::ATTR_HANDLE, object::COMP_STREAM, Access::New, true),
                A::handle(comp_stream::ATTR_CREATE_PD_HANDLE, object::PD, Access::Read, true),
                A::input::<u32>(comp_stream::ATTR_CREATE_FORMAT, true),
                A::input::<u32>(comp_stream::ATTR_CREATE_DIRECTION, true),
                A::input::<u32>(comp_stream::ATTR_CREATE_LEVEL, true),
                A::output::<u32>(comp_stream::ATTR_CREATE_RESP_NUMBER, true),
            ],
            handler: create,
        },
        Method {
            id: comp_stream::METHOD_DESTROY,
            attrs: &[A::handle(comp_stream::ATTR_HANDLE, object::COMP_STREAM, Access::Destroy, true)],
            handler: destroy,
        },
    ];

    fn check_destroy(stream: &Self::Object) -> Result<(), Errno> {
        stream.check_destroy()
    }
}

fn create(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.ctx()?;
    let pd = call.object::<PdType>(b, comp_stream::ATTR_CREATE_PD_HANDLE)?;
    let stream = pd.create_comp_stream(
        b.require(comp_stream::ATTR_CREATE_FORMAT)?,
        b.require(comp_stream::ATTR_CREATE_DIRECTION)?,
        b.require(comp_stream::ATTR_CREATE_LEVEL)?,
    )?;
    b.write(comp_stream::ATTR_CREATE_RESP_NUMBER, &stream.number());
    call.create::<CompStreamType>(comp_stream::ATTR_HANDLE, stream);
    Ok(())
}

fn destroy(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.destroy::<CompStreamType>(b, comp_stream::ATTR_HANDLE).map(drop)
}
