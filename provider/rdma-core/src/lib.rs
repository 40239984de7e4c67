//! The libibverbs provider plugin: stock rdma-core (Debian's libibverbs 44, private ABI
//! `IBVERBS_PRIVATE_34`) loads this library and drives an accelverbs device through the
//! standard `ibv_*` calls.
//!
//! libibverbs finds the device in sysfs (`accel-run` provides the tree and the device node),
//! matches it by name, and hands this provider the context to allocate. Every verb the device
//! supports is implemented here over the Rust provider (`accelverbs`), so none falls through to
//! libibverbs' defaults, which would speak the kernel's ABI to a stand-in file:
//!
//! | verb                                         | here          |
//! |----------------------------------------------|---------------|
//! | match, alloc/uninit device, alloc/free context | `device.rs` |
//! | query_device(_ex), query_port                | `context.rs`  |
//! | async events (`async_fd`)                    | `async_events.rs` |
//! | alloc/dealloc_pd                             | `pd.rs`       |
//! | reg/dereg_mr                                 | `mr.rs`       |
//! | create/destroy/poll/req_notify CQ, cq_event  | `cq.rs`       |
//! | create/modify/query/destroy QP               | `qp.rs`       |
//! | post_send (`ibv_send_wr` → WQE), post_recv   | `post.rs`     |
//! | the `ibv_wr_*` builders of an extended QP     | `wr.rs`       |
//! | acceldv.h: accelerator builders, compression contexts, `acceldv_poll_cq` | `dv.rs` |
//!
//! Each verbs object is a `#[repr(C)]` box whose first field is the structure libibverbs and
//! the application see (`ibv_pd`, `verbs_mr`, …), followed by the Rust object it stands for;
//! a pointer to one is a pointer to the other. Nothing here panics across the C boundary:
//! every entry point runs under [`ffi::guard`].

mod async_events;
mod channels;
mod command_file;
mod context;
mod cq;
mod device;
mod dv;
mod ffi;
mod fuse_broker;
mod mr;
mod pd;
mod post;
mod qp;
mod records;
mod send_queue;
mod wr;
#[rustfmt::skip]
#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    missing_debug_implementations,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]
mod sys;

// Binds the provider interface to libibverbs' `IBVERBS_PRIVATE_34` symbol version, as a
// provider built in rdma-core's tree is.
#[link(name = "ibverbs")]
extern "C" {}
