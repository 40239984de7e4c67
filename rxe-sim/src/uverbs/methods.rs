//! The method table: for each (object, method), the attributes it takes and its handler.
//! Handlers translate attributes into calls on the kernel-abi driver.

use std::sync::Arc;

use accelverbs_kernel_abi::objects::{CqRequest, QpRequest, Ucontext};
use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::caps::DeviceCaps;
use accelverbs_uapi::cmd::{CreateCqCmd, CreateCqResp, CreateQpCmd, CreateQpResp, GetContextCmd, GetContextResp, ResourceCounts};
use accelverbs_uapi::ids::{comp_channel, cq, device, mr, object, pd, qp, uhw};
use accelverbs_uapi::verbs::{DestroyCqResp, DestroyQpResp, QpCap, QpState, QueryPortRespEx};

use super::bundle::{Access, AttrSpec, Bundle};
use super::objects::{ObjectTable, UObject};
use crate::hw::SoftHardware;

/// What a handler works on.
#[derive(Debug)]
pub struct Call<'a> {
    pub driver: &'a Arc<accelverbs_kernel_abi::Driver<SoftHardware>>,
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
    fn ctx(&self) -> Result<&Arc<Ucontext<SoftHardware>>, Errno> {
        // The kernel answers EINVAL when a method needs a ucontext that was never created.
        self.ucontext.as_ref().ok_or(Errno::EINVAL)
    }

    fn lookup(&self, b: &Bundle, attr: u16, type_id: u16) -> Result<UObject, Errno> {
        let handle = b.handle(attr).ok_or(Errno::EINVAL)?;
        self.objects.get(handle, type_id).cloned()
    }

    fn destroy(&mut self, b: &Bundle, attr: u16, type_id: u16) -> Result<UObject, Errno> {
        let handle = b.handle(attr).ok_or(Errno::EINVAL)?;
        let obj = self.objects.get(handle, type_id)?.clone();
        obj.check_destroy()?;
        self.destroyed = Some(handle);
        Ok(obj)
    }
}

type Handler = fn(&mut Call<'_>, &mut Bundle) -> Result<(), Errno>;

/// One method of one object.
#[derive(Debug)]
pub struct Method {
    pub object: u16,
    pub method: u16,
    pub attrs: &'static [AttrSpec],
    pub handler: Handler,
}

macro_rules! pd_of {
    ($call:expr, $b:expr, $attr:expr) => {
        match $call.lookup($b, $attr, object::PD)? {
            UObject::Pd(p) => p,
            _ => return Err(Errno::EINVAL),
        }
    };
}
macro_rules! cq_of {
    ($call:expr, $b:expr, $attr:expr) => {
        match $call.lookup($b, $attr, object::CQ)? {
            UObject::Cq(c) => c,
            _ => return Err(Errno::EINVAL),
        }
    };
}
macro_rules! qp_of {
    ($call:expr, $b:expr, $attr:expr) => {
        match $call.lookup($b, $attr, object::QP)? {
            UObject::Qp(q) => q,
            _ => return Err(Errno::EINVAL),
        }
    };
}

use AttrSpec as A;

/// Every method the device implements.
pub static METHODS: &[Method] = &[
    Method {
        object: object::DEVICE,
        method: device::METHOD_GET_CONTEXT,
        attrs: &[
            A::output::<u32>(device::ATTR_GET_CONTEXT_NUM_COMP_VECTORS, false),
            A::output::<u64>(device::ATTR_GET_CONTEXT_CORE_SUPPORT, false),
            A::input_struct::<GetContextCmd>(uhw::IN, false),
            A::output::<GetContextResp>(uhw::OUT, false),
        ],
        handler: get_context,
    },
    Method {
        object: object::DEVICE,
        method: device::METHOD_QUERY_PORT,
        attrs: &[
            A::input::<u8>(device::ATTR_QUERY_PORT_PORT_NUM, true),
            A::output::<QueryPortRespEx>(device::ATTR_QUERY_PORT_RESP, true),
        ],
        handler: query_port,
    },
    Method {
        object: object::DEVICE,
        method: device::METHOD_QUERY_DEVICE,
        attrs: &[A::output::<DeviceCaps>(device::ATTR_QUERY_DEVICE_RESP, true)],
        handler: query_device,
    },
    Method {
        object: object::DEVICE,
        method: device::METHOD_QUERY_RESOURCES,
        attrs: &[A::output::<ResourceCounts>(device::ATTR_QUERY_RESOURCES_RESP, true)],
        handler: query_resources,
    },
    Method {
        object: object::PD,
        method: pd::METHOD_ALLOC,
        attrs: &[A::handle(pd::ATTR_ALLOC_HANDLE, object::PD, Access::New, true)],
        handler: alloc_pd,
    },
    Method {
        object: object::PD,
        method: pd::METHOD_DESTROY,
        attrs: &[A::handle(pd::ATTR_DESTROY_HANDLE, object::PD, Access::Destroy, true)],
        handler: destroy_pd,
    },
    Method {
        object: object::MR,
        method: mr::METHOD_REG,
        attrs: &[
            A::handle(mr::ATTR_REG_HANDLE, object::MR, Access::New, true),
            A::handle(mr::ATTR_REG_PD_HANDLE, object::PD, Access::Read, true),
            A::input::<u64>(mr::ATTR_REG_ADDR, true),
            A::input::<u64>(mr::ATTR_REG_LENGTH, true),
            A::input::<u32>(mr::ATTR_REG_ACCESS, true),
            A::output::<u32>(mr::ATTR_REG_RESP_LKEY, true),
            A::output::<u32>(mr::ATTR_REG_RESP_RKEY, true),
        ],
        handler: reg_mr,
    },
    Method {
        object: object::MR,
        method: mr::METHOD_DESTROY,
        attrs: &[A::handle(mr::ATTR_DESTROY_HANDLE, object::MR, Access::Destroy, true)],
        handler: destroy_mr,
    },
    Method {
        object: object::COMP_CHANNEL,
        method: comp_channel::METHOD_ALLOC,
        attrs: &[
            A::handle(comp_channel::ATTR_HANDLE, object::COMP_CHANNEL, Access::New, true),
            A::output::<i32>(comp_channel::ATTR_ALLOC_FD, true),
        ],
        handler: alloc_comp_channel,
    },
    Method {
        object: object::COMP_CHANNEL,
        method: comp_channel::METHOD_DESTROY,
        attrs: &[A::handle(comp_channel::ATTR_HANDLE, object::COMP_CHANNEL, Access::Destroy, true)],
        handler: destroy_comp_channel,
    },
    Method {
        object: object::COMP_CHANNEL,
        method: comp_channel::METHOD_GET_EVENT,
        attrs: &[
            A::handle(comp_channel::ATTR_HANDLE, object::COMP_CHANNEL, Access::Read, true),
            A::output::<u64>(comp_channel::ATTR_GET_EVENT_CQ_USER_HANDLE, true),
        ],
        handler: get_event,
    },
    Method {
        object: object::CQ,
        method: cq::METHOD_CREATE,
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
        handler: create_cq,
    },
    Method {
        object: object::CQ,
        method: cq::METHOD_DESTROY,
        attrs: &[
            A::handle(cq::ATTR_DESTROY_HANDLE, object::CQ, Access::Destroy, true),
            A::output::<DestroyCqResp>(cq::ATTR_DESTROY_RESP, true),
        ],
        handler: destroy_cq,
    },
    Method {
        object: object::CQ,
        method: cq::METHOD_REQ_NOTIFY,
        attrs: &[
            A::handle(cq::ATTR_REQ_NOTIFY_HANDLE, object::CQ, Access::Read, true),
            A::input::<u32>(cq::ATTR_REQ_NOTIFY_SOLICITED_ONLY, false),
        ],
        handler: req_notify_cq,
    },
    Method {
        object: object::QP,
        method: qp::METHOD_CREATE,
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
        handler: create_qp,
    },
    Method {
        object: object::QP,
        method: qp::METHOD_DESTROY,
        attrs: &[
            A::handle(qp::ATTR_DESTROY_HANDLE, object::QP, Access::Destroy, true),
            A::output::<DestroyQpResp>(qp::ATTR_DESTROY_RESP, true),
        ],
        handler: destroy_qp,
    },
    Method {
        object: object::QP,
        method: qp::METHOD_MODIFY,
        attrs: &[
            A::handle(qp::ATTR_HANDLE, object::QP, Access::Read, true),
            A::input::<u32>(qp::ATTR_MODIFY_STATE, true),
            A::input::<u32>(qp::ATTR_MODIFY_CUR_STATE, false),
        ],
        handler: modify_qp,
    },
    Method {
        object: object::QP,
        method: qp::METHOD_QUERY,
        attrs: &[A::handle(qp::ATTR_HANDLE, object::QP, Access::Read, true), A::output::<u32>(qp::ATTR_QUERY_RESP_STATE, true)],
        handler: query_qp,
    },
];

/// The method for (object, method), or `EPROTONOSUPPORT` as the kernel answers.
pub fn find(object_id: u16, method_id: u16) -> Result<&'static Method, Errno> {
    METHODS.iter().find(|m| m.object == object_id && m.method == method_id).ok_or(Errno::EPROTONOSUPPORT)
}

fn get_context(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    if call.ucontext.is_some() {
        return Err(Errno::EINVAL);
    }
    let cmd: GetContextCmd = b.read(uhw::IN)?.unwrap_or_default();
    let (ctx, resp) = call.driver.alloc_ucontext(cmd)?;
    b.write(device::ATTR_GET_CONTEXT_NUM_COMP_VECTORS, &1u32);
    b.write(device::ATTR_GET_CONTEXT_CORE_SUPPORT, &0u64);
    b.write(uhw::OUT, &resp);
    call.new_ucontext = Some(ctx);
    Ok(())
}

fn query_port(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let port: u8 = b.require(device::ATTR_QUERY_PORT_PORT_NUM)?;
    let resp = call.driver.query_port(port)?;
    b.write(device::ATTR_QUERY_PORT_RESP, &resp);
    Ok(())
}

fn query_device(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    b.write(device::ATTR_QUERY_DEVICE_RESP, &call.driver.query_device());
    Ok(())
}

fn query_resources(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    b.write(device::ATTR_QUERY_RESOURCES_RESP, &call.driver.resources());
    Ok(())
}

fn alloc_pd(call: &mut Call<'_>, _b: &mut Bundle) -> Result<(), Errno> {
    let pd = call.ctx()?.alloc_pd()?;
    call.created = Some((pd::ATTR_ALLOC_HANDLE, UObject::Pd(pd)));
    Ok(())
}

fn destroy_pd(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.destroy(b, pd::ATTR_DESTROY_HANDLE, object::PD).map(drop)
}

fn reg_mr(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.ctx()?;
    let pd = pd_of!(call, b, mr::ATTR_REG_PD_HANDLE);
    let addr: u64 = b.require(mr::ATTR_REG_ADDR)?;
    let length: u64 = b.require(mr::ATTR_REG_LENGTH)?;
    let access: u32 = b.require(mr::ATTR_REG_ACCESS)?;
    let mr = pd.reg_mr(addr, length, access)?;
    b.write(mr::ATTR_REG_RESP_LKEY, &mr.lkey());
    b.write(mr::ATTR_REG_RESP_RKEY, &mr.rkey());
    call.created = Some((mr::ATTR_REG_HANDLE, UObject::Mr(mr)));
    Ok(())
}

fn destroy_mr(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.destroy(b, mr::ATTR_DESTROY_HANDLE, object::MR).map(drop)
}

fn alloc_comp_channel(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let channel = call.ctx()?.create_comp_channel()?;
    b.write(comp_channel::ATTR_ALLOC_FD, &channel.fd());
    call.created = Some((comp_channel::ATTR_HANDLE, UObject::CompChannel(channel)));
    Ok(())
}

fn destroy_comp_channel(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.destroy(b, comp_channel::ATTR_HANDLE, object::COMP_CHANNEL).map(drop)
}

fn get_event(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let UObject::CompChannel(channel) = call.lookup(b, comp_channel::ATTR_HANDLE, object::COMP_CHANNEL)? else {
        return Err(Errno::EINVAL);
    };
    let user_handle = channel.get_event()?;
    b.write(comp_channel::ATTR_GET_EVENT_CQ_USER_HANDLE, &user_handle);
    Ok(())
}

fn create_cq(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let ctx = Arc::clone(call.ctx()?);
    let channel = match b.has(cq::ATTR_CREATE_COMP_CHANNEL) {
        true => match call.lookup(b, cq::ATTR_CREATE_COMP_CHANNEL, object::COMP_CHANNEL)? {
            UObject::CompChannel(c) => Some(c),
            _ => return Err(Errno::EINVAL),
        },
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
    call.created = Some((cq::ATTR_CREATE_HANDLE, UObject::Cq(cq)));
    Ok(())
}

fn destroy_cq(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let UObject::Cq(cq) = call.destroy(b, cq::ATTR_DESTROY_HANDLE, object::CQ)? else { return Err(Errno::EINVAL) };
    b.write(cq::ATTR_DESTROY_RESP, &DestroyCqResp { comp_events_reported: cq.comp_events_reported(), async_events_reported: 0 });
    Ok(())
}

fn req_notify_cq(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let cq = cq_of!(call, b, cq::ATTR_REQ_NOTIFY_HANDLE);
    let solicited: u32 = b.read(cq::ATTR_REQ_NOTIFY_SOLICITED_ONLY)?.unwrap_or(0);
    cq.request_notify(solicited != 0)
}

fn create_qp(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.ctx()?;
    let pd = pd_of!(call, b, qp::ATTR_CREATE_PD_HANDLE);
    let send_cq = cq_of!(call, b, qp::ATTR_CREATE_SEND_CQ_HANDLE);
    let recv_cq =
        if b.has(qp::ATTR_CREATE_RECV_CQ_HANDLE) { Some(cq_of!(call, b, qp::ATTR_CREATE_RECV_CQ_HANDLE)) } else { None };
    let (qp, resp, cap) = pd.create_qp(QpRequest {
        send_cq: &send_cq,
        recv_cq: recv_cq.as_ref(),
        cap: b.require(qp::ATTR_CREATE_CAP)?,
        qp_type: b.require(qp::ATTR_CREATE_TYPE)?,
        create_flags: b.read(qp::ATTR_CREATE_FLAGS)?.unwrap_or(0),
        cmd: b.require(uhw::IN)?,
    })?;
    b.write(qp::ATTR_CREATE_RESP_CAP, &cap);
    b.write(qp::ATTR_CREATE_RESP_QP_NUM, &resp.qpn);
    b.write(uhw::OUT, &resp);
    call.created = Some((qp::ATTR_CREATE_HANDLE, UObject::Qp(qp)));
    Ok(())
}

fn destroy_qp(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let UObject::Qp(qp) = call.destroy(b, qp::ATTR_DESTROY_HANDLE, object::QP)? else { return Err(Errno::EINVAL) };
    let events = qp.hw().fatal_events.load(std::sync::atomic::Ordering::Relaxed);
    b.write(qp::ATTR_DESTROY_RESP, &DestroyQpResp { events_reported: events });
    Ok(())
}

fn modify_qp(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let qp = qp_of!(call, b, qp::ATTR_HANDLE);
    let parse = |raw: u32| QpState::try_from(raw).map_err(|_| Errno::EINVAL);
    let next = parse(b.require(qp::ATTR_MODIFY_STATE)?)?;
    let expected = b.read::<u32>(qp::ATTR_MODIFY_CUR_STATE)?.map(parse).transpose()?;
    qp.modify(next, expected)
}

fn query_qp(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let qp = qp_of!(call, b, qp::ATTR_HANDLE);
    b.write(qp::ATTR_QUERY_RESP_STATE, &(qp.state() as u32));
    Ok(())
}

/// Checks the object-handle attributes of a call exist with the right type before the handler
/// runs (`uverbs_process_idr_attr`): `ENOENT`/`EINVAL` for bad handles.
pub fn check_handles(method: &Method, b: &Bundle, objects: &ObjectTable) -> Result<(), Errno> {
    for spec in method.attrs {
        if let super::bundle::AttrKind::Idr { object, access } = spec.kind {
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
