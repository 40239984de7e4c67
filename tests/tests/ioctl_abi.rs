//! The uverbs layer rejects malformed calls with the errno the kernel gives.

use accelverbs::ioctl::Command;
use accelverbs::uapi::cmd::{CreateQpCmd, GetContextResp};
use accelverbs::uapi::ids::{device, mr, object, pd, qp, uhw, UVERBS_ID_DRIVER_NS};
use accelverbs::uapi::ioctl::{IoctlAttr, RDMA_VERBS_IOCTL, UVERBS_ATTR_F_MANDATORY};
use accelverbs::uapi::verbs::QpCap;
use accelverbs_tests::device;
use accelverbs_tests::raw::{Pages, RawFile};

fn file() -> RawFile {
    let f = RawFile::new(device(1).open_channel().unwrap());
    f.get_context().unwrap();
    f
}

fn alloc_pd_cmd() -> Command<'static> {
    let mut c = Command::new(object::PD, pd::METHOD_ALLOC);
    c.new_object(pd::ATTR_ALLOC_HANDLE);
    c
}

#[test]
fn a_well_formed_call_succeeds_and_marks_outputs_valid() {
    let f = RawFile::new(device(1).open_channel().unwrap());
    let mut resp = GetContextResp::default();
    let mut c = Command::new(object::DEVICE, device::METHOD_GET_CONTEXT);
    let out = {
        c.output(uhw::OUT, &mut resp);
        0
    };
    f.call(&mut c).unwrap();
    assert!(c.output_valid(out));
    assert_eq!(resp.wqe_size, 128);
}

#[test]
fn a_call_without_attributes_is_fine() {
    let f = RawFile::new(device(1).open_channel().unwrap());
    let mut c = Command::new(object::DEVICE, device::METHOD_GET_CONTEXT);
    f.call(&mut c).unwrap();
    assert!(f.alloc_pd().is_ok());
}

#[test]
fn header_length_must_match_the_attributes() {
    let f = file();
    for delta in [-1i32, 1, -16, 16] {
        let mut c = alloc_pd_cmd();
        f.call(&mut c).unwrap(); // sets length/num_attrs
        let hdr = c.header_mut();
        hdr.length = (i32::from(hdr.length) + delta) as u16;
        assert_eq!(f.call_raw(&mut c), Err(libc::EINVAL), "length off by {delta}");
    }
    let mut c = alloc_pd_cmd();
    f.call(&mut c).unwrap();
    c.header_mut().num_attrs = 300; // would be longer than a page
    c.header_mut().length = (24 + 300 * 16) as u16;
    assert_eq!(f.call_raw(&mut c), Err(libc::EINVAL));
}

#[test]
fn reserved_header_fields_must_be_zero() {
    let f = file();
    let mut c = alloc_pd_cmd();
    f.call(&mut c).unwrap();
    c.header_mut().reserved1 = 1;
    assert_eq!(f.call_raw(&mut c), Err(libc::EPROTONOSUPPORT));
    c.header_mut().reserved1 = 0;
    c.header_mut().reserved2 = 1;
    assert_eq!(f.call_raw(&mut c), Err(libc::EPROTONOSUPPORT));
}

#[test]
fn unknown_objects_and_methods_are_eprotonosupport() {
    let f = file();
    for (obj, method) in [(99, 0), (object::PD, 77), (object::MR, 0), (object::QP, UVERBS_ID_DRIVER_NS + 50), (0x5, 0)] {
        let mut c = Command::new(obj, method);
        assert_eq!(f.call(&mut c), Err(libc::EPROTONOSUPPORT), "object {obj} method {method:#x}");
    }
}

#[test]
fn wrong_driver_id_is_einval() {
    let f = file();
    let mut c = alloc_pd_cmd();
    c.header_mut().driver_id = 1; // RDMA_DRIVER_MLX5
    assert_eq!(f.call(&mut c), Err(libc::EINVAL));
}

#[test]
fn missing_mandatory_attribute_is_einval() {
    let mut f = file();
    let pd_handle = f.alloc_pd().unwrap();
    // REG_MR without its LENGTH.
    let (mut lkey, mut rkey) = (0u32, 0u32);
    let mut c = Command::new(object::MR, mr::METHOD_REG);
    c.new_object(mr::ATTR_REG_HANDLE);
    c.handle(mr::ATTR_REG_PD_HANDLE, pd_handle)
        .input_u64(mr::ATTR_REG_ADDR, 0x10000)
        .input_u32(mr::ATTR_REG_ACCESS, 0)
        .output(mr::ATTR_REG_RESP_LKEY, &mut lkey)
        .output(mr::ATTR_REG_RESP_RKEY, &mut rkey);
    assert_eq!(f.call(&mut c), Err(libc::EINVAL));
    // The same call with the attribute succeeds (the test is not vacuous).
    assert!(f.reg_mr(pd_handle, 4096, 0).is_ok());
}

#[test]
fn bad_attribute_lengths_are_rejected() {
    let f = file();
    let pd_handle = f.alloc_pd().unwrap();
    let base = |c: &mut Command<'_>, access_len: u16| {
        c.new_object(mr::ATTR_REG_HANDLE);
        c.handle(mr::ATTR_REG_PD_HANDLE, pd_handle).input_u64(mr::ATTR_REG_ADDR, 0x10000).input_u64(mr::ATTR_REG_LENGTH, 4096);
        // SAFETY: inline data, or a pointer to unmapped low memory the device must refuse.
        unsafe {
            c.attr(IoctlAttr {
                attr_id: mr::ATTR_REG_ACCESS,
                len: access_len,
                flags: UVERBS_ATTR_F_MANDATORY,
                attr_data: 0,
                data: 0,
            })
        };
    };
    for bad_len in [0u16, 2, 8] {
        let (mut l, mut r) = (0u32, 0u32);
        let mut c = Command::new(object::MR, mr::METHOD_REG);
        base(&mut c, bad_len);
        c.output(mr::ATTR_REG_RESP_LKEY, &mut l).output(mr::ATTR_REG_RESP_RKEY, &mut r);
        assert_eq!(f.call(&mut c), Err(libc::EINVAL), "u32 attribute with len {bad_len}");
    }
    // An output buffer too small for its value.
    let mut short = 0u16;
    let mut r = 0u32;
    let mut c = Command::new(object::MR, mr::METHOD_REG);
    base(&mut c, 4);
    c.output(mr::ATTR_REG_RESP_LKEY, &mut short).output(mr::ATTR_REG_RESP_RKEY, &mut r);
    assert_eq!(f.call(&mut c), Err(libc::EINVAL));
    // A handle attribute with a length.
    let mut c = Command::new(object::PD, pd::METHOD_DESTROY);
    // SAFETY: inline data, or a pointer to unmapped low memory the device must refuse.
    unsafe {
        c.attr(IoctlAttr {
            attr_id: pd::ATTR_DESTROY_HANDLE,
            len: 4,
            flags: UVERBS_ATTR_F_MANDATORY,
            attr_data: 0,
            data: u64::from(pd_handle),
        })
    };
    assert_eq!(f.call(&mut c), Err(libc::EINVAL));
    // attr_data (reserved for non-enum attributes) set.
    let mut c = Command::new(object::PD, pd::METHOD_DESTROY);
    // SAFETY: inline data, or a pointer to unmapped low memory the device must refuse.
    unsafe {
        c.attr(IoctlAttr {
            attr_id: pd::ATTR_DESTROY_HANDLE,
            len: 0,
            flags: UVERBS_ATTR_F_MANDATORY,
            attr_data: 1,
            data: u64::from(pd_handle),
        })
    };
    assert_eq!(f.call(&mut c), Err(libc::EINVAL));
}

#[test]
fn longer_structs_must_be_zero_padded() {
    let mut f = file();
    let pd_handle = f.alloc_pd().unwrap();
    let cq = f.create_cq(16).unwrap();
    // QpCap sent with 4 extra bytes: fine if zero, EOPNOTSUPP if not (a newer user space
    // asking for something this driver does not know).
    for (extra, want) in [(0u32, Ok(())), (7u32, Err(libc::EOPNOTSUPP))] {
        #[repr(C)]
        #[derive(zerocopy::IntoBytes, zerocopy::Immutable)]
        struct LongCap {
            cap: QpCap,
            extra: u32,
        }
        let cap = LongCap { cap: QpCap { max_send_wr: 8, max_send_sge: 1, ..QpCap::default() }, extra };
        let mut qpn = 0u32;
        let mut c = Command::new(object::QP, qp::METHOD_CREATE);
        c.new_object(qp::ATTR_CREATE_HANDLE);
        c.handle(qp::ATTR_CREATE_PD_HANDLE, pd_handle)
            .handle(qp::ATTR_CREATE_SEND_CQ_HANDLE, cq)
            .input_u64(qp::ATTR_CREATE_USER_HANDLE, 0)
            .input(qp::ATTR_CREATE_CAP, &cap)
            .input_u32(qp::ATTR_CREATE_TYPE, accelverbs::uapi::verbs::IB_UVERBS_QPT_DRIVER)
            .output(qp::ATTR_CREATE_RESP_QP_NUM, &mut qpn);
        let (ring, db) = (Pages::for_device(&*f.chan, 8 * 128), Pages::for_device(&*f.chan, 64));
        let rings = CreateQpCmd { sq_addr: ring.addr(), db_addr: db.addr(), log_sq_size: 3, ..CreateQpCmd::default() };
        c.input(uhw::IN, &rings);
        assert_eq!(f.call(&mut c), want, "extra = {extra}");
        f.memory.extend([ring, db]);
    }
}

/// Defect: GET_CONTEXT installed the context before copying its outputs out, so a call that
/// failed with EFAULT left a context counted and a retry got EINVAL.
#[test]
fn a_get_context_that_cannot_copy_out_leaves_no_context() {
    let dev = device(1);
    let f = RawFile::new(dev.open_channel().unwrap());
    let read_only = Pages::new(4096);
    read_only.protect(libc::PROT_READ);
    let mut c = Command::new(object::DEVICE, device::METHOD_GET_CONTEXT);
    let out = IoctlAttr {
        attr_id: uhw::OUT,
        len: std::mem::size_of::<GetContextResp>() as u16,
        flags: UVERBS_ATTR_F_MANDATORY,
        attr_data: 0,
        data: read_only.addr(),
    };
    // SAFETY: the output is read-only memory: the device must fail to write it (EFAULT).
    unsafe { c.attr(out) };
    assert_eq!(f.call(&mut c), Err(libc::EFAULT));
    let observer = RawFile::new(dev.open_channel().unwrap());
    assert_eq!(observer.resource_counts().contexts, 0, "the failed call left a context behind");
    assert_eq!(f.alloc_pd(), Err(libc::EINVAL), "no context yet");
    f.get_context().expect("a retry opens the context");
    assert_eq!(observer.resource_counts().contexts, 1);
}

#[test]
fn unknown_attributes_are_ignored_unless_mandatory() {
    let f = file();
    let mut c = alloc_pd_cmd();
    // SAFETY: inline data, or a pointer to unmapped low memory the device must refuse.
    unsafe { c.attr(IoctlAttr { attr_id: 0x0777, len: 4, flags: 0, attr_data: 0, data: 1 }) };
    assert_eq!(f.call(&mut c), Ok(()));
    let mut c = alloc_pd_cmd();
    // SAFETY: inline data, or a pointer to unmapped low memory the device must refuse.
    unsafe { c.attr(IoctlAttr { attr_id: 0x0777, len: 4, flags: UVERBS_ATTR_F_MANDATORY, attr_data: 0, data: 1 }) };
    assert_eq!(f.call(&mut c), Err(libc::EPROTONOSUPPORT));
}

#[test]
fn duplicate_attributes_are_einval() {
    let f = file();
    let mut c = alloc_pd_cmd();
    c.new_object(pd::ATTR_ALLOC_HANDLE);
    assert_eq!(f.call(&mut c), Err(libc::EINVAL));
}

#[test]
fn bad_user_pointers_are_efault() {
    let f = file();
    // A header at an unmapped address.
    // SAFETY: the address is unmapped; the device must answer EFAULT without touching memory.
    assert_eq!(unsafe { f.chan.ioctl(RDMA_VERBS_IOCTL, 0x10) }, Err(libc::EFAULT));
    // An input struct (longer than 8 bytes, so passed by pointer) at an unmapped address, in
    // an otherwise complete CREATE_QP.
    let mut f = f;
    let pd_handle = f.alloc_pd().unwrap();
    let cq = f.create_cq(16).unwrap();
    let request = accelverbs::uapi::cmd::CreateQpCmd::default();
    let mut qpn = 0u32;
    let mut c = Command::new(object::QP, qp::METHOD_CREATE);
    c.new_object(qp::ATTR_CREATE_HANDLE);
    c.handle(qp::ATTR_CREATE_PD_HANDLE, pd_handle)
        .handle(qp::ATTR_CREATE_SEND_CQ_HANDLE, cq)
        .input_u64(qp::ATTR_CREATE_USER_HANDLE, 0)
        .input_u32(qp::ATTR_CREATE_TYPE, accelverbs::uapi::verbs::IB_UVERBS_QPT_DRIVER)
        .input(uhw::IN, &request)
        .output(qp::ATTR_CREATE_RESP_QP_NUM, &mut qpn);
    // SAFETY: inline data, or a pointer to unmapped low memory the device must refuse.
    unsafe {
        c.attr(IoctlAttr { attr_id: qp::ATTR_CREATE_CAP, len: 20, flags: UVERBS_ATTR_F_MANDATORY, attr_data: 0, data: 0x20 })
    };
    assert_eq!(f.call(&mut c), Err(libc::EFAULT));
    // An output at an unmapped address.
    let mut c = Command::new(object::DEVICE, device::METHOD_QUERY_DEVICE);
    // SAFETY: inline data, or a pointer to unmapped low memory the device must refuse.
    unsafe {
        c.attr(IoctlAttr {
            attr_id: device::ATTR_QUERY_DEVICE_RESP,
            len: 160,
            flags: UVERBS_ATTR_F_MANDATORY,
            attr_data: 0,
            data: 0x30,
        })
    };
    assert_eq!(f.call(&mut c), Err(libc::EFAULT));
}

#[test]
fn only_rdma_verbs_ioctl_is_accepted() {
    let f = file();
    // SAFETY: an unknown request is refused before the address is looked at.
    assert_eq!(unsafe { f.chan.ioctl(RDMA_VERBS_IOCTL + 1, 0) }, Err(libc::ENOTTY));
}

#[test]
fn methods_need_a_context_and_get_context_runs_once() {
    let raw = RawFile::new(device(1).open_channel().unwrap());
    assert_eq!(raw.alloc_pd(), Err(libc::EINVAL), "no ucontext yet");
    raw.get_context().unwrap();
    assert_eq!(raw.get_context().map(drop), Err(libc::EINVAL), "second GET_CONTEXT");
    assert!(raw.alloc_pd().is_ok());
}
