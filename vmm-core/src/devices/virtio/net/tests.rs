//! A driver played by hand against virtio-mmio and the network card, whose backend is one end of
//! a `SOCK_SEQPACKET` socket pair (it keeps frames whole, as a TAP interface does): frames each
//! way, byte for byte, the header the guest sees and the one the interface gets, a frame that
//! waits for a buffer, frames too long for a buffer or for the card.

use super::*;
use crate::bus::BusDevice;
use crate::devices::virtio::tests::{rig_with, Rig, BUF, F_NEXT, F_WRITE};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;
use virtio_bindings::virtio_mmio::*;
use vm_memory::{Bytes, GuestAddress};

/// The guest's end (the card's backend) and the host's end of a frame-keeping socket pair.
fn pair() -> (File, UnixDatagram) {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two fds into the array it is given.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    // SAFETY: both fds were just made and are owned by nobody else.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let host = UnixDatagram::from(b);
    host.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    host.set_nonblocking(false).unwrap();
    (File::from(a), host)
}

/// A card with both queues of 16 entries set up and `DRIVER_OK`; returns the rig, the host's end
/// and the card's counters.
fn card() -> (Rig, UnixDatagram, Arc<NetStats>) {
    let (backend, host) = pair();
    let net = Net::with_backend(backend, &NetConfig::new("tap-test", 1));
    let stats = net.stats();
    let mut r = rig_with(Box::new(net));
    r.setup_with(16, (1 << VIRTIO_NET_F_MAC) | (1 << VIRTIO_NET_F_STATUS));
    r.setup_queue1(16);
    r.driver_ok();
    (r, host, stats)
}

/// An Ethernet frame of `len` bytes, byte `i` holding `i * 13 + seed`.
fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

#[test]
fn the_config_space_has_the_address_and_the_link_is_up() {
    let (mut r, _host, _) = card();
    let mut b = [0u8; 8];
    for (i, x) in b.iter_mut().enumerate() {
        let mut one = [0u8];
        r.t.read(0x100 + i as u64, &mut one);
        *x = one[0];
    }
    assert_eq!(b, [0x52, 0x54, 0x00, 0x12, 0x34, 0x57, 1, 0]);
    r.w(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    assert_eq!(
        r.r(VIRTIO_MMIO_DEVICE_FEATURES),
        (1 << VIRTIO_NET_F_MAC) | (1 << VIRTIO_NET_F_STATUS)
    );
}

#[test]
fn a_frame_from_the_interface_waits_for_a_buffer_then_arrives_whole() {
    let (mut r, host, stats) = card();
    let f = frame(1514, 3);
    // The interface's header (what a TAP puts there) is not what the guest sees.
    let mut wire = vec![0xeeu8; VNET_HDR_LEN];
    wire.extend_from_slice(&f);
    host.send(&wire).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(r.used_idx(), 0, "no buffer yet, nothing used");
    // One buffer in two descriptors: the header, then room for the frame.
    r.desc(0, BUF, VNET_HDR_LEN as u32, F_WRITE | F_NEXT, 1);
    r.desc(1, BUF + 0x100, 2048, F_WRITE, 0);
    r.avail(0, 0, 1);
    r.notify();
    assert!(r.wait(|r| r.used_idx() == 1), "the frame was not received");
    assert_eq!(r.used_len(0) as usize, VNET_HDR_LEN + f.len());
    let m = r.m();
    let mut hdr = [0xffu8; VNET_HDR_LEN];
    m.read_slice(&mut hdr, GuestAddress(BUF)).unwrap();
    assert_eq!(
        hdr,
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        "num_buffers 1, no offload"
    );
    let mut got = vec![0u8; f.len()];
    m.read_slice(&mut got, GuestAddress(BUF + 0x100)).unwrap();
    assert_eq!(got, f);
    assert_eq!(stats.rx_frames.load(Ordering::Relaxed), 1);
    assert_eq!(stats.rx_bytes.load(Ordering::Relaxed), 1514);
    // The next frames come as soon as a buffer is there.
    for (slot, seed) in [(1u64, 7u8), (2, 9)] {
        let f = frame(60, seed);
        let mut wire = vec![0u8; VNET_HDR_LEN];
        wire.extend_from_slice(&f);
        host.send(&wire).unwrap();
        let d = 2 * slot as u16;
        r.desc(u64::from(d), BUF + 0x1000 * slot, 2048, F_WRITE, 0);
        r.avail(slot, d, slot as u16 + 1);
        r.notify();
        assert!(
            r.wait(|r| u64::from(r.used_idx()) == slot + 1),
            "frame {slot}"
        );
        let mut got = vec![0u8; 60];
        m.read_slice(
            &mut got,
            GuestAddress(BUF + 0x1000 * slot + VNET_HDR_LEN as u64),
        )
        .unwrap();
        assert_eq!(got, f);
    }
}

#[test]
fn a_frame_longer_than_the_buffer_is_dropped_and_the_buffer_given_back() {
    let (mut r, host, stats) = card();
    r.desc(0, BUF, 100, F_WRITE, 0);
    r.avail(0, 0, 1);
    r.notify();
    let mut wire = vec![0u8; VNET_HDR_LEN];
    wire.extend_from_slice(&frame(1000, 1));
    host.send(&wire).unwrap();
    assert!(r.wait(|r| r.used_idx() == 1));
    assert_eq!(r.used_len(0), 0);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 1);
    assert_eq!(stats.rx_frames.load(Ordering::Relaxed), 0);
}

#[test]
fn frames_from_the_guest_reach_the_interface_with_a_clean_header() {
    let (mut r, host, stats) = card();
    let f = frame(1514, 5);
    let m = r.m();
    // A header asking for an offload the card never offered (checksum, TSO): zeroed.
    m.write_slice(
        &[1, 1, 0x36, 0, 0x40, 0, 0x22, 0, 0x10, 0, 0, 0],
        GuestAddress(BUF),
    )
    .unwrap();
    m.write_slice(&f, GuestAddress(BUF + 0x100)).unwrap();
    r.desc1(0, BUF, VNET_HDR_LEN as u32, F_NEXT, 1);
    r.desc1(1, BUF + 0x100, f.len() as u32, 0, 0);
    r.avail1(0, 0, 1);
    r.notify1();
    let mut got = vec![0u8; 4096];
    let n = host.recv(&mut got).expect("a frame on the interface");
    assert_eq!(n, VNET_HDR_LEN + f.len());
    assert_eq!(&got[..VNET_HDR_LEN], &[0u8; VNET_HDR_LEN]);
    assert_eq!(&got[VNET_HDR_LEN..n], &f[..]);
    assert!(r.wait(|r| r.used_idx1() == 1));
    assert_eq!(stats.tx_frames.load(Ordering::Relaxed), 1);
    assert_eq!(stats.tx_bytes.load(Ordering::Relaxed), 1514);
    // Longer than the card takes, or shorter than a header: dropped, the chain given back.
    m.write_slice(
        &vec![0u8; MAX_FRAME + VNET_HDR_LEN + 1],
        GuestAddress(0x40000),
    )
    .unwrap();
    r.desc1(2, 0x40000, (MAX_FRAME + VNET_HDR_LEN + 1) as u32, 0, 0);
    r.desc1(3, BUF, 4, 0, 0);
    r.avail1(1, 2, 2);
    r.avail1(2, 3, 3);
    r.notify1();
    assert!(r.wait(|r| r.used_idx1() == 3));
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
    host.set_nonblocking(true).unwrap();
    assert!(
        host.recv(&mut got).is_err(),
        "nothing more reached the interface"
    );
}

/// A card whose backend (taken as) takes the offloads, and a driver that accepted the transmit
/// ones: the guest's header goes on to the interface as written (but `num_buffers`), and a
/// frame longer than [`MAX_FRAME`] (one TCP segmentation job) passes; past [`MAX_GSO_FRAME`]
/// it is still dropped.
#[test]
fn with_transmit_offloads_the_guests_header_and_large_frames_pass() {
    let (backend, host) = pair();
    let mut net = Net::with_backend(backend, &NetConfig::new("tap-test", 1));
    net.offloads = true;
    assert_eq!(net.features() & OFFLOADS, OFFLOADS);
    let stats = net.stats();
    let mut r = rig_with(Box::new(net));
    r.setup_with(
        16,
        (1 << VIRTIO_NET_F_MAC)
            | (1 << VIRTIO_NET_F_STATUS)
            | (1 << VIRTIO_NET_F_CSUM)
            | (1 << VIRTIO_NET_F_HOST_TSO4),
    );
    r.setup_queue1(16);
    r.driver_ok();
    let f = frame(20_000, 9);
    let m = r.m();
    let hdr = [1u8, 1, 0x36, 0, 0xa8, 0x05, 0x22, 0, 0x10, 0, 7, 7];
    m.write_slice(&hdr, GuestAddress(BUF)).unwrap();
    m.write_slice(&f, GuestAddress(0x40000)).unwrap();
    r.desc1(0, BUF, VNET_HDR_LEN as u32, F_NEXT, 1);
    r.desc1(1, 0x40000, f.len() as u32, 0, 0);
    r.avail1(0, 0, 1);
    r.notify1();
    let mut got = vec![0u8; 70_000];
    let n = host.recv(&mut got).expect("a frame on the interface");
    assert_eq!(n, VNET_HDR_LEN + f.len());
    assert_eq!(&got[..10], &hdr[..10]);
    assert_eq!(&got[10..VNET_HDR_LEN], &[0, 0]);
    assert_eq!(&got[VNET_HDR_LEN..n], &f[..]);
    assert!(r.wait(|r| r.used_idx1() == 1));
    assert_eq!(stats.tx_bytes.load(Ordering::Relaxed), 20_000);
    let big = MAX_GSO_FRAME + VNET_HDR_LEN + 1;
    m.write_slice(&vec![0u8; big], GuestAddress(0x40000))
        .unwrap();
    r.desc1(2, 0x40000, big as u32, 0, 0);
    r.avail1(1, 2, 2);
    r.notify1();
    assert!(r.wait(|r| r.used_idx1() == 2));
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 1);
}

#[test]
fn the_offloads_follow_what_the_driver_accepted() {
    assert_eq!(Offloads::of(0), Offloads { tx: false, rx: 0 });
    assert_eq!(Offloads::of(0).max_frame(), MAX_FRAME);
    let all = Offloads::of(OFFLOADS);
    assert_eq!(
        all,
        Offloads {
            tx: true,
            rx: tap::TUN_F_CSUM | tap::TUN_F_TSO4 | tap::TUN_F_TSO6
        }
    );
    assert_eq!(all.max_frame(), MAX_GSO_FRAME);
    // TSO without the checksum offload it needs: nothing for the interface to pass on.
    assert_eq!(Offloads::of(1 << VIRTIO_NET_F_GUEST_TSO4).rx, 0);
}
