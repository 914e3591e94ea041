//! Support for tetra's shared test suite (`tests/suite.rs`): the guests built for this target,
//! running a VM with its console captured, and registering tests that need real KVM. The host
//! arch comes from the workspace's one switch, `tetra_host` (`HostArch`, `CAN_RUN_GUESTS`).
//!
//! A new arch joins by adding `guests/<arch>/` and its table in `build.rs`; the shared scenarios
//! in the suite pick up every guest whose name they know.

#![deny(missing_docs)]

pub mod fixtures;
pub mod flushing;
pub mod guests;
pub mod harness;
pub mod probe;
pub mod process;
pub mod proxy;
pub mod run;
