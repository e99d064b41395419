//! The lab's userspace delay line, for kernels without netem. Each place
//! of [`crate::netem`]'s model (a host on the internet segment: a public
//! party, a control host, a site's router or carrier) gets what reaches it
//! from the internet through NFQUEUE to e3, which holds each packet in a
//! FIFO queue of its (receiving host, sending address) and reinjects it
//! (verdict `ACCEPT`) at its due time, arrival + the model's one-way delay
//! between the two places. One thread serves the whole lab: it opens one
//! netlink socket in each shaping host's namespace (a netlink socket stays
//! bound to the namespace it was opened in) and polls them all.
//!
//! # Why at the receiver
//!
//! netem delays at the sender's edge, by destination. The model's delay
//! between two places is the same both ways, and a packet's source address
//! (after any NAT on its way out) is one of the addresses its sending place
//! is reached at, so holding it at the receiving edge by source gives every
//! packet the same delay. It also matters: a packet held at its sender is
//! still charged to the sending socket (netem orphans it; NFQUEUE cannot),
//! and TCP Small Queues then lets a sender have only about a millisecond of
//! data below TCP. Measured here with iperf3 over the underlay, ams3–nyc3
//! (88 ms): 1 Mbit/s when held at the sender, 236 Mbit/s at the receiver.
//!
//! - [`Schedule`] is the queueing, pure and unit-tested: due times, one FIFO
//!   per (host, peer address) (a constant delay and a FIFO never reorder a
//!   flow), a bounded length with drops counted.
//! - [`wire`] is the nfnetlink_queue protocol (message building and
//!   parsing, pure) and [`DelayLine`] the I/O: sockets, `ppoll`, verdicts.
//!
//! Loss stays the internet bridge's (nftables), as with netem. The iptables
//! rules that send the packets here are the lab's ([`super::latency`]):
//! registered in its state file before they are added, so teardown and
//! `e3 sim --cleanup` remove them; `--queue-bypass` lets packets through
//! undelayed when no e3 listens any more (a killed run), rather than
//! blackholing the lab.
//!
//! Why not the `nfq` crate: its `Queue` exposes no file descriptor, so one
//! thread cannot `poll` the sockets of many namespaces with a timeout up to
//! the next due time (only blocking or busy non-blocking receives), nor
//! enlarge the socket's receive buffer; and each held message keeps its whole
//! receive buffer alive. The part of the protocol e3 needs (bind, copy range,
//! queue length, packet id and IPv4 source, verdict) is small.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Error;

/// The NFQUEUE number every shaping namespace uses (queues are per namespace).
pub const QUEUE: u16 = 16;

/// Packets one FIFO holds at most; more are dropped (and counted). At 1 Gbit/s of 1500-byte packets and 170 ms one way, about
/// 14 000 are in flight.
pub const FIFO_CAPACITY: usize = 50_000;

/// What [`Schedule::push`] did with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit<P> {
    /// Held until its due time.
    Held,
    /// No delay from this peer: reinject now.
    Pass(P),
    /// Its FIFO is full: drop it (counted).
    Drop(P),
}

/// Counters of a delay line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Packets held and reinjected at their due time.
    pub delayed: u64,
    /// Packets reinjected at once (no delay from their peer).
    pub passed: u64,
    /// Packets dropped because their FIFO was full.
    pub dropped: u64,
    /// The most packets held at once.
    pub max_held: u64,
}

/// Per-(host, peer address) FIFOs with constant delays. Times are
/// [`Duration`]s since any fixed instant, so tests need no clock. `P` is
/// whatever identifies a packet to its host (the netlink packet id).
#[derive(Debug)]
pub struct Schedule<P> {
    index: BTreeMap<(usize, Ipv4Addr), usize>,
    delay: Vec<Duration>,
    source: Vec<usize>,
    fifos: Vec<VecDeque<(Duration, P)>>,
    capacity: usize,
    held: usize,
    pub counters: Counters,
}

impl<P> Schedule<P> {
    pub fn new(capacity: usize) -> Schedule<P> {
        Schedule {
            index: BTreeMap::new(),
            delay: Vec::new(),
            source: Vec::new(),
            fifos: Vec::new(),
            capacity,
            held: 0,
            counters: Counters::default(),
        }
    }

    /// Packets between host `host` and address `peer` wait `delay`.
    pub fn route(&mut self, host: usize, peer: Ipv4Addr, delay: Duration) {
        let k = *self.index.entry((host, peer)).or_insert(self.fifos.len());
        if k == self.fifos.len() {
            self.fifos.push(VecDeque::new());
            self.delay.push(delay);
            self.source.push(host);
        } else {
            self.delay[k] = delay;
        }
    }

    /// A packet between `host` and `peer` arrived at `now`.
    pub fn push(&mut self, host: usize, peer: Ipv4Addr, now: Duration, p: P) -> Admit<P> {
        let Some(&k) = self.index.get(&(host, peer)) else {
            self.counters.passed += 1;
            return Admit::Pass(p);
        };
        if self.delay[k].is_zero() {
            self.counters.passed += 1;
            return Admit::Pass(p);
        }
        if self.fifos[k].len() >= self.capacity {
            self.counters.dropped += 1;
            return Admit::Drop(p);
        }
        // Arrivals are in time order, and one FIFO has one delay: its due
        // times never decrease, so its front is always its next packet.
        let due = self.fifos[k]
            .back()
            .map_or(now + self.delay[k], |(last, _)| {
                (*last).max(now + self.delay[k])
            });
        self.fifos[k].push_back((due, p));
        self.held += 1;
        self.counters.max_held = self.counters.max_held.max(self.held as u64);
        Admit::Held
    }

    /// The earliest due time of a held packet.
    pub fn next_due(&self) -> Option<Duration> {
        self.fifos
            .iter()
            .filter_map(|f| f.front().map(|x| x.0))
            .min()
    }

    /// Takes the held packet due earliest if it is due at `now`: (host, packet).
    pub fn pop_due(&mut self, now: Duration) -> Option<(usize, P)> {
        let (k, _) = self
            .fifos
            .iter()
            .enumerate()
            .filter_map(|(k, f)| f.front().map(|x| (k, x.0)))
            .filter(|(_, due)| *due <= now)
            .min_by_key(|(_, due)| *due)?;
        let (_, p) = self.fifos[k].pop_front()?;
        self.held -= 1;
        self.counters.delayed += 1;
        Some((self.source[k], p))
    }

    /// Packets held now.
    pub fn held(&self) -> usize {
        self.held
    }
}

/// The nfnetlink_queue protocol, as much as the delay line uses. Pure.
pub mod wire {
    use std::net::Ipv4Addr;

    pub const NETLINK_NETFILTER: i32 = 12;
    const NFNL_SUBSYS_QUEUE: u16 = 3;
    const MSG_PACKET: u16 = 0;
    const MSG_VERDICT: u16 = 1;
    const MSG_CONFIG: u16 = 2;
    const NLMSG_ERROR: u16 = 2;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_ACK: u16 = 4;
    const CFG_CMD: u16 = 1;
    const CFG_PARAMS: u16 = 2;
    const CFG_QUEUE_MAXLEN: u16 = 3;
    const CFG_MASK: u16 = 4;
    const CFG_FLAGS: u16 = 5;
    const CMD_BIND: u8 = 1;
    const COPY_PACKET: u8 = 2;
    /// The kernel may queue GSO packets whole (fewer, larger messages).
    const CFG_F_GSO: u32 = 1 << 2;
    const A_PACKET_HDR: u16 = 1;
    const A_VERDICT_HDR: u16 = 2;
    const A_PAYLOAD: u16 = 10;
    pub const NF_DROP: u32 = 0;
    pub const NF_ACCEPT: u32 = 1;
    /// Bytes of each packet copied to e3: the IPv4 header's fixed part,
    /// which holds the source address.
    pub const COPY_RANGE: u32 = 20;

    fn message(kind: u16, flags: u16, queue: u16, attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = vec![0u8; 16];
        m[4..6].copy_from_slice(&((NFNL_SUBSYS_QUEUE << 8) | kind).to_ne_bytes());
        m[6..8].copy_from_slice(&flags.to_ne_bytes());
        // nfgenmsg: family AF_UNSPEC, version 0, the queue number.
        m.extend([0, 0]);
        m.extend(queue.to_be_bytes());
        for (t, v) in attrs {
            m.extend(((4 + v.len()) as u16).to_ne_bytes());
            m.extend(t.to_ne_bytes());
            m.extend(v);
            while m.len() % 4 != 0 {
                m.push(0);
            }
        }
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m
    }

    /// The configuration messages (each asks for an acknowledgement) that
    /// bind `queue`, copy [`COPY_RANGE`] bytes and hold up to `maxlen` packets.
    pub fn config(queue: u16, maxlen: u32) -> Vec<Vec<u8>> {
        let f = NLM_F_REQUEST | NLM_F_ACK;
        let mut params = COPY_RANGE.to_be_bytes().to_vec();
        params.push(COPY_PACKET);
        vec![
            message(MSG_CONFIG, f, queue, &[(CFG_CMD, vec![CMD_BIND, 0, 0, 0])]),
            message(MSG_CONFIG, f, queue, &[(CFG_PARAMS, params)]),
            message(
                MSG_CONFIG,
                f,
                queue,
                &[(CFG_QUEUE_MAXLEN, maxlen.to_be_bytes().to_vec())],
            ),
            message(
                MSG_CONFIG,
                f,
                queue,
                &[
                    (CFG_FLAGS, CFG_F_GSO.to_be_bytes().to_vec()),
                    (CFG_MASK, CFG_F_GSO.to_be_bytes().to_vec()),
                ],
            ),
        ]
    }

    /// A verdict on packet `id` of `queue`.
    pub fn verdict(queue: u16, id: u32, verdict: u32) -> Vec<u8> {
        let mut v = verdict.to_be_bytes().to_vec();
        v.extend(id.to_be_bytes());
        message(MSG_VERDICT, NLM_F_REQUEST, queue, &[(A_VERDICT_HDR, v)])
    }

    /// One message the kernel sent.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Event {
        /// A queued packet: its id and, for IPv4, its source address.
        Packet { id: u32, source: Option<Ipv4Addr> },
        /// An acknowledgement (0) or an error (a positive errno).
        Ack(i32),
    }

    fn u16_at(b: &[u8], i: usize) -> Option<u16> {
        Some(u16::from_ne_bytes(b.get(i..i + 2)?.try_into().ok()?))
    }

    fn u32_at(b: &[u8], i: usize) -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?))
    }

    /// The messages of one receive. Malformed ones end the parse.
    pub fn parse(buf: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        let mut at = 0usize;
        while let (Some(len), Some(kind)) = (u32_at(buf, at), u16_at(buf, at + 4)) {
            let len = len as usize;
            if len < 16 || at + len > buf.len() {
                break;
            }
            let body = &buf[at + 16..at + len];
            if kind == NLMSG_ERROR {
                if let Some(e) = u32_at(body, 0) {
                    out.push(Event::Ack((e as i32).abs()));
                }
            } else if kind == (NFNL_SUBSYS_QUEUE << 8) | MSG_PACKET {
                let (mut id, mut source) = (None, None);
                let mut a = 4usize; // after nfgenmsg
                while let (Some(alen), Some(atype)) = (u16_at(body, a), u16_at(body, a + 2)) {
                    let alen = alen as usize;
                    if alen < 4 || a + alen > body.len() {
                        break;
                    }
                    let v = &body[a + 4..a + alen];
                    match atype & 0x3fff {
                        A_PACKET_HDR if v.len() >= 4 => {
                            id = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
                        }
                        A_PAYLOAD if v.len() >= 20 && v[0] >> 4 == 4 => {
                            source = Some(Ipv4Addr::new(v[12], v[13], v[14], v[15]));
                        }
                        _ => {}
                    }
                    a += (alen + 3) & !3;
                }
                if let Some(id) = id {
                    out.push(Event::Packet { id, source });
                }
            }
            at += (len + 3) & !3;
        }
        out
    }
}

/// One shaping host as the delay line serves it.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its namespace (`/run/netns/NAME`).
    pub namespace: String,
    /// One-way delay in ms from each peer address.
    pub delays: Vec<(Ipv4Addr, f64)>,
}

/// What the delay line thread shares with the lab.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    delayed: AtomicU64,
    passed: AtomicU64,
    dropped: AtomicU64,
    max_held: AtomicU64,
    /// Messages the kernel could not deliver (socket buffer full): their
    /// packets stay queued in the kernel until the socket closes.
    lost: AtomicU64,
    tid: AtomicU64,
}

/// The running delay line: one thread, one netlink socket per shaping
/// namespace. Dropping it stops the thread (held packets are dropped with
/// the sockets; the lab is being torn down then).
pub struct DelayLine {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    wake: i32,
}

fn os_err(what: &str) -> Error {
    Error::DelayLine(format!("{what}: {}", std::io::Error::last_os_error()))
}

/// A netlink socket opened inside the namespace `ns`, then back to the
/// calling thread's own namespace.
fn socket_in(ns: &str) -> Result<i32, Error> {
    use std::os::fd::AsRawFd as _;
    let own = std::fs::File::open("/proc/thread-self/ns/net").map_err(|e| {
        Error::DelayLine(format!("cannot open this thread's network namespace: {e}"))
    })?;
    let target = std::fs::File::open(format!("/run/netns/{ns}"))
        .map_err(|e| Error::DelayLine(format!("cannot open namespace `{ns}`: {e}")))?;
    // SAFETY: plain system calls on file descriptors this function owns.
    let fd = unsafe {
        if libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
            return Err(os_err(&format!("cannot enter namespace `{ns}`")));
        }
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            wire::NETLINK_NETFILTER,
        );
        let err = (fd < 0).then(|| os_err(&format!("netlink socket in `{ns}`")));
        if libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
            // This thread would stay in a lab namespace: never go on.
            panic!("{}", os_err("cannot return to e3's network namespace"));
        }
        if let Some(e) = err {
            return Err(e);
        }
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as u16;
        if libc::bind(
            fd,
            std::ptr::addr_of!(addr).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        ) != 0
        {
            let e = os_err(&format!("bind netlink socket in `{ns}`"));
            libc::close(fd);
            return Err(e);
        }
        // Room for bursts of queued-packet messages (about 150 bytes each).
        let size: libc::c_int = 8 << 20;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::addr_of!(size).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        );
        fd
    };
    Ok(fd)
}

fn send(fd: i32, buf: &[u8]) -> Result<(), Error> {
    // SAFETY: `buf` is valid for its length; netlink sendto the kernel (pid 0).
    let n = unsafe {
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as u16;
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            0,
            std::ptr::addr_of!(addr).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if n < 0 {
        Err(os_err("netlink send"))
    } else {
        Ok(())
    }
}

/// Receives into `buf`; `None` when nothing is waiting (or on an error
/// other than a lost message, which `lost` counts).
fn recv(fd: i32, buf: &mut [u8], lost: &AtomicU64) -> Option<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS) {
            lost.fetch_add(1, Ordering::Relaxed);
            return Some(0);
        }
        return None;
    }
    Some(n as usize)
}

/// Sends the configuration and waits (up to 2 s) for each acknowledgement.
fn configure(fd: i32, ns: &str) -> Result<(), Error> {
    let mut buf = vec![0u8; 8192];
    let lost = AtomicU64::new(0);
    for m in wire::config(QUEUE, FIFO_CAPACITY as u32 + 1024) {
        send(fd, &m).map_err(|e| e.during(format!("NFQUEUE {QUEUE} in `{ns}`")))?;
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 100) };
            let n = recv(fd, &mut buf, &lost).unwrap_or(0);
            match wire::parse(&buf[..n]).first() {
                Some(wire::Event::Ack(0)) => break,
                Some(wire::Event::Ack(e)) => {
                    return Err(Error::NfqueueRefused {
                        queue: QUEUE,
                        ns: ns.to_string(),
                        detail: std::io::Error::from_raw_os_error(*e).to_string(),
                    })
                }
                _ if Instant::now() > deadline => {
                    return Err(Error::DelayLine(format!(
                        "NFQUEUE {QUEUE} in `{ns}`: no answer from the kernel's `nfnetlink_queue`"
                    )))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

impl DelayLine {
    /// Opens a socket in each source's namespace, binds [`QUEUE`] there and
    /// starts serving; `Ok` once every queue is bound (add the iptables
    /// rules after that).
    pub fn start(sources: Vec<Source>) -> Result<DelayLine, Error> {
        // SAFETY: eventfd has no memory arguments.
        let wake = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if wake < 0 {
            return Err(os_err("eventfd"));
        }
        let shared = Arc::new(Shared::default());
        let (tx, rx) = std::sync::mpsc::channel::<Result<(), Error>>();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("e3-delay-line".into())
            .spawn(move || serve(sources, s, wake, tx))
            .map_err(|e| Error::DelayLine(format!("cannot start the delay line: {e}")))?;
        let line = DelayLine {
            shared,
            thread: Some(thread),
            wake,
        };
        match rx.recv() {
            Ok(Ok(())) => Ok(line),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::DelayLine(
                "the delay line stopped while starting".into(),
            )),
        }
    }

    /// Its counters so far; `lost` messages in the second field.
    pub fn counters(&self) -> (Counters, u64) {
        let s = &self.shared;
        (
            Counters {
                delayed: s.delayed.load(Ordering::Relaxed),
                passed: s.passed.load(Ordering::Relaxed),
                dropped: s.dropped.load(Ordering::Relaxed),
                max_held: s.max_held.load(Ordering::Relaxed),
            },
            s.lost.load(Ordering::Relaxed),
        )
    }

    /// CPU seconds (user + system) its thread used so far.
    pub fn cpu_s(&self) -> Option<f64> {
        let tid = self.shared.tid.load(Ordering::Relaxed);
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        // Fields 14 and 15 of stat (utime, stime); `rest` starts at field 3.
        let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        // SAFETY: sysconf has no memory arguments.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Some(ticks / hz.max(1.0))
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd.
        unsafe { libc::write(self.wake, std::ptr::addr_of!(one).cast(), 8) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.stop();
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(self.wake) };
    }
}

fn serve(
    sources: Vec<Source>,
    shared: Arc<Shared>,
    wake: i32,
    ready: std::sync::mpsc::Sender<Result<(), Error>>,
) {
    // Wake at due times, not up to 50 µs later (the default timer slack).
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
    // SAFETY: gettid has no arguments.
    shared
        .tid
        .store(unsafe { libc::gettid() } as u64, Ordering::Relaxed);
    let mut fds: Vec<i32> = Vec::new();
    let close_all = |fds: &[i32]| {
        for fd in fds {
            // SAFETY: descriptors this thread opened, closed once.
            unsafe { libc::close(*fd) };
        }
    };
    let mut schedule: Schedule<u32> = Schedule::new(FIFO_CAPACITY);
    for (k, s) in sources.iter().enumerate() {
        let opened = socket_in(&s.namespace).and_then(|fd| {
            fds.push(fd);
            configure(fd, &s.namespace)
        });
        if let Err(e) = opened {
            close_all(&fds);
            let _ = ready.send(Err(e));
            return;
        }
        for (d, ms) in &s.delays {
            schedule.route(k, *d, Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let _ = ready.send(Ok(()));
    let epoch = Instant::now();
    let mut buf = vec![0u8; 1 << 16];
    let mut out: Vec<Vec<u8>> = vec![Vec::new(); fds.len()];
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .chain(std::iter::once(&wake))
        .map(|fd| libc::pollfd {
            fd: *fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    while !shared.stop.load(Ordering::Relaxed) {
        let now = epoch.elapsed();
        let wait = schedule
            .next_due()
            .map(|d| d.saturating_sub(now))
            .unwrap_or(Duration::from_secs(1));
        let ts = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: i64::from(wait.subsec_nanos()) as libc::c_long,
        };
        // SAFETY: `pfds` is a valid array of its length; no signal mask.
        unsafe {
            libc::ppoll(
                pfds.as_mut_ptr(),
                pfds.len() as libc::nfds_t,
                &ts,
                std::ptr::null(),
            )
        };
        for (k, fd) in fds.iter().enumerate() {
            if pfds[k].revents == 0 {
                continue;
            }
            while let Some(n) = recv(*fd, &mut buf, &shared.lost) {
                if n == 0 {
                    continue;
                }
                let now = epoch.elapsed();
                for e in wire::parse(&buf[..n]) {
                    let wire::Event::Packet { id, source } = e else {
                        continue;
                    };
                    let admit = match source {
                        Some(d) => schedule.push(k, d, now, id),
                        None => Admit::Pass(id),
                    };
                    match admit {
                        Admit::Held => {}
                        Admit::Pass(id) => out[k].extend(wire::verdict(QUEUE, id, wire::NF_ACCEPT)),
                        Admit::Drop(id) => out[k].extend(wire::verdict(QUEUE, id, wire::NF_DROP)),
                    }
                }
            }
        }
        let now = epoch.elapsed();
        while let Some((k, id)) = schedule.pop_due(now) {
            out[k].extend(wire::verdict(QUEUE, id, wire::NF_ACCEPT));
        }
        for (k, fd) in fds.iter().enumerate() {
            if !out[k].is_empty() {
                let _ = send(*fd, &out[k]);
                out[k].clear();
            }
        }
        let c = schedule.counters;
        shared.delayed.store(c.delayed, Ordering::Relaxed);
        shared.passed.store(c.passed, Ordering::Relaxed);
        shared.dropped.store(c.dropped, Ordering::Relaxed);
        shared.max_held.store(c.max_held, Ordering::Relaxed);
    }
    close_all(&fds);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const C: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);

    fn drain(s: &mut Schedule<u32>, now: Duration) -> Vec<(usize, u32)> {
        std::iter::from_fn(|| s.pop_due(now)).collect()
    }

    #[test]
    fn packets_leave_at_arrival_plus_their_peers_delay() {
        let mut s = Schedule::new(100);
        s.route(0, A, ms(10));
        s.route(0, B, ms(80));
        assert_eq!(s.push(0, A, ms(0), 1), Admit::Held);
        assert_eq!(s.push(0, B, ms(1), 2), Admit::Held);
        assert_eq!(s.push(0, A, ms(5), 3), Admit::Held);
        assert_eq!(s.next_due(), Some(ms(10)));
        assert!(drain(&mut s, ms(9)).is_empty());
        assert_eq!(drain(&mut s, ms(10)), [(0, 1)]);
        assert_eq!(s.next_due(), Some(ms(15)));
        assert_eq!(drain(&mut s, ms(80)), [(0, 3)]);
        assert_eq!(drain(&mut s, ms(81)), [(0, 2)]);
        assert_eq!(s.next_due(), None);
        assert_eq!(s.held(), 0);
        assert_eq!(s.counters.delayed, 3);
    }

    #[test]
    fn each_peer_is_one_fifo_and_hosts_are_apart() {
        let mut s = Schedule::new(100);
        s.route(0, A, ms(20));
        s.route(1, A, ms(5));
        for i in 0..50u32 {
            assert_eq!(s.push(0, A, ms(u64::from(i)), i), Admit::Held);
        }
        s.push(1, A, ms(0), 1000);
        // Host 1's shorter delay passes host 0's queue.
        assert_eq!(drain(&mut s, ms(5)), [(1, 1000)]);
        let got: Vec<u32> = drain(&mut s, ms(1000)).into_iter().map(|x| x.1).collect();
        assert_eq!(got, (0..50).collect::<Vec<_>>(), "FIFO order kept");
    }

    #[test]
    fn a_delay_lowered_meanwhile_never_reorders_a_fifo() {
        let mut s = Schedule::new(100);
        s.route(0, A, ms(50));
        s.push(0, A, ms(0), 1);
        s.route(0, A, ms(10));
        s.push(0, A, ms(1), 2);
        assert_eq!(s.next_due(), Some(ms(50)));
        assert_eq!(drain(&mut s, ms(50)), [(0, 1), (0, 2)]);
    }

    #[test]
    fn undelayed_peers_pass_and_a_full_fifo_drops_and_counts() {
        let mut s = Schedule::new(3);
        s.route(0, A, ms(10));
        s.route(0, C, Duration::ZERO);
        assert_eq!(s.push(0, B, ms(0), 7), Admit::Pass(7));
        assert_eq!(s.push(0, C, ms(0), 8), Admit::Pass(8));
        assert_eq!(s.push(1, A, ms(0), 9), Admit::Pass(9), "another host");
        for i in 0..3 {
            assert_eq!(s.push(0, A, ms(0), i), Admit::Held);
        }
        assert_eq!(s.push(0, A, ms(1), 3), Admit::Drop(3));
        assert_eq!(s.counters.passed, 3);
        assert_eq!(s.counters.dropped, 1);
        assert_eq!(s.counters.max_held, 3);
        // Room again once the head left.
        assert_eq!(drain(&mut s, ms(10)).len(), 3);
        assert_eq!(s.push(0, A, ms(11), 4), Admit::Held);
    }

    fn nlmsg(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut m = ((16 + body.len()) as u32).to_ne_bytes().to_vec();
        m.extend(kind.to_ne_bytes());
        m.extend([0u8; 10]);
        m.extend(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn attr(t: u16, v: &[u8]) -> Vec<u8> {
        let mut a = ((4 + v.len()) as u16).to_ne_bytes().to_vec();
        a.extend(t.to_ne_bytes());
        a.extend(v);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    #[test]
    fn parses_queued_packets_and_acknowledgements() {
        let mut ip = vec![0x45u8; 1];
        ip.extend([0u8; 11]);
        ip.extend([198, 18, 0, 2, 198, 18, 0, 9]);
        let mut body = vec![0, 0, 0, 16];
        body.extend(attr(1, &[0, 0, 1, 2, 8, 0, 3]));
        body.extend(attr(10 | 0x8000, &ip));
        let mut buf = nlmsg(3 << 8, &body);
        buf.extend(nlmsg(2, &(-1i32).to_ne_bytes()));
        buf.extend(nlmsg(2, &0i32.to_ne_bytes()));
        assert_eq!(
            wire::parse(&buf),
            [
                wire::Event::Packet {
                    id: 258,
                    source: Some(B)
                },
                wire::Event::Ack(1),
                wire::Event::Ack(0)
            ]
        );
        // Truncated: nothing is read past the end.
        assert!(wire::parse(&buf[..10]).is_empty());
        assert_eq!(wire::parse(&buf[..buf.len() - 21]).len(), 1);
    }

    #[test]
    fn verdicts_and_configuration_are_well_formed() {
        let v = wire::verdict(16, 0x0102_0304, wire::NF_ACCEPT);
        assert_eq!(v.len(), 32);
        assert_eq!(u32::from_ne_bytes(v[0..4].try_into().unwrap()), 32);
        assert_eq!(
            u16::from_ne_bytes(v[4..6].try_into().unwrap()),
            (3 << 8) | 1
        );
        assert_eq!(&v[18..20], &16u16.to_be_bytes(), "queue number, big-endian");
        assert_eq!(&v[24..32], &[0, 0, 0, 1, 1, 2, 3, 4]);
        let c = wire::config(16, 1000);
        assert_eq!(c.len(), 4);
        for m in &c {
            assert_eq!(
                u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
                m.len()
            );
            assert_eq!(m.len() % 4, 0);
            assert_eq!(
                u16::from_ne_bytes(m[6..8].try_into().unwrap()),
                5,
                "request + ack"
            );
        }
        // copy range 20 bytes, copy mode packet
        assert_eq!(&c[1][24..29], &[0, 0, 0, 20, 2]);
    }
}
