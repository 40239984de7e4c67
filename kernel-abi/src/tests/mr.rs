//! REG_MR: the access and range rules of `ib_check_mr_access`/`ib_umem_get`, and how the
//! region is pinned and installed.

use accelverbs_uapi::verbs::access::{LOCAL_WRITE, ON_DEMAND, REMOTE_ATOMIC, REMOTE_READ, REMOTE_WRITE};

use super::fixture::{Base, LIMITS};
use super::mock::{InstalledMr, Pin};
use crate::Errno;

/// The errno of a refused REG_MR, after checking it pinned nothing and counted nothing.
fn refused(b: &Base, addr: u64, length: u64, access: u32) -> Errno {
    let errno = b.pd.reg_mr(addr, length, access).expect_err("refused");
    assert!(b.core.pins().is_empty(), "a refused MR pins nothing");
    assert_eq!(b.driver.resources().mrs, 0);
    assert_eq!(b.pd.check_destroy(), Ok(()));
    errno
}

#[test]
fn zero_length_is_einval() {
    let b = Base::new();
    assert_eq!(refused(&b, 0x1000, 0, 0), Errno::EINVAL);
    assert_eq!(refused(&b, 0x1000, 0, LOCAL_WRITE), Errno::EINVAL);
}

#[test]
fn length_over_max_mr_size_is_einval() {
    let b = Base::new();
    assert_eq!(refused(&b, 0x1000, LIMITS.max_mr_size + 1, 0), Errno::EINVAL);
    assert_eq!(refused(&b, 0x1000, u64::MAX, 0), Errno::EINVAL);
    assert!(b.pd.reg_mr(0x1000, LIMITS.max_mr_size, 0).is_ok());
}

#[test]
fn range_wrapping_past_the_top_of_the_address_space_is_einval() {
    let b = Base::new();
    assert_eq!(refused(&b, u64::MAX - 4095, 4096, 0), Errno::EINVAL);
    assert_eq!(refused(&b, u64::MAX, 1, 0), Errno::EINVAL);
    assert!(b.pd.reg_mr(u64::MAX - 4095, 4095, 0).is_ok(), "ends at the last byte");
}

#[test]
fn remote_write_or_atomic_without_local_write_is_einval() {
    let b = Base::new();
    assert_eq!(refused(&b, 0x1000, 4096, REMOTE_WRITE), Errno::EINVAL);
    assert_eq!(refused(&b, 0x1000, 4096, REMOTE_WRITE | REMOTE_READ), Errno::EINVAL);
    assert_eq!(refused(&b, 0x1000, 4096, REMOTE_ATOMIC), Errno::EINVAL);
    assert!(b.pd.reg_mr(0x1000, 4096, REMOTE_WRITE | LOCAL_WRITE).is_ok());
    // As the kernel on a device without atomics: the right is granted, never exercised.
    assert!(b.pd.reg_mr(0x3000, 4096, REMOTE_ATOMIC | LOCAL_WRITE).is_ok());
}

#[test]
fn unsupported_access_flags_are_eopnotsupp() {
    let b = Base::new();
    assert_eq!(refused(&b, 0x1000, 4096, ON_DEMAND), Errno::EOPNOTSUPP);
    assert_eq!(refused(&b, 0x1000, 4096, ON_DEMAND | LOCAL_WRITE), Errno::EOPNOTSUPP);
    assert_eq!(refused(&b, 0x1000, 4096, 1 << 31), Errno::EOPNOTSUPP);
    // The flag is checked first: an unsupported flag wins over a bad length.
    assert_eq!(refused(&b, 0x1000, 0, ON_DEMAND), Errno::EOPNOTSUPP);
}

#[test]
fn local_write_pins_writable() {
    let b = Base::new();
    let _mr = b.pd.reg_mr(0x1000, 8192, LOCAL_WRITE).unwrap();
    let _remote = b.pd.reg_mr(0x4000, 4096, LOCAL_WRITE | REMOTE_WRITE).unwrap();
    assert_eq!(b.core.pins(), [Pin { addr: 0x1000, len: 8192, writable: true }, Pin { addr: 0x4000, len: 4096, writable: true }]);
}

#[test]
fn read_only_mr_pins_read_only() {
    let b = Base::new();
    let _mr = b.pd.reg_mr(0x1000, 8192, 0).unwrap();
    let _remote = b.pd.reg_mr(0x4000, 4096, REMOTE_READ).unwrap();
    assert_eq!(
        b.core.pins(),
        [Pin { addr: 0x1000, len: 8192, writable: false }, Pin { addr: 0x4000, len: 4096, writable: false }]
    );
}

#[test]
fn failing_pin_returns_its_errno_and_leaves_no_mr() {
    for errno in [Errno::EFAULT, Errno::ENOMEM] {
        let b = Base::new();
        b.core.fail_pins(errno);
        assert_eq!(refused(&b, 0x1000, 4096, LOCAL_WRITE), errno);
        assert_eq!(b.driver.resources().pinned_bytes, 0);
        assert!(b.hw().events().is_empty(), "nothing installed");
    }
}

#[test]
fn mr_is_installed_with_its_pd_access_and_range() {
    let b = Base::new();
    let mr = b.pd.reg_mr(0x1000, 8192, LOCAL_WRITE | REMOTE_READ).unwrap();
    assert_eq!(mr.lkey(), mr.rkey());
    let installed = InstalledMr { pdn: b.pd.pdn(), access: LOCAL_WRITE | REMOTE_READ, addr: 0x1000, len: 8192 };
    assert_eq!(b.hw().mr(mr.lkey()), Some(installed));
    assert_eq!(b.driver.resources().mrs, 1);
}

#[test]
fn on_demand_pins_nothing_and_the_whole_address_space_is_an_implicit_region() {
    let b = Base::new();
    b.core.page_on_demand();
    let explicit = b.pd.reg_mr(0x1000, LIMITS.max_mr_size, ON_DEMAND | LOCAL_WRITE).unwrap();
    let implicit = b.pd.reg_mr(0, u64::MAX, ON_DEMAND).unwrap();
    assert!(b.core.pins().is_empty(), "on demand, nothing is pinned");
    assert_eq!(
        b.core.on_demand(),
        [Pin { addr: 0x1000, len: LIMITS.max_mr_size, writable: true }, Pin { addr: 0, len: u64::MAX, writable: false }]
    );
    assert_eq!(b.driver.resources().mrs, 2);
    // Only on demand, and only as the whole space, may a region pass max_mr_size.
    assert_eq!(b.pd.reg_mr(0, u64::MAX, 0).err(), Some(Errno::EINVAL));
    assert_eq!(b.pd.reg_mr(4096, u64::MAX - 4096, ON_DEMAND).err(), Some(Errno::EINVAL));
    drop((explicit, implicit));
}

#[test]
fn a_context_of_another_process_pins_through_that_processs_memory() {
    use super::mock::MockCore;
    use accelverbs_uapi::cmd::{ExecPolicy, GetContextCmd};
    let b = Base::new();
    let theirs = MockCore::default();
    let cmd = GetContextCmd { exec_policy: ExecPolicy::Threads as u32, inline_threshold: 0 };
    let (ctx, _) = b.driver.alloc_ucontext_for(cmd, std::sync::Arc::new(theirs.clone())).unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let _mr = pd.reg_mr(0x1000, 4096, 0).unwrap();
    assert_eq!(theirs.pins(), [Pin { addr: 0x1000, len: 4096, writable: false }]);
    assert!(b.core.pins().is_empty(), "nothing pinned in the driver's own process");
}
