//! DIGEST: SHA-256 and HMAC-SHA-256 against Python's `hashlib`/`hmac`, CRC32C against the
//! published check values and as a chain across requests, and the request rules.

use std::io::Write;
use std::mem::offset_of;
use std::process::{Command, Stdio};

use accelverbs::uapi::crypto::{digest_flags, DigestAlgorithm, DigestParams, DigestState};
use accelverbs::uapi::wqe::{flags, Opcode, Wqe, WQE_SIZE};
use accelverbs::{
    Access, CqeStatus, Digest, ExecPolicy, KeyAlgorithm, QpState, RawWqe, VendorError, DIGEST_LEN, DIGEST_STATE_LEN,
};
use accelverbs_tests::{pattern, poll_n, Traffic};
use zerocopy::IntoBytes;

/// Python's answer for `expression` over `data` (read from stdin as `d`), with `key` as `k`.
fn python_hex(expression: &str, data: &[u8], key: &[u8]) -> String {
    let script =
        format!("import sys, hashlib, hmac\nd, k = sys.stdin.buffer.read(), bytes.fromhex(sys.argv[1])\nprint({expression})");
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", &script, &hexs(key)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn sha256_matches_hashlib() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 8);
    for (i, len) in [0usize, 1, 3, 4096, 1 << 20].into_iter().enumerate() {
        let data = if len == 3 { b"abc".to_vec() } else { pattern(i as u64, len) };
        let input = t.base.pd.reg_mr(if data.is_empty() { vec![0] } else { data.clone() }, Access::empty()).unwrap();
        let mut out = t.base.pd.alloc_mr(DIGEST_LEN, Access::LOCAL_WRITE).unwrap();
        t.qp.post(Digest::sha256(1, input.slice(0, len as u32), out.slice_mut(0, 32))).unwrap();
        let wc = poll_n(&mut t.cq, 1)[0];
        assert_eq!((wc.status, wc.byte_len), (CqeStatus::Success, 32));
        let ours = hexs(out.as_slice().unwrap());
        assert_eq!(ours, python_hex("hashlib.sha256(d).hexdigest()", &data, &[]), "{len} bytes");
        if len == 3 {
            assert_eq!(ours, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "FIPS 180-2's \"abc\"");
        }
    }
}

#[test]
fn hmac_sha256_matches_pythons_hmac_under_a_device_key() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    for (key_len, len) in [(16usize, 0usize), (32, 100), (64, 4096), (128, 65537)] {
        let material = pattern(key_len as u64 + 100, key_len);
        let key = t.base.pd.create_crypto_key(KeyAlgorithm::HmacSha256, &material).unwrap();
        let data = pattern(len as u64, len);
        let input = t.base.pd.reg_mr(if data.is_empty() { vec![0] } else { data.clone() }, Access::empty()).unwrap();
        let mut out = t.base.pd.alloc_mr(DIGEST_LEN, Access::LOCAL_WRITE).unwrap();
        t.qp.post(Digest::hmac_sha256(1, &key, input.slice(0, len as u32), out.slice_mut(0, 32))).unwrap();
        assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::Success);
        let expected = python_hex("hmac.new(k, d, hashlib.sha256).hexdigest()", &data, &material);
        assert_eq!(hexs(out.as_slice().unwrap()), expected, "key {key_len} bytes, data {len} bytes");
    }
}

/// The CRC32C of `data` continuing from `seed`, on the device.
fn crc32c(t: &mut Traffic, data: &[u8], seed: u32) -> u32 {
    let input = t.base.pd.reg_mr(if data.is_empty() { vec![0] } else { data.to_vec() }, Access::empty()).unwrap();
    t.qp.post(Digest::crc32c(7, input.slice(0, data.len() as u32), seed)).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.byte_len), (CqeStatus::Success, 0));
    wc.checksum()
}

#[test]
fn crc32c_gives_the_published_values_and_chains_across_requests() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    // The catalogue's check value, and RFC 3720's (iSCSI) test patterns.
    assert_eq!(crc32c(&mut t, b"123456789", 0), 0xE306_9283);
    assert_eq!(crc32c(&mut t, &[0; 32], 0), 0x8A91_36AA);
    assert_eq!(crc32c(&mut t, &[0xFF; 32], 0), 0x62A8_AB43);
    assert_eq!(crc32c(&mut t, &(0..32).collect::<Vec<u8>>(), 0), 0x46DD_794E);
    assert_eq!(crc32c(&mut t, &(0..32).rev().collect::<Vec<u8>>(), 0), 0x113F_DB5C);
    assert_eq!(crc32c(&mut t, &[], 0), 0);
    // A checksum carried across requests is the checksum of the whole.
    let data = pattern(42, 100_000);
    let whole = crc32c(&mut t, &data, 0);
    for cut in [0, 1, 4096, 65_537, 100_000] {
        let head = crc32c(&mut t, &data[..cut], 0);
        assert_eq!(crc32c(&mut t, &data[cut..], head), whole, "cut at {cut}");
    }
}

/// A CRC32C request with any byte set beside its algorithm and seed (a flag, a key, a reserved
/// byte, `dst`, `aux`) is refused as malformed and stops the QP; the seed's own bytes may hold
/// anything.
#[test]
fn a_crc32c_request_with_a_byte_set_beside_its_seed_is_refused() {
    let data = pattern(3, 64);
    let seed = offset_of!(Wqe, params) + offset_of!(DigestParams, seed);
    let beside_the_seed = (offset_of!(Wqe, params) + 1..offset_of!(Wqe, src)).filter(|b| !(seed..seed + 4).contains(b));
    let cases =
        beside_the_seed.chain(offset_of!(Wqe, dst)..WQE_SIZE).map(|b| (b, false)).chain((seed..seed + 4).map(|b| (b, true)));
    for (byte, allowed) in cases {
        let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
        let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
        let mut wqe = Wqe::default();
        wqe.ctrl.opcode = Opcode::Digest as u8;
        wqe.ctrl.flags = flags::SIGNALED;
        wqe.params.copy_from_slice(DigestParams::new(DigestAlgorithm::Crc32c).as_bytes());
        wqe.src = input.sge(0, 64);
        wqe.as_mut_bytes()[byte] = 0x40;
        // SAFETY: the only region named is `input`, which the request may only read.
        t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
        let wc = poll_n(&mut t.cq, 1)[0];
        let (status, state) = match allowed {
            true => ((CqeStatus::Success, VendorError::None), QpState::Rts),
            false => ((CqeStatus::LocalQpOperationError, VendorError::ReservedNonzero), QpState::Err),
        };
        assert_eq!((wc.status, wc.vendor_err), status, "byte {byte} of the WQE");
        assert_eq!(t.qp.query_state().unwrap(), state, "byte {byte} of the WQE");
    }
}

#[test]
fn requests_digest_does_not_allow_stop_the_qp() {
    let data = pattern(1, 64);
    // An AES-GCM key for HMAC.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let gcm = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &pattern(2, 16)).unwrap();
    let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
    let mut out = t.base.pd.alloc_mr(DIGEST_LEN, Access::LOCAL_WRITE).unwrap();
    t.qp.post(Digest::hmac_sha256(1, &gcm, input.slice(0, 64), out.slice_mut(0, 32))).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalQpOperationError, VendorError::WrongKeyAlgorithm));
    assert_eq!(t.qp.query_state().unwrap(), QpState::Err);

    // An output that is not 32 bytes.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
    let mut out = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    t.qp.post(Digest::sha256(1, input.slice(0, 64), out.slice_mut(0, 31))).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalLengthError, VendorError::DestinationTooSmall));
    assert!(out.as_slice().unwrap().iter().all(|&b| b == 0), "nothing written");

    // An unknown algorithm (only a raw WQE can name one).
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let input = t.base.pd.reg_mr(data, Access::empty()).unwrap();
    let mut wqe = Wqe::default();
    wqe.ctrl.opcode = Opcode::Digest as u8;
    wqe.ctrl.flags = flags::SIGNALED;
    let mut params = DigestParams::new(DigestAlgorithm::Sha256);
    params.algorithm = 9;
    wqe.params.copy_from_slice(params.as_bytes());
    wqe.src = input.sge(0, 64);
    // SAFETY: the device refuses the request before reading anything.
    t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalQpOperationError, VendorError::BadAlgorithm));
}

/// A SHA-256 in parts on the device: `cuts` split `data`, each part but the last a whole
/// number of blocks; the digest of the whole, in hex.
fn sha256_in_parts(t: &mut Traffic, data: &[u8], cuts: &[usize]) -> String {
    let input = t.base.pd.reg_mr(if data.is_empty() { vec![0] } else { data.to_vec() }, Access::empty()).unwrap();
    let mut state = t.base.pd.alloc_mr(DIGEST_STATE_LEN, Access::LOCAL_WRITE).unwrap();
    let mut out = t.base.pd.alloc_mr(DIGEST_LEN, Access::LOCAL_WRITE).unwrap();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(data.len());
    for (i, part) in bounds.windows(2).enumerate() {
        let slice = input.slice(part[0], (part[1] - part[0]) as u32);
        let last = i + 2 == bounds.len();
        let request = match (i, last) {
            (0, false) => Digest::sha256_first(i as u64, slice, state.slice_mut(0, DIGEST_STATE_LEN as u32)),
            (_, false) => Digest::sha256_next(i as u64, slice, state.slice_mut(0, DIGEST_STATE_LEN as u32)),
            (_, true) => Digest::sha256_last(i as u64, slice, state.slice(0, DIGEST_STATE_LEN as u32), out.slice_mut(0, 32)),
        };
        t.qp.post(request).unwrap();
        let wc = poll_n(&mut t.cq, 1)[0];
        let written = if last { DIGEST_LEN } else { DIGEST_STATE_LEN };
        assert_eq!((wc.status, wc.byte_len), (CqeStatus::Success, written as u32), "part {i} of {cuts:?}");
    }
    hexs(out.as_slice().unwrap())
}

#[test]
fn sha256_in_parts_matches_hashlib_over_the_whole_message() {
    for (engines, policy) in [(0, ExecPolicy::Inline), (1, ExecPolicy::Threads)] {
        let mut t = Traffic::new(engines, policy, 8);
        let data = pattern(11, 5 * 4096 + 77);
        let expected = python_hex("hashlib.sha256(d).hexdigest()", &data, &[]);
        // One whole part then the rest; many parts; two; a first part that is empty (whole
        // blocks: zero of them). A message of whole blocks then ends with an empty part.
        for cuts in [vec![4096], vec![64, 128, 4096, 8192, 20480], vec![4096, 20480], vec![0, 64]] {
            assert_eq!(sha256_in_parts(&mut t, &data, &cuts), expected, "{policy:?}, cuts {cuts:?}");
        }
        let whole = pattern(12, 8192);
        let expected = python_hex("hashlib.sha256(d).hexdigest()", &whole, &[]);
        assert_eq!(sha256_in_parts(&mut t, &whole, &[4096, 8192]), expected, "message of whole blocks");
        assert_eq!(sha256_in_parts(&mut t, &[], &[0]), python_hex("hashlib.sha256(d).hexdigest()", &[], &[]));
    }
}

#[test]
fn sha256_parts_that_break_the_rules_stop_the_qp() {
    let data = pattern(3, 256);
    // A part with more to follow that is not a whole number of blocks.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
    let mut state = t.base.pd.alloc_mr(DIGEST_STATE_LEN, Access::LOCAL_WRITE).unwrap();
    t.qp.post(Digest::sha256_first(1, input.slice(0, 100), state.slice_mut(0, DIGEST_STATE_LEN as u32))).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalLengthError, VendorError::BadDigestState));
    assert_eq!(t.qp.query_state().unwrap(), QpState::Err);
    assert!(state.as_slice().unwrap().iter().all(|&b| b == 0), "no state written");

    // A state no part wrote: a count that is not a whole number of blocks.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
    let forged = DigestState { chaining: [7; 32], bytes: 65 };
    let state = t.base.pd.reg_mr(forged.as_bytes().to_vec(), Access::empty()).unwrap();
    let mut out = t.base.pd.alloc_mr(DIGEST_LEN, Access::LOCAL_WRITE).unwrap();
    t.qp.post(Digest::sha256_last(1, input.slice(0, 64), state.slice(0, DIGEST_STATE_LEN as u32), out.slice_mut(0, 32))).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalQpOperationError, VendorError::BadDigestState));
    assert!(out.as_slice().unwrap().iter().all(|&b| b == 0), "no digest written");

    // A state that would take the message past SHA-256's 2^61 - 1 bytes.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
    let full = DigestState { chaining: [7; 32], bytes: (1 << 61) - 64 };
    let state = t.base.pd.reg_mr(full.as_bytes().to_vec(), Access::empty()).unwrap();
    let mut out = t.base.pd.alloc_mr(DIGEST_LEN, Access::LOCAL_WRITE).unwrap();
    t.qp.post(Digest::sha256_last(1, input.slice(0, 64), state.slice(0, DIGEST_STATE_LEN as u32), out.slice_mut(0, 32))).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].vendor_err, VendorError::BadDigestState);

    // A state range that is not exactly the state's size.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
    let mut state = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    t.qp.post(Digest::sha256_first(1, input.slice(0, 64), state.slice_mut(0, 39))).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalLengthError, VendorError::DestinationTooSmall));

    // The state inside the input it is computed over (the safe builders cannot say it: the
    // input is borrowed shared and the state exclusively).
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let both = t.base.pd.reg_mr(data.clone(), Access::LOCAL_WRITE).unwrap();
    let mut wqe = Wqe::default();
    wqe.ctrl.opcode = Opcode::Digest as u8;
    wqe.ctrl.flags = flags::SIGNALED;
    let params = DigestParams { flags: digest_flags::MORE, ..DigestParams::new(DigestAlgorithm::Sha256) };
    wqe.params.copy_from_slice(params.as_bytes());
    wqe.src = both.sge(0, 128);
    wqe.aux[0] = both.sge(64, DIGEST_STATE_LEN as u32);
    // SAFETY: the device refuses the request before writing anything.
    t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalQpOperationError, VendorError::Overlap));
    assert_eq!(both.as_slice().unwrap(), &data[..], "the input untouched");

    // A state in another PD's memory: a protection error.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let other = t.base.ctx.alloc_pd().unwrap();
    let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
    let mut state = other.alloc_mr(DIGEST_STATE_LEN, Access::LOCAL_WRITE).unwrap();
    t.qp.post(Digest::sha256_first(1, input.slice(0, 64), state.slice_mut(0, DIGEST_STATE_LEN as u32))).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalProtectionError, VendorError::PdMismatch));

    // Parts of anything but SHA-256, an unknown flag, a digest destination on a part with more
    // to follow: only a raw WQE can say them.
    for (algorithm, part_flags, with_dst) in [
        (DigestAlgorithm::HmacSha256, digest_flags::MORE, false),
        (DigestAlgorithm::Crc32c, digest_flags::RESUME, false),
        (DigestAlgorithm::Sha256, 1 << 2, false),
        (DigestAlgorithm::Sha256, digest_flags::MORE, true),
    ] {
        let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
        let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
        let state = t.base.pd.alloc_mr(DIGEST_STATE_LEN, Access::LOCAL_WRITE).unwrap();
        let out = t.base.pd.alloc_mr(DIGEST_LEN, Access::LOCAL_WRITE).unwrap();
        let mut wqe = Wqe::default();
        wqe.ctrl.opcode = Opcode::Digest as u8;
        wqe.ctrl.flags = flags::SIGNALED;
        let params = DigestParams { flags: part_flags, ..DigestParams::new(algorithm) };
        wqe.params.copy_from_slice(params.as_bytes());
        wqe.src = input.sge(0, 64);
        wqe.aux[0] = state.sge(0, DIGEST_STATE_LEN as u32);
        if with_dst {
            wqe.dst = out.sge(0, 32);
        }
        // SAFETY: the device refuses the request before reading or writing anything.
        t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
        let wc = poll_n(&mut t.cq, 1)[0];
        assert_eq!(
            (wc.status, wc.vendor_err),
            (CqeStatus::LocalQpOperationError, VendorError::ReservedNonzero),
            "{algorithm:?} flags {part_flags:#x} dst {with_dst}"
        );
        assert!(state.as_slice().unwrap().iter().chain(out.as_slice().unwrap()).all(|&b| b == 0), "nothing written");
    }
}
