//! ABI facts: what a crate defines itself about the kernel ABI (struct sizes, field offsets,
//! constants, ioctl numbers, register ids), as checkable statements.
//!
//! Each fact says "this C integer constant expression, compiled against the target's uapi
//! headers, equals this value taken from the Rust side". The `abi-check` crate turns a list of
//! facts into a C probe of `_Static_assert`s and compiles it with the target's cross gcc, so a
//! typo in a Rust struct, constant or register table fails a test that names the item.
//!
//! A crate exposes its facts as `pub fn abi_facts() -> Vec<AbiFact>`; [`abi_struct!`] makes a
//! struct one line:
//!
//! ```
//! # use vmm_core::{abi_struct, regs::abi::AbiFact};
//! #[repr(C)]
//! struct KvmOneReg { id: u64, addr: u64 }
//! let mut facts: Vec<AbiFact> = Vec::new();
//! abi_struct!(facts, KvmOneReg => "struct kvm_one_reg" { id, addr });
//! assert_eq!(facts[0].expr, "sizeof(struct kvm_one_reg)");
//! assert_eq!(facts[0].value, 16);
//! ```
//!
//! [`abi_struct!`]: crate::abi_struct

use super::desc::{BlockKind, RegLoc};
use super::table::RegTable;
use std::borrow::Cow;

/// One checkable statement: `(unsigned long long)(expr) == value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbiFact {
    /// A C integer constant expression, valid after `#include <linux/kvm.h>` and
    /// `<stddef.h>` for the target (e.g. `offsetof(struct kvm_sregs, u.e.mas0)`).
    pub expr: Cow<'static, str>,
    /// The value the Rust side uses.
    pub value: u64,
    /// The Rust item the value comes from, for the failure message (e.g. `kvm_ppc::KvmSregs`).
    pub origin: Cow<'static, str>,
}

impl AbiFact {
    /// A fact.
    pub fn new(
        expr: impl Into<Cow<'static, str>>,
        value: u64,
        origin: impl Into<Cow<'static, str>>,
    ) -> Self {
        AbiFact {
            expr: expr.into(),
            value,
            origin: origin.into(),
        }
    }
}

/// The size of the field a closure projects to (used by [`abi_struct!`](crate::abi_struct)).
pub fn member_size<T, F>(_project: impl Fn(&T) -> &F) -> usize {
    std::mem::size_of::<F>()
}

/// Pushes the facts for a `#[repr(C)]` struct onto a `Vec<AbiFact>`: its size and, for each
/// listed field, its offset and size.
///
/// ```text
/// abi_struct!(facts, RustType => "struct c_type" { field, rust_name => "c_member", nested.field => "a.b" });
/// abi_struct!(facts, RustType => "struct c_type" at "u.e" { ... });   // a nested C struct
/// ```
///
/// With `at "path"` the Rust type stands for the member `path` of the C type (e.g. the BookE half
/// `u.e` of `struct kvm_sregs`): sizes are `sizeof(((T *)0)->path)` and offsets are taken
/// relative to the member.
#[macro_export]
macro_rules! abi_struct {
    ($facts:expr, $rust:ty => $c:literal { $($($field:ident).+ $(=> $member:literal)?),* $(,)? }) => {{
        let facts: &mut ::std::vec::Vec<$crate::regs::abi::AbiFact> = &mut $facts;
        facts.push($crate::regs::abi::AbiFact::new(
            concat!("sizeof(", $c, ")"),
            ::core::mem::size_of::<$rust>() as u64,
            stringify!($rust),
        ));
        $(
            let member = $crate::__abi_member!($($field).+ $(=> $member)?);
            facts.push($crate::regs::abi::AbiFact::new(
                format!("offsetof({}, {})", $c, member),
                ::core::mem::offset_of!($rust, $($field).+) as u64,
                concat!(stringify!($rust), "::", stringify!($($field).+)),
            ));
            facts.push($crate::regs::abi::AbiFact::new(
                format!("sizeof((({} *)0)->{})", $c, member),
                $crate::regs::abi::member_size(|s: &$rust| &s.$($field).+) as u64,
                concat!("size of ", stringify!($rust), "::", stringify!($($field).+)),
            ));
        )*
    }};
    ($facts:expr, $rust:ty => $c:literal at $path:literal { $($($field:ident).+ $(=> $member:literal)?),* $(,)? }) => {{
        let facts: &mut ::std::vec::Vec<$crate::regs::abi::AbiFact> = &mut $facts;
        facts.push($crate::regs::abi::AbiFact::new(
            concat!("sizeof(((", $c, " *)0)->", $path, ")"),
            ::core::mem::size_of::<$rust>() as u64,
            stringify!($rust),
        ));
        $(
            let member = $crate::__abi_member!($($field).+ $(=> $member)?);
            facts.push($crate::regs::abi::AbiFact::new(
                format!(
                    "offsetof({c}, {p}.{m}) - offsetof({c}, {p})",
                    c = $c,
                    p = $path,
                    m = member
                ),
                ::core::mem::offset_of!($rust, $($field).+) as u64,
                concat!(stringify!($rust), "::", stringify!($($field).+)),
            ));
            facts.push($crate::regs::abi::AbiFact::new(
                format!("sizeof((({} *)0)->{}.{})", $c, $path, member),
                $crate::regs::abi::member_size(|s: &$rust| &s.$($field).+) as u64,
                concat!("size of ", stringify!($rust), "::", stringify!($($field).+)),
            ));
        )*
    }};
}

/// The C member name for [`abi_struct!`](crate::abi_struct): the explicit one, else the Rust
/// field path.
#[doc(hidden)]
#[macro_export]
macro_rules! __abi_member {
    ($($field:ident).+ => $member:literal) => {
        $member
    };
    ($($field:ident).+) => {
        stringify!($($field).+).replace(' ', "")
    };
}

/// The facts of a register table: every block's size, every field's offset and size, and every
/// id the uapi headers name.
pub fn table_facts(table: &RegTable) -> Vec<AbiFact> {
    let mut facts = Vec::new();
    let origin = |what: &str| format!("{} register table: {what}", table.name());
    for b in table.blocks() {
        if let BlockKind::Struct { c_type, size } = b.kind {
            facts.push(AbiFact::new(
                format!("sizeof({c_type})"),
                size as u64,
                origin(&format!("block {}", b.name)),
            ));
        }
    }
    for r in table.iter() {
        if r.uapi.is_empty() {
            continue;
        }
        match r.loc {
            RegLoc::OneReg => facts.push(AbiFact::new(
                r.uapi.to_string(),
                r.id.raw(),
                origin(&format!("id of {}", r.name)),
            )),
            RegLoc::Field { block, offset, len } => {
                let Some(BlockKind::Struct { c_type, .. }) = table.block(block).map(|b| b.kind)
                else {
                    continue;
                };
                facts.push(AbiFact::new(
                    format!("offsetof({c_type}, {})", r.uapi),
                    offset as u64,
                    origin(&format!("offset of {}", r.name)),
                ));
                facts.push(AbiFact::new(
                    format!("sizeof((({c_type} *)0)->{})", r.uapi),
                    len as u64,
                    origin(&format!("length of {}", r.name)),
                ));
            }
            RegLoc::Indexed { .. } => facts.push(AbiFact::new(
                r.uapi.to_string(),
                r.id.number() as u64,
                origin(&format!("index of {}", r.name)),
            )),
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    #[repr(C)]
    struct Inner {
        a: u32,
        b: [u64; 2],
    }

    #[repr(C)]
    struct Outer {
        x: u8,
        inner: Inner,
    }

    #[test]
    fn abi_struct_facts() {
        let mut facts = Vec::new();
        abi_struct!(facts, Outer => "struct outer" { x, inner.b => "in.b" });
        let got: Vec<(String, u64)> = facts
            .iter()
            .map(|f| (f.expr.to_string(), f.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("sizeof(struct outer)".to_string(), 32),
                ("offsetof(struct outer, x)".to_string(), 0),
                ("sizeof(((struct outer *)0)->x)".to_string(), 1),
                ("offsetof(struct outer, in.b)".to_string(), 16),
                ("sizeof(((struct outer *)0)->in.b)".to_string(), 16),
            ]
        );
        assert_eq!(facts[3].origin, "Outer::inner.b");

        let mut nested = Vec::new();
        abi_struct!(nested, Inner => "struct outer" at "in" { a, b });
        assert_eq!(nested[0].expr, "sizeof(((struct outer *)0)->in)");
        assert_eq!(nested[0].value, 24);
        assert_eq!(
            nested[3].expr,
            "offsetof(struct outer, in.b) - offsetof(struct outer, in)"
        );
        assert_eq!(nested[3].value, 8);
    }
}
