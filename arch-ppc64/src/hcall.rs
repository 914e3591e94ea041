//! PAPR hypercalls: the one table ([`HCALLS`]) that says which hypercalls tetra serves, who
//! serves them under KVM-HV, and which `ibm,hypertas-functions` group announces them.
//!
//! A pseries guest calls the hypervisor with `sc 1`: r3 is the hypercall number, r4..r12 its
//! arguments; on return r3 is the status (`H_SUCCESS`, `H_FUNCTION`, ...) and r4.. carry
//! results. KVM-HV serves many hypercalls in the kernel and exits to userspace
//! (`KVM_EXIT_PAPR_HCALL`) only for those it does not handle itself:
//!
//! * **in the kernel by default** ([`InKernel::Default`]): the hypercalls of KVM-HV's
//!   `default_hcall_list` (the HPT calls, `H_CEDE`, `H_PROD`, `H_CONFER`, `H_REGISTER_VPA`,
//!   `H_SET_DABR`, the XICS calls with an in-kernel XICS). `H_CEDE` is one: its entry here is
//!   the fallback for a kernel where it was turned off (or KVM-PR); so are `H_READ`,
//!   `H_CLEAR_REF` and `H_CLEAR_MOD`, which KVM-PR leaves to tetra (`mmu::papr`, on the
//!   table in tetra's memory);
//! * **in the kernel once enabled** ([`InKernel::Enable`]) with `KVM_CAP_PPC_ENABLE_HCALL`:
//!   `H_SET_MODE`, whose breakpoint resources (CIABR, DAWR) only the kernel can set; the kernel
//!   returns the rest (little-endian interrupts, address-translation mode) to tetra;
//! * **never in the kernel** ([`InKernel::Never`]): the console (`H_PUT_TERM_CHAR`,
//!   `H_GET_TERM_CHAR`) and `H_RTAS` (KVM serves only RTAS tokens defined with
//!   `KVM_PPC_RTAS_DEFINE_TOKEN`, which tetra does not use).
//!
//! Any other number is answered `H_FUNCTION`. Handlers are plain functions over a
//! [`HcallEnv`]; one that needs the calling vCPU's registers leaves a
//! [`VcpuRequest`] in the machine and returns
//! [`HcallOutcome::WithVcpu`].

use crate::machine::{CpuControl, Machine, VcpuRequest};
use crate::mmu::papr::{self, HptWords};
use crate::rtas;
use crate::vty;
use vmm_core::memory::GuestMemoryMmap;
use vmm_core::ExitNotifier;

/// `H_SUCCESS`.
pub const H_SUCCESS: i64 = 0;
/// `H_HARDWARE`: the hardware (here: KVM) failed.
pub const H_HARDWARE: i64 = -1;
/// `H_FUNCTION`: not supported.
pub const H_FUNCTION: i64 = -2;
/// `H_PARAMETER`: a bad parameter.
pub const H_PARAMETER: i64 = -4;
/// `H_P2`: bad second parameter.
pub const H_P2: i64 = -55;
/// `H_P3`: bad third parameter.
pub const H_P3: i64 = -56;
/// `H_P4`: bad fourth parameter.
pub const H_P4: i64 = -57;
/// `H_UNSUPPORTED_FLAG`: a flag value the hypervisor does not support.
pub const H_UNSUPPORTED_FLAG: i64 = -256;

/// `H_GET_TERM_CHAR`.
pub const H_GET_TERM_CHAR: u64 = 0x54;
/// `H_PUT_TERM_CHAR`.
pub const H_PUT_TERM_CHAR: u64 = 0x58;
/// `H_CEDE`.
pub const H_CEDE: u64 = 0xe0;
/// `H_READ`: read hash table entries.
pub const H_READ: u64 = 0x0c;
/// `H_CLEAR_MOD`: clear an entry's changed bit.
pub const H_CLEAR_MOD: u64 = 0x10;
/// `H_CLEAR_REF`: clear an entry's referenced bit.
pub const H_CLEAR_REF: u64 = 0x14;
/// `H_SET_SPRG0`: the calling vCPU's SPRG0.
pub const H_SET_SPRG0: u64 = 0x24;
/// `H_REGISTER_PROC_TBL`: the guest's radix process table.
pub const H_REGISTER_PROC_TBL: u64 = 0x37c;
/// `H_REGISTER_PROC_TBL` flags: guest translation shootdown (`tlbie` in the guest).
pub const PROC_TBL_GTSE: u64 = 0x01;
/// ... a hash process table.
pub const PROC_TBL_HASH: u64 = 0x02;
/// ... a radix process table.
pub const PROC_TBL_RADIX: u64 = 0x04;
/// ... register (else deregister).
pub const PROC_TBL_REGISTER: u64 = 0x08;
/// ... change the registration (required).
pub const PROC_TBL_MODIFY: u64 = 0x10;
/// `H_SET_MODE`.
pub const H_SET_MODE: u64 = 0x31c;
/// `KVMPPC_H_RTAS`: the private hypercall through which the RTAS entry code calls the VMM.
pub const H_RTAS: u64 = 0xf000;

/// `H_SET_MODE` resource: CIABR.
pub const H_SET_MODE_RESOURCE_SET_CIABR: u64 = 1;
/// `H_SET_MODE` resource: DAWR0.
pub const H_SET_MODE_RESOURCE_SET_DAWR0: u64 = 2;
/// `H_SET_MODE` resource: interrupt address-translation mode (LPCR\[AIL\]).
pub const H_SET_MODE_RESOURCE_ADDR_TRANS_MODE: u64 = 3;
/// `H_SET_MODE` resource: interrupt endianness (LPCR\[ILE\]).
pub const H_SET_MODE_RESOURCE_LE: u64 = 4;
/// `H_SET_MODE` resource: DAWR1.
pub const H_SET_MODE_RESOURCE_SET_DAWR1: u64 = 5;

/// LPCR\[ILE\]: interrupts are taken little-endian.
pub const LPCR_ILE: u64 = 1 << 25;
/// LPCR\[AIL\]: interrupts are taken with relocation on, at an offset.
pub const LPCR_AIL: u64 = 3 << 23;
/// Shift of LPCR\[AIL\].
pub const LPCR_AIL_SHIFT: u32 = 23;

/// Who serves a hypercall under KVM-HV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InKernel {
    /// Always tetra.
    Never,
    /// The kernel, by default; tetra's handler is the fallback.
    Default,
    /// The kernel once tetra enables it (`KVM_CAP_PPC_ENABLE_HCALL`); the kernel hands back what
    /// it leaves to userspace.
    Enable,
}

/// What the vCPU does after a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HcallOutcome {
    /// Return to the guest with this status in r3 (results are in the argument registers).
    Return(i64),
    /// The machine holds a [`VcpuRequest`] for this vCPU; the glue completes the call.
    WithVcpu,
    /// The vCPU stops until RTAS `start-cpu` wakes it.
    Park,
    /// The VM is ending: this vCPU stops.
    Stop,
}

/// What a hypercall handler sees.
pub struct HcallEnv<'a> {
    /// The calling vCPU.
    pub cpu: u32,
    /// Guest memory.
    pub mem: &'a GuestMemoryMmap,
    /// The machine.
    pub machine: &'a Machine,
    /// Parked vCPUs.
    pub cpus: &'a dyn CpuControl,
    /// Ends the VM.
    pub exit: &'a ExitNotifier,
    /// The hash table in tetra's memory (a KVM-PR guest), for the calls KVM-PR leaves here.
    pub hpt: Option<&'a dyn HptWords>,
}

/// A hypercall handler: the environment and the argument registers r4..r12 (results are
/// written back into them).
pub type Handler = fn(&HcallEnv<'_>, &mut [u64; 9]) -> HcallOutcome;

/// One served hypercall.
pub struct HcallDef {
    /// Its number (r3).
    pub nr: u64,
    /// Its PAPR name.
    pub name: &'static str,
    /// Who serves it under KVM-HV.
    pub kernel: InKernel,
    /// The `ibm,hypertas-functions` group that announces it.
    pub hypertas: Option<&'static str>,
    /// tetra's handler.
    pub handler: Handler,
}

/// The hypercalls tetra serves, by number.
pub static HCALLS: &[HcallDef] = &[
    HcallDef {
        nr: H_GET_TERM_CHAR,
        name: "H_GET_TERM_CHAR",
        kernel: InKernel::Never,
        hypertas: Some("hcall-term"),
        handler: h_get_term_char,
    },
    HcallDef {
        nr: H_PUT_TERM_CHAR,
        name: "H_PUT_TERM_CHAR",
        kernel: InKernel::Never,
        hypertas: Some("hcall-term"),
        handler: h_put_term_char,
    },
    HcallDef {
        nr: H_SET_SPRG0,
        name: "H_SET_SPRG0",
        kernel: InKernel::Never,
        hypertas: Some("hcall-sprg0"),
        handler: h_set_sprg0,
    },
    HcallDef {
        nr: H_CEDE,
        name: "H_CEDE",
        kernel: InKernel::Default,
        hypertas: Some("hcall-splpar"),
        handler: h_cede,
    },
    HcallDef {
        nr: H_SET_MODE,
        name: "H_SET_MODE",
        kernel: InKernel::Enable,
        hypertas: Some("hcall-set-mode"),
        handler: h_set_mode,
    },
    HcallDef {
        nr: H_REGISTER_PROC_TBL,
        name: "H_REGISTER_PROC_TBL",
        kernel: InKernel::Never,
        hypertas: None,
        handler: h_register_proc_tbl,
    },
    HcallDef {
        nr: H_RTAS,
        name: "H_RTAS",
        kernel: InKernel::Never,
        hypertas: None,
        handler: h_rtas,
    },
    // The hash table calls KVM-PR leaves to userspace (KVM-HV serves them all; KVM-PR serves
    // H_ENTER, H_REMOVE, H_PROTECT and H_BULK_REMOVE itself).
    HcallDef {
        nr: H_READ,
        name: "H_READ",
        kernel: InKernel::Default,
        hypertas: Some("hcall-pft"),
        handler: h_read,
    },
    HcallDef {
        nr: H_CLEAR_MOD,
        name: "H_CLEAR_MOD",
        kernel: InKernel::Default,
        hypertas: Some("hcall-pft"),
        handler: h_clear_mod,
    },
    HcallDef {
        nr: H_CLEAR_REF,
        name: "H_CLEAR_REF",
        kernel: InKernel::Default,
        hypertas: Some("hcall-pft"),
        handler: h_clear_ref,
    },
];

/// The entry for hypercall `nr`.
pub fn lookup(nr: u64) -> Option<&'static HcallDef> {
    HCALLS.iter().find(|h| h.nr == nr)
}

/// Serves hypercall `nr` with argument registers `args`. One tetra does not serve is answered
/// `H_FUNCTION`, and said on stderr the first time, by its PAPR name where it has one.
pub fn dispatch(env: &HcallEnv<'_>, nr: u64, args: &mut [u64; 9]) -> HcallOutcome {
    match lookup(nr) {
        Some(h) => (h.handler)(env, args),
        None => {
            if first_unknown(nr) {
                eprintln!(
                    "tetra: the guest called {} ({nr:#x}), which tetra does not serve: \
                     answered H_FUNCTION (said once)",
                    papr_name(nr).unwrap_or("an unknown hypercall")
                );
            }
            HcallOutcome::Return(H_FUNCTION)
        }
    }
}

/// Whether unserved hypercall `nr` is met for the first time in this process.
fn first_unknown(nr: u64) -> bool {
    static SEEN: std::sync::Mutex<std::collections::BTreeSet<u64>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    SEEN.lock().unwrap_or_else(|e| e.into_inner()).insert(nr)
}

/// PAPR's name of hypercall `nr` (Linux's `arch/powerpc/include/asm/hvcall.h`), for the ones a
/// Linux pseries guest may call.
pub fn papr_name(nr: u64) -> Option<&'static str> {
    const NAMES: &[(u64, &str)] = &[
        (0x04, "H_REMOVE"),
        (0x08, "H_ENTER"),
        (0x0c, "H_READ"),
        (0x10, "H_CLEAR_MOD"),
        (0x14, "H_CLEAR_REF"),
        (0x18, "H_PROTECT"),
        (0x1c, "H_GET_TCE"),
        (0x20, "H_PUT_TCE"),
        (0x24, "H_SET_SPRG0"),
        (0x28, "H_SET_DABR"),
        (0x2c, "H_PAGE_INIT"),
        (0x3c, "H_LOGICAL_CI_LOAD"),
        (0x40, "H_LOGICAL_CI_STORE"),
        (0x54, "H_GET_TERM_CHAR"),
        (0x58, "H_PUT_TERM_CHAR"),
        (0x64, "H_EOI"),
        (0x68, "H_CPPR"),
        (0x6c, "H_IPI"),
        (0x70, "H_IPOLL"),
        (0x74, "H_XIRR"),
        (0x7c, "H_PERFMON"),
        (0xdc, "H_REGISTER_VPA"),
        (0xe0, "H_CEDE"),
        (0xe4, "H_CONFER"),
        (0xe8, "H_PROD"),
        (0xec, "H_GET_PPP"),
        (0xf4, "H_PURR"),
        (0x124, "H_BULK_REMOVE"),
        (0x134, "H_SET_XDABR"),
        (0x138, "H_STUFF_TCE"),
        (0x13c, "H_PUT_TCE_INDIRECT"),
        (0x2ec, "H_HOME_NODE_ASSOCIATIVITY"),
        (0x2fc, "H_XIRR_X"),
        (0x300, "H_RANDOM"),
        (0x31c, "H_SET_MODE"),
        (0x37c, "H_REGISTER_PROC_TBL"),
        (0x380, "H_SIGNAL_SYS_RESET"),
        (0xf000, "H_RTAS"),
    ];
    NAMES.iter().find(|(n, _)| *n == nr).map(|(_, name)| *name)
}

/// The `ibm,hypertas-functions` strings: each group of the table once, in table order.
pub fn hypertas_functions() -> Vec<&'static str> {
    let mut v: Vec<&str> = Vec::new();
    for g in HCALLS.iter().filter_map(|h| h.hypertas) {
        if !v.contains(&g) {
            v.push(g);
        }
    }
    v
}

/// The hypercalls tetra asks the kernel to serve (`KVM_CAP_PPC_ENABLE_HCALL`).
pub fn kernel_enabled() -> impl Iterator<Item = &'static HcallDef> {
    HCALLS.iter().filter(|h| h.kernel == InKernel::Enable)
}

fn term_ok(termno: u64) -> bool {
    // Linux's early debug console uses terminal 0 before it has read the device tree (QEMU
    // accepts it as the first vty too).
    termno == u64::from(crate::layout::VTY_REG) || termno == 0
}

/// `H_PUT_TERM_CHAR(termno, len, chars 0-7, chars 8-15)`.
fn h_put_term_char(env: &HcallEnv<'_>, a: &mut [u64; 9]) -> HcallOutcome {
    if !term_ok(a[0]) {
        return HcallOutcome::Return(H_PARAMETER);
    }
    match vty::unpack_chars(a[1], a[2], a[3]) {
        Some(bytes) => {
            env.machine.vty().put(&bytes);
            HcallOutcome::Return(H_SUCCESS)
        }
        None => HcallOutcome::Return(H_PARAMETER),
    }
}

/// `H_GET_TERM_CHAR(termno)` -> (len, chars 0-7, chars 8-15).
fn h_get_term_char(env: &HcallEnv<'_>, a: &mut [u64; 9]) -> HcallOutcome {
    if !term_ok(a[0]) {
        return HcallOutcome::Return(H_PARAMETER);
    }
    let bytes = env.machine.vty().get();
    let (hi, lo) = vty::pack_chars(&bytes);
    a[0] = bytes.len() as u64;
    a[1] = hi;
    a[2] = lo;
    HcallOutcome::Return(H_SUCCESS)
}

/// `H_CEDE` when the kernel left it to tetra: no interrupt source lives in tetra, so the vCPU
/// returns at once (a spurious wake-up, which PAPR allows).
fn h_cede(_env: &HcallEnv<'_>, _a: &mut [u64; 9]) -> HcallOutcome {
    HcallOutcome::Return(H_SUCCESS)
}

/// `H_SET_MODE(mflags, resource, value1, value2)`: the interrupt endianness (LPCR\[ILE\]) and
/// address-translation mode (LPCR\[AIL\]) of every vCPU. The breakpoint resources are the
/// kernel's; reaching tetra they are unsupported.
fn h_set_mode(env: &HcallEnv<'_>, a: &mut [u64; 9]) -> HcallOutcome {
    let (mflags, resource, v1, v2) = (a[0], a[1], a[2], a[3]);
    let (mask, value) = match resource {
        H_SET_MODE_RESOURCE_LE | H_SET_MODE_RESOURCE_ADDR_TRANS_MODE if v1 != 0 => {
            return HcallOutcome::Return(H_P3)
        }
        H_SET_MODE_RESOURCE_LE | H_SET_MODE_RESOURCE_ADDR_TRANS_MODE if v2 != 0 => {
            return HcallOutcome::Return(H_P4)
        }
        H_SET_MODE_RESOURCE_LE => match mflags {
            0 => (LPCR_ILE, 0),
            1 => (LPCR_ILE, LPCR_ILE),
            _ => return HcallOutcome::Return(H_UNSUPPORTED_FLAG),
        },
        // AIL 1 is reserved, and KVM-HV does not support AIL 2.
        H_SET_MODE_RESOURCE_ADDR_TRANS_MODE => match mflags {
            0 | 3 => (LPCR_AIL, mflags << LPCR_AIL_SHIFT),
            _ => return HcallOutcome::Return(H_UNSUPPORTED_FLAG),
        },
        _ => return HcallOutcome::Return(H_P2),
    };
    env.machine.set_shared_lpcr(mask, value);
    env.machine
        .push_request(env.cpu, VcpuRequest::Lpcr { mask, value });
    HcallOutcome::WithVcpu
}

/// `H_SET_SPRG0(value)`: the calling vCPU's SPRG0 (the register is the vCPU's; the glue sets it).
fn h_set_sprg0(env: &HcallEnv<'_>, a: &mut [u64; 9]) -> HcallOutcome {
    env.machine
        .push_request(env.cpu, VcpuRequest::Sprg0 { value: a[0] });
    HcallOutcome::WithVcpu
}

/// `H_REGISTER_PROC_TBL(flags, base, page_size, table_size)`: the guest's own radix process
/// table, `2^(12 + table_size)` bytes at `base`, which KVM then walks (Linux registers its own
/// early in its radix set-up). Only radix with guest translation shootdown (what the device
/// tree's `ibm,architecture-vec-5` offers) is taken; a table that is not a power of two from
/// 4 KiB, not aligned to its size or not inside RAM is `H_PARAMETER`. Deregistering goes back
/// to tetra's own table. The glue configures the MMU on the vCPU's thread.
fn h_register_proc_tbl(env: &HcallEnv<'_>, a: &mut [u64; 9]) -> HcallOutcome {
    let (flags, base, table_size) = (a[0], a[1], a[3]);
    if flags & !0x1f != 0 || flags & PROC_TBL_MODIFY == 0 {
        return HcallOutcome::Return(H_PARAMETER);
    }
    let table = if flags & PROC_TBL_REGISTER == 0 {
        None
    } else {
        let radix_gtse = PROC_TBL_RADIX | PROC_TBL_GTSE;
        if flags & (radix_gtse | PROC_TBL_HASH) != radix_gtse || table_size > 24 {
            return HcallOutcome::Return(H_PARAMETER);
        }
        let size = 1u64 << (table_size + 12);
        let in_ram = base
            .checked_add(size)
            .is_some_and(|end| end <= env.machine.ram_size());
        if !in_ram || crate::mmu::process_table_entry(base, size).is_err() {
            return HcallOutcome::Return(H_PARAMETER);
        }
        Some((base, size))
    };
    env.machine
        .push_request(env.cpu, VcpuRequest::ProcTable { table });
    HcallOutcome::WithVcpu
}

/// `H_RTAS(args)`: an RTAS call whose argument block is at guest-physical `args`.
/// `H_READ(flags, ptex)` on tetra's table; `H_FUNCTION` without one.
fn h_read(env: &HcallEnv<'_>, a: &mut [u64; 9]) -> HcallOutcome {
    let Some(t) = env.hpt else {
        return HcallOutcome::Return(H_FUNCTION);
    };
    let (flags, ptex) = (a[0], a[1]);
    HcallOutcome::Return(papr::h_read(t, flags, ptex, a))
}

/// `H_CLEAR_MOD(flags, ptex)` on tetra's table.
fn h_clear_mod(env: &HcallEnv<'_>, a: &mut [u64; 9]) -> HcallOutcome {
    let Some(t) = env.hpt else {
        return HcallOutcome::Return(H_FUNCTION);
    };
    let ptex = a[1];
    HcallOutcome::Return(papr::h_clear_bit(t, papr::HPTE_R_C, ptex, a))
}

/// `H_CLEAR_REF(flags, ptex)` on tetra's table.
fn h_clear_ref(env: &HcallEnv<'_>, a: &mut [u64; 9]) -> HcallOutcome {
    let Some(t) = env.hpt else {
        return HcallOutcome::Return(H_FUNCTION);
    };
    let ptex = a[1];
    HcallOutcome::Return(papr::h_clear_bit(t, papr::HPTE_R_R, ptex, a))
}

fn h_rtas(env: &HcallEnv<'_>, a: &mut [u64; 9]) -> HcallOutcome {
    match rtas::call(env, a[0]) {
        Ok(rtas::RtasAction::Return) => HcallOutcome::Return(H_SUCCESS),
        Ok(rtas::RtasAction::Park) => HcallOutcome::Park,
        Ok(rtas::RtasAction::Stop) => HcallOutcome::Stop,
        Err(_) => HcallOutcome::Return(H_PARAMETER),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::machine::fake::FakeCpus;
    use crate::machine::test_machine;
    use std::sync::{Arc, Mutex};
    use vm_memory::GuestAddress;
    use vmm_core::console::ConsoleSink;

    pub(crate) struct Rig {
        pub machine: Machine,
        pub cpus: FakeCpus,
        pub mem: GuestMemoryMmap,
        pub exit: ExitNotifier,
        pub out: Arc<Mutex<Vec<u8>>>,
    }

    impl Rig {
        pub fn new(cpus: u32) -> Rig {
            Rig::new_with(cpus, |m| m)
        }
        /// A rig whose machine `f` finishes (adds its interrupt controller, say).
        pub fn new_with(cpus: u32, f: impl FnOnce(Machine) -> Machine) -> Rig {
            let out = Arc::new(Mutex::new(Vec::new()));
            Rig {
                machine: f(test_machine(cpus, ConsoleSink::Buffer(out.clone()))),
                cpus: FakeCpus::new(cpus),
                mem: GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap(),
                exit: ExitNotifier::new().unwrap(),
                out,
            }
        }
        pub fn env(&self, cpu: u32) -> HcallEnv<'_> {
            HcallEnv {
                cpu,
                mem: &self.mem,
                machine: &self.machine,
                cpus: &self.cpus,
                exit: &self.exit,
                hpt: None,
            }
        }
        pub fn call(&self, cpu: u32, nr: u64, args: &[u64]) -> (HcallOutcome, [u64; 9]) {
            let mut a = [0u64; 9];
            a[..args.len()].copy_from_slice(args);
            (dispatch(&self.env(cpu), nr, &mut a), a)
        }
        pub fn output(&self) -> String {
            String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
        }
    }

    #[test]
    fn the_table_is_consistent() {
        for (i, h) in HCALLS.iter().enumerate() {
            assert!(HCALLS[..i].iter().all(|o| o.nr != h.nr), "{} twice", h.name);
            assert_eq!(
                h.nr % 4,
                0,
                "{}: PAPR hypercall numbers are multiples of 4",
                h.name
            );
            assert_eq!(lookup(h.nr).unwrap().name, h.name);
        }
        assert_eq!(
            hypertas_functions(),
            vec![
                "hcall-term",
                "hcall-sprg0",
                "hcall-splpar",
                "hcall-set-mode",
                "hcall-pft"
            ]
        );
        let enabled: Vec<&str> = kernel_enabled().map(|h| h.name).collect();
        assert_eq!(enabled, vec!["H_SET_MODE"]);
        assert_eq!(lookup(H_CEDE).unwrap().kernel, InKernel::Default);
    }

    #[test]
    fn console_put_and_get() {
        let rig = Rig::new(1);
        let (hi, lo) = vty::pack_chars(b"tetra on pseries");
        let r = rig.call(0, H_PUT_TERM_CHAR, &[VTY, 16, hi, lo]);
        assert_eq!(r.0, HcallOutcome::Return(H_SUCCESS));
        let r = rig.call(0, H_PUT_TERM_CHAR, &[0, 1, u64::from(b'\n') << 56, 0]);
        assert_eq!(r.0, HcallOutcome::Return(H_SUCCESS));
        assert_eq!(rig.output(), "tetra on pseries\n");
        // Wrong terminal, too long.
        assert_eq!(
            rig.call(0, H_PUT_TERM_CHAR, &[0x3000_0000, 1, hi, lo]).0,
            HcallOutcome::Return(H_PARAMETER)
        );
        assert_eq!(
            rig.call(0, H_PUT_TERM_CHAR, &[VTY, 17, hi, lo]).0,
            HcallOutcome::Return(H_PARAMETER)
        );
        assert_eq!(rig.output(), "tetra on pseries\n");

        let (out, a) = rig.call(0, H_GET_TERM_CHAR, &[VTY]);
        assert_eq!((out, a[0]), (HcallOutcome::Return(H_SUCCESS), 0));
        use vmm_core::console::ConsoleInput;
        rig.machine.vty().push_input(b"0123456789abcdefXY");
        let (_, a) = rig.call(0, H_GET_TERM_CHAR, &[VTY]);
        assert_eq!(a[0], 16);
        assert_eq!(
            vty::unpack_chars(a[0], a[1], a[2]).unwrap(),
            b"0123456789abcdef"
        );
        let (_, a) = rig.call(0, H_GET_TERM_CHAR, &[VTY]);
        assert_eq!(vty::unpack_chars(a[0], a[1], a[2]).unwrap(), b"XY");
    }

    const VTY: u64 = crate::layout::VTY_REG as u64;

    #[test]
    fn unknown_hypercalls_and_cede() {
        let rig = Rig::new(1);
        for nr in [0x4, 0x1234, H_RTAS + 4, u64::MAX] {
            assert_eq!(rig.call(0, nr, &[]).0, HcallOutcome::Return(H_FUNCTION));
        }
        assert_eq!(rig.call(0, H_CEDE, &[]).0, HcallOutcome::Return(H_SUCCESS));
    }

    #[test]
    fn unserved_hypercalls_are_h_function_and_said_once() {
        let rig = Rig::new(1);
        assert_eq!(rig.call(0, 0x2c, &[]).0, HcallOutcome::Return(H_FUNCTION));
        assert_eq!(
            rig.call(0, 0x7_0000, &[]).0,
            HcallOutcome::Return(H_FUNCTION)
        );
        assert_eq!(papr_name(0x2c), Some("H_PAGE_INIT"));
        assert_eq!(papr_name(0x7_0000), None);
        // Both were said by the calls above; a number met for the first time is said.
        assert!(!first_unknown(0x2c) && !first_unknown(0x7_0000));
        assert!(first_unknown(0x7_0004));
        // Every served hypercall has its PAPR name.
        for h in HCALLS {
            assert_eq!(papr_name(h.nr), Some(h.name));
        }
    }

    #[test]
    fn register_proc_tbl_checks_then_leaves_it_to_the_vcpu() {
        let rig = Rig::new(1);
        // Linux's call: new, radix, GTSE; 64 KiB (table_size 4).
        let ram = rig.machine.ram_size();
        let linux = PROC_TBL_MODIFY | PROC_TBL_REGISTER | PROC_TBL_RADIX | PROC_TBL_GTSE;
        let (o, _) = rig.call(0, H_REGISTER_PROC_TBL, &[linux, 0xf_0000, 0, 4]);
        assert_eq!(o, HcallOutcome::WithVcpu);
        assert_eq!(
            rig.machine.take_request(0),
            Some(VcpuRequest::ProcTable {
                table: Some((0xf_0000, 0x1_0000))
            })
        );
        let (o, _) = rig.call(0, H_REGISTER_PROC_TBL, &[PROC_TBL_MODIFY, 0, 0, 0]);
        assert_eq!(o, HcallOutcome::WithVcpu);
        assert_eq!(
            rig.machine.take_request(0),
            Some(VcpuRequest::ProcTable { table: None })
        );
        for bad in [
            [linux | 0x20, 0xf_0000, 0, 4], // unknown flag
            [linux & !PROC_TBL_MODIFY, 0xf_0000, 0, 4],
            [linux & !PROC_TBL_GTSE, 0xf_0000, 0, 4],
            [linux & !PROC_TBL_RADIX, 0xf_0000, 0, 4], // hash
            [linux | PROC_TBL_HASH, 0xf_0000, 0, 4],
            [linux, 0xf_8000, 0, 4],          // misaligned
            [linux, ram, 0, 4],               // outside RAM
            [linux, ram - 0x1_0000, 0, 5],    // ends outside RAM
            [linux, 0, 0, 25],                // too big
            [linux, u64::MAX - 0xffff, 0, 4], // wraps
        ] {
            assert_eq!(
                rig.call(0, H_REGISTER_PROC_TBL, &bad).0,
                HcallOutcome::Return(H_PARAMETER),
                "{bad:x?}"
            );
        }
        assert_eq!(rig.machine.take_request(0), None);
    }

    #[test]
    fn set_sprg0_is_left_to_the_vcpu() {
        let rig = Rig::new(2);
        let (o, _) = rig.call(1, H_SET_SPRG0, &[0x1234_abcd]);
        assert_eq!(o, HcallOutcome::WithVcpu);
        assert_eq!(
            rig.machine.take_request(1),
            Some(VcpuRequest::Sprg0 { value: 0x1234_abcd })
        );
        assert_eq!(rig.machine.take_request(0), None);
    }

    #[test]
    fn set_mode_le_and_ail() {
        let rig = Rig::new(2);
        let r = rig.call(1, H_SET_MODE, &[1, H_SET_MODE_RESOURCE_LE, 0, 0]);
        assert_eq!(r.0, HcallOutcome::WithVcpu);
        assert_eq!(
            rig.machine.take_request(1),
            Some(VcpuRequest::Lpcr {
                mask: LPCR_ILE,
                value: LPCR_ILE
            })
        );
        assert_eq!(rig.machine.take_request(0), None);
        assert_eq!(rig.machine.shared_lpcr(), (LPCR_ILE, LPCR_ILE));
        let r = rig.call(
            0,
            H_SET_MODE,
            &[3, H_SET_MODE_RESOURCE_ADDR_TRANS_MODE, 0, 0],
        );
        assert_eq!(r.0, HcallOutcome::WithVcpu);
        assert_eq!(
            rig.machine.shared_lpcr(),
            (LPCR_ILE | LPCR_AIL, LPCR_ILE | LPCR_AIL)
        );
        for (args, want) in [
            ([2, H_SET_MODE_RESOURCE_LE, 0, 0], H_UNSUPPORTED_FLAG),
            ([1, H_SET_MODE_RESOURCE_LE, 1, 0], H_P3),
            ([1, H_SET_MODE_RESOURCE_LE, 0, 1], H_P4),
            (
                [2, H_SET_MODE_RESOURCE_ADDR_TRANS_MODE, 0, 0],
                H_UNSUPPORTED_FLAG,
            ),
            (
                [1, H_SET_MODE_RESOURCE_ADDR_TRANS_MODE, 0, 0],
                H_UNSUPPORTED_FLAG,
            ),
            ([0, H_SET_MODE_RESOURCE_SET_DAWR0, 0x1000, 0], H_P2),
            ([0, 99, 0, 0], H_P2),
        ] {
            assert_eq!(
                rig.call(0, H_SET_MODE, &args).0,
                HcallOutcome::Return(want),
                "{args:?}"
            );
        }
        assert_eq!(
            rig.machine.take_request(0),
            Some(VcpuRequest::Lpcr {
                mask: LPCR_AIL,
                value: LPCR_AIL
            })
        );
    }
}
