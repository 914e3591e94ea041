//! PCI bus 0 behind a host bridge: up to 32 single-function devices (the host bridge at 00.0),
//! their configuration spaces reached by ECAM (an MMIO window of 4 KiB per function) or by
//! configuration mechanism #1 (x86 ports 0xcf8/0xcfc), and their memory BARs decoded inside the
//! platform's PCI MMIO window.
//!
//! The root sits on the VM's buses as three views ([`PciConfigIo`], [`PciEcam`], [`PciMmio`]),
//! so a BAR the guest moves needs no change to the buses: the root finds the BAR that decodes an
//! address on each access. A BAR moved outside the window (over RAM, say) decodes nothing. A
//! configuration access to a function that does not exist (another bus, function 1 to 7, an
//! empty slot) reads as all ones and writes nothing; a BAR window address no BAR decodes reads as
//! all ones.

use super::config::{ConfigSpace, PciId};
use crate::bus::BusDevice;
use std::sync::{Arc, Mutex};
use vm_allocator::{AddressAllocator, AllocPolicy};

/// Bytes of ECAM per function.
pub const ECAM_FUNCTION: u64 = 4096;
/// Bytes of ECAM for bus 0 (32 devices of 8 functions).
pub const ECAM_BUS: u64 = 32 * 8 * ECAM_FUNCTION;
/// The configuration mechanism #1 ports: the address at 0xcf8, the data at 0xcfc to 0xcff.
pub const CONFIG_IO_PORT: u64 = 0xcf8;
/// Bytes of those ports.
pub const CONFIG_IO_LEN: u64 = 8;

/// Errors adding a PCI function.
#[derive(Debug, thiserror::Error)]
pub enum PciError {
    /// All 32 device numbers are taken.
    #[error("bus 0 has no free device number for {0}")]
    Full(String),
    /// The PCI MMIO window has no room for a BAR.
    #[error("the PCI MMIO window has no room for {device}'s {size:#x}-byte BAR")]
    NoRoom {
        /// The device.
        device: String,
        /// The BAR's size.
        size: u64,
        /// Why.
        #[source]
        source: vm_allocator::Error,
    },
    /// The window is empty or wraps.
    #[error("the PCI MMIO window {base:#x}+{len:#x} is empty or wraps")]
    Window {
        /// Its base.
        base: u64,
        /// Its length.
        len: u64,
    },
}

/// One function on bus 0: its configuration space and its BARs.
pub trait PciFunction: Send {
    /// The configuration space (the root finds the BARs from it).
    fn config(&self) -> &ConfigSpace;
    /// The guest reads the configuration space (a function with a register that reads through
    /// to its BAR answers it here).
    fn read_config(&mut self, offset: u64, data: &mut [u8]) {
        self.config().read(offset, data);
    }
    /// The guest writes the configuration space (the function acts on what changed).
    fn write_config(&mut self, offset: u64, data: &[u8]);
    /// The guest reads BAR `bar` at `offset`.
    fn read_bar(&mut self, bar: usize, offset: u64, data: &mut [u8]);
    /// The guest writes BAR `bar` at `offset`.
    fn write_bar(&mut self, bar: usize, offset: u64, data: &[u8]);
}

/// The host bridge at 00.0: a header, nothing else.
pub struct HostBridge(ConfigSpace);

impl HostBridge {
    /// Red Hat's generic PCIe host bridge id (`1b36:0008`), class host bridge.
    pub fn new() -> Self {
        HostBridge(ConfigSpace::new(PciId {
            vendor: 0x1b36,
            device: 0x0008,
            revision: 0,
            class: 0x06_00_00,
            subsystem_vendor: 0x1b36,
            subsystem: 0x0008,
        }))
    }
}

impl Default for HostBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl PciFunction for HostBridge {
    fn config(&self) -> &ConfigSpace {
        &self.0
    }
    fn write_config(&mut self, offset: u64, data: &[u8]) {
        self.0.write(offset, data);
    }
    fn read_bar(&mut self, _: usize, _: u64, data: &mut [u8]) {
        data.fill(0xff);
    }
    fn write_bar(&mut self, _: usize, _: u64, _: &[u8]) {}
}

/// A shared function.
pub type SharedFunction = Arc<Mutex<dyn PciFunction>>;

/// Bus 0 and the PCI MMIO window.
pub struct PciRoot {
    slots: Vec<Option<SharedFunction>>,
    window: (u64, u64),
    bars: AddressAllocator,
    /// The configuration mechanism #1 address register.
    address: u32,
}

fn lock(f: &SharedFunction) -> std::sync::MutexGuard<'_, dyn PciFunction + 'static> {
    f.lock().unwrap_or_else(|e| e.into_inner())
}

impl PciRoot {
    /// Bus 0 with its host bridge; BARs go in `window` (`base`, `len`).
    pub fn new(window: (u64, u64)) -> Result<Self, PciError> {
        let bars = AddressAllocator::new(window.0, window.1).map_err(|_| PciError::Window {
            base: window.0,
            len: window.1,
        })?;
        let mut slots: Vec<Option<SharedFunction>> = vec![None; 32];
        slots[0] = Some(Arc::new(Mutex::new(HostBridge::new())));
        Ok(PciRoot {
            slots,
            window,
            bars,
            address: 0,
        })
    }

    /// The PCI MMIO window (`base`, `len`).
    pub fn window(&self) -> (u64, u64) {
        self.window
    }

    /// The next free device number, for a function about to be added.
    pub fn free_slot(&self, name: &str) -> Result<u8, PciError> {
        self.slots
            .iter()
            .position(Option::is_none)
            .map(|s| s as u8)
            .ok_or_else(|| PciError::Full(name.to_string()))
    }

    /// A place for a `size`-byte BAR (a power of two) in the window, aligned to its size.
    pub fn allocate_bar(&mut self, name: &str, size: u64) -> Result<u64, PciError> {
        self.bars
            .allocate(size, size, AllocPolicy::FirstMatch)
            .map(|r| r.start())
            .map_err(|source| PciError::NoRoom {
                device: name.to_string(),
                size,
                source,
            })
    }

    /// Puts `f` at device number `slot` (from [`Self::free_slot`]).
    pub fn add(&mut self, slot: u8, f: SharedFunction) {
        if let Some(s) = self.slots.get_mut(usize::from(slot)) {
            *s = Some(f);
        }
    }

    fn function(&self, bus: u8, dev: u8, func: u8) -> Option<&SharedFunction> {
        if bus != 0 || func != 0 {
            return None;
        }
        self.slots.get(usize::from(dev))?.as_ref()
    }

    /// A configuration read of bus/device/function at `offset` (0 to 4095).
    pub fn read_config(&self, bdf: u16, offset: u64, data: &mut [u8]) {
        let (bus, dev, func) = ((bdf >> 8) as u8, (bdf >> 3 & 31) as u8, (bdf & 7) as u8);
        match self.function(bus, dev, func) {
            Some(f) => lock(f).read_config(offset, data),
            None => data.fill(0xff),
        }
    }

    /// A configuration write.
    pub fn write_config(&self, bdf: u16, offset: u64, data: &[u8]) {
        let (bus, dev, func) = ((bdf >> 8) as u8, (bdf >> 3 & 31) as u8, (bdf & 7) as u8);
        if let Some(f) = self.function(bus, dev, func) {
            lock(f).write_config(offset, data);
        }
    }

    /// The function and BAR that decode `[addr, addr + len)`, and the offset in the BAR.
    fn decode(&self, addr: u64, len: usize) -> Option<(&SharedFunction, usize, u64)> {
        let end = addr.checked_add(len as u64)?;
        let (wbase, wlen) = self.window;
        if addr < wbase || end > wbase.saturating_add(wlen) {
            return None;
        }
        self.slots.iter().flatten().find_map(|f| {
            let g = lock(f);
            (0..6).find_map(|i| {
                let (base, size) = g.config().decoded_bar(i)?;
                (addr >= base && end <= base.checked_add(size)?).then(|| (f, i, addr - base))
            })
        })
    }

    fn read_mmio(&self, addr: u64, data: &mut [u8]) {
        match self.decode(addr, data.len()) {
            Some((f, bar, off)) => lock(f).read_bar(bar, off, data),
            None => data.fill(0xff),
        }
    }

    fn write_mmio(&self, addr: u64, data: &[u8]) {
        if let Some((f, bar, off)) = self.decode(addr, data.len()) {
            lock(f).write_bar(bar, off, data);
        }
    }

    /// The function of mechanism #1's address register and the register offset, if enabled.
    fn io_target(&self, port_offset: u64) -> Option<(u16, u64)> {
        let a = self.address;
        if a & 0x8000_0000 == 0 {
            return None;
        }
        let bdf = ((a >> 8) & 0xffff) as u16;
        // Bits 27:24 carry the extended register number (AMD's extension, as Linux uses it).
        let reg = u64::from(a & 0xfc) | u64::from((a >> 16) & 0xf00);
        Some((bdf, reg + port_offset))
    }
}

fn root(r: &Arc<Mutex<PciRoot>>) -> std::sync::MutexGuard<'_, PciRoot> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// Configuration mechanism #1 on 8 ports from [`CONFIG_IO_PORT`].
pub struct PciConfigIo(pub Arc<Mutex<PciRoot>>);

/// The section tag of mechanism #1's address register ([`PciConfigIo`]'s state): a guest
/// paused between its write to 0xcf8 and its access to 0xcfc finds the address it wrote after
/// a restore. Optional (older snapshots lack it: the register restores as 0).
pub const CONFIG_IO_TAG: [u8; 4] = *b"PCF8";

impl crate::snapshot::Stateful for PciConfigIo {
    fn save_state(&self) -> Vec<u8> {
        root(&self.0).address.to_le_bytes().to_vec()
    }

    fn restore_state(
        &mut self,
        version: u16,
        data: &[u8],
    ) -> Result<(), crate::snapshot::StateError> {
        crate::snapshot::check_version(version, 1)?;
        let b: [u8; 4] = data
            .try_into()
            .map_err(|_| crate::snapshot::StateError::Trailing(data.len()))?;
        root(&self.0).address = u32::from_le_bytes(b);
        Ok(())
    }
}

impl BusDevice for PciConfigIo {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let r = root(&self.0);
        if offset == 0 && data.len() == 4 {
            data.copy_from_slice(&r.address.to_le_bytes());
            return;
        }
        match (offset.checked_sub(4), r.io_target(offset.saturating_sub(4))) {
            (Some(_), Some((bdf, reg))) => r.read_config(bdf, reg, data),
            _ => data.fill(0xff),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let mut r = root(&self.0);
        if offset == 0 {
            if let Ok(v) = <[u8; 4]>::try_from(data) {
                r.address = u32::from_le_bytes(v);
            }
            return;
        }
        if let (Some(_), Some((bdf, reg))) =
            (offset.checked_sub(4), r.io_target(offset.saturating_sub(4)))
        {
            r.write_config(bdf, reg, data);
        }
    }
}

/// ECAM for bus 0: 4 KiB per function, device number in bits 19:15, function in 14:12.
pub struct PciEcam(pub Arc<Mutex<PciRoot>>);

impl BusDevice for PciEcam {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let bdf = (offset >> 12) as u16;
        root(&self.0).read_config(bdf, offset & 0xfff, data);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let bdf = (offset >> 12) as u16;
        root(&self.0).write_config(bdf, offset & 0xfff, data);
    }
}

/// The PCI MMIO window, where BARs decode.
pub struct PciMmio(pub Arc<Mutex<PciRoot>>);

impl BusDevice for PciMmio {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let r = root(&self.0);
        match r.window.0.checked_add(offset) {
            Some(addr) => r.read_mmio(addr, data),
            None => data.fill(0xff),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let r = root(&self.0);
        if let Some(addr) = r.window.0.checked_add(offset) {
            r.write_mmio(addr, data);
        }
    }
}

/// What a platform with PCI hands the devices it places: the root and its MSI router.
#[derive(Clone)]
pub struct PciHost {
    /// Bus 0.
    pub root: Arc<Mutex<PciRoot>>,
    /// Where MSI vectors come from.
    pub msi: Arc<dyn super::msi::MsiRouter>,
}

impl PciHost {
    /// Bus 0 on `devices`' MMIO bus: its ECAM at `ecam` (`base`, `len`) and its BAR `window`
    /// (`base`, `len`), vectors from `msi`. An arch with a port bus adds [`PciConfigIo`] on
    /// [`Self::root`] itself.
    pub fn install(
        devices: &mut crate::devices::Devices,
        ecam: (u64, u64),
        window: (u64, u64),
        msi: Arc<dyn super::msi::MsiRouter>,
    ) -> Result<PciHost, crate::devices::DeviceError> {
        use crate::devices::DeviceError;
        let root = PciRoot::new(window).map_err(|source| DeviceError::Pci {
            device: "the PCI host bridge".into(),
            source,
        })?;
        let root = Arc::new(Mutex::new(root));
        devices
            .insert_mmio(ecam.0, ecam.1, Arc::new(Mutex::new(PciEcam(root.clone()))))
            .map_err(DeviceError::Bus)?;
        devices
            .insert_mmio(
                window.0,
                window.1,
                Arc::new(Mutex::new(PciMmio(root.clone()))),
            )
            .map_err(DeviceError::Bus)?;
        Ok(PciHost { root, msi })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::pci::config::COMMAND_MEMORY;

    struct Probe {
        config: ConfigSpace,
        last: Option<(usize, u64, Vec<u8>)>,
    }

    impl PciFunction for Probe {
        fn config(&self) -> &ConfigSpace {
            &self.config
        }
        fn write_config(&mut self, offset: u64, data: &[u8]) {
            self.config.write(offset, data);
        }
        fn read_bar(&mut self, bar: usize, offset: u64, data: &mut [u8]) {
            data.fill(bar as u8 + offset as u8);
        }
        fn write_bar(&mut self, bar: usize, offset: u64, data: &[u8]) {
            self.last = Some((bar, offset, data.to_vec()));
        }
    }

    fn rig() -> (Arc<Mutex<PciRoot>>, Arc<Mutex<Probe>>) {
        let mut r = PciRoot::new((0xc000_0000, 0x1000_0000)).unwrap();
        let slot = r.free_slot("probe").unwrap();
        assert_eq!(slot, 1);
        let at = r.allocate_bar("probe", 0x4000).unwrap();
        assert_eq!(at, 0xc000_0000);
        let mut config = ConfigSpace::new(PciId {
            vendor: 0x1af4,
            device: 0x1041,
            revision: 1,
            class: 0x02_00_00,
            subsystem_vendor: 0x1af4,
            subsystem: 1,
        });
        config.add_bar64(0, 0x4000, at).unwrap();
        let p = Arc::new(Mutex::new(Probe { config, last: None }));
        r.add(slot, p.clone());
        (Arc::new(Mutex::new(r)), p)
    }

    fn cf8(io: &mut PciConfigIo, dev: u32, reg: u32) -> u32 {
        io.write(0, &(0x8000_0000 | dev << 11 | reg).to_le_bytes());
        let mut b = [0u8; 4];
        io.read(4, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn the_address_register_is_saved_and_restored() {
        use crate::snapshot::Stateful;
        let (r, _) = rig();
        let mut io = PciConfigIo(r.clone());
        let at = 0x8000_0000u32 | 1 << 11;
        io.write(0, &at.to_le_bytes());
        let saved = io.save_state();
        // A fresh root (a new process) gets it back: the data port then reaches that function.
        let (fresh, _) = rig();
        let mut io2 = PciConfigIo(fresh);
        io2.restore_state(1, &saved).unwrap();
        let mut b = [0u8; 4];
        io2.read(0, &mut b);
        assert_eq!(u32::from_le_bytes(b), at);
        io2.read(4, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x1041_1af4);
        assert!(io2.restore_state(1, &[1, 2, 3]).is_err());
        assert!(io2.restore_state(2, &saved).is_err());
    }

    #[test]
    fn mechanism_one_and_ecam_see_the_same_functions() {
        let (r, _) = rig();
        let mut io = PciConfigIo(r.clone());
        let mut ecam = PciEcam(r.clone());
        assert_eq!(cf8(&mut io, 0, 0), 0x0008_1b36);
        assert_eq!(cf8(&mut io, 0, 8) >> 8, 0x06_00_00);
        assert_eq!(cf8(&mut io, 1, 0), 0x1041_1af4);
        assert_eq!(cf8(&mut io, 2, 0), 0xffff_ffff, "an empty slot");
        let mut b = [0u8; 4];
        ecam.read(1 << 15, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x1041_1af4);
        // Function 1 and bus 1 are absent.
        ecam.read(1 << 15 | 1 << 12, &mut b);
        assert_eq!(b, [0xff; 4]);
        ecam.read(1 << 20, &mut b);
        assert_eq!(b, [0xff; 4]);
        // Byte and word reads through 0xcfc..0xcff.
        io.write(0, &(0x8000_0800u32).to_le_bytes());
        let mut w = [0u8; 2];
        io.read(6, &mut w);
        assert_eq!(u16::from_le_bytes(w), 0x1041);
        // The address register disabled: all ones; reads of it back.
        io.write(0, &0x0000_0800u32.to_le_bytes());
        io.read(4, &mut b);
        assert_eq!(b, [0xff; 4]);
        io.read(0, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x800);
        // A byte write to 0xcf8 is not an address.
        io.write(0, &[0x80]);
        io.read(0, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x800);
    }

    #[test]
    fn bars_decode_only_with_memory_on_and_inside_the_window() {
        let (r, p) = rig();
        let mut mmio = PciMmio(r.clone());
        let mut ecam = PciEcam(r.clone());
        let mut b = [0u8; 4];
        mmio.read(0x10, &mut b);
        assert_eq!(b, [0xff; 4], "memory decoding is off");
        ecam.write(1 << 15 | 4, &COMMAND_MEMORY.to_le_bytes());
        mmio.read(0x10, &mut b);
        assert_eq!(b, [0x10; 4]);
        mmio.write(0x3ffc, &[1, 2, 3, 4]);
        assert_eq!(p.lock().unwrap().last, Some((0, 0x3ffc, vec![1, 2, 3, 4])));
        // Straddling the BAR's end is not decoded.
        mmio.write(0x3ffe, &[9, 9, 9, 9]);
        assert_eq!(p.lock().unwrap().last.as_ref().unwrap().1, 0x3ffc);
        // Moved over RAM (address 0): nothing decodes in the window any more.
        ecam.write(1 << 15 | 0x10, &0u32.to_le_bytes());
        mmio.read(0x10, &mut b);
        assert_eq!(b, [0xff; 4]);
        // Moved to the window's end.
        ecam.write(1 << 15 | 0x10, &0xcfff_c000u32.to_le_bytes());
        mmio.read(0x0fff_c004, &mut b);
        assert_eq!(b, [4; 4]);
        // Below it, in the window: nothing (the fuzz target found the offset computed first).
        mmio.read(0x10, &mut b);
        assert_eq!(b, [0xff; 4]);
        // The window's last bytes and past them.
        let mut b8 = [0u8; 8];
        mmio.read(0x0fff_fffc, &mut b8);
        assert_eq!(b8, [0xff; 8]);
        mmio.read(u64::MAX - 2, &mut b);
        assert_eq!(b, [0xff; 4]);
    }

    #[test]
    fn the_bus_fills_and_the_window_runs_out() {
        let mut r = PciRoot::new((0xc000_0000, 0x8000)).unwrap();
        for _ in 1..32 {
            let s = r.free_slot("x").unwrap();
            r.add(s, Arc::new(Mutex::new(HostBridge::new())));
        }
        assert!(matches!(r.free_slot("x"), Err(PciError::Full(_))));
        r.allocate_bar("a", 0x8000).unwrap();
        assert!(matches!(
            r.allocate_bar("b", 0x1000),
            Err(PciError::NoRoom { .. })
        ));
        assert!(PciRoot::new((0, 0)).is_err());
    }
}
