//! The pseries platform: the VM (KVM-HV, else KVM-PR), its MMU (radix, else a hashed page
//! table: [`crate::mmu::plan`]), the in-kernel XICS (when the host has it), the payload and its boot data in guest memory (process table, RTAS entry code, initrd,
//! device tree), the console and the debug-exit register.

use super::htab::{Htab, HtabMigration};
use crate::boot::{plan, write_image, BootError, EntryState};
use crate::cpu::HostCpu;
use crate::error::Ppc64Error;
use crate::events::EventSources;
use crate::fdt::{build_fdt, FdtConfig};
use crate::hcall;
use crate::irqchip::{IrqChipChoice, KernelSupport, SourceError, SourceStore, Xics, XicsRouter};
use crate::layout::*;
use crate::machine::Machine;
use crate::mmu::htab::abi::KVM_CAP_PPC_ALLOC_HTAB;
use crate::mmu::plan::plan_mmu;
use crate::mmu::smmu::{
    HashCpuProps, KvmPpcSmmuInfo, KVM_CAP_PPC_GET_SMMU_INFO, KVM_PPC_GET_SMMU_INFO,
};
use crate::mmu::*;
use crate::rtas::RTAS_BLOB;
use crate::vty::Vty;
use crate::Ppc64;
use kvm_ppc::consts::{
    KVM_CAP_IRQ_XICS, KVM_CAP_PPC_MMU_RADIX, KVM_CAP_PPC_PAPR, KVM_DEV_TYPE_XICS,
    KVM_DEV_XICS_GRP_CTRL, KVM_DEV_XICS_GRP_SOURCES, KVM_DEV_XICS_NR_SERVERS,
};
use kvm_ppc::structs::KvmEnableCap;
use kvm_ppc::{Device, Kvm, KvmAbi, PpcVm};
use std::sync::{Arc, Mutex, OnceLock};
use vmm_core::devices::{DebugExit, KvmRouter};
use vmm_core::hypervisor::{HvError, VmOps};
use vmm_core::{BuildContext, PlatformContext};
use vmm_sys_util::ioctl::{ioctl_with_mut_ref, ioctl_with_ref};

/// What the ppc64 vCPUs share.
pub struct Platform {
    /// The pseries machine state (console, RTAS vCPU states, LPCR bits).
    pub machine: Machine,
    /// The guest's processor version, given to every vCPU: the host's, or the model of
    /// `--cpu-template` ([`crate::cpu_model`]).
    pub pvr: u32,
    /// The host CPU (the device tree's cpu nodes, with [`Platform::pvr`]: [`Platform::guest_cpu`]).
    pub host: HostCpu,
    /// Where the boot data went (a booted VM).
    pub boot: OnceLock<BootData>,
    /// The guest MMU.
    pub mmu: MmuPlan,
    /// The hash table of a hash-MMU guest.
    pub htab: Option<Htab>,
    /// What a migration sent or received of a table in tetra's memory.
    pub htab_migration: HtabMigration,
    /// A hash-MMU guest's table size, SLB size and page sizes for its device tree
    /// (`KVM_PPC_GET_SMMU_INFO`).
    pub hash_props: Option<HashCpuProps>,
    /// The in-kernel XICS device, which every vCPU is connected to.
    pub xics: Option<Arc<Device>>,
    /// Routes device interrupts to XICS sources (with the XICS).
    pub router: Option<XicsRouter>,
}

impl Platform {
    /// The processor the guest's device tree describes: the host's, as the guest's model.
    pub fn guest_cpu(&self) -> HostCpu {
        let mut cpu = self.host;
        cpu.info.pvr = self.pvr;
        cpu
    }
}

/// The in-kernel XICS's source attributes.
struct KernelSources(Arc<Device>);

impl SourceStore for KernelSources {
    fn get(&self, irq: u32) -> Result<u64, SourceError> {
        self.0
            .get_attr_u64(KVM_DEV_XICS_GRP_SOURCES, u64::from(irq))
            .map_err(|source| SourceError {
                irq,
                op: "KVM_GET_DEVICE_ATTR",
                source,
            })
    }

    fn set(&self, irq: u32, attr: u64) -> Result<(), SourceError> {
        self.0
            .set_attr_u64(KVM_DEV_XICS_GRP_SOURCES, u64::from(irq), attr)
            .map_err(|source| SourceError {
                irq,
                op: "KVM_SET_DEVICE_ATTR",
                source,
            })
    }
}

/// What the kernel offers for the interrupt controller.
fn kernel_support(vm: &PpcVm) -> KernelSupport {
    KernelSupport {
        xics: vm.check_extension(KVM_CAP_IRQ_XICS) > 0 && vm.can_create_device(KVM_DEV_TYPE_XICS),
    }
}

/// Creates the in-kernel XICS for `servers` vCPUs.
fn create_xics(vm: &PpcVm, servers: u32) -> Result<Arc<Device>, HvError> {
    let dev = vm.create_device(KVM_DEV_TYPE_XICS)?;
    // XICS-on-XIVE (a POWER9 host in HV mode) sizes its servers; the XICS emulation has no
    // such control.
    if dev.has_attr(KVM_DEV_XICS_GRP_CTRL, KVM_DEV_XICS_NR_SERVERS) {
        dev.set_attr_u32(KVM_DEV_XICS_GRP_CTRL, KVM_DEV_XICS_NR_SERVERS, servers)?;
    }
    Ok(Arc::new(dev))
}

/// Where [`load`] put the boot data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootData {
    /// The device tree.
    pub fdt_addr: u64,
    /// The radix process table `(base, size)`.
    pub proc_table: (u64, u64),
}

/// `KVM_CREATE_VM` as KVM-HV, else (the host refuses it: no kvm-hv) as KVM-PR.
pub(super) fn create_vm() -> Result<PpcVm, Ppc64Error> {
    let kvm = Kvm::open(KvmAbi::POWERPC)?;
    let mut refused = None;
    for flavour in KvmFlavour::ORDER {
        match kvm.create_vm(flavour.vm_type()) {
            Ok(vm) => {
                if let Some(e) = refused {
                    tracing::info!("a {} VM (the host refused KVM-HV: {e})", flavour.name());
                }
                return Ok(vm);
            }
            Err(e) if flavour.try_next_after(e.errno()) && refused.is_none() => {
                refused = Some(std::io::Error::from_raw_os_error(e.errno().unwrap_or(0)));
            }
            Err(HvError::Ioctl { source, .. }) => {
                return Err(HvError::Ioctl {
                    op: match (flavour, &refused) {
                        (KvmFlavour::Hv, _) => "KVM_CREATE_VM(KVM_VM_PPC_HV)",
                        (KvmFlavour::Pr, Some(_)) => {
                            "KVM_CREATE_VM(KVM_VM_PPC_PR, after KVM_VM_PPC_HV was refused)"
                        }
                        (KvmFlavour::Pr, None) => "KVM_CREATE_VM(KVM_VM_PPC_PR)",
                    },
                    source,
                }
                .into())
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(HvError::Unsupported("KVM-HV or KVM-PR (the host refused both VM types)").into())
}

/// The guest MMU this host offers for `ram` bytes.
fn mmu_plan(vm: &PpcVm, ram: u64) -> Result<MmuPlan, Ppc64Error> {
    let offer = MmuOffer {
        radix: vm.check_extension(KVM_CAP_PPC_MMU_RADIX) > 0,
        alloc_htab: vm.check_extension(KVM_CAP_PPC_ALLOC_HTAB) > 0,
    };
    plan_mmu(offer, ram).map_err(|_| {
        Ppc64Error::from(HvError::Unsupported(
            "a hash table of the size the guest RAM needs",
        ))
    })
}

/// The hash page sizes, where the host reports them.
fn smmu_info(vm: &PpcVm) -> Result<Option<KvmPpcSmmuInfo>, HvError> {
    if vm.check_extension(KVM_CAP_PPC_GET_SMMU_INFO) <= 0 {
        return Ok(None);
    }
    let mut info = KvmPpcSmmuInfo::default();
    // SAFETY: `info` is a live kvm_ppc_smmu_info of the size the number encodes; the kernel fills it.
    let r = unsafe { ioctl_with_mut_ref(vm.fd(), KVM_PPC_GET_SMMU_INFO as _, &mut info) };
    if r < 0 {
        return Err(HvError::last("KVM_PPC_GET_SMMU_INFO"));
    }
    Ok(Some(info))
}

fn rmmu_info(vm: &PpcVm) -> Result<KvmPpcRmmuInfo, HvError> {
    let mut info = KvmPpcRmmuInfo::default();
    // SAFETY: `info` is a live kvm_ppc_rmmu_info of the size the number encodes; the kernel fills it.
    let r = unsafe { ioctl_with_mut_ref(vm.fd(), KVM_PPC_GET_RMMU_INFO as _, &mut info) };
    if r < 0 {
        return Err(HvError::last("KVM_PPC_GET_RMMU_INFO"));
    }
    Ok(info)
}

pub(super) fn configure_v3_mmu(vm: &PpcVm, cfg: &KvmPpcMmuv3Cfg) -> Result<(), HvError> {
    // SAFETY: `cfg` is a live kvm_ppc_mmuv3_cfg the kernel only reads.
    let r = unsafe { ioctl_with_ref(vm.fd(), KVM_PPC_CONFIGURE_V3_MMU as _, cfg) };
    if r < 0 {
        return Err(HvError::last("KVM_PPC_CONFIGURE_V3_MMU"));
    }
    Ok(())
}

pub(super) fn setup(ctx: &mut PlatformContext<'_, Ppc64>) -> Result<Platform, Ppc64Error> {
    let cfg = ctx.config;
    let host = HostCpu::detect()?;
    let mmu = mmu_plan(ctx.vm, ctx.layout.ram_size)?;
    let htab = match mmu {
        MmuPlan::Radix => {
            if ap_encodings(&rmmu_info(ctx.vm)?).is_empty() {
                return Err(HvError::Unsupported(
                    "radix page sizes (KVM_PPC_GET_RMMU_INFO lists none)",
                )
                .into());
            }
            None
        }
        MmuPlan::Hash { geometry, home } => {
            tracing::info!(
                "hash MMU: a table of {} KiB ({home:?})",
                geometry.bytes() >> 10
            );
            Some(Htab::allocate(ctx.vm, geometry, home)?)
        }
    };
    // KVM-PR (tetra holds the hash table) takes any PVR; KVM-HV only the host's.
    let any_pvr = htab.as_ref().and_then(|h| h.user()).is_some();
    let pvr = crate::cpu_model::resolve(cfg.cpu_template.as_deref(), host.info.pvr, any_pvr)?;
    if pvr != host.info.pvr {
        tracing::info!(
            "guest processor: PVR {pvr:#010x} (the host's is {:#010x})",
            host.info.pvr
        );
    }
    let hash_props = match &htab {
        Some(t) => Some(HashCpuProps::within(
            t.geometry().order(),
            smmu_info(ctx.vm)?.as_ref(),
            crate::cpu_model::page_shifts(pvr),
        )),
        None => None,
    };
    // Hypercalls the kernel serves better than tetra (H_SET_MODE's breakpoint registers live in
    // the kernel); without the capability tetra's handlers answer them all.
    if ctx.vm.check_extension(KVM_CAP_PPC_ENABLE_HCALL) > 0 {
        for h in hcall::kernel_enabled() {
            ctx.vm.enable_cap(&KvmEnableCap::new(
                KVM_CAP_PPC_ENABLE_HCALL,
                [h.nr, 1, 0, 0],
            ))?;
        }
    }
    // PAPR mode is per vCPU (vcpu.rs); the VM-wide capability must exist.
    if ctx.vm.check_extension(KVM_CAP_PPC_PAPR) <= 0 {
        return Err(HvError::Unsupported("KVM_CAP_PPC_PAPR").into());
    }

    let in_kernel =
        IrqChipChoice::parse(cfg.irqchip.as_deref())?.in_kernel_xics(kernel_support(ctx.vm))?;
    let (xics_dev, router) = if in_kernel {
        let dev = create_xics(ctx.vm, cfg.cpus)?;
        let sources = Arc::new(Xics::new(Box::new(KernelSources(dev.clone())), cfg.cpus));
        (Some(dev), Some(XicsRouter::new(sources, ctx.vm.clone())))
    } else {
        (None, None)
    };

    // The console (a virtual device the hcalls serve; with the XICS it has an interrupt, else
    // the guest polls it) and the debug-exit register.
    let kvm_router = KvmRouter(ctx.vm.clone());
    let dev_router: &dyn vmm_core::devices::InterruptRouter = match &router {
        Some(r) => r,
        None => &kvm_router,
    };
    let mut descs = crate::devices::descs(router.is_some()).into_iter();
    let console_irq = ctx
        .devices
        .describe(dev_router, descs.next().expect("the console"))?;
    let exit = ctx.exit.clone();
    ctx.devices
        .add(dev_router, descs.next().expect("the debug exit"), |_| {
            DebugExit::new(exit)
        })?;
    let vty = Arc::new(Mutex::new(
        Vty::new(ctx.console.sink.writer(), ctx.console.space.clone()).with_interrupt(console_irq),
    ));
    ctx.console.input = Some(vty.clone());

    let mut machine = Machine::new(vty, cfg.cpus, ctx.layout.ram_size);
    if let Some(r) = &router {
        machine = machine.with_xics(r.xics().clone());
        // The EPOW event source (the power button), with an interrupt controller only.
        let epow = ctx
            .devices
            .describe(dev_router, descs.next().expect("the EPOW source"))?;
        machine = machine.with_events(EventSources::new(epow));
    }
    ctx.devices
        .add_optional_state(crate::events::STATE_TAG, machine.events().queue().clone())?;
    Ok(Platform {
        machine,
        pvr,
        host,
        boot: OnceLock::new(),
        mmu,
        htab,
        htab_migration: HtabMigration::default(),
        hash_props,
        xics: xics_dev,
        router,
    })
}

/// Loads the payload and the boot data (process table, RTAS entry code, initrd, device tree,
/// from the top of the firmware area down), configures the radix MMU (a radix guest), and returns the boot
/// vCPU's entry state.
pub(super) fn load(ctx: &BuildContext<'_, Ppc64>) -> Result<EntryState, Ppc64Error> {
    let cfg = ctx.config;
    let ram = cfg.mem_bytes();
    let payload = cfg.kernel.as_ref().ok_or(BootError::NoKernel)?;
    let name = payload.name();
    let image = payload.read()?;
    let kernel = plan(&name, &image, cfg.raw.as_ref(), ram)?;
    let mut alloc = FirmwareAllocator::new(ram, Some(kernel.span))?;
    let proc_table = alloc.alloc("the radix process table", PROC_TABLE_SIZE, PROC_TABLE_SIZE)?;
    let rtas_base = alloc.alloc("the RTAS entry code", RTAS_SIZE, FIRMWARE_ALIGN)?;
    let initrd = match &cfg.initrd {
        Some(p) => {
            let data = p.read()?;
            let at = alloc.alloc("the initrd", data.len() as u64, FIRMWARE_ALIGN)?;
            ctx.memory.write("the initrd", at, &data)?;
            Some((at, at + data.len() as u64))
        }
        None => None,
    };
    // The rest of each segment (its bss) is left as a fresh boot's RAM is: zero.
    for &(addr, data, _) in &kernel.segments {
        write_image(&ctx.memory.memory(), &name, addr, data)?;
    }
    ctx.memory.write(
        "the radix process table",
        proc_table,
        &vec![0u8; PROC_TABLE_SIZE as usize],
    )?;
    ctx.memory
        .write("the RTAS entry code", rtas_base, &RTAS_BLOB)?;
    let fdt = build_fdt(&FdtConfig {
        cpus: cfg.cpus,
        ram_size: ram,
        cpu: ctx.platform.guest_cpu(),
        bootargs: &cfg.cmdline,
        initrd,
        rtas_base,
        proc_table: (proc_table, PROC_TABLE_SIZE),
        devices: ctx.devices,
        xics: ctx.platform.xics.is_some(),
        radix: ctx.platform.mmu.is_radix(),
        hash: ctx.platform.hash_props.clone(),
    })?;
    let fdt_addr = alloc.alloc("the device tree", fdt.len() as u64, FIRMWARE_ALIGN)?;
    ctx.memory.write("the device tree", fdt_addr, &fdt)?;
    // A hash guest keeps the (unused) process table: the snapshot format records one.
    if ctx.platform.mmu.is_radix() {
        configure_v3_mmu(ctx.vm, &radix_config(proc_table, PROC_TABLE_SIZE)?)?;
    }
    let _ = ctx.platform.boot.set(BootData {
        fdt_addr,
        proc_table: (proc_table, PROC_TABLE_SIZE),
    });
    Ok(EntryState::boot(kernel.entry, fdt_addr, kernel.endian))
}
