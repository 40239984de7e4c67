//! The libibverbs provider plugin: stock rdma-core (Debian's libibverbs 44, private ABI
//! `IBVERBS_PRIVATE_34`) loads this library and drives an accelverbs device through the
//! standard `ibv_*` calls.
