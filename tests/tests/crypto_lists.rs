//! ENCRYPT and DECRYPT gathered and scattered (multi-SGE): AES-GCM and AES-XTS through lists
//! cut differently on each side, every byte checked against OpenSSL (Python's `cryptography`)
//! both ways; XTS data units that straddle entries; a failed tag zeroing every output entry;
//! in place and shifted over the input through raw lists; and the list rules.

use accelverbs::uapi::crypto::{flags as crypto_flags, CryptoParams};
use accelverbs::uapi::wqe::{flags, Opcode, Sge, Wqe};
use accelverbs::{
    Access, CqeStatus, CryptoKey, Decrypt, Encrypt, ExecPolicy, KeyAlgorithm, MemoryRegion, MrSlice, MrSliceMut, Nop, PostError,
    QpState, RawWqe, VendorError, TAG_LEN,
};
use accelverbs_tests::{openssl, pattern, poll_n, Traffic};
use zerocopy::IntoBytes;

/// Where a `len`-byte side is cut: the given offsets, kept inside it, in order, deduplicated.
fn cuts(len: u32, at: &[u32]) -> Vec<u32> {
    let mut cuts: Vec<u32> = at.iter().map(|&c| c.min(len)).filter(|&c| c > 0 && c < len).collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// The first `len` bytes of `region`, cut at `at`.
fn pieces<'r>(region: &'r MemoryRegion, len: u32, at: &[u32]) -> Vec<MrSlice<'r>> {
    let mut rest = region.slice(0, len);
    let mut out = Vec::new();
    let mut done = 0;
    for cut in cuts(len, at) {
        let (head, tail) = rest.split_at(cut - done);
        out.push(head);
        rest = tail;
        done = cut;
    }
    out.push(rest);
    out
}

/// As [`pieces`], writable.
fn pieces_mut<'r>(region: &'r mut MemoryRegion, len: u32, at: &[u32]) -> Vec<MrSliceMut<'r>> {
    let mut rest = region.slice_mut(0, len);
    let mut out = Vec::new();
    let mut done = 0;
    for cut in cuts(len, at) {
        let (head, tail) = rest.split_at(cut - done);
        out.push(head);
        rest = tail;
        done = cut;
    }
    out.push(rest);
    out
}

/// What one request ran over.
struct Cut<'c> {
    input: &'c [u32],
    output: &'c [u32],
}

/// An AES-GCM request's IV and AAD.
#[derive(Clone, Copy)]
struct Nonce<'a> {
    iv: [u8; 12],
    aad: &'a [u8],
}

/// AES-GCM through lists: the status, the output and the tag.
fn gcm(
    t: &mut Traffic,
    key: &CryptoKey,
    open: bool,
    nonce: Nonce<'_>,
    input: &[u8],
    tag: &[u8],
    cut: &Cut<'_>,
) -> (CqeStatus, Vec<u8>, Vec<u8>) {
    let Nonce { iv, aad } = nonce;
    let len = input.len() as u32;
    let src = t.base.pd.reg_mr(if input.is_empty() { vec![0] } else { input.to_vec() }, Access::empty()).unwrap();
    let mut dst = t.base.pd.alloc_mr(input.len().max(1), Access::LOCAL_WRITE).unwrap();
    let mut tag_mr = t.base.pd.reg_mr(tag.to_vec(), Access::LOCAL_WRITE).unwrap();
    let aad_mr = t.base.pd.reg_mr(if aad.is_empty() { vec![0] } else { aad.to_vec() }, Access::empty()).unwrap();
    let (src_list, dst_list) = (pieces(&src, len, cut.input), pieces_mut(&mut dst, len, cut.output));
    let aad_slice = aad_mr.slice(0, aad.len() as u32);
    if open {
        let mut wr = Decrypt::gather(1, key, iv, &src_list, dst_list, tag_mr.slice(0, TAG_LEN as u32));
        if !aad.is_empty() {
            wr = wr.aad(aad_slice);
        }
        t.qp.post(wr).unwrap();
    } else {
        let mut wr = Encrypt::gather(1, key, iv, &src_list, dst_list, tag_mr.slice_mut(0, TAG_LEN as u32));
        if !aad.is_empty() {
            wr = wr.aad(aad_slice);
        }
        t.qp.post(wr).unwrap();
    }
    let wc = poll_n(&mut t.cq, 1)[0];
    let out = dst.as_slice().unwrap()[..input.len()].to_vec();
    (wc.status, out, tag_mr.as_slice().unwrap().to_vec())
}

/// AES-XTS through lists: the status and the output.
fn xts(
    t: &mut Traffic,
    key: &CryptoKey,
    encrypt: bool,
    tweak: u128,
    unit: u32,
    input: &[u8],
    cut: &Cut<'_>,
) -> (CqeStatus, Vec<u8>) {
    let len = input.len() as u32;
    let src = t.base.pd.reg_mr(input.to_vec(), Access::empty()).unwrap();
    let mut dst = t.base.pd.alloc_mr(input.len(), Access::LOCAL_WRITE).unwrap();
    let (src_list, dst_list) = (pieces(&src, len, cut.input), pieces_mut(&mut dst, len, cut.output));
    match encrypt {
        true => t.qp.post(Encrypt::xts_gather(1, key, tweak, unit, &src_list, dst_list)).unwrap(),
        false => t.qp.post(Decrypt::xts_gather(1, key, tweak, unit, &src_list, dst_list)).unwrap(),
    }
    let wc = poll_n(&mut t.cq, 1)[0];
    (wc.status, dst.as_slice().unwrap().to_vec())
}

#[test]
fn gcm_through_lists_matches_openssl_both_ways() {
    for policy in [ExecPolicy::Inline, ExecPolicy::Threads] {
        let mut t = Traffic::new(1, policy, 8);
        for (algorithm, key_len) in [(KeyAlgorithm::Aes128Gcm, 16), (KeyAlgorithm::Aes256Gcm, 32)] {
            let material = pattern(key_len as u64 + 100, key_len);
            let key = t.base.pd.create_crypto_key(algorithm, &material).unwrap();
            for (i, len) in [0usize, 1, 16, 4096, 1 << 20].into_iter().enumerate() {
                let n = len as u32;
                // Input in three uneven pieces, output in pieces cut elsewhere (one byte, mid-block,
                // and sixteen entries for the largest).
                let sixteen: Vec<u32> = (1..16).map(|k| k * n / 16 + k).collect();
                let cut = Cut { input: &[n / 3, n / 3 + 1], output: if len == 1 << 20 { &sixteen } else { &[1, n / 2 + 7] } };
                let data = pattern(i as u64 + 40, len);
                let aad = pattern(i as u64 + 50, 20);
                let iv: [u8; 12] = pattern(i as u64 + 60, 12).try_into().unwrap();
                let (status, ct, tag) = gcm(&mut t, &key, false, Nonce { iv, aad: &aad }, &data, &[0; 16], &cut);
                assert_eq!(status, CqeStatus::Success, "{algorithm:?} {len}");
                let sealed = [ct.clone(), tag.clone()].concat();
                assert_eq!(openssl::gcm(false, &material, &iv, &aad, &data), Some(sealed.clone()), "{algorithm:?} {len}");
                // Cut the other way round to decrypt.
                let back_cut = Cut { input: cut.output, output: cut.input };
                let (status, pt, _) = gcm(&mut t, &key, true, Nonce { iv, aad: &aad }, &ct, &tag, &back_cut);
                assert_eq!(status, CqeStatus::Success, "{algorithm:?} {len} back");
                assert!(pt == data, "{algorithm:?} {len}: decrypted through lists, not the input");
            }
        }
    }
}

#[test]
fn xts_units_that_straddle_entries_match_openssl_both_ways() {
    let start = 0xffff_ffff_ffff_ffff_u128;
    for (algorithm, key_len) in [(KeyAlgorithm::Aes128Xts, 32), (KeyAlgorithm::Aes256Xts, 64)] {
        for policy in [ExecPolicy::Inline, ExecPolicy::Threads] {
            let mut t = Traffic::new(1, policy, 8);
            let material = pattern(key_len as u64, key_len);
            let key = t.base.pd.create_crypto_key(algorithm, &material).unwrap();
            for (unit, units) in [(512u32, 8u32), (4096, 3), (20, 7), (16, 1)] {
                let len = unit * units;
                // Cuts inside units (and one on a unit boundary), different on each side.
                let cut = Cut { input: &[unit / 2, unit, unit * 2 + 3], output: &[1, unit + 5, len - 1] };
                let plain = pattern(u64::from(unit), len as usize);
                let (status, cipher) = xts(&mut t, &key, true, start, unit, &plain, &cut);
                assert_eq!(status, CqeStatus::Success, "{algorithm:?} unit {unit}");
                assert!(cipher == openssl::xts(true, &material, start, unit as usize, &plain), "{algorithm:?} unit {unit}");
                let (status, back) =
                    xts(&mut t, &key, false, start, unit, &cipher, &Cut { input: cut.output, output: cut.input });
                assert_eq!((status, back == plain), (CqeStatus::Success, true), "{algorithm:?} unit {unit} back");
            }
        }
    }
}

#[test]
fn a_tag_that_does_not_check_zeroes_every_output_entry() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let material = pattern(8, 32);
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, &material).unwrap();
    let data = pattern(9, 5000);
    let cut = Cut { input: &[100, 2000], output: &[1, 17, 4000] };
    let (_, ct, mut tag) = gcm(&mut t, &key, false, Nonce { iv: [1; 12], aad: b"aad" }, &data, &[0; 16], &cut);
    tag[15] ^= 1;
    let (status, out, _) = gcm(&mut t, &key, true, Nonce { iv: [1; 12], aad: b"aad" }, &ct, &tag, &cut);
    assert_eq!(status, CqeStatus::AuthenticationFailed);
    assert!(out.iter().all(|&b| b == 0), "unauthenticated plaintext left in an output entry");
    assert_eq!(t.qp.query_state().unwrap(), QpState::Rts);
    t.qp.post(Nop::new(2)).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::Success);
}

/// A WQE for ENCRYPT under `key`, with raw SGEs and `flags`.
fn raw_encrypt(key: &CryptoKey, list_flags: u16, iv: [u8; 16], data_unit: u32, src: Sge, dst: Sge) -> Wqe {
    let mut wqe = Wqe::default();
    wqe.ctrl.opcode = Opcode::Encrypt as u8;
    wqe.ctrl.flags = flags::SIGNALED;
    let params = CryptoParams { key: key.number(), flags: list_flags, iv, data_unit, ..CryptoParams::default() };
    wqe.params.copy_from_slice(params.as_bytes());
    wqe.src = src;
    wqe.dst = dst;
    wqe
}

/// A registered region holding `entries` as an SGE list.
fn list(t: &Traffic, entries: &[Sge]) -> MemoryRegion {
    t.base.pd.reg_mr(entries.as_bytes().to_vec(), Access::empty()).unwrap()
}

#[test]
fn lists_in_place_and_shifted_over_their_input_give_openssl_bytes() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let material = pattern(64, 64);
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Xts, &material).unwrap();
    let plain = pattern(5, 2048);
    let expected = openssl::xts(true, &material, 9, 512, &plain);
    let mut tweak = [0u8; 16];
    tweak[0] = 9;

    // In place, cut alike (a storage block of scattered pages): the same list both sides.
    let data = t.base.pd.reg_mr([plain.clone(), vec![0; 512]].concat(), Access::LOCAL_WRITE).unwrap();
    let in_place = list(&t, &[data.sge(0, 700), data.sge(700, 1348)]);
    let wqe =
        raw_encrypt(&key, crypto_flags::SRC_LIST | crypto_flags::DST_LIST, tweak, 512, in_place.sge(0, 32), in_place.sge(0, 32));
    // SAFETY: the regions named stay registered until the completion is polled, and no Rust
    // reference to their bytes is used before then.
    t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::Success);
    assert!(data.as_slice().unwrap()[..2048] == expected[..], "in place through a list");

    // The output list shifted 300 bytes over its input: the device reads a copy of the input.
    let data = t.base.pd.reg_mr([plain.clone(), vec![0; 512]].concat(), Access::LOCAL_WRITE).unwrap();
    let input = list(&t, &[data.sge(0, 1000), data.sge(1000, 1048)]);
    let output = list(&t, &[data.sge(300, 1), data.sge(301, 2047)]);
    let wqe = raw_encrypt(&key, crypto_flags::SRC_LIST | crypto_flags::DST_LIST, tweak, 512, input.sge(0, 32), output.sge(0, 32));
    // SAFETY: as above.
    t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::Success);
    assert!(data.as_slice().unwrap()[300..2348] == expected[..], "shifted over its input");
}

#[test]
fn list_rules_give_the_exact_status() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Xts, &pattern(1, 32)).unwrap();
    let src = t.base.pd.reg_mr(pattern(2, 17 * 16), Access::empty()).unwrap();
    let mut dst = t.base.pd.alloc_mr(17 * 16, Access::LOCAL_WRITE).unwrap();

    // Seventeen entries: refused at posting, naming the limit.
    let seventeen = pieces(&src, 17 * 16, &(1..17).map(|k| k * 16).collect::<Vec<_>>());
    let err = t.qp.post(Encrypt::xts_gather(1, &key, 0, 16, &seventeen, vec![dst.slice_mut(0, 17 * 16)])).unwrap_err();
    assert_eq!(err, PostError::SgeCount { max: 16 });

    // Device-side rules, through raw WQEs; each stops the QP, so each gets a fresh one.
    let base = pattern(3, 512);
    // The output list's entries, in the output region.
    type Entries = fn(&MemoryRegion) -> [Sge; 2];
    let cases: [(&str, u16, Entries, CqeStatus, VendorError); 3] = [
        (
            "output entries overlapping each other",
            crypto_flags::DST_LIST,
            |out| [out.sge(0, 256), out.sge(128, 256)],
            CqeStatus::LocalQpOperationError,
            VendorError::Overlap,
        ),
        (
            "an unknown flag bit",
            1 << 7,
            |out| [out.sge(0, 256), out.sge(256, 256)],
            CqeStatus::LocalQpOperationError,
            VendorError::ReservedNonzero,
        ),
        (
            "an entry outside its region",
            crypto_flags::DST_LIST,
            |out| [out.sge(0, 256), Sge { addr: out.addr() + 4096, length: 256, lkey: out.lkey() }],
            CqeStatus::LocalProtectionError,
            VendorError::OutOfBounds,
        ),
    ];
    for (what, list_flags, entries, status, vendor) in cases {
        let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
        let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Xts, &pattern(1, 32)).unwrap();
        let input = t.base.pd.reg_mr(base.clone(), Access::empty()).unwrap();
        let out = t.base.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
        let dst_list = list(&t, &entries(&out));
        let wqe = raw_encrypt(&key, list_flags, [0; 16], 16, input.sge(0, 512), dst_list.sge(0, 32));
        // SAFETY: the regions named stay registered until the completion is polled, and no
        // Rust reference to their bytes is used before then.
        t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
        let wc = poll_n(&mut t.cq, 1)[0];
        assert_eq!((wc.status, wc.vendor_err), (status, vendor), "{what}");
        assert!(out.as_slice().unwrap().iter().all(|&b| b == 0), "{what}: nothing written");
        assert_eq!(t.qp.query_state().unwrap(), QpState::Err, "{what}");
    }
    drop(dst);
}
