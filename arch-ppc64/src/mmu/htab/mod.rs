//! The hash table as KVM-HV streams it: `KVM_PPC_GET_HTAB_FD` gives a file descriptor that reads
//! (and, with `KVM_GET_HTAB_WRITE`, writes) the guest's HPT as a series of records.
//!
//! ```text
//! record:  | index: u32 | n_valid: u16 | n_invalid: u16 |  n_valid x 16-byte HPTE  |
//!            (struct kvm_get_htab_header, host byte order) (two big-endian dwords each,
//!                                                          ISA v2.07 layout, V set)
//! ```
//!
//! A record says: entries `index .. index+n_valid` are the HPTEs that follow, entries
//! `index+n_valid .. index+n_valid+n_invalid` are invalid. The first pass of a read fd covers
//! every entry of the table in order; every later pass carries only the entries modified since
//! the previous pass (this is how pre-copy rounds send the hash table); a pass ends when the
//! read wraps past the last entry. A write takes records in the same format and enters them.
//!
//! - [`codec`]: decode with validation, encode.
//! - [`table`]: an in-memory table that applies passes and makes them.
//! - [`passes`]: records to and from the `(index, entry)` changes of an `HTAB` section.
//! - [`abi`]: the KVM structures, flags and ioctl numbers.

pub mod abi;
pub mod codec;
pub mod passes;
pub mod table;

pub use abi::abi_facts;
pub use codec::{decode, encode, Endian, HtabError, Record};
pub use table::HashTable;
