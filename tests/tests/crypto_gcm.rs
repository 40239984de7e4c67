//! AES-GCM on the device: published vectors, round trips with OpenSSL (Python's `cryptography`)
//! both ways, authentication failures that leave no plaintext and keep the QP, and the request
//! rules (key algorithm, PD, overlap, a queued request keeping its key).

use std::process::Command;

use accelverbs::uapi::crypto::CryptoParams;
use accelverbs::uapi::wqe::{flags, Opcode, Wqe};
use accelverbs::{
    Access, CqeStatus, CryptoKey, Decrypt, Encrypt, ExecPolicy, KeyAlgorithm, MemoryRegion, Nop, QpState, RawWqe, VendorError,
    TAG_LEN,
};
use accelverbs_tests::openssl::gcm as openssl_gcm;
use accelverbs_tests::{pattern, poll_n, Traffic};
use zerocopy::IntoBytes;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Buffers for one request: input, output, tag, AAD.
struct Buffers {
    input: MemoryRegion,
    output: MemoryRegion,
    tag: MemoryRegion,
    aad: MemoryRegion,
}

impl Buffers {
    fn new(t: &Traffic, input: &[u8], tag: &[u8], aad: &[u8]) -> Self {
        let reg =
            |bytes: &[u8], access| t.base.pd.reg_mr(if bytes.is_empty() { vec![0] } else { bytes.to_vec() }, access).unwrap();
        let output = t.base.pd.alloc_mr(input.len().max(1), Access::LOCAL_WRITE).unwrap();
        Self { input: reg(input, Access::empty()), output, tag: reg(tag, Access::LOCAL_WRITE), aad: reg(aad, Access::empty()) }
    }
}

/// Runs ENCRYPT (or DECRYPT: `open`) of `input` and returns the completion's status, the output
/// and the tag region's bytes.
fn device_gcm(
    t: &mut Traffic,
    key: &CryptoKey,
    open: bool,
    iv: [u8; 12],
    aad: &[u8],
    input: &[u8],
    tag: &[u8],
) -> (CqeStatus, Vec<u8>, Vec<u8>) {
    let mut b = Buffers::new(t, input, tag, aad);
    let n = input.len() as u32;
    let with_aad = !aad.is_empty();
    if open {
        let mut wr = Decrypt::new(1, key, iv, b.input.slice(0, n), b.output.slice_mut(0, n), b.tag.slice(0, TAG_LEN as u32));
        if with_aad {
            wr = wr.aad(b.aad.slice(0, aad.len() as u32));
        }
        t.qp.post(wr).unwrap();
    } else {
        let mut wr = Encrypt::new(1, key, iv, b.input.slice(0, n), b.output.slice_mut(0, n), b.tag.slice_mut(0, TAG_LEN as u32));
        if with_aad {
            wr = wr.aad(b.aad.slice(0, aad.len() as u32));
        }
        t.qp.post(wr).unwrap();
    }
    let wc = poll_n(&mut t.cq, 1)[0];
    let output = b.output.as_slice().unwrap()[..input.len()].to_vec();
    (wc.status, output, b.tag.as_slice().unwrap().to_vec())
}

#[test]
fn the_published_vectors_come_out() {
    // McGrew and Viega's GCM test cases 2 and 14 (zero key, zero IV, one zero block); 1 and 13
    // (no data): ciphertext and tag.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    for (algorithm, key_len, data_len, ciphertext, tag) in [
        (KeyAlgorithm::Aes128Gcm, 16, 16, "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"),
        (KeyAlgorithm::Aes256Gcm, 32, 16, "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
        (KeyAlgorithm::Aes128Gcm, 16, 0, "", "58e2fccefa7e3061367f1d57a4e7455a"),
        (KeyAlgorithm::Aes256Gcm, 32, 0, "", "530f8afbc74536b9a963b4f1c4cb738b"),
    ] {
        let key = t.base.pd.create_crypto_key(algorithm, &vec![0; key_len]).unwrap();
        let (status, out, got_tag) = device_gcm(&mut t, &key, false, [0; 12], &[], &vec![0; data_len], &[0; 16]);
        assert_eq!(status, CqeStatus::Success);
        assert_eq!((out, got_tag), (hex(ciphertext), hex(tag)), "{algorithm:?}, {data_len} bytes");
    }
}

#[test]
fn round_trips_with_openssl_both_ways() {
    for policy in [ExecPolicy::Inline, ExecPolicy::Threads] {
        let mut t = Traffic::new(1, policy, 8);
        for (algorithm, key_len) in [(KeyAlgorithm::Aes128Gcm, 16), (KeyAlgorithm::Aes256Gcm, 32)] {
            let material = pattern(key_len as u64, key_len);
            let key = t.base.pd.create_crypto_key(algorithm, &material).unwrap();
            for (i, (len, aad_len)) in [(1usize, 0usize), (4096, 13), (65537, 0), (100, 4096)].into_iter().enumerate() {
                let data = pattern(i as u64 + 11, len);
                let aad = pattern(i as u64 + 23, aad_len);
                let iv: [u8; 12] = pattern(i as u64 + 31, 12).try_into().unwrap();
                // Device encrypts, OpenSSL decrypts.
                let (status, ct, tag) = device_gcm(&mut t, &key, false, iv, &aad, &data, &[0; 16]);
                assert_eq!(status, CqeStatus::Success);
                let sealed = [ct.clone(), tag.clone()].concat();
                assert_eq!(openssl_gcm(true, &material, &iv, &aad, &sealed).as_deref(), Some(&data[..]), "{algorithm:?} {len}");
                // OpenSSL encrypts, the device decrypts.
                let theirs = openssl_gcm(false, &material, &iv, &aad, &data).unwrap();
                assert_eq!(theirs, sealed, "same key, IV and AAD: the same ciphertext and tag");
                let (status, pt, _) = device_gcm(&mut t, &key, true, iv, &aad, &ct, &tag);
                assert_eq!((status, pt), (CqeStatus::Success, data));
            }
        }
    }
}

#[test]
fn a_tag_that_does_not_check_leaves_zeros_and_the_qp_running() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let material = pattern(5, 32);
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, &material).unwrap();
    let data = pattern(6, 4096);
    let (_, ct, tag) = device_gcm(&mut t, &key, false, [7; 12], b"header", &data, &[0; 16]);
    let mut bad_tag = tag.clone();
    bad_tag[0] ^= 1;
    let mut bad_ct = ct.clone();
    bad_ct[100] ^= 0x80;
    for (what, iv, aad, input, tag) in [
        ("a flipped tag bit", [7; 12], &b"header"[..], &ct, &bad_tag),
        ("a flipped ciphertext bit", [7; 12], &b"header"[..], &bad_ct, &tag),
        ("another AAD", [7; 12], &b"Header"[..], &ct, &tag),
        ("another IV", [8; 12], &b"header"[..], &ct, &tag),
    ] {
        let (status, out, _) = device_gcm(&mut t, &key, true, iv, aad, input, tag);
        assert_eq!(status, CqeStatus::AuthenticationFailed, "{what}");
        assert!(out.iter().all(|&b| b == 0), "{what}: unauthenticated plaintext was left in the output");
        assert_eq!(t.qp.query_state().unwrap(), QpState::Rts, "{what}");
    }
    t.qp.post(Nop::new(9)).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::Success);
}

#[test]
fn in_place_encryption_and_decryption_in_one_region() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &pattern(1, 16)).unwrap();
    let data = pattern(2, 8192);
    let mut region = t.base.pd.reg_mr(data.clone(), Access::LOCAL_WRITE).unwrap();
    let mut tag = t.base.pd.alloc_mr(16, Access::LOCAL_WRITE).unwrap();
    t.qp.post(Encrypt::in_place(1, &key, [3; 12], region.slice_mut(0, 8192), tag.slice_mut(0, 16))).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::Success);
    let sealed = [region.as_slice().unwrap().to_vec(), tag.as_slice().unwrap().to_vec()].concat();
    assert_eq!(openssl_gcm(true, &pattern(1, 16), &[3; 12], &[], &sealed), Some(data.clone()));
    t.qp.post(Decrypt::in_place(2, &key, [3; 12], region.slice_mut(0, 8192), tag.slice(0, 16))).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::Success);
    assert_eq!(region.as_slice().unwrap(), &data[..]);
}

#[test]
fn requests_a_key_or_its_ranges_do_not_allow_stop_the_qp() {
    let data = pattern(4, 64);
    // An XTS key for AES-GCM.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let xts = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Xts, &pattern(9, 32)).unwrap();
    let (status, ..) = device_gcm(&mut t, &xts, false, [0; 12], &[], &data, &[0; 16]);
    assert_eq!(status, CqeStatus::LocalQpOperationError);
    assert_eq!(t.qp.query_state().unwrap(), QpState::Err);

    // A key of another PD of the same context.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let other_pd = t.base.ctx.alloc_pd().unwrap();
    let foreign = other_pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &pattern(9, 16)).unwrap();
    let b = Buffers::new(&t, &data, &[0; 16], &[]);
    let (mut out, mut tag) = (b.output, b.tag);
    t.qp.post(Encrypt::new(1, &foreign, [0; 12], b.input.slice(0, 64), out.slice_mut(0, 64), tag.slice_mut(0, 16))).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalProtectionError, VendorError::PdMismatch));

    // A tag inside the output (only a raw WQE can say so).
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &pattern(9, 16)).unwrap();
    let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
    let out = t.base.pd.alloc_mr(128, Access::LOCAL_WRITE).unwrap();
    let mut wqe = Wqe::default();
    wqe.ctrl.opcode = Opcode::Encrypt as u8;
    wqe.ctrl.flags = flags::SIGNALED;
    wqe.params.copy_from_slice(CryptoParams { key: key.number(), ..CryptoParams::default() }.as_bytes());
    wqe.src = input.sge(0, 64);
    wqe.dst = out.sge(0, 64);
    wqe.aux[1] = out.sge(48, 16);
    // SAFETY: the device refuses the request before touching memory, and no Rust reference to
    // the regions is used before its completion is polled.
    t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalQpOperationError, VendorError::Overlap));
    assert!(out.as_slice().unwrap().iter().all(|&b| b == 0), "nothing written");
    assert_eq!(t.qp.query_state().unwrap(), QpState::Err);
}

/// A destroyed key's number is refused with a protection status, like a stale lkey, also once
/// a new key has taken its slot: the number is never the new key's, and nothing is written.
#[test]
fn a_destroyed_keys_number_is_refused_even_once_its_slot_is_taken_again() {
    let data = pattern(12, 64);
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let input = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
    let out = t.base.pd.alloc_mr(80, Access::LOCAL_WRITE).unwrap();
    let encrypt_with = |t: &mut Traffic, key: u32| {
        let mut wqe = Wqe::default();
        wqe.ctrl.opcode = Opcode::Encrypt as u8;
        wqe.ctrl.flags = flags::SIGNALED;
        wqe.params.copy_from_slice(CryptoParams { key, ..CryptoParams::default() }.as_bytes());
        wqe.src = input.sge(0, 64);
        wqe.dst = out.sge(0, 64);
        wqe.aux[1] = out.sge(64, 16);
        // SAFETY: `out` is read only after the completion is polled; `input` is only read.
        t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
        poll_n(&mut t.cq, 1)[0]
    };
    let old = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &pattern(13, 16)).unwrap();
    let old_number = old.number();
    old.try_destroy().unwrap();
    let wc = encrypt_with(&mut t, old_number);
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalProtectionError, VendorError::CryptoKeyUnknown));
    assert_eq!(t.qp.query_state().unwrap(), QpState::Err);
    assert!(out.as_slice().unwrap().iter().all(|&b| b == 0), "nothing written");

    // A QP in ERR flushes: a new one for each request after a refusal.
    t.qp = t.base.pd.create_qp(&t.cq, accelverbs::QpInit::new(8)).unwrap();
    let new = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &pattern(14, 16)).unwrap();
    // A number is the slot's index above a byte that changes each time the slot is taken.
    assert_eq!(new.number() >> 8, old_number >> 8, "the new key took the old one's slot");
    assert_ne!(new.number(), old_number, "a number is never given twice");
    let wc = encrypt_with(&mut t, old_number);
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalProtectionError, VendorError::CryptoKeyUnknown));
    assert!(out.as_slice().unwrap().iter().all(|&b| b == 0), "nothing written under the new key");
    t.qp = t.base.pd.create_qp(&t.cq, accelverbs::QpInit::new(8)).unwrap();
    let wc = encrypt_with(&mut t, new.number());
    assert_eq!(wc.status, CqeStatus::Success, "the new key's own number works");
    let sealed = out.as_slice().unwrap().to_vec();
    assert_eq!(openssl_gcm(true, &pattern(14, 16), &[0; 12], &[], &sealed), Some(data), "sealed under the new key");
}

#[test]
fn a_queued_request_keeps_its_key_busy() {
    // No engine and a CQ with room for one completion: the encryption waits in the ring.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let cq = t.base.ctx.create_cq(1, None).unwrap();
    t.qp = t.base.pd.create_qp(&cq, accelverbs::QpInit::new(8)).unwrap();
    t.cq = cq;
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &pattern(3, 16)).unwrap();
    let idle = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &pattern(4, 16)).unwrap();
    let data = pattern(4, 64);
    let b = Buffers::new(&t, &data, &[0; 16], &[]);
    let (mut out, mut tag) = (b.output, b.tag);
    for i in 0..t.cq.capacity() {
        t.qp.post(Nop::new(u64::from(i))).unwrap();
    }
    t.qp.post(Encrypt::new(9, &key, [0; 12], b.input.slice(0, 64), out.slice_mut(0, 64), tag.slice_mut(0, 16))).unwrap();
    assert_eq!(idle.try_destroy().map_err(|e| e.errno()), Ok(()), "a key no request names goes at once");
    assert_eq!(key.try_destroy().unwrap_err().errno(), Some(libc::EBUSY), "the queued request names it");
    let room = t.cq.capacity() as usize;
    let wcs = poll_n(&mut t.cq, room + 1);
    assert_eq!(wcs.last().map(|w| (w.wr_id, w.status)), Some((9, CqeStatus::Success)));
    assert_eq!(key.try_destroy().map_err(|e| e.errno()), Ok(()), "free once the request ran");
}

/// `key` wrapped under `kek` with padding (RFC 5649) by Python's `cryptography`.
fn openssl_wrap(kek: &[u8], key: &[u8]) -> Vec<u8> {
    let hexs = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let script = "import sys\nfrom cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding as w\n\
                  print(w(bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])).hex())";
    let out = Command::new("/usr/bin/python3").args(["-c", script, &hexs(kek), &hexs(key)]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    hex(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn a_key_imported_wrapped_encrypts_as_its_plaintext_would() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    for (kek_algorithm, kek_len, algorithm, key_len) in [
        (KeyAlgorithm::AesKeyWrap256, 32, KeyAlgorithm::Aes256Gcm, 32),
        (KeyAlgorithm::AesKeyWrap128, 16, KeyAlgorithm::Aes128Gcm, 16),
    ] {
        let kek_material = pattern(70 + kek_len as u64, kek_len);
        let kek = t.base.pd.create_crypto_key(kek_algorithm, &kek_material).unwrap();
        let material = pattern(90 + key_len as u64, key_len);
        let wrapped = openssl_wrap(&kek_material, &material);
        let key = t.base.pd.create_wrapped_crypto_key(algorithm, &kek, &wrapped).unwrap();
        let data = pattern(5, 1000);
        let (status, ct, tag) = device_gcm(&mut t, &key, false, [1; 12], b"aad", &data, &[0; 16]);
        assert_eq!(status, CqeStatus::Success);
        let theirs = openssl_gcm(false, &material, &[1; 12], b"aad", &data).unwrap();
        assert_eq!([ct, tag].concat(), theirs, "{algorithm:?} unwrapped under {kek_algorithm:?}");

        let mut tampered = wrapped.clone();
        tampered[3] ^= 1;
        let err = t.base.pd.create_wrapped_crypto_key(algorithm, &kek, &tampered).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EBADMSG), "a wrapping that does not authenticate");
        let wrong_length = openssl_wrap(&kek_material, &pattern(1, 24));
        let err = t.base.pd.create_wrapped_crypto_key(algorithm, &kek, &wrong_length).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL), "a key of the wrong length for {algorithm:?}");
        let err = t.base.pd.create_wrapped_crypto_key(algorithm, &key, &wrapped).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL), "a data key is no key-encryption key");
        // The key-encryption key itself encrypts nothing.
        let (status, ..) = device_gcm(&mut t, &kek, false, [0; 12], &[], &data, &[0; 16]);
        assert_eq!(status, CqeStatus::LocalQpOperationError);
        t = Traffic::new(0, ExecPolicy::Inline, 8);
    }
}
