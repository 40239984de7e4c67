//! DIGEST: SHA-256 and HMAC-SHA-256 against Python's `hashlib`/`hmac`, CRC32C against the
//! published check values and as a chain across requests, and the request rules.

use std::io::Write;
use std::process::{Command, Stdio};

use accelverbs::uapi::crypto::DigestParams;
use accelverbs::uapi::wqe::{flags, Opcode, Wqe};
use accelverbs::{Access, CqeStatus, Digest, ExecPolicy, KeyAlgorithm, QpState, RawWqe, VendorError, DIGEST_LEN};
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
    let mut params = DigestParams::new(accelverbs::uapi::crypto::DigestAlgorithm::Sha256);
    params.algorithm = 9;
    wqe.params.copy_from_slice(params.as_bytes());
    wqe.src = input.sge(0, 64);
    // SAFETY: the device refuses the request before reading anything.
    t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalQpOperationError, VendorError::BadAlgorithm));
}
