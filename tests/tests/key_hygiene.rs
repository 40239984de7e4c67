//! After a key is destroyed and its context closed, no copy of its material is left in this
//! process's heap and anonymous memory (where the embedded device, its rings and CQs, and the
//! provider live), nor of the first round keys of its expanded schedule (which are the key's
//! own bytes). The material exists only in one page of the test's, excluded from the scan and
//! unmapped before it; it never passes through a `Vec` of the test.
//!
//! Its own test binary: no other test's allocations share the process.

use accelverbs::{Access, Decrypt, Digest, Encrypt, ExecPolicy, KeyAlgorithm, TAG_LEN};
use accelverbs_tests::memory_scan::{find_in_memory, SecretPage};
use accelverbs_tests::{pattern, poll_n, Traffic};

#[test]
fn no_key_bytes_survive_destroy_and_close() {
    // AES-256-GCM, AES-256-XTS, HMAC-SHA-256: material from the secret page.
    let secrets =
        [(KeyAlgorithm::Aes256Gcm, 32usize, 11u64), (KeyAlgorithm::Aes256Xts, 64, 21), (KeyAlgorithm::HmacSha256, 48, 31)];
    let pages: Vec<SecretPage> = secrets.iter().map(|&(_, len, seed)| SecretPage::new(len, seed)).collect();
    {
        let mut t = Traffic::new(1, ExecPolicy::Threads, 8);
        let keys: Vec<_> = secrets
            .iter()
            .zip(&pages)
            .map(|(&(algorithm, len, _), page)| t.base.pd.create_crypto_key(algorithm, page.bytes(len)).unwrap())
            .collect();
        // Use each key, so its schedule was built and run.
        let data = t.base.pd.reg_mr(pattern(1, 4096), Access::empty()).unwrap();
        let mut out = t.base.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
        let mut tag = t.base.pd.alloc_mr(TAG_LEN, Access::LOCAL_WRITE).unwrap();
        t.qp.post(Encrypt::new(1, &keys[0], [7; 12], data.slice(0, 4096), out.slice_mut(0, 4096), tag.slice_mut(0, 16))).unwrap();
        poll_n(&mut t.cq, 1);
        // Gathered too: GCM then streams through a copy of the key's cipher context, and an
        // XTS unit that straddles two slices runs on its own.
        let halves = [data.slice(0, 1000), data.slice(1000, 3096)];
        let (head, rest) = out.slice_mut(0, 4096).split_at(2000);
        t.qp.post(Encrypt::gather(5, &keys[0], [7; 12], &halves, vec![head, rest], tag.slice_mut(0, 16))).unwrap();
        poll_n(&mut t.cq, 1);
        let (head, rest) = out.slice_mut(0, 4096).split_at(2000);
        t.qp.post(Encrypt::xts_gather(6, &keys[1], 9, 512, &halves, vec![head, rest])).unwrap();
        poll_n(&mut t.cq, 1);
        t.qp.post(Encrypt::xts(2, &keys[1], 9, 512, data.slice(0, 4096), out.slice_mut(0, 4096))).unwrap();
        poll_n(&mut t.cq, 1);
        t.qp.post(Decrypt::xts(3, &keys[1], 9, 512, data.slice(0, 4096), out.slice_mut(0, 4096))).unwrap();
        poll_n(&mut t.cq, 1);
        t.qp.post(Digest::hmac_sha256(4, &keys[2], data.slice(0, 4096), out.slice_mut(0, 32))).unwrap();
        let wcs = poll_n(&mut t.cq, 1);
        assert!(wcs[0].is_success());
        // The first key is destroyed explicitly, the others by the context's close.
        keys[0].try_destroy().unwrap();
    }
    for (&(algorithm, len, _), page) in secrets.iter().zip(&pages) {
        // The whole material, and each 16-byte piece of it (an AES key is also its schedule's
        // first round key; XTS has two keys).
        for piece in std::iter::once(page.bytes(len)).chain(page.bytes(len).chunks(16)) {
            let hits = find_in_memory(piece, &[page.range()]);
            assert!(hits.is_empty(), "{algorithm:?}: key bytes left at {hits:#?}");
        }
    }
}
