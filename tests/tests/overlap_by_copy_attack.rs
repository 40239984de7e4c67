//! The overlap rules (docs/ABI.md: Overlap for ENCRYPT/DECRYPT outputs over each other, the tag
//! or the AAD, and for a digest over its input; BadList for COMPRESS outputs over each other)
//! hold for memory the device reaches by copies too: an on-demand region here, as every region
//! of a daemon client whose memory is not shared. The device works on a copy of each SGE there,
//! so ranges that overlap in the application's memory are apart in the engine's; the rules are
//! about the application's bytes.

use accelverbs::uapi::compress::{flags as comp_flags, CompressParams};
use accelverbs::uapi::crypto::{flags as crypto_flags, CryptoParams, DigestAlgorithm, DigestParams};
use accelverbs::uapi::wqe::{flags, Opcode, Sge, Wqe};
use accelverbs::{Access, CqeStatus, ExecPolicy, KeyAlgorithm, QpState, RawWqe, VendorError, WorkCompletion};
use accelverbs_tests::raw::Pages;
use accelverbs_tests::{pattern, poll_n, Traffic};
use zerocopy::{FromZeros, IntoBytes};

const PAGE: usize = 4096;
const MARK: u8 = 0xee;

fn run(t: &mut Traffic, wqe: Wqe) -> WorkCompletion {
    // SAFETY: every range the WQE names is in pages of the test's, registered until the
    // completion is polled and reached only through raw pointers.
    t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    if t.qp.query_state().unwrap() == QpState::Err {
        for s in [QpState::Reset, QpState::Init, QpState::Rtr, QpState::Rts] {
            t.qp.modify(s).unwrap();
        }
    }
    wc
}

/// The bytes of `pages` (no request in flight).
fn bytes(pages: &Pages, len: usize) -> Vec<u8> {
    // SAFETY: the test's own mapping of at least `len` bytes, used by no request now.
    unsafe { std::slice::from_raw_parts(pages.as_mut_ptr(), len) }.to_vec()
}

fn fill(pages: &Pages, len: usize, byte: u8) {
    // SAFETY: as `bytes`.
    unsafe { std::ptr::write_bytes(pages.as_mut_ptr(), byte, len) };
}

fn crypto_wqe(opcode: Opcode, key: u32, list_flags: u16, data_unit: u32, sges: [Sge; 4]) -> Wqe {
    let mut wqe = Wqe::default();
    wqe.ctrl.opcode = opcode as u8;
    wqe.ctrl.flags = flags::SIGNALED;
    let params = CryptoParams { key, flags: list_flags, iv: [1; 16], data_unit, ..CryptoParams::default() };
    let mut params_bytes = params;
    if data_unit == 0 {
        params_bytes.iv[12..].fill(0);
    }
    wqe.params.copy_from_slice(params_bytes.as_bytes());
    (wqe.src, wqe.dst, wqe.aux[0], wqe.aux[1]) = (sges[0], sges[1], sges[2], sges[3]);
    wqe
}

#[test]
fn overlap_rules_hold_for_memory_reached_by_copies() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 8);
    // Input, lists and the AAD in a pinned region; outputs and the tag on demand.
    let input = t.base.pd.reg_mr(pattern(1, PAGE), Access::empty()).unwrap();
    let out = Pages::new(PAGE);
    let odp = t.base.pd.reg_mr_on_demand(out.addr(), PAGE, Access::LOCAL_WRITE).unwrap();
    let at = |offset: usize, len: u32| Sge { addr: out.addr() + offset as u64, length: len, lkey: odp.lkey() };
    let gcm = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &pattern(2, 16)).unwrap();
    let xts = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Xts, &pattern(3, 32)).unwrap();
    let aad = t.base.pd.reg_mr(pattern(4, 32), Access::empty()).unwrap();
    let list = |entries: &[Sge]| t.base.pd.reg_mr(entries.as_bytes().to_vec(), Access::empty()).unwrap();

    // Two output entries sharing 16 bytes.
    let overlapping = list(&[at(0, 1000), at(984, 1000)]);
    let tag = at(3000, 16);
    let cases: Vec<(&str, Wqe, CqeStatus, VendorError)> = vec![
        (
            "GCM output entries over each other",
            crypto_wqe(
                Opcode::Encrypt,
                gcm.number(),
                crypto_flags::DST_LIST,
                0,
                [input.sge(0, 1984), overlapping.sge(0, 32), Sge::default(), tag],
            ),
            CqeStatus::LocalQpOperationError,
            VendorError::Overlap,
        ),
        (
            "GCM output over the tag",
            crypto_wqe(Opcode::Encrypt, gcm.number(), 0, 0, [input.sge(0, 100), at(2950, 100), Sge::default(), tag]),
            CqeStatus::LocalQpOperationError,
            VendorError::Overlap,
        ),
        (
            "GCM tag over the output, the AAD apart",
            crypto_wqe(Opcode::Encrypt, gcm.number(), 0, 0, [input.sge(0, 100), at(0, 100), aad.sge(0, 32), at(50, 16)]),
            CqeStatus::LocalQpOperationError,
            VendorError::Overlap,
        ),
        (
            "XTS output entries over each other",
            crypto_wqe(
                Opcode::Encrypt,
                xts.number(),
                crypto_flags::DST_LIST,
                512,
                [input.sge(0, 1536), overlapping.sge(0, 32), Sge::default(), Sge::default()],
            ),
            CqeStatus::LocalQpOperationError,
            VendorError::Overlap,
        ),
    ];
    let mut failed = Vec::new();
    for (what, wqe, status, vendor) in cases {
        fill(&out, PAGE, MARK);
        let wc = run(&mut t, wqe);
        let untouched = bytes(&out, PAGE).iter().all(|&b| b == MARK);
        if (wc.status, wc.vendor_err, untouched) != (status, vendor, true) {
            failed.push(format!("{what}: {:?} {:?}, nothing written: {untouched}", wc.status, wc.vendor_err));
        }
    }

    // COMPRESS into two output entries sharing bytes: BadList.
    let mut wqe = Wqe::default();
    wqe.ctrl.opcode = Opcode::Compress as u8;
    wqe.ctrl.flags = flags::SIGNALED;
    let params = CompressParams { format: 3, level: 1, flags: comp_flags::DST_LIST, ..CompressParams::default() };
    wqe.params.copy_from_slice(params.as_bytes());
    (wqe.src, wqe.dst) = (input.sge(0, PAGE as u32), overlapping.sge(0, 32));
    fill(&out, PAGE, MARK);
    let wc = run(&mut t, wqe);
    let untouched = bytes(&out, PAGE).iter().all(|&b| b == MARK);
    if (wc.status, wc.vendor_err, untouched) != (CqeStatus::LocalQpOperationError, VendorError::BadList, true) {
        failed.push(format!(
            "COMPRESS output entries over each other: {:?} {:?}, nothing written: {untouched}",
            wc.status, wc.vendor_err
        ));
    }

    // SHA-256 whose output lies inside its input, both on demand: Overlap.
    let mut wqe = Wqe::default();
    wqe.ctrl.opcode = Opcode::Digest as u8;
    wqe.ctrl.flags = flags::SIGNALED;
    let params = DigestParams { algorithm: DigestAlgorithm::Sha256 as u8, ..DigestParams::new_zeroed() };
    wqe.params.copy_from_slice(params.as_bytes());
    (wqe.src, wqe.dst) = (at(0, 1000), at(100, 32));
    fill(&out, PAGE, MARK);
    let wc = run(&mut t, wqe);
    let untouched = bytes(&out, PAGE).iter().all(|&b| b == MARK);
    if (wc.status, wc.vendor_err, untouched) != (CqeStatus::LocalQpOperationError, VendorError::Overlap, true) {
        failed
            .push(format!("SHA-256 output inside its input: {:?} {:?}, nothing written: {untouched}", wc.status, wc.vendor_err));
    }
    assert!(failed.is_empty(), "{failed:#?}");
}
