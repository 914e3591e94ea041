//! The x86 vCPU as vmm-core sees it: [`X86Vcpu`] wraps the kvm-ioctls vCPU and serves the x86
//! register table's ids from the batched calls (KVM has no ONE_REG on x86): each block of
//! [`crate::regs::BLOCKS`] is one `KVM_GET_*`/`KVM_SET_*` pair, MSRs are `KVM_GET/SET_MSRS`.

use crate::regs::{
    BLOCK_DEBUGREGS, BLOCK_EVENTS, BLOCK_FPU, BLOCK_LAPIC, BLOCK_MP_STATE, BLOCK_REGS, BLOCK_SREGS,
    BLOCK_XCRS, BLOCK_XSAVE,
};
use kvm_bindings::{kvm_msr_entry, kvm_sregs, Msrs};
use vmm_core::hypervisor::ioctls::{KvmVcpu, KvmVm};
use vmm_core::hypervisor::{HvError, VcpuExit, VcpuOps};
use vmm_core::regs::{RegBlock, RegDesc, VcpuRegs};

/// An x86 vCPU.
pub struct X86Vcpu(pub KvmVcpu);

impl VcpuOps for X86Vcpu {
    fn run(&mut self) -> Result<VcpuExit<'_>, HvError> {
        self.0.run()
    }
    fn immediate_exit_ptr(&mut self) -> *mut u8 {
        self.0.immediate_exit_ptr()
    }
    fn get_one_reg(&self, id: u64, buf: &mut [u8]) -> Result<usize, HvError> {
        VcpuOps::get_one_reg(&self.0, id, buf)
    }
    fn set_one_reg(&self, id: u64, buf: &[u8]) -> Result<usize, HvError> {
        VcpuOps::set_one_reg(&self.0, id, buf)
    }
}

/// The bytes of a plain-old-data kvm-bindings struct.
fn bytes_of<T>(v: &T) -> &[u8] {
    // SAFETY: T is a `#[repr(C)]` kvm-bindings struct of integers and arrays (no pointers, no
    // implicit padding in the structs used here, all of which KVM fills whole); the slice covers
    // exactly `v` and lives as long as the borrow.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

/// A kvm-bindings struct from `buf`, which must be exactly its size.
fn from_bytes<T: Default>(buf: &[u8]) -> Result<T, HvError> {
    if buf.len() != std::mem::size_of::<T>() {
        return Err(HvError::Unsupported("a register block of the wrong size"));
    }
    let mut v = T::default();
    // SAFETY: copies exactly size_of::<T>() bytes into a T made of integers and arrays, for which
    // every bit pattern is valid.
    unsafe {
        std::ptr::copy_nonoverlapping(buf.as_ptr(), (&mut v as *mut T).cast::<u8>(), buf.len())
    };
    Ok(v)
}

fn put<T>(buf: &mut [u8], v: &T) -> Result<(), HvError> {
    let b = bytes_of(v);
    if buf.len() != b.len() {
        return Err(HvError::Unsupported("a register block of the wrong size"));
    }
    buf.copy_from_slice(b);
    Ok(())
}

fn err(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> HvError {
    move |e| KvmVm::error(op, e)
}

impl VcpuRegs for X86Vcpu {
    fn read_block(&self, block: &RegBlock, buf: &mut [u8]) -> Result<(), HvError> {
        let fd = self.0.fd();
        match block.id {
            BLOCK_REGS => put(buf, &fd.get_regs().map_err(err("KVM_GET_REGS"))?),
            BLOCK_SREGS => put(buf, &fd.get_sregs().map_err(err("KVM_GET_SREGS"))?),
            BLOCK_XCRS => put(buf, &fd.get_xcrs().map_err(err("KVM_GET_XCRS"))?),
            BLOCK_XSAVE => put(buf, &fd.get_xsave().map_err(err("KVM_GET_XSAVE"))?),
            BLOCK_FPU => put(buf, &fd.get_fpu().map_err(err("KVM_GET_FPU"))?),
            BLOCK_MP_STATE => put(buf, &fd.get_mp_state().map_err(err("KVM_GET_MP_STATE"))?),
            BLOCK_LAPIC => put(buf, &fd.get_lapic().map_err(err("KVM_GET_LAPIC"))?),
            BLOCK_EVENTS => put(
                buf,
                &fd.get_vcpu_events().map_err(err("KVM_GET_VCPU_EVENTS"))?,
            ),
            BLOCK_DEBUGREGS => put(buf, &fd.get_debug_regs().map_err(err("KVM_GET_DEBUGREGS"))?),
            _ => Err(HvError::Unsupported(block.ioctls)),
        }
    }

    fn write_block(
        &self,
        block: &RegBlock,
        buf: &[u8],
        _written: &[&RegDesc],
    ) -> Result<(), HvError> {
        let fd = self.0.fd();
        match block.id {
            BLOCK_REGS => fd.set_regs(&from_bytes(buf)?).map_err(err("KVM_SET_REGS")),
            BLOCK_SREGS => {
                let sregs: kvm_sregs = from_bytes(buf)?;
                fd.set_sregs(&sregs).map_err(|e| {
                    // KVM refuses inconsistent control registers with a bare EINVAL
                    // (kvm_is_valid_sregs): log the ones it checks, so a refusal can be read.
                    tracing::warn!(
                        cr0 = format_args!("{:#x}", sregs.cr0),
                        cr3 = format_args!("{:#x}", sregs.cr3),
                        cr4 = format_args!("{:#x}", sregs.cr4),
                        efer = format_args!("{:#x}", sregs.efer),
                        cs_l = sregs.cs.l,
                        apic_base = format_args!("{:#x}", sregs.apic_base),
                        "KVM_SET_SREGS refused these control registers"
                    );
                    KvmVm::error("KVM_SET_SREGS", e)
                })
            }
            BLOCK_XCRS => fd.set_xcrs(&from_bytes(buf)?).map_err(err("KVM_SET_XCRS")),
            BLOCK_XSAVE => {
                let xsave = from_bytes(buf)?;
                // SAFETY: a legacy 4 KiB kvm_xsave; KVM_SET_XSAVE reads exactly that much.
                unsafe { fd.set_xsave(&xsave) }.map_err(err("KVM_SET_XSAVE"))
            }
            BLOCK_FPU => fd.set_fpu(&from_bytes(buf)?).map_err(err("KVM_SET_FPU")),
            BLOCK_MP_STATE => fd
                .set_mp_state(from_bytes(buf)?)
                .map_err(err("KVM_SET_MP_STATE")),
            BLOCK_LAPIC => fd
                .set_lapic(&from_bytes(buf)?)
                .map_err(err("KVM_SET_LAPIC")),
            BLOCK_EVENTS => fd
                .set_vcpu_events(&from_bytes(buf)?)
                .map_err(err("KVM_SET_VCPU_EVENTS")),
            BLOCK_DEBUGREGS => fd
                .set_debug_regs(&from_bytes(buf)?)
                .map_err(err("KVM_SET_DEBUGREGS")),
            _ => Err(HvError::Unsupported(block.ioctls)),
        }
    }

    fn read_indexed(
        &self,
        _block: &RegBlock,
        indices: &[u32],
        values: &mut [u64],
    ) -> Result<usize, HvError> {
        let entries: Vec<kvm_msr_entry> = indices
            .iter()
            .map(|&index| kvm_msr_entry {
                index,
                ..Default::default()
            })
            .collect();
        let mut msrs = Msrs::from_entries(&entries)
            .map_err(|_| HvError::Unsupported("this many MSRs at once"))?;
        let n = self
            .0
            .fd()
            .get_msrs(&mut msrs)
            .map_err(err("KVM_GET_MSRS"))?;
        for (v, e) in values.iter_mut().zip(&msrs.as_slice()[..n]) {
            *v = e.data;
        }
        Ok(n)
    }

    fn write_indexed(
        &self,
        _block: &RegBlock,
        indices: &[u32],
        values: &[u64],
    ) -> Result<usize, HvError> {
        let entries: Vec<kvm_msr_entry> = indices
            .iter()
            .zip(values)
            .map(|(&index, &data)| kvm_msr_entry {
                index,
                data,
                ..Default::default()
            })
            .collect();
        let msrs = Msrs::from_entries(&entries)
            .map_err(|_| HvError::Unsupported("this many MSRs at once"))?;
        self.0.fd().set_msrs(&msrs).map_err(err("KVM_SET_MSRS"))
    }
}
