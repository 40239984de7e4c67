//! Completion queues.

use std::sync::Arc;

use accelverbs_kernel_abi::objects::{Cq, CqRequest};
use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::cmd::{CreateCqCmd, CreateCqResp};
use accelverbs_uapi::ids::{cq, object, uhw};
use accelverbs_uapi::verbs::DestroyCqResp;

use super::comp_channel::CompChannelType;
use super::ObjectType;
use crate::hw::SoftHardware;
use crate::uverbs::bundle::{Access, AttrSpec as A, Bundle};
use crate::uverbs::call::{Call, Method};

#[derive(Debug)]
pub struct CqType;

impl ObjectType for CqType {
    const ID: u16 = object::CQ;
    const DESTROY_ORDER: u8 = 30;
    type Object = Cq<SoftHardware>;
    const METHODS: &'static [Method] = &[
        Method {
            id: cq::METHOD_CREATE,
            attrs: &[
                A::handle(cq::ATTR_CREATE_HANDLE, object::CQ, Access::New, true),
                A::input::<u32>(cq::ATTR_CREATE_CQE, true),
                A::input::<u64>(cq::ATTR_CREATE_USER_HANDLE, true),
                A::handle(cq::ATTR_CREATE_COMP_CHANNEL, object::COMP_CHANNEL, Access::Read, false),
                A::input::<u32>(cq::ATTR_CREATE_COMP_VECTOR, true),
                A::input::<u32>(cq::ATTR_CREATE_FLAGS, false),
                A::output::<u32>(cq::ATTR_CREATE_RESP_CQE, true),
                A::input_struct::<CreateCqCmd>(uhw::IN, true),
                A::output::<CreateCqResp>(uhw::OUT, false),
            ],
            handler: create,
        },
        Method {
            id: cq::METHOD_DESTROY,
            attrs: &[
                A::handle(cq::ATTR_DESTROY_HANDLE, object::CQ, Access::Destroy, true),
                A::output::<DestroyCqResp>(cq::ATTR_DESTROY_RESP, true),
            ],
            handler: destroy,
        },
        Method {
            id: cq::METHOD_REQ_NOTIFY,
            attrs: &[
                A::handle(cq::ATTR_REQ_NOTIFY_HANDLE, object::CQ, Access::Read, true),
                A::input::<u32>(cq::ATTR_REQ_NOTIFY_SOLICITED_ONLY, false),
            ],
            handler: req_notify,
        },
    ];

    fn check_destroy(cq: &Self::Object) -> Result<(), Errno> {
        cq.check_destroy()
    }
}

fn create(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let ctx = Arc::clone(call.ctx()?);
    let channel = match b.has(cq::ATTR_CREATE_COMP_CHANNEL) {
        true => Some(call.object::<CompChannelType>(b, cq::ATTR_CREATE_COMP_CHANNEL)?),
        false => None,
    };
    let (cq, resp, entries) = ctx.create_cq(CqRequest {
        cqe: b.require(cq::ATTR_CREATE_CQE)?,
        user_handle: b.require(cq::ATTR_CREATE_USER_HANDLE)?,
        comp_vector: b.require(cq::ATTR_CREATE_COMP_VECTOR)?,
        flags: b.read(cq::ATTR_CREATE_FLAGS)?.unwrap_or(0),
        channel: channel.as_ref(),
        cmd: b.require(uhw::IN)?,
    })?;
    b.write(cq::ATTR_CREATE_RESP_CQE, &entries);
    b.write(uhw::OUT, &resp);
    call.create::<CqType>(cq::ATTR_CREATE_HANDLE, cq);
    Ok(())
}

fn destroy(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let cq = call.destroy::<CqType>(b, cq::ATTR_DESTROY_HANDLE)?;
    b.write(cq::ATTR_DESTROY_RESP, &DestroyCqResp { comp_events_reported: cq.comp_events_reported(), async_events_reported: 0 });
    Ok(())
}

fn req_notify(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let cq = call.object::<CqType>(b, cq::ATTR_REQ_NOTIFY_HANDLE)?;
    let solicited: u32 = b.read(cq::ATTR_REQ_NOTIFY_SOLICITED_ONLY)?.unwrap_or(0);
    cq.request_notify(solicited != 0)
}
