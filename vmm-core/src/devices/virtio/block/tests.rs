//! A driver played by hand against virtio-mmio and the block device on a temporary image:
//! reads and writes, flush, get-id, discard and write-zeroes, read-only disks, and a malicious
//! driver (requests past the end, odd lengths, huge lengths, missing or read-only status bytes,
//! short headers, bad segments). The image must change exactly as the requests say, and a
//! refused request must leave it byte for byte as it was.

use super::*;
use crate::devices::virtio::tests::{rig_with, Rig, BUF, F_NEXT, F_WRITE, RAM};
use crate::snapshot::Stateful;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use virtio_bindings::virtio_config::VIRTIO_CONFIG_S_NEEDS_RESET;
use virtio_bindings::virtio_mmio::*;
use vm_memory::{Bytes, GuestAddress};

const HDR: u64 = BUF;
const STATUS: u64 = BUF + 0x1000;
const DATA: u64 = 0x20000;
const QSIZE: u16 = 16;

/// A temporary directory with an image in it, removed on drop.
struct Img {
    dir: PathBuf,
    path: PathBuf,
}

impl Img {
    /// An image of `sectors` sectors, byte `i` holding `i * 7 % 251`.
    fn new(sectors: u64) -> Img {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tetra-blk-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("disk.img");
        std::fs::write(&path, pattern(0, (sectors * SECTOR) as usize)).unwrap();
        Img { dir, path }
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }

    fn config(&self, read_only: bool) -> DiskConfig {
        DiskConfig {
            read_only,
            ..DiskConfig::new(&self.path)
        }
    }
}

impl Drop for Img {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The image's initial bytes from `offset`.
fn pattern(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((offset + i) * 7 % 251) as u8)
        .collect()
}

/// A driver with the block device's queue set up, accepting every feature it offers.
struct Drv {
    rig: Rig,
    /// Requests offered so far.
    n: u16,
}

/// A request's data buffer.
enum Data<'a> {
    None,
    /// A device-writable buffer of this many bytes.
    In(u32),
    /// A device-readable buffer with these bytes.
    Out(&'a [u8]),
}

impl Drv {
    fn new(config: &DiskConfig) -> Drv {
        Drv::with(config, |offered| offered)
    }

    /// A driver accepting `accept(offered)` of the device's feature bits 0-31.
    fn with(config: &DiskConfig, accept: impl Fn(u32) -> u32) -> Drv {
        let mut rig = rig_with(Box::new(Block::open(config).unwrap()));
        rig.w(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        let offered = rig.r(VIRTIO_MMIO_DEVICE_FEATURES);
        rig.init_with(u32::from(QSIZE), accept(offered));
        Drv { rig, n: 0 }
    }

    /// Offers the chain of `descs` (address, length, flags; linked in order from descriptor
    /// 0); returns the used length, or `None` when the device marked itself as needing reset.
    fn chain(&mut self, descs: &[(u64, u32, u16)]) -> Option<u32> {
        for (i, &(addr, len, flags)) in descs.iter().enumerate() {
            let next = if i + 1 < descs.len() { F_NEXT } else { 0 };
            self.rig
                .desc(i as u64, addr, len, flags | next, (i + 1) as u16);
        }
        let slot = u64::from(self.n % QSIZE);
        self.n += 1;
        self.rig.avail(slot, 0, self.n);
        self.rig.notify();
        let n = self.n;
        assert!(
            self.rig.wait(|r| r.used_idx() == n || r.irq.is_broken()),
            "request {n} not served"
        );
        (self.rig.used_idx() == n).then(|| self.rig.used_len(slot))
    }

    /// Sends a request; returns its status byte and used length.
    fn request(&mut self, kind: u32, sector: u64, data: Data) -> (u32, u32) {
        let m = self.rig.m();
        let mut h = [0u8; 16];
        h[..4].copy_from_slice(&kind.to_le_bytes());
        h[8..].copy_from_slice(&sector.to_le_bytes());
        m.write_slice(&h, GuestAddress(HDR)).unwrap();
        m.write_obj(0xeeu8, GuestAddress(STATUS)).unwrap();
        let mut descs = vec![(HDR, 16, 0)];
        match data {
            Data::None => {}
            Data::In(len) => descs.push((DATA, len, F_WRITE)),
            Data::Out(b) => {
                m.write_slice(b, GuestAddress(DATA)).unwrap();
                descs.push((DATA, b.len() as u32, 0));
            }
        }
        descs.push((STATUS, 1, F_WRITE));
        let used = self.chain(&descs).expect("the device needs a reset");
        let status: u8 = m.read_obj(GuestAddress(STATUS)).unwrap();
        (u32::from(status), used)
    }

    fn read(&mut self, sector: u64, len: u32) -> (u32, Vec<u8>) {
        let (status, used) = self.request(VIRTIO_BLK_T_IN, sector, Data::In(len));
        let mut b = vec![0u8; len as usize];
        self.rig.m().read_slice(&mut b, GuestAddress(DATA)).unwrap();
        if status == VIRTIO_BLK_S_OK {
            assert_eq!(used, len + 1);
        }
        (status, b)
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> u32 {
        self.request(VIRTIO_BLK_T_OUT, sector, Data::Out(data)).0
    }

    /// A discard or write-zeroes of one segment.
    fn zero(&mut self, kind: u32, sector: u64, n: u32, flags: u32) -> u32 {
        let mut seg = [0u8; 16];
        seg[..8].copy_from_slice(&sector.to_le_bytes());
        seg[8..12].copy_from_slice(&n.to_le_bytes());
        seg[12..].copy_from_slice(&flags.to_le_bytes());
        self.request(kind, 0, Data::Out(&seg)).0
    }

    fn config(&mut self, offset: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0xaa; len];
        self.rig
            .t
            .read(u64::from(VIRTIO_MMIO_CONFIG) + offset, &mut b);
        b
    }
}

use crate::bus::BusDevice;

fn feature(offered: u32, b: u32) -> bool {
    offered & (1 << b) != 0
}

#[test]
fn config_space_and_features() {
    let img = Img::new(2048 + 3);
    let mut d = Drv::new(&img.config(false));
    let cap = u64::from_le_bytes(d.config(0, 8).try_into().unwrap());
    assert_eq!(cap, 2051);
    // Any width and offset; bytes past the end read as zero.
    assert_eq!(d.config(1, 1), [(2051 >> 8) as u8]);
    assert_eq!(d.config(0, 2), [3, 8]);
    let seg_max = offset_of!(virtio_blk_config, seg_max) as u64;
    assert_eq!(d.config(seg_max, 4), SEG_MAX.to_le_bytes());
    let blk = offset_of!(virtio_blk_config, blk_size) as u64;
    assert_eq!(d.config(blk, 4), 512u32.to_le_bytes());
    let disc = offset_of!(virtio_blk_config, max_discard_seg) as u64;
    assert_eq!(d.config(disc, 4), 1u32.to_le_bytes());
    let unmap = offset_of!(virtio_blk_config, write_zeroes_may_unmap) as u64;
    assert_eq!(d.config(unmap, 1), [1]);
    assert_eq!(d.config(CONFIG_LEN as u64 - 2, 4), [0; 4]);
    assert_eq!(d.config(0xf0, 16), [0; 16]);
    // Writes change nothing.
    d.rig.t.write(u64::from(VIRTIO_MMIO_CONFIG), &[0xff; 8]);
    assert_eq!(d.config(0, 8), 2051u64.to_le_bytes());
    d.rig.w(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    let rw = d.rig.r(VIRTIO_MMIO_DEVICE_FEATURES);
    for b in [
        VIRTIO_BLK_F_SEG_MAX,
        VIRTIO_BLK_F_BLK_SIZE,
        VIRTIO_BLK_F_FLUSH,
        VIRTIO_BLK_F_DISCARD,
        VIRTIO_BLK_F_WRITE_ZEROES,
    ] {
        assert!(feature(rw, b), "feature {b}");
    }
    assert!(!feature(rw, VIRTIO_BLK_F_RO));
    drop(d);
    let mut d = Drv::new(&img.config(true));
    d.rig.w(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    let ro = d.rig.r(VIRTIO_MMIO_DEVICE_FEATURES);
    assert!(feature(ro, VIRTIO_BLK_F_RO));
    assert!(!feature(ro, VIRTIO_BLK_F_DISCARD) && !feature(ro, VIRTIO_BLK_F_WRITE_ZEROES));
}

#[test]
fn reads_and_writes_round_trip_at_several_sectors() {
    let img = Img::new(64);
    let mut d = Drv::new(&img.config(false));
    let (s, b) = d.read(0, 1024);
    assert_eq!((s, b), (VIRTIO_BLK_S_OK, pattern(0, 1024)));
    let (s, b) = d.read(63, 512);
    assert_eq!((s, b), (VIRTIO_BLK_S_OK, pattern(63 * 512, 512)));
    let mut want = img.bytes();
    for (sector, len, fill) in [(0u64, 512usize, 0x11u8), (7, 4096, 0x22), (63, 512, 0x33)] {
        let data = vec![fill; len];
        assert_eq!(d.write(sector, &data), VIRTIO_BLK_S_OK);
        want[sector as usize * 512..][..len].copy_from_slice(&data);
        assert_eq!(d.read(sector, len as u32), (VIRTIO_BLK_S_OK, data));
    }
    assert_eq!(img.bytes(), want);
    // A write spread over several descriptors lands in order.
    let m = d.rig.m();
    m.write_slice(&[0x44; 512], GuestAddress(DATA)).unwrap();
    m.write_slice(&[0x55; 1024], GuestAddress(DATA + 0x1000))
        .unwrap();
    m.write_slice(
        &[1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0],
        GuestAddress(HDR),
    )
    .unwrap();
    let used = d.chain(&[
        (HDR, 16, 0),
        (DATA, 512, 0),
        (DATA + 0x1000, 1024, 0),
        (STATUS, 1, F_WRITE),
    ]);
    assert_eq!(used, Some(1));
    want[20 * 512..][..512].fill(0x44);
    want[21 * 512..][..1024].fill(0x55);
    assert_eq!(img.bytes(), want);
    // A read larger than the bounce buffer is served in chunks.
    let img = Img::new(1536);
    let mut d = Drv::new(&img.config(false));
    let (s, b) = d.read(0, 768 << 10);
    assert_eq!(s, VIRTIO_BLK_S_OK);
    assert!(b == pattern(0, 768 << 10), "chunked read differs");
    let big = vec![0x66; 640 << 10];
    assert_eq!(d.write(100, &big), VIRTIO_BLK_S_OK);
    assert!(img.bytes()[100 * 512..][..640 << 10] == big[..]);
}

#[test]
fn flush_and_get_id() {
    let img = Img::new(8);
    let mut d = Drv::new(&DiskConfig {
        id: Some("serial-42".into()),
        ..img.config(false)
    });
    assert_eq!(
        d.request(VIRTIO_BLK_T_FLUSH, 0, Data::None),
        (VIRTIO_BLK_S_OK, 1)
    );
    let (s, used) = d.request(VIRTIO_BLK_T_GET_ID, 0, Data::In(20));
    assert_eq!((s, used), (VIRTIO_BLK_S_OK, 21));
    let mut id = [0u8; 20];
    d.rig.m().read_slice(&mut id, GuestAddress(DATA)).unwrap();
    assert_eq!(&id, b"serial-42\0\0\0\0\0\0\0\0\0\0\0");
    // A shorter buffer gets the id's start.
    let (s, used) = d.request(VIRTIO_BLK_T_GET_ID, 0, Data::In(4));
    assert_eq!((s, used), (VIRTIO_BLK_S_OK, 5));
    // No id: twenty zeros. Twenty bytes exactly fit; more are refused when the disk opens.
    drop(d);
    let mut d = Drv::new(&img.config(true));
    d.rig.m().write_slice(&[9; 20], GuestAddress(DATA)).unwrap();
    d.request(VIRTIO_BLK_T_GET_ID, 0, Data::In(20));
    d.rig.m().read_slice(&mut id, GuestAddress(DATA)).unwrap();
    assert_eq!(id, [0; 20]);
    let full = DiskConfig {
        id: Some("x".repeat(20)),
        ..img.config(true)
    };
    assert!(Block::open(&full).is_ok());
    let over = DiskConfig {
        id: Some("x".repeat(21)),
        ..img.config(true)
    };
    let e = Block::open(&over).err().unwrap();
    assert!(matches!(e, DiskError::Id { len: 21, .. }), "{e}");
    // An unknown request type.
    assert_eq!(d.request(99, 0, Data::None).0, VIRTIO_BLK_S_UNSUPP);
}

#[test]
fn discard_and_write_zeroes_zero_the_range() {
    let img = Img::new(256);
    let mut d = Drv::new(&img.config(false));
    let mut want = img.bytes();
    // Discard: sectors 8..24 (a hole where the file system punches one).
    assert_eq!(d.zero(VIRTIO_BLK_T_DISCARD, 8, 16, 0), VIRTIO_BLK_S_OK);
    want[8 * 512..24 * 512].fill(0);
    assert_eq!(img.bytes(), want);
    // Write zeroes, with and without unmap, at odd sectors.
    assert_eq!(d.zero(VIRTIO_BLK_T_WRITE_ZEROES, 31, 3, 0), VIRTIO_BLK_S_OK);
    want[31 * 512..34 * 512].fill(0);
    assert_eq!(
        d.zero(
            VIRTIO_BLK_T_WRITE_ZEROES,
            255,
            1,
            VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP
        ),
        VIRTIO_BLK_S_OK
    );
    want[255 * 512..].fill(0);
    assert_eq!(img.bytes(), want);
    assert_eq!(img.bytes().len(), 256 * 512, "the size changed");
    // Refused, the image unchanged: unknown flags, unmap on a discard, past the end,
    // an overflowing sector, more than the most sectors, two segments, half a segment.
    let cases: [(u32, u64, u32, u32, u32); 7] = [
        (VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 2, VIRTIO_BLK_S_UNSUPP),
        (VIRTIO_BLK_T_DISCARD, 0, 1, 1, VIRTIO_BLK_S_UNSUPP),
        (VIRTIO_BLK_T_DISCARD, 255, 2, 0, VIRTIO_BLK_S_IOERR),
        (
            VIRTIO_BLK_T_WRITE_ZEROES,
            u64::MAX,
            2,
            0,
            VIRTIO_BLK_S_IOERR,
        ),
        (VIRTIO_BLK_T_DISCARD, 256, 1, 0, VIRTIO_BLK_S_IOERR),
        (
            VIRTIO_BLK_T_DISCARD,
            0,
            MAX_DISCARD_SECTORS + 1,
            0,
            VIRTIO_BLK_S_IOERR,
        ),
        (
            VIRTIO_BLK_T_WRITE_ZEROES,
            0,
            MAX_WRITE_ZEROES_SECTORS + 1,
            0,
            VIRTIO_BLK_S_IOERR,
        ),
    ];
    for (kind, sector, n, flags, status) in cases {
        assert_eq!(
            d.zero(kind, sector, n, flags),
            status,
            "{kind} {sector} {n} {flags}"
        );
        assert_eq!(img.bytes(), want);
    }
    let mut two = [0u8; 32];
    two[8] = 1;
    two[24] = 1;
    let s = d.request(VIRTIO_BLK_T_DISCARD, 0, Data::Out(&two)).0;
    assert_eq!(s, VIRTIO_BLK_S_IOERR);
    let s = d.request(VIRTIO_BLK_T_DISCARD, 0, Data::Out(&two[..8])).0;
    assert_eq!(s, VIRTIO_BLK_S_IOERR);
    let s = d.request(VIRTIO_BLK_T_WRITE_ZEROES, 0, Data::None).0;
    assert_eq!(s, VIRTIO_BLK_S_IOERR);
    assert_eq!(img.bytes(), want);
    // A driver that did not negotiate them gets UNSUPP.
    drop(d);
    let mut d = Drv::with(&img.config(false), |f| {
        f & !(1 << VIRTIO_BLK_F_DISCARD | 1 << VIRTIO_BLK_F_WRITE_ZEROES)
    });
    assert_eq!(d.zero(VIRTIO_BLK_T_DISCARD, 0, 1, 0), VIRTIO_BLK_S_UNSUPP);
    assert_eq!(
        d.zero(VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0),
        VIRTIO_BLK_S_UNSUPP
    );
    assert_eq!(img.bytes(), want);
}

#[test]
fn the_zeroing_fallback_writes_bounded_chunks() {
    let img = Img::new(512);
    let disk = Disk::open(&img.config(false)).unwrap();
    // Across several chunks, starting and ending mid-chunk.
    disk.zero_without_fallocate(3 * 512, 300 * 512).unwrap();
    let mut want = pattern(0, 512 * 512);
    want[3 * 512..303 * 512].fill(0);
    assert_eq!(img.bytes(), want);
    drop(disk);
    let ro = Disk::open(&img.config(true)).unwrap();
    assert!(ro.zero_without_fallocate(0, 512).is_err());
    assert!(ro.discard(0, 512).is_err());
    assert_eq!(img.bytes(), want);
}

#[test]
fn a_read_only_disk_stays_byte_identical() {
    let img = Img::new(32);
    let before = img.bytes();
    let mtime = std::fs::metadata(&img.path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    // A driver that ignores VIRTIO_BLK_F_RO and tries everything that writes.
    let mut d = Drv::new(&img.config(true));
    assert_eq!(d.write(0, &[1; 512]), VIRTIO_BLK_S_IOERR);
    assert_eq!(d.zero(VIRTIO_BLK_T_DISCARD, 0, 4, 0), VIRTIO_BLK_S_IOERR);
    assert_eq!(
        d.zero(VIRTIO_BLK_T_WRITE_ZEROES, 0, 4, 0),
        VIRTIO_BLK_S_IOERR
    );
    assert_eq!(
        d.zero(
            VIRTIO_BLK_T_WRITE_ZEROES,
            0,
            4,
            VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP
        ),
        VIRTIO_BLK_S_IOERR
    );
    assert_eq!(
        d.request(VIRTIO_BLK_T_FLUSH, 0, Data::None).0,
        VIRTIO_BLK_S_OK
    );
    assert_eq!(d.read(4, 512), (VIRTIO_BLK_S_OK, pattern(4 * 512, 512)));
    drop(d);
    assert_eq!(img.bytes(), before);
    let after = std::fs::metadata(&img.path).unwrap().modified().unwrap();
    assert_eq!(after, mtime, "the read-only image's mtime changed");
}

#[test]
fn malformed_requests_get_ioerr_and_leave_the_image_alone() {
    let img = Img::new(16);
    let want = img.bytes();
    let mut d = Drv::new(&img.config(false));
    // Past the end, overflowing, odd lengths.
    assert_eq!(d.write(15, &[1; 1024]), VIRTIO_BLK_S_IOERR);
    assert_eq!(d.write(16, &[1; 512]), VIRTIO_BLK_S_IOERR);
    assert_eq!(d.write(u64::MAX, &[1; 512]), VIRTIO_BLK_S_IOERR);
    assert_eq!(d.write(u64::MAX / 512 + 1, &[1; 512]), VIRTIO_BLK_S_IOERR);
    assert_eq!(d.write(0, &[1; 100]), VIRTIO_BLK_S_IOERR);
    assert_eq!(d.write(0, &[1; 513]), VIRTIO_BLK_S_IOERR);
    assert_eq!(d.read(15, 1024).0, VIRTIO_BLK_S_IOERR);
    assert_eq!(d.read(0, 513).0, VIRTIO_BLK_S_IOERR);
    assert_eq!(d.read(u64::MAX, 512).0, VIRTIO_BLK_S_IOERR);
    // An empty request at the end is in range.
    assert_eq!(d.read(16, 0).0, VIRTIO_BLK_S_OK);
    // Huge lengths: a buffer over most of guest RAM, and the same buffer many times over
    // (16 x 896 KiB), both far past this 8 KiB image: refused before any I/O.
    assert_eq!(d.read(0, (RAM - DATA) as u32).0, VIRTIO_BLK_S_IOERR);
    let mut descs = vec![(HDR, 16, 0)];
    descs.extend(std::iter::repeat_n((DATA, (RAM - DATA) as u32, 0), 14));
    descs.push((STATUS, 1, F_WRITE));
    let m = d.rig.m();
    m.write_slice(&[1u8, 0, 0, 0], GuestAddress(HDR)).unwrap();
    m.write_slice(&[0u8; 12], GuestAddress(HDR + 4)).unwrap();
    assert_eq!(d.chain(&descs), Some(1));
    assert_eq!(m.read_obj::<u8>(GuestAddress(STATUS)).unwrap(), 1);
    // A short header; readable data after the writable data.
    assert_eq!(d.chain(&[(HDR, 8, 0), (STATUS, 1, F_WRITE)]), Some(1));
    assert_eq!(m.read_obj::<u8>(GuestAddress(STATUS)).unwrap(), 1);
    m.write_slice(&[0u8; 16], GuestAddress(HDR)).unwrap();
    m.write_obj(0xeeu8, GuestAddress(STATUS)).unwrap();
    let used = d.chain(&[
        (HDR, 16, 0),
        (DATA, 512, F_WRITE),
        (DATA + 0x1000, 512, 0),
        (STATUS, 1, F_WRITE),
    ]);
    assert_eq!(used, Some(1));
    assert_eq!(m.read_obj::<u8>(GuestAddress(STATUS)).unwrap(), 1);
    assert!(!d.rig.irq.is_broken());
    assert_eq!(img.bytes(), want);
}

#[test]
fn a_request_with_nowhere_to_put_its_status_needs_a_reset() {
    let img = Img::new(16);
    let want = img.bytes();
    type Shape = &'static [(u64, u32, u16)];
    let cases: [(&str, Shape); 4] = [
        ("no status descriptor", &[(HDR, 16, 0), (DATA, 512, 0)]),
        ("a read-only status", &[(HDR, 16, 0), (STATUS, 1, 0)]),
        ("an empty status", &[(HDR, 16, 0), (STATUS, 0, F_WRITE)]),
        (
            "data after the status",
            &[(HDR, 16, 0), (STATUS, 1, F_WRITE), (DATA, 512, 0)],
        ),
    ];
    for (what, shape) in cases {
        let mut d = Drv::new(&img.config(false));
        // A write of sector 0 from DATA, whatever the shape.
        let m = d.rig.m();
        m.write_slice(&[1u8, 0, 0, 0], GuestAddress(HDR)).unwrap();
        m.write_slice(&[0u8; 12], GuestAddress(HDR + 4)).unwrap();
        m.write_slice(&[0x77; 512], GuestAddress(DATA)).unwrap();
        assert_eq!(d.chain(shape), None, "{what}: served");
        assert!(d.rig.r(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET != 0);
        assert_eq!(img.bytes(), want, "{what}: the image changed");
    }
}

#[test]
fn the_lock_keeps_a_second_writer_out() {
    let img = Img::new(8);
    let rw = Disk::open(&img.config(false)).unwrap();
    for read_only in [false, true] {
        let e = Disk::open(&img.config(read_only)).unwrap_err();
        assert!(matches!(e, DiskError::Locked { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&img.path.display().to_string())
                && text.ends_with("is locked by another process (another VM?)"),
            "{text}"
        );
    }
    drop(rw);
    let a = Disk::open(&img.config(true)).unwrap();
    let b = Disk::open(&img.config(true)).unwrap();
    assert!(a.read_only() && b.read_only());
    assert!(matches!(
        Disk::open(&img.config(false)),
        Err(DiskError::Locked { .. })
    ));
    assert_eq!(a.path(), std::path::absolute(&img.path).unwrap());
}

#[test]
fn what_is_not_a_disk_is_refused_by_name() {
    let img = Img::new(1);
    let at = |p: &Path| DiskConfig::new(p);
    let missing = img.dir.join("missing.img");
    let e = Disk::open(&at(&missing)).unwrap_err();
    assert!(matches!(e, DiskError::Open { .. }));
    assert!(e.to_string().contains("missing.img"), "{e}");
    let e = Disk::open(&DiskConfig {
        read_only: true,
        ..at(&img.dir)
    })
    .unwrap_err();
    assert!(matches!(e, DiskError::NotADisk { .. }), "{e}");
    let odd = img.dir.join("odd.img");
    std::fs::write(&odd, [0u8; 700]).unwrap();
    let e = Disk::open(&at(&odd)).unwrap_err();
    assert!(matches!(e, DiskError::Size { size: 700, .. }), "{e}");
    assert!(e.to_string().contains("odd.img"), "{e}");
    // A FIFO would block a plain open until a writer came: refused at once.
    let fifo = img.dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads the NUL-terminated path and nothing else.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let e = Disk::open(&DiskConfig {
        read_only: true,
        ..at(&fifo)
    })
    .unwrap_err();
    assert!(matches!(e, DiskError::NotADisk { .. }), "{e}");
    // An empty image is a disk of no sectors.
    let empty = img.dir.join("empty.img");
    std::fs::write(&empty, []).unwrap();
    assert_eq!(Disk::open(&at(&empty)).unwrap().sectors(), 0);
}

#[test]
fn state_round_trips_and_a_restore_checks_the_image() {
    let img = Img::new(16);
    let mut d = Drv::new(&img.config(false));
    assert_eq!(d.write(2, &[0x5a; 512]), VIRTIO_BLK_S_OK);
    let saved = d.rig.t.save_state();
    let mut page = vec![0u8; 0x4000];
    d.rig.m().read_slice(&mut page, GuestAddress(0)).unwrap();
    let n = d.n;
    drop(d); // the image's lock goes with it
             // The restored device opens the image again and goes on where the driver was.
    let mut b = Drv {
        rig: rig_with(Box::new(Block::open(&img.config(false)).unwrap())),
        n,
    };
    b.rig.m().write_slice(&page, GuestAddress(0)).unwrap();
    b.rig.t.restore_state(1, &saved).unwrap();
    assert_eq!(b.rig.t.save_state(), saved);
    assert_eq!(b.read(2, 512), (VIRTIO_BLK_S_OK, vec![0x5a; 512]));
    drop(b);
    // The device's own state: a changed image or mode, a truncation, a bad flag.
    let blk = Block::open(&img.config(false)).unwrap();
    let state = blk.save_state();
    assert_eq!(state.len(), 9);
    drop(blk);
    let mut ro = Block::open(&img.config(true)).unwrap();
    let e = ro.restore_state(1, &state).unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
    drop(ro);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&img.path)
        .unwrap()
        .set_len(32 * 512)
        .unwrap();
    let mut grown = Block::open(&img.config(false)).unwrap();
    let e = grown.restore_state(1, &state).unwrap_err();
    assert!(e.to_string().contains("32 sectors"), "{e}");
    let mut same = state.clone();
    same[..8].copy_from_slice(&32u64.to_le_bytes());
    grown.restore_state(1, &same).unwrap();
    for n in 0..same.len() {
        assert!(grown.restore_state(1, &same[..n]).is_err(), "{n}");
    }
    let mut flags = same.clone();
    flags[8] = 2;
    assert!(grown.restore_state(1, &flags).is_err());
    assert!(grown.restore_state(2, &same).is_err());
    let mut long = same;
    long.push(0);
    assert!(grown.restore_state(1, &long).is_err());
}

#[test]
fn one_image_twice_in_a_vm_is_named_as_such() {
    use crate::config::VirtioConfig;
    use crate::devices::virtio::BackendError;
    use crate::devices::virtio::Backends;
    let img = Img::new(4);
    let link = img.dir.join("link.img");
    std::os::unix::fs::symlink(&img.path, &link).unwrap();
    let twice = |a: DiskConfig, b: DiskConfig| {
        Backends::open(
            &VirtioConfig {
                disks: vec![a, b],
                ..VirtioConfig::default()
            },
            false,
        )
    };
    let e = twice(img.config(false), DiskConfig::new(&link))
        .err()
        .unwrap();
    assert!(
        matches!(e, BackendError::Disk(DiskError::Twice { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("link.img"), "{e}");
    assert!(twice(
        img.config(true),
        DiskConfig {
            read_only: true,
            ..DiskConfig::new(&link)
        }
    )
    .is_ok());
    // Another holder is still "another process".
    let _other = Disk::open(&img.config(true)).unwrap();
    let e = twice(img.config(false), img.config(true)).err().unwrap();
    assert!(
        matches!(e, BackendError::Disk(DiskError::Locked { .. })),
        "{e}"
    );
}

#[test]
fn a_deferred_lock_is_handed_over() {
    let img = Img::new(8);
    let source = Disk::open(&img.config(false)).unwrap();
    assert!(source.locked());
    // The destination opens the image while the source holds it, without the lock.
    let dest = Disk::open_deferred(&img.config(false)).unwrap();
    assert!(!dest.locked());
    let e = dest
        .take_lock(std::time::Duration::from_millis(50))
        .unwrap_err();
    assert!(matches!(e, DiskError::Locked { .. }), "{e}");
    // The hand-off: the source lets go, the destination takes it, the source cannot again.
    source.release_lock();
    assert!(!source.locked());
    dest.take_lock(std::time::Duration::from_millis(50))
        .unwrap();
    assert!(dest.locked());
    assert!(source
        .take_lock(std::time::Duration::from_millis(30))
        .is_err());
    assert!(
        Disk::open(&img.config(true)).is_err(),
        "a reader still waits for the writer"
    );
    // A plain open still refuses a locked image.
    assert!(matches!(
        Disk::open(&img.config(false)),
        Err(DiskError::Locked { .. })
    ));
}
