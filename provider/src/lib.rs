//! accelverbs: compression and crypto accelerators from user space, through the RDMA verbs
//! model.
//!
//! ```no_run
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
