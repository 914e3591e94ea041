//! Snapshots: a state file (the [`envelope`] with vCPU register lists, interrupt controller,
//! devices and the memory layout) beside a sparse guest-memory file ([`memfile`]).

pub mod codec;
pub mod digest;
pub mod envelope;
pub mod memfile;
pub mod sections;
pub mod stateful;
pub mod verify;
pub mod vm_state;

pub use codec::{check_tags, CodecError, SectionSpec};
pub use envelope::{Envelope, EnvelopeError, Section};
pub use stateful::{check_version, SharedState, StateError, StateRegistry, Stateful};
pub use verify::Verify;
pub use vm_state::{
    describe_json, read_envelope, SnapshotError, SnapshotProgress, SnapshotStats, Step,
};
