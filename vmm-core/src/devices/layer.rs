//! The device layer: a device is a description ([`DeviceDesc`]) plus its model. [`Devices::add`]
//! places the description through the allocator (rust-vmm `vm-allocator`: the arch's port, MMIO
//! and interrupt windows), gets the device its interrupt line from the arch's router, puts the
//! model on its bus, registers its state for snapshots, and keeps the placed description in the
//! list each arch turns into its firmware description.

use super::desc::{DeviceDesc, Irq, Place, PlacedDevice, Space, Window};
use super::irq::{InterruptLine, InterruptRouter};
use crate::bus::{Bus, BusDevice, BusError, SharedDevice};
use crate::hypervisor::HvError;
use crate::snapshot::stateful::{RegistryError, SharedState, Stateful};
use crate::snapshot::StateRegistry;
use std::sync::{Arc, Mutex};
use vm_allocator::{AddressAllocator, AllocPolicy, RangeInclusive};

/// Errors placing a device.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The arch's windows are empty or wrap.
    #[error("the device window {what} {base:#x}+{len:#x} is empty or wraps")]
    Windows {
        /// Which window.
        what: &'static str,
        /// Its base.
        base: u64,
        /// Its length.
        len: u64,
    },
    /// No room, or the fixed place is taken or outside the window.
    #[error("cannot place {device}'s {what} ({want})")]
    Place {
        /// The device.
        device: String,
        /// Window or interrupt.
        what: &'static str,
        /// What it asked for.
        want: String,
        /// Why not.
        #[source]
        source: vm_allocator::Error,
    },
    /// The arch has no such address space (port I/O off x86).
    #[error("{device} asks for port I/O, which this machine does not have")]
    NoPio {
        /// The device.
        device: String,
    },
    /// The interrupt line could not be made.
    #[error("{device}'s interrupt {irq}")]
    Line {
        /// The device.
        device: String,
        /// The interrupt number.
        irq: u32,
        /// Why.
        #[source]
        source: HvError,
    },
    /// An alignment that is not a power of two.
    #[error("{device} asks for an alignment of {align:#x}, which is not a power of two")]
    Align {
        /// The device.
        device: String,
        /// The alignment.
        align: u64,
    },
    /// The bus refused the window.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A virtio device could not be made.
    #[error("{device}")]
    Virtio {
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: super::virtio::VirtioError,
    },
    /// A PCI function could not be placed.
    #[error("{device}")]
    Pci {
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: super::pci::PciError,
    },
    /// The state registry refused the device.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Where an arch lets the layer place devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceWindows {
    /// Port I/O `(base, len)`, on machines that have it.
    pub pio: Option<(u64, u64)>,
    /// MMIO `(base, len)`.
    pub mmio: (u64, u64),
    /// Interrupt numbers `(first, count)`.
    pub irqs: (u32, u32),
}

/// What a placed device gets to build its model from.
pub struct Resources {
    /// Its window.
    pub window: Option<Window>,
    /// Its interrupt line.
    pub irq: Option<Arc<dyn InterruptLine>>,
}

/// A VM's devices: the buses, the allocator, the state registry and the placed list.
pub struct Devices {
    pio: Bus,
    mmio: Bus,
    state: StateRegistry,
    pio_alloc: Option<AddressAllocator>,
    mmio_alloc: AddressAllocator,
    irq_alloc: AddressAllocator,
    placed: Vec<PlacedDevice>,
    /// Every line handed out, kept for the VM's life: a model that does not raise its interrupt
    /// yet (the x86 RTC) must not take its irqfd down with it.
    lines: Vec<Arc<dyn InterruptLine>>,
    /// The virtio device worker, once a virtio device exists.
    worker: Option<Arc<super::virtio::Worker>>,
    /// The filter the worker thread puts itself under.
    sandbox: Option<crate::sandbox::Sandbox>,
    /// When the devices whose data path is in the host kernel may run.
    offloads: Arc<super::virtio::offload::OffloadGate>,
}

/// Interrupt `n` is the allocator's range `[2n, 2n + 1]`: vm-allocator 0.1.4 places an exact
/// request by looking for a free range holding both its first address and the next one, so a
/// one-unit request whose neighbour is taken (IRQ 4 between 3 and 5) would be refused.
const IRQ_SCALE: u64 = 2;

fn allocator(what: &'static str, base: u64, len: u64) -> Result<AddressAllocator, DeviceError> {
    AddressAllocator::new(base, len).map_err(|_| DeviceError::Windows { what, base, len })
}

/// vm-allocator's alignment and policy for `place` (an exact place is asked with byte alignment,
/// which any address meets).
fn policy(device: &str, place: Place) -> Result<(u64, AllocPolicy), DeviceError> {
    match place {
        Place::At(a) => Ok((1, AllocPolicy::ExactMatch(a))),
        Place::Any { align: 0 } => Ok((1, AllocPolicy::FirstMatch)),
        Place::Any { align } if align.is_power_of_two() => Ok((align, AllocPolicy::FirstMatch)),
        Place::Any { align } => Err(DeviceError::Align {
            device: device.to_string(),
            align,
        }),
    }
}

impl Devices {
    /// An empty layer over `windows`.
    pub fn new(windows: &DeviceWindows) -> Result<Self, DeviceError> {
        Ok(Devices {
            pio: Bus::new(),
            mmio: Bus::new(),
            state: StateRegistry::new(),
            pio_alloc: windows
                .pio
                .map(|(b, l)| allocator("port I/O", b, l))
                .transpose()?,
            mmio_alloc: allocator("MMIO", windows.mmio.0, windows.mmio.1)?,
            irq_alloc: allocator(
                "interrupts",
                IRQ_SCALE * u64::from(windows.irqs.0),
                IRQ_SCALE * u64::from(windows.irqs.1),
            )?,
            placed: Vec::new(),
            lines: Vec::new(),
            worker: None,
            sandbox: None,
            offloads: super::virtio::offload::OffloadGate::new(),
        })
    }

    fn place(&mut self, desc: &DeviceDesc) -> Result<(Option<Window>, Option<Irq>), DeviceError> {
        let device = desc.name.as_str();
        let window = match desc.window {
            None => None,
            Some(w) => {
                let alloc = match w.space {
                    Space::Pio => self.pio_alloc.as_mut().ok_or_else(|| DeviceError::NoPio {
                        device: device.to_string(),
                    })?,
                    Space::Mmio => &mut self.mmio_alloc,
                };
                let (align, policy) = policy(device, w.place)?;
                let r: RangeInclusive =
                    alloc
                        .allocate(w.len, align, policy)
                        .map_err(|source| DeviceError::Place {
                            device: device.to_string(),
                            what: "window",
                            want: format!("{:?} {:#x} bytes {:?}", w.space, w.len, w.place),
                            source,
                        })?;
                Some(Window {
                    space: w.space,
                    base: r.start(),
                    len: w.len,
                })
            }
        };
        let irq = match desc.irq {
            None => None,
            Some(i) => {
                let policy = match i.place {
                    Place::At(n) => AllocPolicy::ExactMatch(n.saturating_mul(IRQ_SCALE)),
                    Place::Any { .. } => AllocPolicy::FirstMatch,
                };
                let r = self
                    .irq_alloc
                    .allocate(IRQ_SCALE, IRQ_SCALE, policy)
                    .map_err(|source| {
                        self.free(window, None);
                        DeviceError::Place {
                            device: device.to_string(),
                            what: "interrupt",
                            want: format!("{:?}", i.place),
                            source,
                        }
                    })?;
                Some(Irq {
                    number: (r.start() / IRQ_SCALE) as u32,
                    trigger: i.trigger,
                })
            }
        };
        Ok((window, irq))
    }

    /// Gives a window and an interrupt back (a device that could not be completed).
    fn free(&mut self, window: Option<Window>, irq: Option<Irq>) {
        if let Some(w) = window {
            let alloc = match w.space {
                Space::Pio => self.pio_alloc.as_mut(),
                Space::Mmio => Some(&mut self.mmio_alloc),
            };
            if let (Some(a), Ok(r)) = (alloc, RangeInclusive::new(w.base, w.base + w.len - 1)) {
                let _ = a.free(&r);
            }
        }
        if let Some(i) = irq {
            let n = IRQ_SCALE * u64::from(i.number);
            if let Ok(r) = RangeInclusive::new(n, n + IRQ_SCALE - 1) {
                let _ = self.irq_alloc.free(&r);
            }
        }
    }

    fn attach(
        &mut self,
        router: &dyn InterruptRouter,
        desc: DeviceDesc,
    ) -> Result<(Resources, DeviceDesc, Option<Window>, Option<Irq>), DeviceError> {
        if let Some(tag) = desc.state {
            if self.state.tags().any(|t| *t == tag) {
                return Err(RegistryError::Duplicate(String::from_utf8_lossy(&tag).into()).into());
            }
        }
        let (window, irq) = self.place(&desc)?;
        let line = match irq {
            None => None,
            Some(i) => match router.line(i.number, i.trigger) {
                Ok(l) => Some(l),
                Err(source) => {
                    self.free(window, irq);
                    return Err(DeviceError::Line {
                        device: desc.name.clone(),
                        irq: i.number,
                        source,
                    });
                }
            },
        };
        Ok((Resources { window, irq: line }, desc, window, irq))
    }

    fn commit(
        &mut self,
        desc: DeviceDesc,
        window: Option<Window>,
        irq: Option<Irq>,
        line: Option<Arc<dyn InterruptLine>>,
        bus_device: Option<SharedDevice>,
        state: Option<SharedState>,
    ) -> Result<(), DeviceError> {
        if let (Some(w), Some(d)) = (window, bus_device) {
            let r = match w.space {
                Space::Pio => self.pio.insert(w.base, w.len, d),
                Space::Mmio => self.mmio.insert(w.base, w.len, d),
            };
            if let Err(e) = r {
                self.free(window, irq);
                return Err(e.into());
            }
        }
        if let (Some(tag), Some(s)) = (desc.state, state) {
            // Free: `attach` checked the tag.
            self.state.add(&tag, s)?;
        }
        self.lines.extend(line);
        self.placed.push(PlacedDevice { desc, window, irq });
        Ok(())
    }

    /// Places `desc`, builds its model with `make` from what it got, and puts the model on its
    /// bus. Returns the model, shared with the bus.
    pub fn add<D: BusDevice + 'static>(
        &mut self,
        router: &dyn InterruptRouter,
        desc: DeviceDesc,
        make: impl FnOnce(Resources) -> D,
    ) -> Result<Arc<Mutex<D>>, DeviceError> {
        self.add_with(router, desc, |r| Ok(make(r)), |_| None)
    }

    /// [`Devices::add`] for a device with state, saved under the description's section tag.
    pub fn add_stateful<D: BusDevice + Stateful + 'static>(
        &mut self,
        router: &dyn InterruptRouter,
        desc: DeviceDesc,
        make: impl FnOnce(Resources) -> D,
    ) -> Result<Arc<Mutex<D>>, DeviceError> {
        self.add_with(router, desc, |r| Ok(make(r)), |d| Some(d.clone()))
    }

    /// [`Devices::add_stateful`] for a model whose making can fail (it gives its window and
    /// interrupt back then).
    pub fn try_add_stateful<D: BusDevice + Stateful + 'static>(
        &mut self,
        router: &dyn InterruptRouter,
        desc: DeviceDesc,
        make: impl FnOnce(Resources) -> Result<D, DeviceError>,
    ) -> Result<Arc<Mutex<D>>, DeviceError> {
        self.add_with(router, desc, make, |d| Some(d.clone()))
    }

    fn add_with<D: BusDevice + 'static>(
        &mut self,
        router: &dyn InterruptRouter,
        desc: DeviceDesc,
        make: impl FnOnce(Resources) -> Result<D, DeviceError>,
        state: impl FnOnce(&Arc<Mutex<D>>) -> Option<SharedState>,
    ) -> Result<Arc<Mutex<D>>, DeviceError> {
        let (res, desc, window, irq) = self.attach(router, desc)?;
        let line = res.irq.clone();
        let d = match make(res) {
            Ok(d) => Arc::new(Mutex::new(d)),
            Err(e) => {
                self.free(window, irq);
                return Err(e);
            }
        };
        let state = state(&d);
        self.commit(desc, window, irq, line, Some(d.clone()), state)?;
        Ok(d)
    }

    /// Records a device that is not on a bus (a PAPR virtual device served by hypercalls): it
    /// gets its interrupt line and its place in the firmware description.
    pub fn describe(
        &mut self,
        router: &dyn InterruptRouter,
        desc: DeviceDesc,
    ) -> Result<Option<Arc<dyn InterruptLine>>, DeviceError> {
        let (res, desc, window, irq) = self.attach(router, desc)?;
        self.commit(desc, window, irq, res.irq.clone(), None, None)?;
        Ok(res.irq)
    }

    /// Keeps `[base, base + len)` of `space` out of the layer's hands: a window something else
    /// occupies (an in-kernel interrupt controller's registers, firmware data).
    pub fn reserve(
        &mut self,
        what: &'static str,
        space: Space,
        base: u64,
        len: u64,
    ) -> Result<(), DeviceError> {
        let alloc = match space {
            Space::Pio => self.pio_alloc.as_mut().ok_or_else(|| DeviceError::NoPio {
                device: what.to_string(),
            })?,
            Space::Mmio => &mut self.mmio_alloc,
        };
        alloc
            .allocate(len, 1, AllocPolicy::ExactMatch(base))
            .map_err(|source| DeviceError::Place {
                device: what.to_string(),
                what: "window",
                want: format!("{space:?} {len:#x} bytes at {base:#x}"),
                source,
            })?;
        Ok(())
    }

    /// Keeps interrupt `n` out of the layer's hands (a number the platform itself uses: the PIT's
    /// GSI 0, the PIC cascade).
    pub fn reserve_irq(&mut self, what: &'static str, n: u32) -> Result<(), DeviceError> {
        self.irq_alloc
            .allocate(
                IRQ_SCALE,
                IRQ_SCALE,
                AllocPolicy::ExactMatch(IRQ_SCALE * u64::from(n)),
            )
            .map_err(|source| DeviceError::Place {
                device: what.to_string(),
                what: "interrupt",
                want: format!("{n}"),
                source,
            })?;
        Ok(())
    }

    /// [`Devices::add_state`] for state added after snapshot format 1.2: a snapshot without its
    /// section leaves it fresh.
    pub fn add_optional_state(
        &mut self,
        tag: &[u8; 4],
        state: SharedState,
    ) -> Result<(), DeviceError> {
        Ok(self.state.add_optional(tag, state)?)
    }

    /// Registers state that is not a bus device's under `tag`.
    pub fn add_state(&mut self, tag: &[u8; 4], state: SharedState) -> Result<(), DeviceError> {
        Ok(self.state.add(tag, state)?)
    }

    /// Maps a device with no description at a fixed MMIO window (tests' probe devices). The
    /// window is also kept from the allocator where it falls in the layer's window.
    pub fn insert_mmio(&mut self, base: u64, len: u64, d: SharedDevice) -> Result<(), BusError> {
        self.mmio.insert(base, len, d)?;
        // Outside the layer's window there is nothing to keep; inside, the bus checked overlaps.
        let _ = self
            .mmio_alloc
            .allocate(len, 1, AllocPolicy::ExactMatch(base));
        Ok(())
    }

    /// Maps a device with no description at a fixed port window (kept from the allocator).
    pub fn insert_pio(&mut self, base: u64, len: u64, d: SharedDevice) -> Result<(), BusError> {
        self.pio.insert(base, len, d)?;
        if let Some(a) = self.pio_alloc.as_mut() {
            let _ = a.allocate(len, 1, AllocPolicy::ExactMatch(base));
        }
        Ok(())
    }

    /// The seccomp filter of the virtio worker (set before it starts).
    pub fn set_sandbox(&mut self, sandbox: crate::sandbox::Sandbox) {
        self.sandbox = Some(sandbox);
    }

    /// The virtio device worker thread, started on first use.
    pub fn virtio_worker(&mut self) -> Result<Arc<super::virtio::Worker>, DeviceError> {
        if let Some(w) = &self.worker {
            return Ok(w.clone());
        }
        let w = Arc::new(
            super::virtio::Worker::spawn(self.sandbox).map_err(|source| DeviceError::Virtio {
                device: "the virtio worker".into(),
                source,
            })?,
        );
        self.worker = Some(w.clone());
        Ok(w)
    }

    /// When the devices whose data path is in the host kernel (vhost) may run.
    pub fn offload_gate(&self) -> Arc<super::virtio::offload::OffloadGate> {
        self.offloads.clone()
    }

    /// Stops the kernel-side devices and parks the virtio worker (if any) within `limit`: with
    /// the vCPUs paused, the devices' queues and guest RAM then stay still.
    pub fn pause(&self, limit: std::time::Duration) -> Result<(), DeviceError> {
        self.offloads.pause();
        match &self.worker {
            Some(w) => w.pause(limit).map_err(|source| DeviceError::Virtio {
                device: "the virtio worker".into(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// Lets the virtio worker go on, and the kernel-side devices (unless a migration holds
    /// them).
    pub fn resume(&self) {
        if let Some(w) = &self.worker {
            w.resume();
        }
        self.offloads.resume();
    }

    /// The placed devices, in the order they were added.
    pub fn list(&self) -> &[PlacedDevice] {
        &self.placed
    }

    /// The placed device named `name`.
    pub fn get(&self, name: &str) -> Option<&PlacedDevice> {
        self.placed.iter().find(|d| d.desc.name == name)
    }

    /// The port-I/O bus.
    pub fn pio(&self) -> &Bus {
        &self.pio
    }

    /// The MMIO bus.
    pub fn mmio(&self) -> &Bus {
        &self.mmio
    }

    /// The stateful devices.
    pub fn state(&self) -> &StateRegistry {
        &self.state
    }
}

/// Places `descs` in `windows` as [`Devices`] would, without models or interrupt lines: the list
/// a firmware description is built from, for tests and tools.
pub fn plan(
    windows: &DeviceWindows,
    descs: impl IntoIterator<Item = DeviceDesc>,
) -> Result<Vec<PlacedDevice>, DeviceError> {
    let mut d = Devices::new(windows)?;
    for desc in descs {
        d.describe(&super::irq::NoRouter, desc)?;
    }
    Ok(d.placed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::desc::{IrqRequest, WindowRequest};
    use crate::devices::irq::{EventLine, Trigger};

    #[derive(Debug)]
    struct Null;
    impl BusDevice for Null {
        fn read(&mut self, _: u64, d: &mut [u8]) {
            d.fill(0x5a);
        }
        fn write(&mut self, _: u64, _: &[u8]) {}
    }

    struct Lines;
    impl InterruptRouter for Lines {
        fn line(&self, irq: u32, _: Trigger) -> Result<Arc<dyn InterruptLine>, HvError> {
            if irq == 13 {
                return Err(HvError::Unsupported("line 13"));
            }
            Ok(Arc::new(EventLine::new().unwrap()))
        }
    }

    fn layer() -> Devices {
        Devices::new(&DeviceWindows {
            pio: Some((0, 0x1_0000)),
            mmio: (0x1000_0000, 0x10_0000),
            irqs: (5, 16),
        })
        .unwrap()
    }

    #[test]
    fn fixed_and_allocated_places_and_the_list() {
        let mut d = layer();
        let a = d
            .add(
                &Lines,
                DeviceDesc::ns16550a(
                    "uart0",
                    WindowRequest::pio_at(0x3f8, 8),
                    IrqRequest::edge(6),
                    1_843_200,
                ),
                |r| {
                    assert_eq!(r.window.unwrap().base, 0x3f8);
                    assert!(r.irq.is_some());
                    Null
                },
            )
            .unwrap();
        drop(a);
        d.add(
            &Lines,
            DeviceDesc::debug_exit(WindowRequest::mmio_any(0x1000, 0x1000)),
            |_| Null,
        )
        .unwrap();
        d.add(
            &Lines,
            DeviceDesc::debug_exit(WindowRequest::mmio_any(0x1000, 0x1000)).node("second"),
            |_| Null,
        )
        .unwrap();
        let l = d.list();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].irq.unwrap().number, 6);
        assert_eq!(l[1].window.unwrap().base, 0x1000_0000);
        assert_eq!(l[2].window.unwrap().base, 0x1000_1000);
        assert_eq!(l[1].node_name(), "debug-exit@10000000");
        let mut b = [0u8; 1];
        assert!(d.pio().read(0x3fa, &mut b) && b[0] == 0x5a);
        assert!(d.mmio().read(0x1000_1000, &mut b));
    }

    #[test]
    fn conflicts_and_bad_requests_are_named_errors() {
        let mut d = layer();
        let uart =
            |irq| DeviceDesc::ns16550a("uart0", WindowRequest::mmio_at(0x1000_0000, 8), irq, 0);
        d.add(&Lines, uart(IrqRequest::edge(5)), |_| Null).unwrap();
        // The same window again, an interrupt outside the window, one the router refuses.
        for (desc, want) in [
            (uart(IrqRequest::edge(7)), "window"),
            (
                uart(IrqRequest::edge(30)).clone().node("x"),
                "window", // the window is checked first
            ),
        ] {
            let e = d.add(&Lines, desc, |_| Null).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
        let free = |irq| DeviceDesc::ns16550a("uart1", WindowRequest::mmio_any(8, 8), irq, 0);
        let e = d
            .add(&Lines, free(IrqRequest::edge(30)), |_| Null)
            .unwrap_err();
        assert!(e.to_string().contains("interrupt"), "{e}");
        let e = d
            .add(&Lines, free(IrqRequest::edge(13)), |_| Null)
            .unwrap_err();
        assert!(matches!(e, DeviceError::Line { irq: 13, .. }), "{e}");
        let e = d
            .add(&Lines, free(IrqRequest::edge(5)), |_| Null)
            .unwrap_err();
        assert!(e.to_string().contains("interrupt"), "{e}");
        // Any free interrupt: 5 is taken (13 was given back), 6 is next.
        d.add(&Lines, free(IrqRequest::any(Trigger::Edge)), |_| Null)
            .unwrap();
        assert_eq!(d.get("uart1").unwrap().irq.unwrap().number, 6);
        // No port I/O on this machine.
        let mut m = Devices::new(&DeviceWindows {
            pio: None,
            mmio: (0, 0x1000),
            irqs: (0, 1),
        })
        .unwrap();
        let e = m
            .add(
                &Lines,
                DeviceDesc::debug_exit(WindowRequest::pio_at(0xf4, 4)),
                |_| Null,
            )
            .unwrap_err();
        assert!(matches!(e, DeviceError::NoPio { .. }));
        assert!(m.list().is_empty());
    }

    #[test]
    fn reservations_alignment_and_state_tags() {
        let mut d = layer();
        // A reserved interrupt and a raw MMIO insert are kept from the allocator.
        d.reserve_irq("the PIT", 5).unwrap();
        d.insert_mmio(0x1000_0000, 0x1000, Arc::new(Mutex::new(Null)))
            .unwrap();
        d.add(
            &Lines,
            DeviceDesc::debug_exit(WindowRequest::mmio_any(0x100, 0x1000))
                .interrupt(IrqRequest::any(Trigger::Edge)),
            |_| Null,
        )
        .unwrap();
        let p = d.get("debug-exit").unwrap();
        assert_eq!(p.window.unwrap().base, 0x1000_1000);
        assert_eq!(p.irq.unwrap().number, 6);
        // One interrupt between two taken ones, and the window's last, can be had by number.
        d.reserve_irq("x", 8).unwrap();
        d.reserve_irq("y", 10).unwrap();
        d.add(
            &Lines,
            DeviceDesc::new("between", "between", &[]).interrupt(IrqRequest::edge(9)),
            |_| Null,
        )
        .unwrap();
        d.reserve_irq("last", 20).unwrap();
        assert!(d.reserve_irq("past the window", 21).is_err());
        // An alignment that is not a power of two is refused, and gives back what it took.
        let e = d
            .add(
                &Lines,
                DeviceDesc::debug_exit(WindowRequest::mmio_any(0x100, 0x300)).node("odd"),
                |_| Null,
            )
            .unwrap_err();
        assert!(matches!(e, DeviceError::Align { align: 0x300, .. }), "{e}");
        // A state tag used twice is refused before anything is placed.
        let uart = |name, base| {
            DeviceDesc::ns16550a(
                name,
                WindowRequest::mmio_at(base, 8),
                IrqRequest::edge(7),
                0,
            )
            .with_state(b"SERL")
        };
        d.add_stateful(&Lines, uart("uart0", 0x1000_2000), |r| {
            crate::devices::Serial16550::new(
                r.irq.unwrap(),
                Arc::new(vmm_sys_util::eventfd::EventFd::new(0).unwrap()),
                Box::new(std::io::sink()),
            )
        })
        .unwrap();
        let e = d
            .add(&Lines, uart("uart1", 0x1000_3000), |_| Null)
            .unwrap_err();
        assert!(matches!(e, DeviceError::Registry(_)), "{e}");
        // Its window is still free.
        d.add(
            &Lines,
            DeviceDesc::debug_exit(WindowRequest::mmio_at(0x1000_3000, 8)).node("x"),
            |_| Null,
        )
        .unwrap();
    }
}
