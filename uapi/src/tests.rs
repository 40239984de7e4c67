//! Behaviour of the contract's helpers (layouts are checked at compile time in each module).
//! These also run under Miri, which checks the zero-copy views.

use crate::cqe::{owner_bit_for, Cqe, CqeStatus, VendorError, CQE_OWNER_OFFSET, CQE_SIZE};
use crate::ioctl::{IoctlAttr, IoctlHdr};
use crate::wqe::{Opcode, Sge, Wqe, WQE_SIZE};
use crate::UnknownValue;
use zerocopy::{FromBytes, IntoBytes};

#[test]
fn wire_enums_reject_every_undefined_value() {
    for raw in 0..=u8::MAX {
        match CqeStatus::try_from(raw) {
            Ok(status) => assert_eq!(u8::from(status), raw),
            Err(e) => assert_eq!(e, UnknownValue(u32::from(raw))),
        }
        match Opcode::try_from(raw) {
            Ok(op) => {
                assert_eq!(op as u8, raw);
                assert!(Opcode::ALL.contains(&op), "{op:?} missing from Opcode::ALL");
            }
            Err(e) => assert_eq!(e, UnknownValue(u32::from(raw))),
        }
    }
    assert_eq!(CqeStatus::try_from(3), Err(UnknownValue(3)), "3 is not a status this device sends");
    assert_eq!(VendorError::try_from(0xFF), Err(UnknownValue(0xFF)));
    assert_eq!(Opcode::try_from(0x05), Err(UnknownValue(5)), "the first free data-movement opcode");
    assert!(Opcode::ALL.windows(2).all(|w| (w[0] as u8) < (w[1] as u8)), "in numeric order, once each");
}

#[test]
fn the_owner_bit_flips_on_every_pass_and_a_zeroed_ring_holds_nothing() {
    for log_size in [0, 1, 4, 15] {
        let size = 1u32 << log_size;
        // A zeroed ring (owner 0) must not look valid on the first pass.
        assert_eq!(owner_bit_for(0, log_size), 1);
        assert_eq!(owner_bit_for(size - 1, log_size), 1);
        assert_eq!(owner_bit_for(size, log_size), 0);
        assert_eq!(owner_bit_for(2 * size, log_size), 1);
        // Across the u32 wrap the pattern continues.
        assert_ne!(owner_bit_for(u32::MAX, log_size), owner_bit_for(u32::MAX.wrapping_add(1), log_size));
    }
}

#[test]
fn an_ioctl_header_counts_its_attributes() {
    assert_eq!(IoctlHdr::expected_length(0), core::mem::size_of::<IoctlHdr>());
    assert_eq!(IoctlHdr::expected_length(3), 24 + 3 * core::mem::size_of::<IoctlAttr>());
    assert_eq!(IoctlHdr::expected_length(u16::MAX), 24 + 16 * usize::from(u16::MAX));
}

#[test]
fn wqes_and_cqes_round_trip_through_bytes() {
    let mut wqe = Wqe::default();
    wqe.ctrl.wr_id = 0x0123_4567_89AB_CDEF;
    wqe.ctrl.opcode = Opcode::Copy as u8;
    wqe.src = Sge { addr: 0x1000, length: 64, lkey: 0x0102 };
    let bytes = wqe.as_bytes();
    assert_eq!(bytes.len(), WQE_SIZE);
    let back = Wqe::read_from_bytes(bytes).unwrap();
    assert_eq!((back.ctrl.wr_id, back.src), (wqe.ctrl.wr_id, wqe.src));

    let cqe = Cqe { wr_id: 9, status: CqeStatus::LocalProtectionError as u8, byte_len: 4, ..Cqe::default() };
    let bytes = cqe.as_bytes();
    assert_eq!(bytes.len(), CQE_SIZE);
    const { assert!(CQE_OWNER_OFFSET < CQE_SIZE) };
    assert_eq!(Cqe::read_from_bytes(bytes).unwrap().wr_id, 9);
    assert!(Cqe::read_from_bytes(&bytes[1..]).is_err(), "a short buffer is refused");
}
