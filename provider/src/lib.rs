//! accelverbs: compression and crypto accelerators from user space, through the RDMA verbs
//! model.
//!
//! ```
//! use accelverbs::{devices, Access, Copy, QpInit, WorkCompletion};
//!
//! let ctx = devices()[0].open()?;
//! let pd = ctx.alloc_pd()?;
//! let src = pd.reg_mr(b"hello, device".to_vec(), Access::empty())?;
//! let mut dst = pd.alloc_mr(4096, Access::LOCAL_WRITE)?;
//! let mut cq = ctx.create_cq(64, None)?;
//! let mut qp = pd.create_qp(&cq, QpInit::new(64))?;
//! qp.post(Copy::new(7, src.slice(0, 13), dst.slice_mut(0, 13)))?;
//! let mut wc = [WorkCompletion::default(); 1];
//! while cq.poll(&mut wc) == 0 {}
//! assert!(wc[0].is_success());
//! assert_eq!(&dst.as_slice()?[..13], b"hello, device");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every control operation (open, PD, MR, CQ, QP, completion channel) is a uverbs ioctl sent
//! over a [`Channel`]; posting and polling only read and write memory shared with the device.
//!
//! # Memory safety
//!
//! No sequence of safe calls lets the device touch memory that safe code may free or is
//! reading (see `MemoryRegion` and docs/ARCHITECTURE.md, "Memory safety"): regions own their
//! memory; a posted request holds the regions it names until its completion is polled; their
//! bytes are refused ([`Error::InFlight`]) while the device may write them. Entry points that
//! take raw addresses are `unsafe fn`. What the types rule out at compile time:
//!
//! A registered buffer belongs to its region, so forgetting the region cannot free it:
//!
//! ```compile_fail,E0382
//! # let pd = accelverbs::devices()[0].open().unwrap().alloc_pd().unwrap();
//! let buf = vec![0u8; 64];
//! let mr = pd.reg_mr(buf, accelverbs::Access::LOCAL_WRITE).unwrap();
//! std::mem::forget(mr);
//! drop(buf); // error: `buf` was moved into the region
//! ```
//!
//! A request that names a region for writing holds it exclusively, so its bytes cannot be
//! read while the request exists:
//!
//! ```compile_fail,E0502
//! # use accelverbs::{Access, Copy};
//! # let pd = accelverbs::devices()[0].open().unwrap().alloc_pd().unwrap();
//! # let src = pd.alloc_mr(64, Access::empty()).unwrap();
//! let mut dst = pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
//! let copy = Copy::new(1, src.slice(0, 64), dst.slice_mut(0, 64));
//! let bytes = dst.as_slice().unwrap(); // error: `dst` is mutably borrowed by `copy`
//! # drop((copy, bytes));
//! ```
//!
//! and a view of the bytes keeps the device from being told to write them:
//!
//! ```compile_fail,E0502
//! # use accelverbs::{Access, Copy, Qp};
//! # fn f(qp: &mut Qp, pd: &accelverbs::Pd) {
//! # let src = pd.alloc_mr(64, Access::empty()).unwrap();
//! let mut dst = pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
//! let bytes = dst.as_slice().unwrap();
//! qp.post(Copy::new(1, src.slice(0, 64), dst.slice_mut(0, 64))).unwrap(); // error: `dst` is borrowed
//! println!("{}", bytes[0]);
//! # }
//! ```
//!
//! Work requests are this crate's builders only: one written elsewhere could name memory
//! without the provider knowing.
//!
//! ```compile_fail,E0277
//! struct Mine;
//! impl accelverbs::WorkRequest for Mine {} // error: `Encode` is not implemented (and cannot be)
//! ```
//!
//! Speaking the ABI by hand is `unsafe`, since a call can hand the device any memory:
//!
//! ```compile_fail,E0133
//! fn raw(channel: &dyn accelverbs::Channel, hdr: u64) {
//!     let _ = channel.ioctl(accelverbs::uapi::ioctl::RDMA_VERBS_IOCTL, hdr); // error: unsafe
//! }
//! ```
//!
//! A QP has one producer and a CQ one consumer, with no lock: both need `&mut`.
//!
//! ```compile_fail,E0596
//! fn post_through_a_shared_reference(qp: &accelverbs::Qp) {
//!     qp.post(accelverbs::Nop::new(1)).unwrap();
//! }
//! ```
//!
//! ```compile_fail,E0596
//! fn poll_through_a_shared_reference(cq: &accelverbs::Cq) {
//!     let mut wc = [accelverbs::WorkCompletion::default(); 4];
//!     cq.poll(&mut wc);
//! }
//! ```
//!
//! A batch borrows its QP, so nothing else can post until it is rung:
//!
//! ```compile_fail,E0499
//! fn two_batches(qp: &mut accelverbs::Qp) {
//!     let mut a = qp.batch();
//!     let mut b = qp.batch();
//!     a.push(accelverbs::Nop::new(1)).unwrap();
//!     b.push(accelverbs::Nop::new(2)).unwrap();
//! }
//! ```
//!
//! Objects of another context are refused at run time ([`Error::WrongContext`]); contexts
//! opened with [`Device::open_branded`] carry a brand in their objects' types ([`brand`]), and
//! mixing two of them does not compile:
//!
//! ```compile_fail,E0521
//! # use accelverbs::{ContextOptions, QpInit};
//! let device = &accelverbs::devices()[0];
//! device.open_branded(ContextOptions::default(), |a| {
//!     device.open_branded(ContextOptions::default(), |b| {
//!         let their_cq = b.create_cq(16, None).unwrap();
//!         a.alloc_pd().unwrap().create_qp(&their_cq, QpInit::new(4)).map(drop) // error: brands differ
//!     })
//! });
//! ```

mod access;
mod async_event;
pub mod brand;
mod channel;
mod comp_channel;
mod comp_stream;
mod context;
mod cq;
mod crypto_key;
mod daemon_channel;
mod device;
mod doorbell;
#[cfg(feature = "embedded")]
mod embedded;
mod error;
mod event_wait;
mod in_flight;
pub mod ioctl;
mod mem;
mod mr;
mod on_demand;
mod pd;
mod post;
mod qp;
mod slot_ring;
mod sync;
mod wc;

pub use accelverbs_uapi as uapi;
pub use accelverbs_uapi::caps::DeviceCaps;
pub use accelverbs_uapi::cmd::{ExecPolicy, ResourceCounts};
pub use accelverbs_uapi::compress::{Format, StreamDirection, MAX_LIST_ENTRIES};
pub use accelverbs_uapi::cqe::{CqeStatus, VendorError};
pub use accelverbs_uapi::crypto::KeyAlgorithm;
pub use accelverbs_uapi::verbs::{QpState, QueryPortRespEx};
pub use accelverbs_uapi::wqe::Sge;

pub use accelverbs_uapi::async_event::AsyncEventType;
pub use access::Access;
pub use async_event::AsyncEvent;
pub use channel::{Channel, SharedMemory};
pub use comp_channel::CompletionChannel;
pub use comp_stream::CompressionStream;
pub use context::{Context, ContextOptions};
pub use cq::Cq;
pub use crypto_key::CryptoKey;
pub use daemon_channel::{DaemonChannel, DaemonSource};
pub use device::{devices, ChannelSource, Device};
pub use error::{Error, PostError};
pub use mr::{MemoryRegion, MrSlice, MrSliceMut};
pub use on_demand::{Advice, OnDemandRegion};
pub use pd::Pd;
pub use post::{
    Compress, CompressEncrypt, Copy, Decompress, Decrypt, DecryptDecompress, Digest, Encrypt, Nop, PostBatch, RawGatherWqe,
    RawWqe, RdmaRead, RdmaWrite, Recv, Send, WorkRequest, DIGEST_LEN, DIGEST_STATE_LEN, SHA256_BLOCK, TAG_LEN,
};
pub use qp::{Qp, QpInit, QpType};
pub use wc::WorkCompletion;

#[cfg(feature = "embedded")]
pub use accelverbs_rxe_sim::SimConfig;
