//! Queue pairs.

use std::sync::atomic::Ordering;

use accelverbs_kernel_abi::objects::{Qp, QpRequest};
use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::cmd::{CreateQpCmd, CreateQpResp};
use accelverbs_uapi::ids::{object, qp, uhw};
use accelverbs_uapi::verbs::{DestroyQpResp, QpCap, QpState};

use super::cq::CqType;
use super::pd::PdType;
use super::ObjectType;
use crate::hw::SoftHardware;
use crate::uverbs::bundle::{Access, AttrSpec as A, Bundle};
use crate::uverbs::call::{Call, Method};

#[derive(Debug)]
pub struct QpType;

impl ObjectType for QpType {
    const ID: u16 = object::QP;
    const DESTROY_ORDER: u8 = 10;
    type Object = Qp<SoftHardware>;
    const METHODS: &'static [Method] = &[
        Method {
            id: qp::METHOD_CREATE,
            attrs: &[
                A::handle(qp::ATTR_CREATE_HANDLE, object::QP, Access::New, true),
                A::handle(qp::ATTR_CREATE_PD_HANDLE, object::PD, Access::Read, true),
                A::handle(qp::ATTR_CREATE_SEND_CQ_HANDLE, object::CQ, Access::Read, true),
                A::handle(qp::ATTR_CREATE_RECV_CQ_HANDLE, object::CQ, Access::Read, false),
                A::input::<u64>(qp::ATTR_CREATE_USER_HANDLE, true),
                A::input_struct::<QpCap>(qp::ATTR_CREATE_CAP, true),
                A::input::<u32>(qp::ATTR_CREATE_TYPE, true),
                A::input::<u32>(qp::ATTR_CREATE_FLAGS, false),
                A::output::<QpCap>(qp::ATTR_CREATE_RESP_CAP, false),
                A::output::<u32>(qp::ATTR_CREATE_RESP_QP_NUM, true),
                A::input_struct::<CreateQpCmd>(uhw::IN, true),
                A::output::<CreateQpResp>(uhw::OUT, false),
            ],
            handler: create,
        },
        Method {
            id: qp::METHOD_DESTROY,
            attrs: &[
                A::handle(qp::ATTR_DESTROY_HANDLE, object::QP, Access::Destroy, true),
                A::output::<DestroyQpResp>(qp::ATTR_DESTROY_RESP, true),
            ],
            handler: destroy,
        },
        Method {
            id: qp::METHOD_MODIFY,
            attrs: &[
                A::handle(qp::ATTR_HANDLE, object::QP, Access::Read, true),
                A::input::<u32>(qp::ATTR_MODIFY_STATE, true),
                A::input::<u32>(qp::ATTR_MODIFY_CUR_STATE, false),
                A::input::<u32>(qp::ATTR_MODIFY_DEST_QPN, false),
            ],
            handler: modify,
        },
        Method {
            id: qp::METHOD_QUERY,
            attrs: &[
                A::handle(qp::ATTR_HANDLE, object::QP, Access::Read, true),
                A::output::<u32>(qp::ATTR_QUERY_RESP_STATE, true),
            ],
            handler: query,
        },
    ];
}

fn create(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.ctx()?;
    let pd = call.object::<PdType>(b, qp::ATTR_CREATE_PD_HANDLE)?;
    let send_cq = call.object::<CqType>(b, qp::ATTR_CREATE_SEND_CQ_HANDLE)?;
    let recv_cq = match b.has(qp::ATTR_CREATE_RECV_CQ_HANDLE) {
        true => Some(call.object::<CqType>(b, qp::ATTR_CREATE_RECV_CQ_HANDLE)?),
        false => None,
    };
    let (qp, resp, cap) = pd.create_qp(QpRequest {
        send_cq: &send_cq,
        recv_cq: recv_cq.as_ref(),
        cap: b.require(qp::ATTR_CREATE_CAP)?,
        qp_type: b.require(qp::ATTR_CREATE_TYPE)?,
        create_flags: b.read(qp::ATTR_CREATE_FLAGS)?.unwrap_or(0),
        user_handle: b.require(qp::ATTR_CREATE_USER_HANDLE)?,
        cmd: b.require(uhw::IN)?,
    })?;
    b.write(qp::ATTR_CREATE_RESP_CAP, &cap);
    b.write(qp::ATTR_CREATE_RESP_QP_NUM, &resp.qpn);
    b.write(uhw::OUT, &resp);
    call.create::<QpType>(qp::ATTR_CREATE_HANDLE, qp);
    Ok(())
}

fn destroy(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let qp = call.destroy::<QpType>(b, qp::ATTR_DESTROY_HANDLE)?;
    let events = qp.hw().fatal_events.load(Ordering::Relaxed);
    b.write(qp::ATTR_DESTROY_RESP, &DestroyQpResp { events_reported: events });
    Ok(())
}

fn modify(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let qp = call.object::<QpType>(b, qp::ATTR_HANDLE)?;
    let parse = |raw: u32| QpState::try_from(raw).map_err(|_| Errno::EINVAL);
    let next = parse(b.require(qp::ATTR_MODIFY_STATE)?)?;
    let expected = b.read::<u32>(qp::ATTR_MODIFY_CUR_STATE)?.map(parse).transpose()?;
    qp.modify(next, expected, b.read::<u32>(qp::ATTR_MODIFY_DEST_QPN)?)
}

fn query(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let qp = call.object::<QpType>(b, qp::ATTR_HANDLE)?;
    b.write(qp::ATTR_QUERY_RESP_STATE, &(qp.state() as u32));
    Ok(())
}
