//! What the data decides, kept apart from what the WQE gets wrong. Corrupt, truncated and
//! empty inputs, too small a destination, a decompression bomb: each completes with its own
//! status, the QP stays in RTS and takes the next request, and nothing outside the registered
//! destination is written (guard pages around it fault if the device strays). A malformed
//! request (bad level, format, list, reserved bits) or a protection failure stops the QP, as
//! any bad WQE does.

use accelverbs::uapi::compress::{flags as cflags, CompressParams};
use accelverbs::uapi::cqe::VendorError;
use accelverbs::uapi::wqe::{flags, Opcode, Sge, Wqe, WQE_SIZE};
use accelverbs::uapi::zerocopy::IntoBytes;
use accelverbs::{
    Access, Compress, CqeStatus, Decompress, ExecPolicy, Format, MemoryRegion, Nop, QpInit, QpState, WorkCompletion,
};
use accelverbs_tests::raw::Pages;
use accelverbs_tests::stock::{self, compressible};
use accelverbs_tests::{pattern, poll_n, Traffic};

const PAGE: usize = 4096;
const STREAM_FORMATS: [Format; 5] = [Format::Deflate, Format::Zlib, Format::Gzip, Format::Lz4Frame, Format::Zstd];

fn run_one<W: accelverbs::WorkRequest>(t: &mut Traffic, wr: W) -> WorkCompletion {
    t.qp.post(wr).expect("post");
    poll_n(&mut t.cq, 1)[0]
}

fn filled(t: &Traffic, data: &[u8]) -> MemoryRegion {
    let mut mr = t.mr(data.len().max(1), Access::empty());
    mr.as_mut_slice().unwrap()[..data.len()].copy_from_slice(data);
    mr
}

/// The QP is still in RTS and runs the next request.
fn assert_usable(t: &mut Traffic) {
    assert_eq!(t.qp.query_state().unwrap(), QpState::Rts);
    let wc = run_one(t, Nop::new(77));
    assert_eq!((wc.wr_id, wc.status), (77, CqeStatus::Success));
}

/// A destination of `pages` pages with an inaccessible page on each side, filled with `0xEE`.
struct Guarded {
    pages: Pages,
    len: usize,
}

impl Guarded {
    fn new(pages: usize) -> Self {
        let len = pages * PAGE;
        let mapping = Pages::new(len + 2 * PAGE);
        // SAFETY: our own fresh mapping, not yet handed to anyone.
        unsafe { std::ptr::write_bytes(mapping.as_mut_ptr().add(PAGE), 0xEE, len) };
        mapping.protect_range(0, PAGE, libc::PROT_NONE);
        mapping.protect_range(PAGE + len, PAGE, libc::PROT_NONE);
        Self { pages: mapping, len }
    }

    fn register(&self, t: &Traffic) -> MemoryRegion {
        // SAFETY: the middle pages stay mapped until `self` drops, after the region (declared
        // later in each test, so dropped first) and are read only after the completion.
        unsafe { t.base.pd.reg_mr_raw(self.pages.as_mut_ptr().add(PAGE), self.len, Access::LOCAL_WRITE) }.unwrap()
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: read after the request completed; the device no longer writes it.
        unsafe { std::slice::from_raw_parts(self.pages.as_mut_ptr().add(PAGE), self.len) }
    }
}

#[test]
fn corrupt_input_is_reported_and_the_qp_goes_on() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let garbage = pattern(11, 5000);
    for format in Format::ALL {
        let src = filled(&t, &garbage);
        let mut dst = t.mr(1 << 20, Access::LOCAL_WRITE);
        let wc = run_one(&mut t, Decompress::new(1, format, src.slice(0, 5000), dst.slice_mut(0, 1 << 20)));
        assert_eq!(wc.status, CqeStatus::CorruptInput, "{format:?}: {wc:?}");
        assert!(!wc.end_of_stream());
        assert_usable(&mut t);
    }
    // A valid stream with two bytes flipped in the middle of its data: every format with a
    // checksum catches it (raw deflate has none, so garbage may decode as data).
    let data = compressible(1, 50_000);
    for format in [Format::Zlib, Format::Gzip, Format::Lz4Frame, Format::Zstd] {
        let mut packed = stock::compress(format, &data);
        let mid = packed.len() / 2;
        packed[mid] ^= 0x55;
        packed[mid + 1] ^= 0xAA;
        let src = filled(&t, &packed);
        let mut dst = t.mr(2 * data.len(), Access::LOCAL_WRITE);
        let wc = run_one(
            &mut t,
            Decompress::new(2, format, src.slice(0, packed.len() as u32), dst.slice_mut(0, 2 * data.len() as u32)),
        );
        assert_eq!(wc.status, CqeStatus::CorruptInput, "{format:?} with a flipped byte: {wc:?}");
        assert_usable(&mut t);
    }
}

#[test]
fn truncated_and_empty_inputs_are_reported() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let data = compressible(2, 30_000);
    for format in STREAM_FORMATS {
        let packed = stock::compress(format, &data);
        for cut in [packed.len() - 1, packed.len() / 2, 3, 0] {
            let src = filled(&t, &packed[..cut]);
            let mut dst = t.mr(data.len(), Access::LOCAL_WRITE);
            let wc = run_one(&mut t, Decompress::new(3, format, src.slice(0, cut as u32), dst.slice_mut(0, data.len() as u32)));
            // A cut inside a header may look like a bad header to some libraries; it must
            // never look like success.
            assert!(
                matches!(wc.status, CqeStatus::TruncatedInput | CqeStatus::CorruptInput),
                "{format:?} cut to {cut} of {}: {wc:?}",
                packed.len()
            );
            if cut == packed.len() - 1 || cut == 0 {
                assert_eq!(wc.status, CqeStatus::TruncatedInput, "{format:?} cut to {cut}");
            }
            assert!(wc.consumed() as usize <= cut);
            assert_usable(&mut t);
        }
    }
}

#[test]
fn too_small_a_destination_is_recoverable_by_retrying_bigger() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let data = compressible(4, 64 << 10);
    for format in Format::ALL {
        let packed = stock::compress(format, &data);
        let src = filled(&t, &packed);
        let guarded = Guarded::new(2);
        let mut small = guarded.register(&t);
        let wc =
            run_one(&mut t, Decompress::new(4, format, src.slice(0, packed.len() as u32), small.slice_mut(0, 2 * PAGE as u32)));
        assert_eq!(wc.status, CqeStatus::OutputTooSmall, "{format:?}: {wc:?}");
        assert!(wc.byte_len as usize <= 2 * PAGE && wc.consumed() as usize <= packed.len());
        // Whatever was produced is the start of the data; the guards are intact (else SIGSEGV).
        drop(small);
        assert!(guarded.bytes()[..wc.byte_len as usize] == data[..wc.byte_len as usize], "{format:?}");
        assert_usable(&mut t);
        let mut big = t.mr(data.len(), Access::LOCAL_WRITE);
        let wc =
            run_one(&mut t, Decompress::new(5, format, src.slice(0, packed.len() as u32), big.slice_mut(0, data.len() as u32)));
        assert_eq!(wc.status, CqeStatus::Success, "{format:?} retried: {wc:?}");
        assert!(big.as_slice().unwrap() == data, "{format:?} retried");

        // Compression into too little room, then into enough.
        let plain = filled(&t, &data);
        let mut tiny = t.mr(64, Access::LOCAL_WRITE);
        let wc = run_one(&mut t, Compress::new(6, format, plain.slice(0, data.len() as u32), tiny.slice_mut(0, 64)));
        assert_eq!(wc.status, CqeStatus::OutputTooSmall, "{format:?} compress: {wc:?}");
        assert_usable(&mut t);
        let mut room = t.mr(data.len() + 1024, Access::LOCAL_WRITE);
        let wc = run_one(
            &mut t,
            Compress::new(7, format, plain.slice(0, data.len() as u32), room.slice_mut(0, data.len() as u32 + 1024)),
        );
        assert_eq!(wc.status, CqeStatus::Success, "{format:?} compress retried: {wc:?}");
    }
}

/// 16 MiB of zeros compress to a few KiB: past the QP's ratio limit it stops with
/// `OutputLimit`, without the limit it fills the destination and says `OutputTooSmall`, and it
/// never writes past the destination.
#[test]
fn decompression_bombs_stop_at_the_ratio_limit_or_the_destination() {
    let zeros = vec![0u8; 16 << 20];
    for format in Format::ALL {
        let packed = stock::compress(format, &zeros);
        for ratio in [0u32, 50] {
            let base = Traffic::new(1, ExecPolicy::Threads, 16);
            let cq = base.base.ctx.create_cq(32, None).unwrap();
            let qp = base.base.pd.create_qp(&cq, QpInit::new(16).max_decompress_ratio(ratio)).unwrap();
            let mut t = Traffic { base: base.base, cq, qp };
            let src = filled(&t, &packed);
            let guarded = Guarded::new(256);
            let mut dst = guarded.register(&t);
            let wc = run_one(
                &mut t,
                Decompress::new(8, format, src.slice(0, packed.len() as u32), dst.slice_mut(0, (256 * PAGE) as u32)),
            );
            let limit = if ratio == 0 { 256 * PAGE } else { (packed.len() * ratio as usize).min(256 * PAGE) };
            let expected = if ratio == 0 || limit == 256 * PAGE { CqeStatus::OutputTooSmall } else { CqeStatus::OutputLimit };
            assert_eq!(wc.status, expected, "{format:?} ratio {ratio}: {wc:?}");
            assert!(wc.byte_len as usize <= limit, "{format:?} ratio {ratio}: produced {} > {limit}", wc.byte_len);
            drop(dst);
            assert!(guarded.bytes()[..wc.byte_len as usize].iter().all(|&b| b == 0));
            assert!(guarded.bytes()[limit..].iter().all(|&b| b == 0xEE), "{format:?}: written past the limit");
            assert_usable(&mut t);
        }
    }
}

#[test]
fn multi_member_gzip_and_multi_frame_files_decode_whole() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let (a, b) = (compressible(5, 20_000), pattern(6, 7_000));
    for format in [Format::Gzip, Format::Zstd, Format::Lz4Frame] {
        let mut packed = stock::compress(format, &a);
        packed.extend_from_slice(&stock::compress(format, &b));
        let src = filled(&t, &packed);
        let mut dst = t.mr(a.len() + b.len(), Access::LOCAL_WRITE);
        let wc = run_one(
            &mut t,
            Decompress::new(9, format, src.slice(0, packed.len() as u32), dst.slice_mut(0, (a.len() + b.len()) as u32)),
        );
        assert_eq!(wc.status, CqeStatus::Success, "{format:?}: {wc:?}");
        assert_eq!(wc.consumed() as usize, packed.len());
        assert!(dst.as_slice().unwrap() == [a.as_slice(), b.as_slice()].concat(), "{format:?}");
    }
    // gzip with trailing garbage: the members decode, `consumed` shows where the garbage starts.
    let mut packed = stock::compress(Format::Gzip, &a);
    let members = packed.len();
    packed.extend_from_slice(&[0u8; 100]);
    let src = filled(&t, &packed);
    let mut dst = t.mr(a.len(), Access::LOCAL_WRITE);
    let wc =
        run_one(&mut t, Decompress::new(10, Format::Gzip, src.slice(0, packed.len() as u32), dst.slice_mut(0, a.len() as u32)));
    assert_eq!((wc.status, wc.consumed() as usize), (CqeStatus::Success, members));
}

/// Posts `wqe` raw (the safe builders cannot express these) and returns its completion.
fn post_raw(t: &mut Traffic, wqe: Wqe) -> WorkCompletion {
    // SAFETY: hostile test: the WQE names only `t`'s own regions, read-only or not read back.
    unsafe {
        let at = t.qp.raw_producer() as usize & (t.qp.capacity() as usize - 1);
        t.qp.raw_ring()[at * WQE_SIZE..(at + 1) * WQE_SIZE].copy_from_slice(wqe.as_bytes());
        let next = t.qp.raw_producer() + 1;
        t.qp.raw_ring_doorbell(next);
        t.qp.raw_set_producer(next);
    }
    poll_n(&mut t.cq, 1)[0]
}

fn reset_to_rts(t: &mut Traffic) {
    for s in [QpState::Reset, QpState::Init, QpState::Rtr, QpState::Rts] {
        t.qp.modify(s).unwrap();
    }
}

#[test]
fn malformed_requests_stop_the_qp() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let src = filled(&t, &compressible(7, 4096));
    let dst = t.mr(8192, Access::LOCAL_WRITE);
    let list = filled(&t, &[0u8; 17 * 16]);
    let params = |f: &dyn Fn(&mut CompressParams)| {
        let mut p = CompressParams { format: Format::Gzip as u8, level: 1, ..CompressParams::default() };
        f(&mut p);
        p
    };
    let cases: Vec<(&str, Opcode, CompressParams, Sge, VendorError, CqeStatus)> = vec![
        (
            "unknown format",
            Opcode::Compress,
            params(&|p| p.format = 0),
            src.sge(0, 4096),
            VendorError::BadFormat,
            CqeStatus::LocalQpOperationError,
        ),
        (
            "level 10 for gzip",
            Opcode::Compress,
            params(&|p| p.level = 10),
            src.sge(0, 4096),
            VendorError::BadLevel,
            CqeStatus::LocalQpOperationError,
        ),
        (
            "level on decompress",
            Opcode::Decompress,
            params(&|p| p.level = 1),
            src.sge(0, 4096),
            VendorError::BadLevel,
            CqeStatus::LocalQpOperationError,
        ),
        (
            "reserved byte",
            Opcode::Compress,
            params(&|p| p.reserved[3] = 1),
            src.sge(0, 4096),
            VendorError::ReservedNonzero,
            CqeStatus::LocalQpOperationError,
        ),
        (
            "unknown flag",
            Opcode::Compress,
            params(&|p| p.flags = 1 << 9),
            src.sge(0, 4096),
            VendorError::ReservedNonzero,
            CqeStatus::LocalQpOperationError,
        ),
        (
            "17-entry list",
            Opcode::Compress,
            params(&|p| p.flags = cflags::SRC_LIST),
            list.sge(0, 17 * 16),
            VendorError::BadList,
            CqeStatus::LocalQpOperationError,
        ),
        (
            "list of half an entry",
            Opcode::Compress,
            params(&|p| p.flags = cflags::SRC_LIST),
            list.sge(0, 8),
            VendorError::BadList,
            CqeStatus::LocalQpOperationError,
        ),
        (
            "list of zero keys",
            Opcode::Compress,
            params(&|p| p.flags = cflags::SRC_LIST),
            list.sge(0, 32),
            VendorError::KeyUnknown,
            CqeStatus::LocalProtectionError,
        ),
        (
            "unknown stream",
            Opcode::Compress,
            params(&|p| p.stream = 1234),
            src.sge(0, 4096),
            VendorError::StreamUnknown,
            CqeStatus::LocalProtectionError,
        ),
        (
            "source out of bounds",
            Opcode::Compress,
            params(&|_| {}),
            src.sge(0, 4097),
            VendorError::OutOfBounds,
            CqeStatus::LocalProtectionError,
        ),
        (
            "read-only destination",
            Opcode::Compress,
            params(&|_| {}),
            src.sge(0, 4096),
            VendorError::AccessDenied,
            CqeStatus::LocalProtectionError,
        ),
    ];
    for (what, opcode, params, source, vendor, status) in cases {
        let mut wqe = Wqe::default();
        wqe.ctrl.wr_id = 42;
        wqe.ctrl.opcode = opcode as u8;
        wqe.ctrl.flags = flags::SIGNALED;
        wqe.params.copy_from_slice(params.as_bytes());
        wqe.src = source;
        wqe.dst = if what == "read-only destination" { src.sge(0, 4096) } else { dst.sge(0, 8192) };
        let wc = post_raw(&mut t, wqe);
        assert_eq!((wc.status, wc.vendor_err), (status, vendor), "{what}: {wc:?}");
        assert_eq!(t.qp.query_state().unwrap(), QpState::Err, "{what}: the QP stops");
        let flushed = run_one(&mut t, Nop::new(1));
        assert_eq!(flushed.status, CqeStatus::WorkRequestFlushed, "{what}");
        reset_to_rts(&mut t);
    }
    // The safe builder with a level out of range: the device refuses it the same way.
    let mut out = t.mr(8192, Access::LOCAL_WRITE);
    let wc = run_one(&mut t, Compress::new(43, Format::Zlib, src.slice(0, 4096), out.slice_mut(0, 8192)).level(12));
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalQpOperationError, VendorError::BadLevel));
}
