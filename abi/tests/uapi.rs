//! The ABI check: every struct, constant, ioctl number and register id tetra defines itself,
//! against the uapi headers of its arch, compiled with that arch's gcc (see the crate doc).
//! Missing compilers or headers fail with the packages to install.

use abi_check::{check, Target};
use std::path::PathBuf;
use vmm_core::regs::abi::AbiFact;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("abi-probes")
}

fn run(target: Target, facts: Vec<AbiFact>) {
    assert!(
        facts.len() > 50,
        "{}: suspiciously few facts ({})",
        target.name,
        facts.len()
    );
    match check(&target, &facts, &dir()) {
        Ok(n) => eprintln!("{}: {n} ABI facts hold", target.name),
        Err(e) => panic!("\n{e}"),
    }
}

fn powerpc_facts() -> Vec<AbiFact> {
    let mut facts = kvm_ppc::abi::abi_facts();
    facts.extend(arch_ppc64::regs::abi_facts());
    facts.extend(arch_ppc64::mmu::abi_facts());
    // BookE's own structs (kvm_config_tlb, the TLB array, kvm_dirty_tlb), constants, the
    // KVM_DIRTY_TLB number, the MPIC attribute groups, and its register table (sregs `u.e`).
    facts.extend(arch_booke::abi::abi_facts());
    facts
}

/// The facts of a target plus its seccomp syscall table (numbers, `AUDIT_ARCH`, socket ioctls).
fn with(mut facts: Vec<AbiFact>, seccomp: Vec<AbiFact>) -> Vec<AbiFact> {
    facts.extend(seccomp);
    facts
}

#[test]
fn powerpc64le_uapi() {
    run(
        Target::POWERPC64LE,
        with(powerpc_facts(), arch_ppc64::seccomp::abi_facts()),
    );
}

#[test]
fn powerpc64_uapi() {
    run(
        Target::POWERPC64,
        with(powerpc_facts(), arch_booke::seccomp::abi_facts()),
    );
}

#[test]
fn aarch64_uapi() {
    run(
        Target::AARCH64,
        with(
            arch_arm64::regs::abi_facts(),
            arch_arm64::seccomp::abi_facts(),
        ),
    );
}

#[test]
fn x86_64_uapi() {
    run(
        Target::X86_64,
        with(
            arch_x86_64::regs::abi_facts(),
            arch_x86_64::seccomp::abi_facts(),
        ),
    );
}
