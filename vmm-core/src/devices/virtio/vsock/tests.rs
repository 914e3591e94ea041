//! A guest driver played by hand against virtio-mmio and the vsock device, with real Unix
//! sockets on the host side: a host process connecting to a guest port, a guest connecting to a
//! host port, credit both ways, refused ports, malicious packets, and the reset event after a
//! restore.

use super::connection::BUF_ALLOC;
use super::muxer::MAX_CONNECTIONS;
use super::packet::{Op, HOST_CID, SHUTDOWN_RCV, SHUTDOWN_SEND, TYPE_STREAM};
use super::*;
use crate::bus::BusDevice;
use crate::devices::virtio::offload::OffloadGate;
use crate::devices::virtio::tests::{ram, rig_on, rig_with, Rig, F_WRITE};
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::tempdir::TempDir;

const CID: u64 = 3;
const SIZE: u16 = 16;
const RX_BUF: u64 = 0x10000;
const RX_LEN: u32 = 0x1000;
const TX_BUF: u64 = 0x20000;
const TX_LEN: u64 = 0x2000;

/// The guest's side: the rig and where its rings are.
struct Guest {
    r: Rig,
    rx_avail: u16,
    rx_used: u16,
    tx_avail: u16,
    stats: Arc<VsockStats>,
    base: PathBuf,
    _dir: TempDir,
}

fn device(restored: bool) -> (Vsock, TempDir) {
    let dir = TempDir::new_with_prefix("/tmp/tetra-vsock-").unwrap();
    let mut v = Vsock::open(&VsockConfig {
        cid: CID,
        uds: Some(dir.as_path().join("v.sock")),
    })
    .unwrap();
    if restored {
        v.restore_state(1, &[]).unwrap();
    }
    (v, dir)
}

/// A device with its three queues of 16 entries set up and `DRIVER_OK`, and 16 receive
/// buffers.
fn guest() -> Guest {
    let (v, dir) = device(false);
    let stats = v.stats();
    let mut r = rig_with(Box::new(v));
    r.setup_with(u32::from(SIZE), 0);
    r.setup_queue1(u32::from(SIZE));
    r.setup_queue2(u32::from(SIZE));
    r.driver_ok();
    let mut g = Guest {
        r,
        rx_avail: 0,
        rx_used: 0,
        tx_avail: 0,
        stats,
        base: dir.as_path().join("v.sock"),
        _dir: dir,
    };
    for _ in 0..SIZE {
        g.offer_rx();
    }
    g
}

fn hdr(src_port: u32, dst_port: u32, op: Op) -> Header {
    Header {
        src_cid: CID,
        dst_cid: HOST_CID,
        src_port,
        dst_port,
        type_: TYPE_STREAM,
        op: op as u16,
        buf_alloc: 64 * 1024,
        ..Header::default()
    }
}

impl Guest {
    fn offer_rx(&mut self) {
        let d = self.rx_avail % SIZE;
        self.r.desc(
            u64::from(d),
            RX_BUF + u64::from(d) * u64::from(RX_LEN),
            RX_LEN,
            F_WRITE,
            0,
        );
        self.rx_avail = self.rx_avail.wrapping_add(1);
        self.r.avail(u64::from(d), d, self.rx_avail);
        self.r.notify();
    }

    /// The next packet the device gave, and a fresh buffer in its place.
    fn recv(&mut self) -> Option<(Header, Vec<u8>)> {
        let want = self.rx_used.wrapping_add(1);
        if !self.r.wait(|r| r.used_idx().wrapping_sub(want) < 0x8000) {
            return None;
        }
        let slot = self.rx_used % SIZE;
        let len = self.r.used_len(u64::from(slot)) as usize;
        assert!(len >= HDR_LEN, "a packet of {len} bytes");
        let mut b = vec![0u8; len];
        self.r
            .m()
            .read_slice(
                &mut b,
                GuestAddress(RX_BUF + u64::from(slot) * u64::from(RX_LEN)),
            )
            .unwrap();
        self.rx_used = want;
        self.offer_rx();
        let h = Header::decode(b[..HDR_LEN].try_into().unwrap());
        assert_eq!(h.len as usize, len - HDR_LEN, "{h:?}");
        Some((h, b[HDR_LEN..].to_vec()))
    }

    /// Nothing more comes within a while.
    fn quiet(&mut self) -> bool {
        std::thread::sleep(Duration::from_millis(50));
        self.r.used_idx() == self.rx_used
    }

    /// Sends `bytes` (a header and what follows) as one packet; waits until the device used it.
    fn send_raw(&mut self, bytes: &[u8]) {
        let d = self.tx_avail % SIZE;
        let at = TX_BUF + u64::from(d) * TX_LEN;
        assert!(bytes.len() as u64 <= TX_LEN);
        self.r.m().write_slice(bytes, GuestAddress(at)).unwrap();
        self.r.desc1(u64::from(d), at, bytes.len() as u32, 0, 0);
        self.tx_avail = self.tx_avail.wrapping_add(1);
        self.r.avail1(u64::from(d), d, self.tx_avail);
        self.r.notify1();
        let want = self.tx_avail;
        assert!(self.r.wait(|r| r.used_idx1() == want), "packet not taken");
    }

    fn send(&mut self, h: Header, data: &[u8]) {
        let mut b = Header {
            len: data.len() as u32,
            ..h
        }
        .encode()
        .to_vec();
        b.extend_from_slice(data);
        self.send_raw(&b);
    }
}

fn read_line(s: &UnixStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut l = String::new();
    BufReader::new(s).read_line(&mut l).unwrap();
    l
}

fn read_n(s: &mut UnixStream, n: usize) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).unwrap();
    b
}

fn accept(l: &UnixListener) -> UnixStream {
    l.set_nonblocking(true).unwrap();
    // Generous: the lanes run these tests under TCG, where a thread can wait seconds.
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < end {
        if let Ok((s, _)) = l.accept() {
            s.set_nonblocking(false).unwrap();
            return s;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("no connection");
}

/// A host process connects to guest port `port`; the guest accepts. Returns the stream and the
/// host port the guest sees.
fn host_connects(g: &mut Guest, port: u32) -> (UnixStream, u32) {
    let mut s = UnixStream::connect(&g.base).unwrap();
    s.write_all(format!("CONNECT {port}\n").as_bytes()).unwrap();
    let (h, _) = g.recv().expect("a REQUEST");
    assert_eq!(h.op, Op::Request as u16);
    assert_eq!((h.src_cid, h.dst_cid, h.dst_port), (HOST_CID, CID, port));
    assert!(h.src_port >= 1 << 30);
    assert_eq!(h.buf_alloc, BUF_ALLOC);
    g.send(hdr(port, h.src_port, Op::Response), &[]);
    assert_eq!(read_line(&s), format!("OK {}\n", h.src_port));
    let _ = &mut s;
    (s, h.src_port)
}

#[test]
fn the_config_space_has_the_cid() {
    let mut g = guest();
    let mut b = [0u8; 8];
    g.r.t.read(0x100, &mut b[..4]);
    g.r.t.read(0x104, &mut b[4..]);
    assert_eq!(u64::from_le_bytes(b), CID);
    assert_eq!(g.r.r(0x8), ids::VSOCK);
}

#[test]
fn a_host_process_reaches_a_guest_port_and_bytes_flow_both_ways_with_credit() {
    let mut g = guest();
    let (mut s, hp) = host_connects(&mut g, 1234);
    s.write_all(b"ping").unwrap();
    let (h, data) = g.recv().expect("data");
    assert_eq!(h.op, Op::Rw as u16);
    assert_eq!((h.src_port, h.dst_port), (hp, 1234));
    assert_eq!(data, b"ping");
    g.send(hdr(1234, hp, Op::Rw), b"pong");
    assert_eq!(read_n(&mut s, 4), b"pong");
    // The guest's credit: a 12-byte buffer, of which it consumed the 4 it got.
    let small = Header {
        buf_alloc: 12,
        fwd_cnt: 4,
        ..hdr(1234, hp, Op::CreditUpdate)
    };
    g.send(small, &[]);
    s.write_all(&[7u8; 20]).unwrap();
    let (h, data) = g.recv().expect("data within credit");
    assert_eq!((h.op, data.len()), (Op::Rw as u16, 12));
    assert!(g.quiet(), "sent past the guest's credit");
    g.send(
        Header {
            fwd_cnt: 16,
            ..small
        },
        &[],
    );
    let (_, data) = g.recv().expect("the rest after a credit update");
    assert_eq!(data, [7u8; 8]);
    // A credit request is answered with the device's credit: all 4 bytes forwarded.
    g.send(hdr(1234, hp, Op::CreditRequest), &[]);
    let (h, _) = g.recv().expect("a credit update");
    assert_eq!((h.op, h.fwd_cnt), (Op::CreditUpdate as u16, 4));
    // The host closes: the guest gets SHUTDOWN, answers RST, and the connection is gone.
    drop(s);
    let (h, _) = g.recv().expect("a shutdown");
    assert_eq!(h.op, Op::Shutdown as u16);
    assert_eq!(h.flags, SHUTDOWN_RCV | SHUTDOWN_SEND);
    g.send(hdr(1234, hp, Op::Rst), &[]);
    assert!(g.quiet(), "an RST was answered");
    g.send(hdr(1234, hp, Op::Rw), b"late");
    let (h, _) = g.recv().expect("RST for a closed connection");
    assert_eq!(h.op, Op::Rst as u16);
    assert!(!g.r.needs_reset());
}

#[test]
fn a_guest_reaches_a_host_port_and_a_refused_port_gets_rst() {
    let mut g = guest();
    let l = UnixListener::bind(unix::port_path(&g.base, 52)).unwrap();
    g.send(hdr(5000, 52, Op::Request), &[]);
    let mut s = accept(&l);
    let (h, _) = g.recv().expect("a RESPONSE");
    assert_eq!(h.op, Op::Response as u16);
    assert_eq!((h.src_port, h.dst_port, h.dst_cid), (52, 5000, CID));
    s.write_all(b"hello").unwrap();
    let (_, data) = g.recv().expect("data");
    assert_eq!(data, b"hello");
    g.send(hdr(5000, 52, Op::Rw), b"world");
    assert_eq!(read_n(&mut s, 5), b"world");
    // The guest closes: the host reads its end, the guest gets RST.
    g.send(
        Header {
            flags: SHUTDOWN_RCV | SHUTDOWN_SEND,
            ..hdr(5000, 52, Op::Shutdown)
        },
        &[],
    );
    let (h, _) = g.recv().expect("an RST");
    assert_eq!(h.op, Op::Rst as u16);
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // Nobody listens on port 53.
    g.send(hdr(5001, 53, Op::Request), &[]);
    let (h, _) = g.recv().expect("an RST");
    assert_eq!((h.op, h.src_port, h.dst_port), (Op::Rst as u16, 53, 5001));
    assert_eq!(g.stats.refused.load(Ordering::Relaxed), 1);
    assert_eq!(g.stats.connections.load(Ordering::Relaxed), 1);
}

#[test]
fn malicious_packets_get_rst_and_the_device_goes_on() {
    let mut g = guest();
    let (mut s, hp) = host_connects(&mut g, 80);
    let cases: [(&str, Header); 6] = [
        (
            "a huge length",
            Header {
                len: u32::MAX,
                ..hdr(7, 9, Op::Rw)
            },
        ),
        (
            "an unknown operation",
            Header {
                op: 99,
                ..hdr(7, 9, Op::Rw)
            },
        ),
        (
            "a wrong source CID",
            Header {
                src_cid: 77,
                ..hdr(7, 9, Op::Request)
            },
        ),
        (
            "another destination",
            Header {
                dst_cid: 5,
                ..hdr(7, 9, Op::Request)
            },
        ),
        (
            "a datagram",
            Header {
                type_: 2,
                ..hdr(7, 9, Op::Request)
            },
        ),
        ("data for no connection", hdr(7, 9, Op::Rw)),
    ];
    for (what, h) in cases {
        g.send_raw(&h.encode());
        let (back, _) = g.recv().unwrap_or_else(|| panic!("{what}: no answer"));
        assert_eq!(back.op, Op::Rst as u16, "{what}");
        assert_eq!(
            (back.src_cid, back.dst_cid, back.src_port, back.dst_port),
            (HOST_CID, CID, 9, 7),
            "{what}"
        );
    }
    // Shorter than a header, or an RST for nothing: no answer.
    g.send_raw(&[1, 2, 3]);
    g.send(hdr(7, 9, Op::Rst), &[]);
    assert!(g.quiet());
    assert_eq!(g.stats.malformed.load(Ordering::Relaxed), 6);
    // The established connection still works.
    g.send(hdr(80, hp, Op::Rw), b"ok");
    assert_eq!(read_n(&mut s, 2), b"ok");
    // A length past the packet's buffer on it resets it: the host sees its end.
    g.send_raw(
        &Header {
            len: 100,
            ..hdr(80, hp, Op::Rw)
        }
        .encode(),
    );
    let (h, _) = g.recv().expect("RST");
    assert_eq!((h.op, h.dst_port), (Op::Rst as u16, 80));
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(!g.r.needs_reset());
}

#[test]
fn connections_are_bounded() {
    let mut g = guest();
    let l = UnixListener::bind(unix::port_path(&g.base, 52)).unwrap();
    let mut held = Vec::new();
    for i in 0..MAX_CONNECTIONS as u32 + 1 {
        g.send(hdr(6000 + i, 52, Op::Request), &[]);
        let (h, _) = g.recv().expect("an answer");
        let want = if (i as usize) < MAX_CONNECTIONS {
            Op::Response
        } else {
            Op::Rst
        };
        assert_eq!(h.op, want as u16, "connection {i}");
        held.push(accept(&l));
        if i as usize == MAX_CONNECTIONS - 1 {
            break;
        }
    }
    g.send(hdr(7000, 52, Op::Request), &[]);
    let (h, _) = g.recv().expect("an answer");
    assert_eq!(h.op, Op::Rst as u16);
    // A host connection past the limit is closed at once.
    let mut s = UnixStream::connect(&g.base).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(s.read(&mut b).unwrap_or(0), 0);
}

#[test]
fn a_restored_device_tells_the_guest_its_connections_are_gone() {
    let (v, _dir) = device(true);
    let mut r = rig_with(Box::new(v));
    r.setup_with(u32::from(SIZE), 0);
    r.setup_queue1(u32::from(SIZE));
    r.setup_queue2(u32::from(SIZE));
    r.desc2(0, 0x30000, 8, F_WRITE, 0);
    r.avail2(0, 0, 1);
    r.driver_ok();
    assert!(r.wait(|r| r.used_idx2() == 1), "no transport reset event");
    let mut e = [0xffu8; 4];
    r.m().read_slice(&mut e, GuestAddress(0x30000)).unwrap();
    assert_eq!(u32::from_le_bytes(e), EVENT_TRANSPORT_RESET);
    assert!(!r.needs_reset());
}

#[test]
fn the_socket_path_must_be_usable() {
    let dir = TempDir::new_with_prefix("/tmp/tetra-vsock-").unwrap();
    let file = dir.as_path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let e = Vsock::open(&VsockConfig {
        cid: CID,
        uds: Some(file),
    })
    .err()
    .unwrap();
    assert!(matches!(e, VsockError::Listen { .. }));
    // No path: the kernel's vhost-vsock, refused by name where its device node cannot be
    // opened (where it can, the vhost-vsock test below covers it).
    if let Err(e) = Vsock::open(&VsockConfig {
        cid: CID,
        uds: None,
    }) {
        let e = crate::error_chain::chain(&e);
        assert!(e.contains("/dev/vhost-vsock"), "{e}");
    }
    let _ = Path::new("");
}

/// A mebibyte each way on one connection, with the guest keeping to the device's credit (from
/// its credit updates) and the device keeping to the guest's (64 KiB, consumed as it goes).
#[test]
fn a_mebibyte_each_way_keeps_to_the_credit() {
    const TOTAL: usize = 1 << 20;
    const CHUNK: usize = 4096;
    let pattern = |i: usize| (i as u8).wrapping_mul(31).wrapping_add((i >> 11) as u8);
    let mut g = guest();
    let (s, hp) = host_connects(&mut g, 99);
    let t0 = std::time::Instant::now();
    // Host to guest: a writer thread; the guest consumes and gives credit back as it goes.
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let data: Vec<u8> = (0..TOTAL).map(pattern).collect();
        w.write_all(&data).unwrap();
    });
    let mut got = 0usize;
    while got < TOTAL {
        let (h, data) = g.recv().expect("data");
        if h.op != Op::Rw as u16 {
            continue;
        }
        for (k, b) in data.iter().enumerate() {
            assert_eq!(*b, pattern(got + k), "byte {}", got + k);
        }
        got += data.len();
        g.send(
            Header {
                fwd_cnt: got as u32,
                ..hdr(99, hp, Op::CreditUpdate)
            },
            &[],
        );
    }
    writer.join().unwrap();
    let down = t0.elapsed();
    // Guest to host: a reader thread; the guest sends within the device's credit.
    let mut r = s.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        r.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = vec![0u8; TOTAL];
        r.read_exact(&mut b).unwrap();
        b
    });
    let t1 = std::time::Instant::now();
    let (mut sent, mut fwd) = (0usize, 0u32);
    let data: Vec<u8> = (0..TOTAL).map(pattern).collect();
    while sent < TOTAL {
        if sent - fwd as usize + CHUNK > BUF_ALLOC as usize {
            let (h, _) = g.recv().expect("a credit update");
            assert_eq!(h.buf_alloc, BUF_ALLOC);
            fwd = h.fwd_cnt;
            continue;
        }
        g.send(
            Header {
                fwd_cnt: got as u32,
                ..hdr(99, hp, Op::Rw)
            },
            &data[sent..sent + CHUNK],
        );
        sent += CHUNK;
    }
    assert_eq!(reader.join().unwrap(), data);
    let up = t1.elapsed();
    eprintln!(
        "vsock 1 MiB: host to guest {:.1} MiB/s, guest to host {:.1} MiB/s (hand-played driver)",
        1.0 / down.as_secs_f64(),
        1.0 / up.as_secs_f64()
    );
    assert!(!g.r.needs_reset());
    assert_eq!(g.stats.malformed.load(Ordering::Relaxed), 0);
}

/// With no socket path the kernel's vhost-vsock is the host side (where `/dev/vhost-vsock`
/// exists: the lanes load `vhost_vsock`): a host `AF_VSOCK` socket connects to the guest's port
/// and data goes both ways through the kernel's rings. Paused, the kernel stops: a host write and
/// a guest packet both wait, and arrive once it runs again (the guest's notification, sent while
/// it was stopped, is not lost).
#[test]
fn the_kernels_vhost_vsock_carries_a_host_connection_and_stops_with_the_gate() {
    // A CID of this process's own: the lanes run tests in parallel, and CIDs are host-wide.
    let cid = 100_000 + u64::from(std::process::id());
    let mut v = match Vsock::open(&VsockConfig { cid, uds: None }) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("skipped: {}", crate::error_chain::chain(&e));
            return;
        }
    };
    let mem = ram();
    let gate = OffloadGate::new();
    // Where the node opens, the kernel must take the device: the ppc64 lane's EPERM here was
    // a request number in the generic layout (see `vhost_kern`).
    if let Err(e) = v.connect(&gate) {
        panic!("{}", crate::error_chain::chain(&e));
    }
    // The CID is this VM's until it ends.
    let mut again = Vsock::open(&VsockConfig { cid, uds: None }).unwrap();
    let e = again.connect(&gate).unwrap_err().to_string();
    assert!(e.contains("in use on this host"), "{e}");
    drop(again);
    let mut r = rig_on(mem, Box::new(v));
    r.setup_with(u32::from(SIZE), 0);
    r.setup_queue1(u32::from(SIZE));
    r.setup_queue2(u32::from(SIZE));
    r.driver_ok();
    let dir = TempDir::new_with_prefix("/tmp/tetra-vsock-").unwrap();
    let mut g = Guest {
        r,
        rx_avail: 0,
        rx_used: 0,
        tx_avail: 0,
        stats: Arc::new(VsockStats::default()),
        base: PathBuf::new(),
        _dir: dir,
    };
    for _ in 0..SIZE {
        g.offer_rx();
    }

    // The host connects to guest port 52 (connect waits for the guest's answer).
    let (to_host, from_host) = std::sync::mpsc::channel::<String>();
    let host = std::thread::spawn(move || -> Result<(), String> {
        // SAFETY: a plain socket call; the descriptor is owned below.
        let fd = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) };
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let s = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: all-zero is a valid sockaddr_vm.
        let mut a: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
        a.svm_family = libc::AF_VSOCK as libc::sa_family_t;
        a.svm_cid = cid as u32;
        a.svm_port = 52;
        // SAFETY: `a` is a sockaddr_vm of the size given.
        let rc = unsafe {
            libc::connect(
                fd,
                std::ptr::addr_of!(a).cast(),
                std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(format!("connect: {}", std::io::Error::last_os_error()));
        }
        let mut s = s;
        s.write_all(b"ping").map_err(|e| e.to_string())?;
        let mut got = [0u8; 4];
        s.read_exact(&mut got).map_err(|e| e.to_string())?;
        to_host.send(String::from_utf8_lossy(&got).into()).unwrap();
        // Written while the kernel is stopped (the test pauses after reading the reply).
        std::thread::sleep(Duration::from_millis(300));
        s.write_all(b"more").map_err(|e| e.to_string())?;
        s.read_exact(&mut got).map_err(|e| e.to_string())?;
        to_host.send(String::from_utf8_lossy(&got).into()).unwrap();
        Ok(())
    });

    let (req, _) = g.recv().expect("no connection request from the host");
    assert_eq!(
        (req.op, req.src_cid, req.dst_cid, req.dst_port),
        (Op::Request as u16, HOST_CID, cid, 52),
        "{req:?}"
    );
    let reply = |op: Op| Header {
        src_cid: cid,
        dst_cid: HOST_CID,
        src_port: 52,
        dst_port: req.src_port,
        type_: TYPE_STREAM,
        op: op as u16,
        buf_alloc: 64 * 1024,
        ..Header::default()
    };
    g.send(reply(Op::Response), &[]);
    // Data, after any credit update the host sends first.
    let data = loop {
        let (h, d) = g.recv().expect("no data from the host");
        if h.op == Op::Rw as u16 {
            break d;
        }
    };
    assert_eq!(data, b"ping");
    g.send(reply(Op::Rw), b"pong");
    let got = from_host.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(got, "pong");

    // Paused: the host's write waits in the kernel; so does the guest's packet. (What the
    // kernel put in the ring before it stopped, a credit update say, is there already: the
    // ring must not move while it is stopped.)
    gate.pause();
    let at_pause = g.r.used_idx();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        g.r.used_idx(),
        at_pause,
        "a packet arrived while the kernel was stopped"
    );
    let mut b = Header {
        len: 4,
        ..reply(Op::Rw)
    }
    .encode()
    .to_vec();
    b.extend_from_slice(b"last");
    let d = g.tx_avail % SIZE;
    let at = TX_BUF + u64::from(d) * TX_LEN;
    g.r.m().write_slice(&b, GuestAddress(at)).unwrap();
    g.r.desc1(u64::from(d), at, b.len() as u32, 0, 0);
    g.tx_avail = g.tx_avail.wrapping_add(1);
    g.r.avail1(u64::from(d), d, g.tx_avail);
    g.r.notify1();
    std::thread::sleep(Duration::from_millis(200));
    assert_ne!(
        g.r.used_idx1(),
        g.tx_avail,
        "the stopped kernel took a packet"
    );
    gate.resume();
    let data = loop {
        let (h, d) = g
            .recv()
            .expect("the host's write did not arrive after the resume");
        if h.op == Op::Rw as u16 {
            break d;
        }
    };
    assert_eq!(data, b"more");
    let want = g.tx_avail;
    assert!(
        g.r.wait(|r| r.used_idx1() == want),
        "the guest's packet was never taken"
    );
    let got = from_host.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(got, "last");
    host.join().unwrap().unwrap();
}
