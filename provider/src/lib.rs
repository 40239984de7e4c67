//! accelverbs: compression and crypto accelerators from user space, through the RDMA verbs
//! model.
//!
//! ```
//! use accelverbs::{devices, Access, Copy, QpInit, WorkCompletion};
//!
//! let ctx = devices()[0].open()?;
//! let pd = ctx.alloc_pd()?;
//! let src = pd.alloc_mr(4096, Access::empty())?;
//! let mut dst = pd.alloc_mr(4096, Access::LOCAL_WRITE)?;
//! let mut cq = ctx.create_cq(64, None)?;
//! let mut qp = pd.create_qp(&cq, QpInit::new(64))?;
//! qp.post(Copy::new(7, src.sge(0, 4096), dst.sge(0, 4096)))?;
//! let mut wc = [WorkCompletion::default(); 1];
//! while cq.poll(&mut wc) == 0 {}
//! assert!(wc[0].is_success());
//! assert_eq!(dst.as_mut_slice(), src.as_slice());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every control operation (open, PD, MR, CQ, QP, completion channel) is a uverbs ioctl sent
//! over a [`Channel`]; posting and polling only read and write memory shared with the device.
//!
//! # Misuse the types rule out
//!
//! A registered buffer cannot be touched, or freed, while its MR lives:
//!
//! ```compile_fail
//! # let pd = accelverbs::devices()[0].open().unwrap().alloc_pd().unwrap();
//! let mut buf = vec![0u8; 64];
//! let mr = pd.reg_mr(&mut buf, accelverbs::Access::LOCAL_WRITE).unwrap();
//! buf[0] = 1; // error: `buf` is mutably borrowed by the MR
//! drop(mr);
//! ```
//!
//! ```compile_fail
//! # let pd = accelverbs::devices()[0].open().unwrap().alloc_pd().unwrap();
//! let mr = {
//!     let mut buf = vec![0u8; 64];
//!     pd.reg_mr(&mut buf, accelverbs::Access::empty()).unwrap()
//! }; // error: `buf` dropped while still registered
//! ```
//!
//! A QP has one producer and a CQ one consumer, with no lock: both need `&mut`.
//!
//! ```compile_fail
//! fn post_through_a_shared_reference(qp: &accelverbs::Qp) {
//!     qp.post(accelverbs::Nop::new(1)).unwrap();
//! }
//! ```
//!
//! ```compile_fail
//! fn poll_through_a_shared_reference(cq: &accelverbs::Cq) {
//!     let mut wc = [accelverbs::WorkCompletion::default(); 4];
//!     cq.poll(&mut wc);
//! }
//! ```
//!
//! A batch borrows its QP, so nothing else can post until it is rung:
//!
//! ```compile_fail
//! fn two_batches(qp: &mut accelverbs::Qp) {
//!     let mut a = qp.batch();
//!     let mut b = qp.batch();
//!     a.push(accelverbs::Nop::new(1)).unwrap();
//!     b.push(accelverbs::Nop::new(2)).unwrap();
//! }
//! ```

mod access;
mod channel;
mod comp_channel;
mod context;
mod cq;
mod device;
mod doorbell;
#[cfg(feature = "embedded")]
mod embedded;
mod error;
pub mod ioctl;
mod mem;
mod mr;
mod pd;
mod post;
mod qp;
mod wc;

pub use accelverbs_uapi as uapi;
pub use accelverbs_uapi::caps::DeviceCaps;
pub use accelverbs_uapi::cmd::{ExecPolicy, ResourceCounts};
pub use accelverbs_uapi::cqe::{CqeStatus, VendorError};
pub use accelverbs_uapi::verbs::{QpState, QueryPortRespEx};
pub use accelverbs_uapi::wqe::Sge;

pub use access::Access;
pub use channel::Channel;
pub use comp_channel::CompletionChannel;
pub use context::{Context, ContextOptions};
pub use cq::Cq;
pub use device::{devices, Device};
pub use error::{Error, PostError};
pub use mr::MemoryRegion;
pub use pd::Pd;
pub use post::{Copy, Nop, PostBatch, WorkRequest};
pub use qp::{Qp, QpInit};
pub use wc::WorkCompletion;

#[cfg(feature = "embedded")]
pub use accelverbs_rxe_sim::SimConfig;
