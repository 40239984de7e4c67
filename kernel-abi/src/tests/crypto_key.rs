//! Crypto keys: what CREATE accepts (every algorithm at its lengths; nothing else), EBUSY while
//! work names the key, the PD kept busy, the device's limit, removal when the object goes, and
//! no material in a debug print.

use std::format;
use std::vec;
use std::vec::Vec;

use accelverbs_uapi::crypto::KeyAlgorithm;

use super::fixture::{Base, LIMITS};
use super::limits::fill_refuse_release;
use crate::Errno;

/// `len` bytes of material whose halves differ.
fn material(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 1) as u8).collect()
}

#[test]
fn create_takes_every_algorithm_at_its_lengths_and_hands_the_device_the_material() {
    let b = Base::new();
    for algorithm in KeyAlgorithm::ALL {
        for len in [*algorithm.material_lengths().start(), *algorithm.material_lengths().end()] {
            let bytes = material(len);
            let key = b.pd.create_crypto_key(algorithm as u32, &bytes, None).unwrap();
            assert_eq!(key.algorithm(), algorithm);
            let installed = b.hw().keys.lock().unwrap().iter().find(|k| k.0 == key.number()).cloned().expect("installed");
            assert_eq!((installed.1, installed.2), (algorithm, bytes));
        }
    }
}

#[test]
fn create_refuses_unknown_algorithms_wrong_lengths_and_equal_xts_halves() {
    let b = Base::new();
    let mut same_halves = vec![0x42u8; 32];
    same_halves[31] = 0x42;
    for (what, algorithm, bytes) in [
        ("unknown algorithm 0", 0, material(16)),
        ("unknown algorithm 8", 8, material(16)),
        ("AES-128-GCM with 15 bytes", KeyAlgorithm::Aes128Gcm as u32, material(15)),
        ("AES-128-GCM with 32 bytes", KeyAlgorithm::Aes128Gcm as u32, material(32)),
        ("AES-256-GCM with 16 bytes", KeyAlgorithm::Aes256Gcm as u32, material(16)),
        ("AES-128-XTS with 16 bytes", KeyAlgorithm::Aes128Xts as u32, material(16)),
        ("AES-128-XTS with equal halves", KeyAlgorithm::Aes128Xts as u32, same_halves),
        ("AES-256-XTS with 32 bytes", KeyAlgorithm::Aes256Xts as u32, material(32)),
        ("HMAC with no key", KeyAlgorithm::HmacSha256 as u32, Vec::new()),
        ("HMAC with 15 bytes", KeyAlgorithm::HmacSha256 as u32, material(15)),
        ("HMAC with 129 bytes", KeyAlgorithm::HmacSha256 as u32, material(129)),
    ] {
        assert_eq!(b.pd.create_crypto_key(algorithm, &bytes, None).err(), Some(Errno::EINVAL), "{what}");
    }
    assert!(b.hw().keys.lock().unwrap().is_empty(), "nothing installed");
    assert_eq!(b.driver.resources().crypto_keys, 0, "nothing counted");
}

#[test]
fn busy_keys_refuse_destroy_keep_their_pd_busy_and_leave_the_device_when_dropped() {
    let b = Base::new();
    let key = b.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm as u32, &material(32), None).unwrap();
    assert_eq!(b.pd.check_destroy(), Err(Errno::EBUSY), "the key holds its PD");
    let set_busy = |busy: bool| b.hw().keys.lock().unwrap().iter_mut().for_each(|k| k.3 = busy);
    set_busy(true);
    assert_eq!(key.check_destroy(), Err(Errno::EBUSY));
    set_busy(false);
    assert_eq!(key.check_destroy(), Ok(()));
    let shown = format!("{key:?}");
    assert!(shown.contains("Aes256Gcm") && !shown.contains("material"), "{shown}");
    drop(key);
    assert!(b.hw().keys.lock().unwrap().is_empty());
    assert_eq!(b.pd.check_destroy(), Ok(()));
}

#[test]
fn keys_stop_at_max_crypto_keys() {
    let b = Base::new();
    let bytes = material(16);
    fill_refuse_release(
        &b.driver,
        LIMITS.max_crypto_keys,
        |r| r.crypto_keys,
        || b.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm as u32, &bytes, None),
    );
}

#[test]
fn a_wrapped_key_needs_a_key_encryption_key_of_its_pd_and_wrapped_lengths() {
    let b = Base::new();
    let kek = b.pd.create_crypto_key(KeyAlgorithm::AesKeyWrap256 as u32, &material(32), None).unwrap();
    let wrapped = material(40); // what RFC 5649 makes of 32 bytes
    let key = b.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm as u32, &wrapped, Some(&kek)).unwrap();
    let installed = b.hw().keys.lock().unwrap().iter().find(|k| k.0 == key.number()).cloned().expect("installed");
    assert_eq!(installed.2, wrapped, "the device gets the wrapping to unwrap");
    let not_a_kek = b.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm as u32, &material(16), None).unwrap();
    for (what, wrapping, bytes) in [
        ("a data key as the wrapping key", &not_a_kek, material(40)),
        ("wrapped material not whole 8-byte blocks", &kek, material(41)),
        ("wrapped material too short", &kek, material(16)),
        ("wrapped material too long", &kek, material(144)),
    ] {
        assert_eq!(
            b.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm as u32, &bytes, Some(wrapping)).err(),
            Some(Errno::EINVAL),
            "{what}"
        );
    }
    let other = Base::new();
    let foreign = other.pd.create_crypto_key(KeyAlgorithm::AesKeyWrap128 as u32, &material(16), None).unwrap();
    assert_eq!(
        b.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm as u32, &wrapped, Some(&foreign)).err(),
        Some(Errno::EINVAL),
        "another PD's key"
    );
}
