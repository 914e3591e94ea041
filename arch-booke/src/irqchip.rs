//! The MPIC (OpenPIC): in-kernel device state and a userspace model.
