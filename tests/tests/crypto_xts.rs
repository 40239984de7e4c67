//! AES-XTS on the device (AES-128 through OpenSSL, AES-256 through aws-lc): every byte
//! checked against Python's `cryptography` for data units of storage sizes and of sizes that
//! are not whole blocks (ciphertext stealing), over several units whose tweaks count up from a
//! 128-bit start; round trips, in place; and the request rules.

use accelverbs::{Access, CqeStatus, CryptoKey, Decrypt, Encrypt, ExecPolicy, KeyAlgorithm, QpState, VendorError};
use accelverbs_tests::{pattern, poll_n, Traffic};

/// `data` encrypted by OpenSSL, tweaks counting up from `tweak`.
fn reference(key: &[u8], tweak: u128, unit: usize, data: &[u8]) -> Vec<u8> {
    accelverbs_tests::openssl::xts(true, key, tweak, unit, data)
}

/// Runs ENCRYPT (or DECRYPT) of `input` out of place: the status and the output.
fn device(
    t: &mut Traffic,
    key: &CryptoKey,
    encrypt: bool,
    tweak: u128,
    unit: u32,
    input: &[u8],
) -> (CqeStatus, VendorError, Vec<u8>) {
    let len = input.len() as u32;
    let src = t.base.pd.reg_mr(input.to_vec(), Access::empty()).unwrap();
    let mut dst = t.base.pd.alloc_mr(input.len(), Access::LOCAL_WRITE).unwrap();
    match encrypt {
        true => t.qp.post(Encrypt::xts(1, key, tweak, unit, src.slice(0, len), dst.slice_mut(0, len))).unwrap(),
        false => t.qp.post(Decrypt::xts(1, key, tweak, unit, src.slice(0, len), dst.slice_mut(0, len))).unwrap(),
    }
    let wc = poll_n(&mut t.cq, 1)[0];
    let expected_len = if wc.status == CqeStatus::Success { len } else { 0 };
    assert_eq!(wc.byte_len, expected_len, "{wc:?}");
    (wc.status, wc.vendor_err, dst.as_slice().unwrap().to_vec())
}

/// XTS material: two different keys, data key first.
fn material(len: usize) -> Vec<u8> {
    pattern(len as u64, len)
}

#[test]
fn every_byte_matches_openssl_for_both_key_sizes_and_any_data_unit() {
    let start = 0x0123_4567_89ab_cdef_0000_0000_ffff_fffe_u128;
    for (algorithm, key_len) in [(KeyAlgorithm::Aes128Xts, 32), (KeyAlgorithm::Aes256Xts, 64)] {
        for policy in [ExecPolicy::Inline, ExecPolicy::Threads] {
            let mut t = Traffic::new(1, policy, 8);
            let material = material(key_len);
            let key = t.base.pd.create_crypto_key(algorithm, &material).unwrap();
            // Storage units, one block, and units that end in a partial block.
            for (unit, units) in [(512usize, 8usize), (4096, 2), (16, 5), (20, 3), (4100, 2)] {
                let plain = pattern(unit as u64, unit * units);
                let (status, _, cipher) = device(&mut t, &key, true, start, unit as u32, &plain);
                assert_eq!(status, CqeStatus::Success, "{algorithm:?} unit {unit}");
                assert!(cipher == reference(&material, start, unit, &plain), "{algorithm:?} unit {unit}: differs from OpenSSL");
                let (status, _, back) = device(&mut t, &key, false, start, unit as u32, &cipher);
                assert_eq!((status, back == plain), (CqeStatus::Success, true), "{algorithm:?} unit {unit} back");
            }
        }
    }
}

#[test]
fn in_place_as_storage_does_it() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let material = material(64);
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Xts, &material).unwrap();
    let plain = pattern(3, 4096);
    let mut block = t.base.pd.reg_mr(plain.clone(), Access::LOCAL_WRITE).unwrap();
    t.qp.post(Encrypt::xts_in_place(1, &key, 7, 512, block.slice_mut(0, 4096))).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::Success);
    assert!(block.as_slice().unwrap() == &reference(&material, 7, 512, &plain)[..]);
    t.qp.post(Decrypt::xts_in_place(2, &key, 7, 512, block.slice_mut(0, 4096))).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::Success);
    assert!(block.as_slice().unwrap() == &plain[..]);
}

#[test]
fn data_units_the_mode_cannot_take_are_refused_and_stop_the_qp() {
    let cases = [
        (15u32, 30usize, CqeStatus::LocalQpOperationError),
        (0, 32, CqeStatus::LocalQpOperationError),
        (512, 1000, CqeStatus::LocalLengthError),
        (512, 0, CqeStatus::LocalLengthError),
    ];
    for (unit, len, status) in cases {
        let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
        let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Xts, &material(32)).unwrap();
        let input = vec![1u8; len.max(1)];
        let src = t.base.pd.reg_mr(input, Access::empty()).unwrap();
        let mut dst = t.base.pd.alloc_mr(len.max(1), Access::LOCAL_WRITE).unwrap();
        t.qp.post(Encrypt::xts(1, &key, 0, unit, src.slice(0, len as u32), dst.slice_mut(0, len as u32))).unwrap();
        let wc = poll_n(&mut t.cq, 1)[0];
        assert_eq!((wc.status, wc.vendor_err), (status, VendorError::BadDataUnit), "unit {unit}, {len} bytes");
        assert_eq!(t.qp.query_state().unwrap(), QpState::Err);
        assert!(dst.as_slice().unwrap().iter().all(|&b| b == 0), "nothing written");
    }
}

#[test]
fn an_xts_request_with_a_gcm_key_names_the_wrong_algorithm() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let gcm = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, &material(32)).unwrap();
    let (status, vendor, _) = device(&mut t, &gcm, true, 0, 512, &[0; 512]);
    // A GCM key reads the request as GCM: no tag, a data unit: malformed.
    assert_eq!((status, vendor), (CqeStatus::LocalQpOperationError, VendorError::ReservedNonzero));
}
