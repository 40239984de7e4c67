//! Unit tests of the driver against a mock core and mock hardware: the errnos and object rules
//! a user relies on. Each file holds one concern; `fixture` builds requests that pass every check,
//! so a test breaks one field at a time.

mod fixture;
mod mock;

mod comp_stream;
mod cq;
mod crypto_key;
mod limits;
mod modify_qp;
mod mr;
mod qp;
mod teardown;
mod ucontext;
mod use_counts;
