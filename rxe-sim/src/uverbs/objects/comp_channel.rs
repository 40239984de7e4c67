//! Completion channels.

use accelverbs_kernel_abi::objects::CompChannel;
use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::ids::{comp_channel, object};

use super::ObjectType;
use crate::hw::SoftHardware;
use crate::uverbs::bundle::{Access, AttrSpec as A, Bundle};
use crate::uverbs::call::{Call, Method};

#[derive(Debug)]
pub struct CompChannelType;

impl ObjectType for CompChannelType {
    const ID: u16 = object::COMP_CHANNEL;
    const DESTROY_ORDER: u8 = 40;
    type Object = CompChannel<SoftHardware>;
    const METHODS: &'static [Method] = &[
        Method {
            id: comp_channel::METHOD_ALLOC,
            attrs: &[
                A::handle(comp_channel::ATTR_HANDLE, object::COMP_CHANNEL, Access::New, true),
                A::output::<i32>(comp_channel::ATTR_ALLOC_FD, true),
            ],
            handler: alloc,
        },
        Method {
            id: comp_channel::METHOD_DESTROY,
            attrs: &[A::handle(comp_channel::ATTR_HANDLE, object::COMP_CHANNEL, Access::Destroy, true)],
            handler: destroy,
        },
        Method {
            id: comp_channel::METHOD_GET_EVENT,
            attrs: &[
                A::handle(comp_channel::ATTR_HANDLE, object::COMP_CHANNEL, Access::Read, true),
                A::output::<u64>(comp_channel::ATTR_GET_EVENT_CQ_USER_HANDLE, true),
            ],
            handler: get_event,
        },
    ];

    fn check_destroy(channel: &Self::Object) -> Result<(), Errno> {
        channel.check_destroy()
    }
}

fn alloc(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let channel = call.ctx()?.create_comp_channel()?;
    // SAFETY: the descriptor belongs to `channel`, alive for the call.
    let fd = call.user.install_fd(unsafe { std::os::fd::BorrowedFd::borrow_raw(channel.fd()) })?;
    b.write(comp_channel::ATTR_ALLOC_FD, &fd);
    call.create::<CompChannelType>(comp_channel::ATTR_HANDLE, channel);
    Ok(())
}

fn destroy(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.destroy::<CompChannelType>(b, comp_channel::ATTR_HANDLE).map(drop)
}

fn get_event(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let channel = call.object::<CompChannelType>(b, comp_channel::ATTR_HANDLE)?;
    let user_handle = channel.get_event()?;
    b.write(comp_channel::ATTR_GET_EVENT_CQ_USER_HANDLE, &user_handle);
    Ok(())
}
