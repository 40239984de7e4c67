//! Crypto keys as objects (issue 8's first slice): every algorithm at its lengths, material the
//! device refuses (whatever the provider lets through), the device's limit, the PD kept busy,
//! nothing left after destroy or the context's close, no material in a debug print.

use accelverbs::{Device, KeyAlgorithm, SimConfig};
use accelverbs_tests::raw::RawFile;
use accelverbs_tests::Base;

fn material(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + 5) as u8).collect()
}

#[test]
fn every_algorithm_takes_its_lengths_and_the_keys_go_with_their_handles() {
    let b = Base::new(0, accelverbs::ExecPolicy::Inline);
    let mut keys = Vec::new();
    for algorithm in KeyAlgorithm::ALL {
        for len in [*algorithm.material_lengths().start(), *algorithm.material_lengths().end()] {
            let key = b.pd.create_crypto_key(algorithm, &material(len)).unwrap();
            assert_eq!(key.algorithm(), algorithm);
            keys.push(key);
        }
    }
    let numbers: std::collections::HashSet<u32> = keys.iter().map(|k| k.number()).collect();
    assert_eq!(numbers.len(), keys.len(), "each key its own number");
    assert_eq!(b.ctx.device_resources().unwrap().crypto_keys, keys.len() as u32);
    let shown = format!("{:?}", keys[0]);
    assert!(shown.contains("Aes128Gcm") && !shown.contains("material"), "{shown}");
    keys[1].try_destroy().unwrap();
    drop(keys);
    assert_eq!(b.ctx.device_resources().unwrap().crypto_keys, 0);
}

#[test]
fn material_an_algorithm_does_not_take_is_refused_by_the_provider_and_by_the_device() {
    let b = Base::new(0, accelverbs::ExecPolicy::Inline);
    let mut equal_halves = vec![9u8; 64];
    equal_halves[0] = 1;
    equal_halves[32] = 1;
    let cases = [
        (KeyAlgorithm::Aes128Gcm, material(24)),
        (KeyAlgorithm::Aes256Gcm, material(16)),
        (KeyAlgorithm::Aes128Xts, material(64)),
        (KeyAlgorithm::Aes256Xts, equal_halves),
        (KeyAlgorithm::HmacSha256, material(15)),
        (KeyAlgorithm::HmacSha256, material(129)),
    ];
    for (algorithm, bytes) in &cases {
        let err = b.pd.create_crypto_key(*algorithm, bytes).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL), "{algorithm:?} with {} bytes", bytes.len());
    }
    // The device checks for itself: the same requests sent by hand.
    let raw = RawFile::new(b.device.open_channel().unwrap());
    raw.get_context().unwrap();
    let pd = raw.alloc_pd().unwrap();
    for (algorithm, bytes) in &cases {
        assert_eq!(
            raw.create_crypto_key(pd, *algorithm as u32, bytes),
            Err(libc::EINVAL),
            "{algorithm:?}, {} bytes",
            bytes.len()
        );
    }
    assert_eq!(raw.create_crypto_key(pd, 0, &material(16)), Err(libc::EINVAL), "unknown algorithm");
    assert_eq!(raw.create_crypto_key(pd, 8, &material(16)), Err(libc::EINVAL), "unknown algorithm");
    assert_eq!(raw.resource_counts().crypto_keys, 0, "nothing installed");
}

#[test]
fn a_pd_with_keys_is_busy_and_closing_the_file_destroys_them() {
    let device = accelverbs_tests::device(0);
    let raw = RawFile::new(device.open_channel().unwrap());
    raw.get_context().unwrap();
    let pd = raw.alloc_pd().unwrap();
    let key = raw.create_crypto_key(pd, KeyAlgorithm::Aes256Xts as u32, &material(64)).unwrap();
    assert_eq!(raw.destroy_pd(pd), Err(libc::EBUSY), "the key holds its PD");
    raw.destroy_crypto_key(key).unwrap();
    assert_eq!(raw.destroy_crypto_key(key), Err(libc::ENOENT), "gone");
    raw.create_crypto_key(pd, KeyAlgorithm::HmacSha256 as u32, &material(32)).unwrap();
    raw.create_crypto_key(pd, KeyAlgorithm::Aes128Gcm as u32, &material(16)).unwrap();
    let observer = RawFile::new(device.open_channel().unwrap());
    assert_eq!(observer.resource_counts().crypto_keys, 2);
    drop(raw);
    assert_eq!(observer.resource_counts().crypto_keys, 0, "closing the file destroyed its keys");
}

#[test]
fn keys_stop_at_the_devices_limit_with_enomem() {
    let mut config = SimConfig { engines: 0, ..SimConfig::default() };
    config.limits.max_crypto_keys = 3;
    let ctx = Device::embedded(config).open().unwrap();
    assert_eq!(ctx.query_device().unwrap().max_crypto_keys, 3);
    let pd = ctx.alloc_pd().unwrap();
    let keys: Vec<_> = (0..3).map(|_| pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &material(16)).unwrap()).collect();
    let err = pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &material(16)).unwrap_err();
    assert_eq!(err.errno(), Some(libc::ENOMEM));
    drop(keys);
    pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, &material(16)).expect("room again once the keys went");
}
