//! The device object: methods on the device itself, creating no handle
//! (`DECLARE_UVERBS_GLOBAL_METHODS(UVERBS_OBJECT_DEVICE, ...)`).

use std::mem::size_of;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

use accelverbs_kernel_abi::{Errno, HwAsyncEvents};
use accelverbs_uapi::async_event::AsyncEventDesc;
use accelverbs_uapi::caps::DeviceCaps;
use accelverbs_uapi::cmd::{FileStats, GetContextCmd, GetContextResp, ResourceCounts};
use accelverbs_uapi::ids::{device, uhw};
use accelverbs_uapi::verbs::QueryPortRespEx;
use zerocopy::IntoBytes;

use crate::uverbs::bundle::{AttrSpec as A, Bundle};
use crate::uverbs::call::{Call, Method};

pub const METHODS: &[Method] = &[
    Method {
        id: device::METHOD_GET_CONTEXT,
        attrs: &[
            A::output::<u32>(device::ATTR_GET_CONTEXT_NUM_COMP_VECTORS, false),
            A::output::<u64>(device::ATTR_GET_CONTEXT_CORE_SUPPORT, false),
            A::input_struct::<GetContextCmd>(uhw::IN, false),
            A::output::<GetContextResp>(uhw::OUT, false),
        ],
        handler: get_context,
    },
    Method {
        id: device::METHOD_QUERY_PORT,
        attrs: &[
            A::input::<u8>(device::ATTR_QUERY_PORT_PORT_NUM, true),
            A::output::<QueryPortRespEx>(device::ATTR_QUERY_PORT_RESP, true),
        ],
        handler: query_port,
    },
    Method {
        id: device::METHOD_QUERY_DEVICE,
        attrs: &[A::output::<DeviceCaps>(device::ATTR_QUERY_DEVICE_RESP, true)],
        handler: query_device,
    },
    Method {
        id: device::METHOD_QUERY_RESOURCES,
        attrs: &[A::output::<ResourceCounts>(device::ATTR_QUERY_RESOURCES_RESP, true)],
        handler: query_resources,
    },
    Method {
        id: device::METHOD_GET_ASYNC_EVENT,
        attrs: &[A::output::<AsyncEventDesc>(device::ATTR_GET_ASYNC_EVENT_DESC, true)],
        handler: get_async_event,
    },
    Method {
        id: device::METHOD_ASYNC_EVENT_FD,
        attrs: &[A::output::<i32>(device::ATTR_ASYNC_EVENT_FD, true)],
        handler: async_event_fd,
    },
    Method {
        id: device::METHOD_QUERY_FILES,
        attrs: &[
            A::output::<u32>(device::ATTR_QUERY_FILES_COUNT, true),
            A::output::<FileStats>(device::ATTR_QUERY_FILES_LIST, false),
        ],
        handler: query_files,
    },
];

fn get_context(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    if call.ucontext.is_some() {
        return Err(Errno::EINVAL);
    }
    let cmd: GetContextCmd = b.read(uhw::IN)?.unwrap_or_default();
    let (ctx, resp) = call.driver.alloc_ucontext_for(cmd, call.user.memory())?;
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

fn get_async_event(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let event = call.ctx()?.async_events().next_event().ok_or(Errno::EAGAIN)?;
    b.write(device::ATTR_GET_ASYNC_EVENT_DESC, &event);
    Ok(())
}

fn async_event_fd(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let ctx = call.ctx()?;
    // SAFETY: the descriptor belongs to the context's event queue, which `ctx` keeps open
    // for the call.
    let fd = unsafe { BorrowedFd::borrow_raw(ctx.async_events().fd()) };
    let fd = call.user.install_fd(fd)?;
    b.write(device::ATTR_ASYNC_EVENT_FD, &fd);
    Ok(())
}

/// Every open file of the device, the caller's first, then the others as they opened.
fn query_files(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    let mine = Arc::clone(call.counters);
    let mut files = call.device.open_files();
    files.sort_by_key(|f| !Arc::ptr_eq(f, &mine));
    b.write(device::ATTR_QUERY_FILES_COUNT, &(files.len() as u32));
    let room = b.output_len(device::ATTR_QUERY_FILES_LIST).unwrap_or(0) / size_of::<FileStats>();
    let stats: Vec<FileStats> = files.iter().take(room).map(|f| f.snapshot()).collect();
    b.write_bytes(device::ATTR_QUERY_FILES_LIST, stats.as_bytes());
    Ok(())
}
