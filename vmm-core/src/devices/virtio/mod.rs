//! virtio devices (1.x, "modern"), arch-neutral, on rust-vmm `virtio-queue` and
//! `virtio-bindings`.
//!
//! - [`VirtioDevice`] ([`device`]): what every device implements once: its type, queues,
//!   features, configuration space, and [`VirtioDevice::activate`], which hands the driver's
//!   queues to a [`Handler`] that the device worker thread runs.
//! - Transports are separate from devices: [`mmio`] (virtio-mmio version 2, every arch) and
//!   [`pci`] (virtio-pci, modern, with MSI-X, where the arch has a PCI host bridge), both on the
//!   shared `common` core (status, features, queues, activation, reset, their state).
//! - [`worker`]: one thread per VM runs every active device's handler on an event-manager loop:
//!   queue notifications arrive as eventfds (an ioeventfd where KVM offers one, else the
//!   transport signals it on the MMIO exit), backends' fds beside them. A pause parks it, so that
//!   a snapshot or a migration's stop-and-copy sees the queues still.
//! - [`interrupt`]: the device's interrupt status and its line.
//! - [`chain`]: a descriptor chain checked whole before a device uses it: a loop, a chain past
//!   guest RAM, an indirect table inside an indirect table or an overlong chain marks the device
//!   as needing reset (`DEVICE_NEEDS_RESET`) instead of being half-served. A driver playing
//!   these by hand on host memory is in this module's tests; the same abuses played from inside
//!   a guest on real KVM are the suite's `virtio` scenario (`integration-tests/tests/suite/
//!   virtio.rs`, x86 guest `virtio_evil`).
//! - Devices: [`rng`] (entropy from the host's `getrandom`), [`console`] (`hvc0`, the VM's
//!   console with `--console virtio`), [`block`] (virtio-blk on a raw disk image), [`net`]
//!   (virtio-net on a TAP interface), [`vsock`] (virtio-vsock on host Unix sockets).
//!
//! A VM's devices are opened first ([`Backends::open`]: the disk images, locked), before the
//! VM itself is built, so that bad input (a missing or locked image) is reported before anything
//! else is set up; [`attach`] then puts each on its own transport.
//!
//! Every byte a device writes into guest memory goes through vm-memory, so the userspace dirty
//! bitmap records it for migration.

pub mod block;
pub mod chain;
mod common;
pub mod console;
pub mod device;
pub mod interrupt;
pub mod mmio;
pub mod net;
pub mod offload;
pub mod pci;
pub mod rng;
pub mod vhost_kern;
pub mod vsock;
pub mod worker;

#[cfg(test)]
mod pci_tests;
#[cfg(test)]
mod tests;

pub use device::{Activation, ActiveQueue, Handler, VirtioDevice, VirtioError};
pub use interrupt::VirtioInterrupt;
pub use mmio::MmioTransport;
pub use worker::Worker;

use crate::config::VirtioConfig;
use crate::devices::pci::PciHost;
use crate::devices::{DeviceDesc, DeviceError, Devices, InterruptRouter, IrqRequest, Prop};
use crate::devices::{Trigger, WindowRequest};
use crate::hypervisor::VmOps;
use crate::memory::GuestRam;
use std::sync::Arc;

/// The description of virtio-mmio device number `index` named `name`: a 0x200-byte window
/// anywhere in the arch's MMIO window (page aligned), any free edge interrupt, its state in
/// section `VIOn` (`n` a base-32 digit: at most 32 devices); device tree `virtio_mmio@...`
/// ("virtio,mmio", DMA-coherent), ACPI `VRn_` `LNRO0005` (the id Linux's virtio-mmio driver
/// matches).
pub fn mmio_desc(name: impl Into<String>, index: u8) -> DeviceDesc {
    let tag = state_tag(index);
    DeviceDesc::new(name, "virtio_mmio", &["virtio,mmio"])
        .window(WindowRequest::mmio_any(mmio::MMIO_WINDOW, 0x1000))
        .interrupt(IrqRequest::any(Trigger::Edge))
        .prop("dma-coherent", Prop::Null)
        .acpi(&[b'V', b'R', tag[3], b'_'], "LNRO0005", u32::from(index))
        .with_state(&tag)
}

/// The state section of virtio device number `index`, whatever its transport: `VIOn`, `n` a
/// base-32 digit.
fn state_tag(index: u8) -> [u8; 4] {
    [
        b'V',
        b'I',
        b'O',
        b"0123456789ABCDEFGHIJKLMNOPQRSTUV"[usize::from(index % 32)],
    ]
}

/// Errors opening the host side of a VM's virtio devices.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A disk image cannot be used (missing, unreadable, locked, not a disk).
    #[error(transparent)]
    Disk(#[from] block::DiskError),
    /// A network card's TAP interface cannot be attached.
    #[error(transparent)]
    Net(#[from] net::TapError),
    /// The vsock device's Unix socket cannot be made.
    #[error(transparent)]
    Vsock(#[from] vsock::VsockError),
}

/// The host side of a VM's virtio devices: the disk images open and locked, the TAP
/// interfaces attached.
pub struct Backends {
    rng: bool,
    console: bool,
    disks: Vec<block::Block>,
    nets: Vec<net::Net>,
    vsock: Option<vsock::Vsock>,
}

impl Backends {
    /// Opens what `config` asks for: every disk image, in order (the first that cannot be
    /// opened or locked is the error; the ones opened before it are closed again), then every
    /// TAP interface, then the vsock device's listening socket. An image locked by one of this VM's own disks is named as given twice.
    /// With `defer_locks` (a migration's destination), an image another process holds locked is
    /// opened without its lock, taken later at the hand-off.
    pub fn open(config: &VirtioConfig, defer_locks: bool) -> Result<Self, BackendError> {
        let mut disks: Vec<block::Block> = Vec::with_capacity(config.disks.len());
        for c in &config.disks {
            let opened = if defer_locks {
                block::Block::open_deferred(c)
            } else {
                block::Block::open(c)
            };
            match opened {
                Ok(b) => disks.push(b),
                Err(block::DiskError::Locked { path }) => {
                    return Err(match disks.iter().find(|b| b.disk().is(&c.path)) {
                        Some(first) => block::DiskError::Twice {
                            path,
                            first: first.disk().name().to_string(),
                        },
                        None => block::DiskError::Locked { path },
                    }
                    .into())
                }
                Err(e) => return Err(e.into()),
            }
        }
        let nets = config
            .nets
            .iter()
            .map(net::Net::open)
            .collect::<Result<Vec<_>, _>>()?;
        let vsock = config.vsock.as_ref().map(vsock::Vsock::open).transpose()?;
        Ok(Backends {
            rng: config.rng,
            console: config.console,
            disks,
            nets,
            vsock,
        })
    }

    /// The open disks, in order.
    pub fn disks(&self) -> impl Iterator<Item = &block::Disk> {
        self.disks.iter().map(block::Block::disk)
    }

    /// The TAP interfaces' queues, shared (the VM keeps them for a migration's hand-off).
    pub fn shared_taps(&self) -> Vec<Arc<std::fs::File>> {
        self.nets.iter().map(net::Net::shared_tap).collect()
    }

    /// The open disks, shared (the VM keeps them for the lock hand-off of a migration).
    pub fn shared_disks(&self) -> Vec<Arc<block::Disk>> {
        self.disks.iter().map(block::Block::shared_disk).collect()
    }
}

/// Places every device of `backends`, each on its own virtio-mmio transport, with its interrupt
/// from `router` and its queue notifications through ioeventfds where `vm` takes them. Names:
/// `virtio-rng`, `virtio-console`, `virtio-blk0`, `virtio-blk1`, ..., `virtio-net0`, ...,
/// `virtio-vsock` in that order (which is also the order of their state sections). A virtio
/// console takes the console's input from the arch's device and writes to the console's output.
///
/// With `pci`, each device is a virtio-pci function on its bus 0 instead (MSI-X from its router,
/// no interrupt line from `router`), its state in the same section.
pub fn attach(
    devices: &mut Devices,
    router: &dyn InterruptRouter,
    pci: Option<&PciHost>,
    vm: &Arc<dyn VmOps>,
    memory: &GuestRam,
    console: &mut crate::console::ConsoleSetup,
    backends: Backends,
) -> Result<(), DeviceError> {
    let mut wanted: Vec<(String, Box<dyn VirtioDevice>)> = Vec::new();
    if backends.rng {
        wanted.push(("virtio-rng".into(), Box::new(rng::Rng)));
    }
    if backends.console {
        let (dev, input) = console::Console::new(console.sink.writer(), console.space.clone())
            .map_err(|source| DeviceError::Virtio {
                device: "virtio-console".into(),
                source,
            })?;
        console.input = Some(Arc::new(std::sync::Mutex::new(input)));
        wanted.push(("virtio-console".into(), Box::new(dev)));
    }
    for (i, disk) in backends.disks.into_iter().enumerate() {
        wanted.push((format!("virtio-blk{i}"), Box::new(disk)));
    }
    for (i, card) in backends.nets.into_iter().enumerate() {
        wanted.push((format!("virtio-net{i}"), Box::new(card)));
    }
    if let Some(mut v) = backends.vsock {
        v.connect(&devices.offload_gate())
            .map_err(|e| DeviceError::Virtio {
                device: "virtio-vsock".into(),
                source: VirtioError::Activate(crate::error_chain::chain(&e)),
            })?;
        wanted.push(("virtio-vsock".into(), Box::new(v)));
    }
    for (index, (name, device)) in wanted.into_iter().enumerate() {
        match pci {
            Some(host) => add_pci(devices, host, vm, memory, name, index as u8, device)?,
            None => add_mmio(devices, router, &**vm, memory, name, index as u8, device)?,
        }
    }
    Ok(())
}

/// A virtio-pci function for `device` on `host`'s bus 0: the next free device number, its BAR
/// from the PCI MMIO window, its state in section `VIOn`.
fn add_pci(
    devices: &mut Devices,
    host: &PciHost,
    vm: &Arc<dyn VmOps>,
    memory: &GuestRam,
    name: String,
    index: u8,
    device: Box<dyn VirtioDevice>,
) -> Result<(), DeviceError> {
    let worker = devices.virtio_worker()?;
    let mut root = host.root.lock().unwrap_or_else(|e| e.into_inner());
    let placed = root
        .free_slot(&name)
        .and_then(|slot| Ok((slot, root.allocate_bar(&name, pci::BAR_LEN)?)));
    let (slot, bar) = placed.map_err(|source| DeviceError::Pci {
        device: name.clone(),
        source,
    })?;
    let at = pci::Placement {
        bdf: u16::from(slot) << 3,
        bar,
        window: root.window(),
    };
    let t = pci::PciTransport::new(
        &name,
        device,
        memory.atomic().clone(),
        worker,
        host.msi.clone(),
        at,
        Some(vm.clone()),
    )
    .map_err(|source| DeviceError::Virtio {
        device: name.clone(),
        source,
    })?;
    let t = Arc::new(std::sync::Mutex::new(t));
    devices.add_state(&state_tag(index), t.clone())?;
    root.add(slot, t);
    Ok(())
}

fn add_mmio(
    devices: &mut Devices,
    router: &dyn InterruptRouter,
    vm: &dyn VmOps,
    memory: &GuestRam,
    name: String,
    index: u8,
    device: Box<dyn VirtioDevice>,
) -> Result<(), DeviceError> {
    let worker = devices.virtio_worker()?;
    let mem = memory.atomic().clone();
    let t = devices.try_add_stateful(router, mmio_desc(name.clone(), index), |r| {
        let line = r.irq.ok_or_else(|| DeviceError::Virtio {
            device: name.clone(),
            source: VirtioError::Activate("no interrupt line".into()),
        })?;
        let irq = Arc::new(VirtioInterrupt::new(name.clone(), line));
        MmioTransport::new(device, mem, worker, irq).map_err(|source| DeviceError::Virtio {
            device: name.clone(),
            source,
        })
    })?;
    if let Some(w) = devices.get(&name).and_then(|d| d.window) {
        t.lock()
            .unwrap_or_else(|e| e.into_inner())
            .register_ioeventfds(vm, w.base);
    }
    Ok(())
}

/// `VIRTIO_F_VERSION_1`: every tetra device is a modern (1.x) device.
pub const F_VERSION_1: u64 = 1 << virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;

/// Device types (virtio 1.2, 5).
pub mod ids {
    pub use virtio_bindings::virtio_ids::{
        VIRTIO_ID_BLOCK as BLOCK, VIRTIO_ID_CONSOLE as CONSOLE, VIRTIO_ID_NET as NET,
        VIRTIO_ID_RNG as RNG, VIRTIO_ID_VSOCK as VSOCK,
    };
}
