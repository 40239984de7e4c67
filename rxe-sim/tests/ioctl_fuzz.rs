//! Random ioctls against the uverbs layer: every call returns Ok or an errno, never panics; a
//! malformed header gets exactly the kernel's errno; a failed call leaves no object behind; and
//! closing the file gives everything back. Pointers in attributes point only at a scratch
//! buffer or at unmapped low addresses, so a lucky output never scribbles over the test itself.

use accelverbs_rxe_sim::{SimConfig, SoftDevice, UverbsFile};
use accelverbs_uapi::cmd::ResourceCounts;
use accelverbs_uapi::ids::{device as dev, object as obj, ACCEL_DRIVER_ID, UVERBS_ID_DRIVER_NS as NS};
use accelverbs_uapi::ioctl::{IoctlAttr, IoctlHdr, MAX_IOCTL_LENGTH, RDMA_VERBS_IOCTL, UVERBS_ATTR_F_MANDATORY};
use proptest::prelude::*;
use zerocopy::IntoBytes;

#[repr(C)]
struct Call {
    hdr: IoctlHdr,
    attrs: [IoctlAttr; 12],
}

fn id() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..16, NS..NS + 8, any::<u16>()]
}

fn attr(scratch: u64) -> impl Strategy<Value = IoctlAttr> {
    let data = prop_oneof![any::<u64>().prop_map(|v| v & 0xFFFF_FFFF), Just(scratch), Just(0u64), Just(0x1000u64)];
    (
        id(),
        prop_oneof![Just(0u16), 1u16..=8, Just(20), Just(24), Just(160), 0u16..4096],
        0u16..4,
        prop_oneof![Just(0u16), any::<u16>()],
        data,
    )
        .prop_map(|(attr_id, len, flags, attr_data, data)| IoctlAttr { attr_id, len, flags, attr_data, data })
}

/// Sends `call` as it stands.
fn send(file: &UverbsFile, call: &mut Call) -> Result<(), i32> {
    // SAFETY: every attribute points at the scratch buffer (alive across the call), at low
    // unmapped addresses, or carries inline data; nothing the device may keep using is named
    // outside memory the test owns until the file is dropped.
    unsafe { file.ioctl(RDMA_VERBS_IOCTL, std::ptr::addr_of_mut!(*call) as u64) }.map_err(|e| e.0)
}

/// Live objects on the device, through QUERY_RESOURCES.
fn counts(file: &UverbsFile) -> ResourceCounts {
    let mut out = ResourceCounts::default();
    let mut call = Call { hdr: IoctlHdr::default(), attrs: [IoctlAttr::default(); 12] };
    call.attrs[0] = IoctlAttr {
        attr_id: dev::ATTR_QUERY_RESOURCES_RESP,
        len: std::mem::size_of::<ResourceCounts>() as u16,
        flags: UVERBS_ATTR_F_MANDATORY,
        attr_data: 0,
        data: out.as_mut_bytes().as_mut_ptr() as u64,
    };
    call.hdr = IoctlHdr {
        length: IoctlHdr::expected_length(1) as u16,
        object_id: obj::DEVICE,
        method_id: dev::METHOD_QUERY_RESOURCES,
        num_attrs: 1,
        driver_id: ACCEL_DRIVER_ID,
        ..IoctlHdr::default()
    };
    send(file, &mut call).expect("QUERY_RESOURCES");
    out
}

/// Objects only (pinned bytes follow from MRs and rings).
fn objects(c: &ResourceCounts) -> [u32; 6] {
    [c.contexts, c.pds, c.mrs, c.cqs, c.qps, c.comp_channels]
}

const KNOWN_ERRNOS: [i32; 9] = [
    libc::EINVAL,
    libc::EFAULT,
    libc::ENOENT,
    libc::EPROTONOSUPPORT,
    libc::EOPNOTSUPP,
    libc::ENOMEM,
    libc::EBUSY,
    libc::EAGAIN,
    libc::ENOTTY,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_calls_get_an_errno_never_a_panic(
        object in prop_oneof![0u16..8, Just(99u16)],
        method in id(),
        attrs in proptest::collection::vec(attr(0), 0..12),
        length_delta in prop_oneof![Just(0i32), -20i32..20],
        reserved in prop_oneof![Just(0u64), any::<u64>()],
        driver_id in prop_oneof![Just(ACCEL_DRIVER_ID), any::<u32>()],
    ) {
        let scratch = vec![0u8; 4096];
        let scratch_addr = scratch.as_ptr() as u64;
        let device = SoftDevice::new(SimConfig { engines: 0, ..SimConfig::default() });
        let file = device.open();
        // Half the time there is a context, so handlers run too.
        if method % 2 == 0 {
            let mut call = Call { hdr: IoctlHdr { object_id: 0, method_id: 3, length: 24, ..IoctlHdr::default() }, attrs: [IoctlAttr::default(); 12] };
            send(&file, &mut call).unwrap();
        }
        let before = counts(&file);
        let mut call = Call { hdr: IoctlHdr::default(), attrs: [IoctlAttr::default(); 12] };
        for (slot, a) in call.attrs.iter_mut().zip(&attrs) {
            *slot = *a;
            if slot.data == 0 && slot.len > 8 {
                slot.data = scratch_addr;
            }
        }
        let n = attrs.len() as u16;
        call.hdr = IoctlHdr {
            length: (IoctlHdr::expected_length(n) as i32 + length_delta) as u16,
            object_id: object,
            method_id: method,
            num_attrs: n,
            reserved1: reserved,
            driver_id,
            reserved2: 0,
        };
        let length = call.hdr.length as usize;
        let result = send(&file, &mut call);
        // The header is judged before anything else, in the kernel's order.
        if length > MAX_IOCTL_LENGTH || length != IoctlHdr::expected_length(n) {
            prop_assert_eq!(result, Err(libc::EINVAL), "bad length {}", length);
        } else if reserved != 0 {
            prop_assert_eq!(result, Err(libc::EPROTONOSUPPORT), "reserved field set");
        }
        match result {
            Ok(()) => {}
            Err(e) => {
                prop_assert!(KNOWN_ERRNOS.contains(&e), "unexpected errno {}", e);
                // A refused call leaves nothing behind.
                prop_assert_eq!(objects(&counts(&file)), objects(&before), "a failed call changed the device");
            }
        }
        // Closing the file gives everything back.
        let observer = device.open();
        drop(file);
        let after = counts(&observer);
        prop_assert_eq!(objects(&after), [0; 6]);
        prop_assert_eq!(after.pinned_bytes, 0);
        drop(scratch);
    }
}
