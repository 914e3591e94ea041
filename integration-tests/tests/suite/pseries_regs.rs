//! The ppc64 register table on real KVM-HV (issue 3's round trip, on the emulated POWER9 host):
//!
//! * a running guest's vCPU saved whole (`KVM_GET_REGS`, `KVM_GET_SREGS` and every ONE_REG
//!   register the kernel has), restored into a fresh vCPU, saved again: the two lists are equal
//!   but for the registers that move by themselves (timebase-driven: PURR, SPURR, IC, VTB, the
//!   decrementer);
//! * a running guest moved register by register (one write per register) to a new vCPU, twice,
//!   continues where it was and finishes with every register-held value intact.
//!
//! The vCPUs are driven here, without vmm-core's runtime, from the platform `Ppc64::setup`
//! builds; hypercalls go through arch-ppc64's hypercall table.

use arch_ppc64::hcall::{dispatch, HcallEnv, HcallOutcome};
use arch_ppc64::kvm::{complete_pending_exit, update_lpcr, Platform, PpcVcpu, PpcVm};
use arch_ppc64::layout::DEBUG_EXIT_ADDR;
use arch_ppc64::machine::{CpuControl, VcpuRequest};
use arch_ppc64::Ppc64;
use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::run::chain;
use std::sync::{Arc, Mutex};
use vmm_core::console::{ConsoleSetup, ConsoleSink};
use vmm_core::devices::Devices;
use vmm_core::hypervisor::{VcpuExit, VcpuOps};
use vmm_core::memory::GuestRam;
use vmm_core::regs::{self, RegAttrs, VcpuState};
use vmm_core::{
    Arch, BuildContext, ExitNotifier, MachineLayout, PlatformContext, VcpuContext, VmConfig,
};

/// One vCPU runs; none is parked.
struct OneCpu;

impl CpuControl for OneCpu {
    fn wake(&self, _id: u32) -> bool {
        false
    }
    fn is_parked(&self, id: u32) -> Option<bool> {
        (id == 0).then_some(false)
    }
    fn count(&self) -> u32 {
        1
    }
}

/// A VM built from the guest, with its vCPUs driven by hand.
struct Rig {
    cfg: VmConfig,
    layout: arch_ppc64::layout::Ppc64Layout,
    vm: Arc<PpcVm>,
    ram: Arc<GuestRam>,
    platform: Platform,
    exit: ExitNotifier,
    console: Arc<Mutex<Vec<u8>>>,
}

fn err<E: std::error::Error>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {}", chain(&e))
}

impl Rig {
    /// The VM built in the `Arch` phases, and its boot vCPU with the payload loaded.
    fn new(g: &Guest) -> Result<(Rig, PpcVcpu), String> {
        let cfg = g.config(1, 64);
        let layout = Ppc64::layout(&cfg).map_err(err("layout"))?;
        let vm = Arc::new(Ppc64::create_vm(&cfg, &layout).map_err(err("creating the VM"))?);
        let ram = Arc::new(GuestRam::new(&layout.ram_regions()).map_err(err("guest RAM"))?);
        ram.register(&*vm).map_err(err("registering RAM"))?;
        let exit = ExitNotifier::new().map_err(err("exit notifier"))?;
        let console = Arc::new(Mutex::new(Vec::new()));
        let mut setup =
            ConsoleSetup::new(ConsoleSink::Buffer(console.clone())).map_err(err("console"))?;
        let mut devices = Devices::new(&layout.device_windows()).map_err(err("devices"))?;
        let platform = Ppc64::platform(&mut PlatformContext {
            config: &cfg,
            layout: &layout,
            vm: &vm,
            memory: &ram,
            devices: &mut devices,
            exit: &exit,
            console: &mut setup,
        })
        .map_err(err("platform"))?;
        let rig = Rig {
            cfg,
            layout,
            vm,
            ram,
            platform,
            exit,
            console,
        };
        let mut boot = [rig.vcpu(0)?];
        Ppc64::load(&mut BuildContext {
            config: &rig.cfg,
            layout: &rig.layout,
            vm: &rig.vm,
            memory: &rig.ram,
            platform: &rig.platform,
            devices: devices.list(),
            vcpus: &mut boot,
        })
        .map_err(err("loading the payload"))?;
        let [v0] = boot;
        Ok((rig, v0))
    }

    fn vcpu(&self, id: u32) -> Result<PpcVcpu, String> {
        Ppc64::create_vcpu(&VcpuContext {
            config: &self.cfg,
            layout: &self.layout,
            vm: &self.vm,
            memory: &self.ram,
            platform: &self.platform,
            id,
        })
        .map_err(err("creating a vCPU"))
    }

    fn console(&self) -> String {
        String::from_utf8_lossy(&self.console.lock().unwrap()).into_owned()
    }

    /// Runs `vcpu` until the console contains `until` (then completes the pending exit, so the
    /// vCPU's registers hold everything) or the guest writes the debug-exit register.
    fn run(&self, vcpu: &mut PpcVcpu, until: Option<&str>) -> Result<Option<u32>, String> {
        let deadline = std::time::Instant::now() + integration_tests::run::timeout();
        loop {
            if std::time::Instant::now() > deadline {
                return Err(format!("timed out; console:\n{}", self.console()));
            }
            let mut request = false;
            match vcpu.run() {
                Ok(VcpuExit::PaprHcall(h)) => {
                    let mem = self.ram.memory();
                    let env = HcallEnv {
                        cpu: 0,
                        mem: &mem,
                        machine: &self.platform.machine,
                        cpus: &OneCpu,
                        exit: &self.exit,
                        hpt: self
                            .platform
                            .htab
                            .as_ref()
                            .and_then(|h| h.user())
                            .map(|t| t as &dyn arch_ppc64::mmu::papr::HptWords),
                    };
                    match dispatch(&env, h.nr, &mut h.args) {
                        HcallOutcome::Return(r) => h.ret = r as u64,
                        HcallOutcome::WithVcpu => request = true,
                        other => return Err(format!("hypercall {:#x}: {other:?}", h.nr)),
                    }
                }
                Ok(VcpuExit::MmioWrite { addr, data }) if addr == DEBUG_EXIT_ADDR => {
                    let mut v = [0u8; 4];
                    v[..data.len().min(4)].copy_from_slice(&data[..data.len().min(4)]);
                    return Ok(Some(u32::from_le_bytes(v)));
                }
                Ok(other) => {
                    return Err(format!(
                        "unexpected exit {other:?}; console:\n{}",
                        self.console()
                    ))
                }
                Err(e) if e.errno() == Some(libc::EINTR) => {}
                Err(e) => return Err(format!("KVM_RUN: {}", chain(&e))),
            }
            if request {
                let Some(VcpuRequest::Lpcr { mask, value }) = self.platform.machine.take_request(0)
                else {
                    return Err("a request without data".into());
                };
                let ok = update_lpcr(vcpu, mask, value).map_err(err("LPCR"))?;
                if let Ok(VcpuExit::PaprHcall(h)) = vcpu.run_page().exit() {
                    h.ret = if ok { 0 } else { -256i64 as u64 };
                }
            }
            if let Some(text) = until {
                if self.console().contains(text) {
                    complete_pending_exit(vcpu).map_err(err("completing the exit"))?;
                    return Ok(None);
                }
            }
        }
    }
}

fn save(vcpu: &PpcVcpu) -> Result<regs::ReadOutcome, String> {
    regs::save(arch_ppc64::regs::table(), vcpu).map_err(err("saving"))
}

/// The registers whose values differ between `a` and `b`, ignoring the volatile ones.
fn differences(a: &VcpuState, b: &VcpuState) -> Vec<String> {
    let t = arch_ppc64::regs::table();
    let mut out = Vec::new();
    for e in a {
        let desc = t.get(e.id).expect("saved ids are in the table");
        if desc.attrs.contains(RegAttrs::VOLATILE) {
            continue;
        }
        match b.get(e.id) {
            Some(v) if v == e.bytes.as_slice() => {}
            Some(v) => out.push(format!("{}: {:02x?} became {:02x?}", desc.name, e.bytes, v)),
            None => out.push(format!("{}: missing", desc.name)),
        }
    }
    out
}

fn value(s: &VcpuState, name: &str) -> Option<u128> {
    let id = arch_ppc64::regs::table().by_name(name)?.id;
    s.iter().find(|e| e.id == id)?.as_u128()
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("regmove") else {
        return;
    };
    s.kvm("regs::ppc64_round_trip_into_a_fresh_vcpu", move || {
        let (rig, mut v0) = Rig::new(g)?;
        if let Some(status) = rig.run(&mut v0, Some("tick 2\n"))? {
            return Err(format!("the guest ended with {status:#x} before tick 2"));
        }
        let first = save(&v0)?;
        let fresh = rig.vcpu(1)?;
        regs::restore(arch_ppc64::regs::table(), &fresh, &first.state).map_err(err("restoring"))?;
        let second = save(&fresh)?;
        let diff = differences(&first.state, &second.state);
        check(diff.is_empty(), || {
            format!("the round trip changed:\n{}", diff.join("\n"))
        })?;
        check(first.absent == second.absent, || {
            format!(
                "absent before {:?}, after {:?}",
                first.absent, second.absent
            )
        })?;
        let n = first.state.len();
        eprintln!(
            "ppc64 round trip: {n} registers equal, {} absent on this vCPU",
            first.absent.len()
        );
        // The guest's state is really in there: the FP sum (2.0 after tick 2), the scratch
        // pointer in r29, SPRG3, LE interrupts in the LPCR. (The vCPU stopped inside the
        // console routine, which uses r30 and r31 itself.)
        let fpr1 = value(&first.state, "fpr1");
        check(fpr1 == Some(2.0f64.to_bits().into()), || {
            format!("fpr1 {fpr1:x?} is not the sum 2.0")
        })?;
        check(value(&first.state, "gpr29") == Some(0x20_0000), || {
            "gpr29".into()
        })?;
        check(value(&first.state, "sprg3") == Some(0x5a3), || {
            "sprg3".into()
        })?;
        let lpcr = value(&first.state, "lpcr_64").ok_or("no LPCR")?;
        check(lpcr & (1 << 25) != 0, || {
            format!("LPCR {lpcr:#x} lacks ILE")
        })?;
        check(n > 200, || format!("only {n} registers saved"))
    });

    s.kvm(
        "regs::ppc64_running_guest_moves_register_by_register",
        move || {
            let (rig, mut vcpu) = Rig::new(g)?;
            let table = arch_ppc64::regs::table();
            for (id, at) in [(1, "tick 3\n"), (2, "tick 6\n")] {
                if let Some(status) = rig.run(&mut vcpu, Some(at))? {
                    return Err(format!(
                        "the guest ended with {status:#x} before {at:?}; console:\n{}",
                        rig.console()
                    ));
                }
                let saved = save(&vcpu)?;
                let next = rig.vcpu(id)?;
                for e in &saved.state {
                    let mut one = VcpuState::new();
                    one.push(e.id, e.bytes.clone());
                    regs::write(table, &next, &one).map_err(|x| {
                        let name = table.get(e.id).map(|d| d.name.to_string());
                        format!("writing {name:?}: {}", chain(&x))
                    })?;
                }
                vcpu = next;
            }
            let end = rig.run(&mut vcpu, None)?;
            let console = rig.console();
            check(end == Some(0x10), || {
                format!("the guest ended with {end:?}; console:\n{console}")
            })?;
            let ticks: Vec<&str> = console.lines().filter(|l| l.starts_with("tick ")).collect();
            let want: Vec<String> = (1..=10).map(|i| format!("tick {i}")).collect();
            check(ticks == want, || format!("ticks {ticks:?}"))?;
            check(console.contains("regmove: ok\n"), || console.clone())
        },
    );
}
