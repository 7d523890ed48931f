//! The client's traffic through the VIP during an event: long-lived flows asking every 500 ms
//! (each on a thread of its own, recording its longest pause), new connections every 50 ms,
//! and the router's next hops on each change.

use super::VIP;
use crate::bird::next_hops;
use crate::lvs_bed::{enter, in_ns};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How long a flow or a new connection waits for an answer before it counts as lost.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How often each long-lived flow asks. At 50, 100 and 200 ms, 36 flows (720, 360 and 180
/// requests a second through the bridges, IPVS and the real servers' threads: packet work in
/// softirq, which no niceness holds back) overloaded the VM's two emulated CPUs on a busy
/// host: the BFD sessions (100 ms × 3) timed out and the router dropped healthy directors.
/// The pause is measured per request ([`FlowEnd::longest_wait`]), so the interval only has
/// to be short next to the outage for some flow to ask in it (36 flows, spread in phase).
pub const FLOW_INTERVAL: Duration = Duration::from_millis(500);
/// How often a new connection is opened (one after the other).
pub const NEW_INTERVAL: Duration = Duration::from_millis(50);

fn vip() -> SocketAddr {
    format!("{VIP}:80").parse().expect("vip")
}

/// One request on an open connection: the real server's name.
pub fn ask(s: &mut TcpStream) -> Result<String, String> {
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("closed".into());
    }
    let out = String::from_utf8_lossy(&buf[..n]).into_owned();
    let body = out.rsplit("\r\n\r\n").next().unwrap_or_default();
    Ok(body.trim().to_string())
}

/// A connection to the VIP (the kernel picks the source port), with [`TIMEOUT`]s.
pub fn connect() -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&vip(), TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// One new connection and one request (call it in the client's namespace): the real server.
pub fn fetch() -> Result<String, String> {
    ask(&mut connect()?)
}

/// One connection from 192.0.2.2:`port` to the VIP, closed with RST (no TIME_WAIT, so the
/// same 5-tuple can go again through another director): the real server's name. Call it in
/// the client's namespace.
pub fn fetch_from(port: u16) -> Result<String, String> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket, sockopt,
    };
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .map_err(|e| e.to_string())?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| e.to_string())?;
    bind(fd.as_raw_fd(), &SockaddrIn::new(192, 0, 2, 2, port))
        .map_err(|e| format!(":{port}: {e}"))?;
    connect(fd.as_raw_fd(), &SockaddrIn::new(10, 0, 0, 100, 80))
        .map_err(|e| format!(":{port}: {e}"))?;
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt(&fd, sockopt::Linger, &linger).map_err(|e| e.to_string())?;
    let mut s = TcpStream::from(fd);
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    ask(&mut s)
}

/// How one long-lived flow fared.
#[derive(Clone, Debug)]
pub struct FlowEnd {
    /// The client's source port (names the flow in the directors' connection tables).
    pub port: u16,
    /// The real server it reached first.
    pub server: String,
    /// Why it ended before it was stopped (an error, or another real server answered).
    pub lost: Option<String>,
    /// The longest time between two answers (asked every [`FLOW_INTERVAL`]) among those
    /// ending after [`Flows::measure`].
    pub longest_gap: Duration,
    /// When the longest gap ended.
    pub gap_end: Option<SystemTime>,
    /// The longest a request waited for its answer, counted from [`Flows::measure`] for one
    /// sent before: the pause the flow saw, whatever the asking interval.
    pub longest_wait: Duration,
    /// When that request was answered.
    pub wait_end: Option<SystemTime>,
    /// Answers after the first.
    pub answers: usize,
}

/// Long-lived flows from the client, each asking every [`FLOW_INTERVAL`] on its own thread.
#[derive(Debug)]
pub struct Flows {
    stop: Arc<AtomicBool>,
    measuring: Arc<std::sync::OnceLock<Instant>>,
    threads: Vec<JoinHandle<FlowEnd>>,
    /// The flows' client ports, in order.
    pub ports: Vec<u16>,
}

impl Flows {
    /// Opens `n` flows from namespace `client_ns` (each asks once: its real server), then
    /// starts asking on each.
    pub fn open(client_ns: &str, n: usize) -> Self {
        let opened: Vec<(TcpStream, String, u16)> = in_ns(client_ns, move || {
            (0..n)
                .map(|_| {
                    let mut s = connect().expect("a long-lived flow's connect");
                    let who = ask(&mut s).expect("a long-lived flow's first answer");
                    let port = s.local_addr().expect("local address").port();
                    (s, who, port)
                })
                .collect()
        });
        let stop = Arc::new(AtomicBool::new(false));
        let measuring = Arc::new(std::sync::OnceLock::new());
        let ports = opened.iter().map(|(_, _, p)| *p).collect();
        // Spread in phase over the interval: flows asking all at once would leave most of it
        // with no request in flight, and an outage shorter than the rest unseen.
        let threads = opened
            .into_iter()
            .enumerate()
            .map(|(i, (s, server, port))| {
                let (stop, measuring) = (stop.clone(), measuring.clone());
                let phase =
                    FLOW_INTERVAL * u32::try_from(i).unwrap_or(0) / u32::try_from(n).unwrap_or(1);
                std::thread::spawn(move || {
                    std::thread::sleep(phase);
                    keep_asking(s, server, port, &stop, &measuring)
                })
            })
            .collect();
        Self {
            stop,
            measuring,
            threads,
            ports,
        }
    }

    /// From now on the flows' pauses count (a pause before the event is not the event's; a
    /// request waiting across this moment counts from it).
    pub fn measure(&self) {
        let _ = self.measuring.set(Instant::now());
    }

    /// Stops every flow (each finishes the request it is in) and closes them.
    pub fn stop(mut self) -> Vec<FlowEnd> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .drain(..)
            .map(|t| t.join().expect("flow thread"))
            .collect()
    }
}

impl Drop for Flows {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn keep_asking(
    mut s: TcpStream,
    server: String,
    port: u16,
    stop: &AtomicBool,
    measuring: &std::sync::OnceLock<Instant>,
) -> FlowEnd {
    let mut end = FlowEnd {
        port,
        server,
        lost: None,
        longest_gap: Duration::ZERO,
        gap_end: None,
        longest_wait: Duration::ZERO,
        wait_end: None,
        answers: 0,
    };
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(FLOW_INTERVAL);
        let sent = Instant::now();
        match ask(&mut s) {
            Ok(who) if who == end.server => {
                let gap = last.elapsed();
                last = Instant::now();
                end.answers += 1;
                if let Some(&from) = measuring.get() {
                    // A request sent before the event waits for it from the event on only.
                    let wait = last.saturating_duration_since(sent.max(from));
                    if wait > end.longest_wait {
                        end.longest_wait = wait;
                        end.wait_end = Some(SystemTime::now());
                    }
                    if gap > end.longest_gap {
                        end.longest_gap = gap;
                        end.gap_end = Some(SystemTime::now());
                    }
                }
            }
            Ok(who) => {
                end.lost = Some(format!("answered by {who}, not {}", end.server));
                break;
            }
            Err(e) => {
                end.lost = Some(e);
                break;
            }
        }
    }
    end
}

/// One new connection of [`NewConns`].
#[derive(Clone, Debug)]
pub struct Attempt {
    /// When it was opened.
    pub sent: SystemTime,
    /// How long the connection and its request took.
    pub took: Duration,
    /// The real server, or why none answered.
    pub result: Result<String, String>,
}

/// New connections from the client, one every [`NEW_INTERVAL`] (one after the other: a slow
/// one delays the next).
#[derive(Debug)]
pub struct NewConns {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Attempt>>>,
}

impl NewConns {
    /// Starts opening connections from namespace `client_ns`.
    pub fn start(client_ns: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let path = format!("/var/run/netns/{client_ns}");
        let thread = std::thread::spawn(move || {
            enter(&path);
            let mut out = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let (sent, t) = (SystemTime::now(), Instant::now());
                let result = fetch();
                out.push(Attempt {
                    sent,
                    took: t.elapsed(),
                    result,
                });
                std::thread::sleep(NEW_INTERVAL);
            }
            out
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops; every attempt, in order.
    pub fn stop(mut self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("new connections"))
            .unwrap_or_default()
    }
}

impl Drop for NewConns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The router's next hops, each with when they were first seen.
pub type RouteChanges = Vec<(SystemTime, Vec<String>)>;

/// The router's next hops for the VIP, read again whenever `ip monitor route` in the router's
/// namespace reports a change (polling `ip route` spawns a process every few milliseconds,
/// which in the emulated VM costs a vCPU): each change with its time.
#[derive(Debug)]
pub struct RouteWatch {
    monitor: std::process::Child,
    changes: Arc<std::sync::Mutex<RouteChanges>>,
    thread: Option<JoinHandle<()>>,
}

impl RouteWatch {
    /// Starts watching in the router's namespace `rt`; the first entry is the route at start.
    pub fn start(rt: &str) -> Self {
        use std::io::BufRead;
        let mut monitor = std::process::Command::new(crate::netns::ip_cmd())
            .args(["-n", rt, "monitor", "route"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("ip monitor route");
        let out = monitor.stdout.take().expect("stdout");
        let changes = Arc::new(std::sync::Mutex::new(vec![(
            SystemTime::now(),
            next_hops(rt, VIP),
        )]));
        let (rt, seen) = (rt.to_string(), changes.clone());
        let thread = std::thread::spawn(move || {
            // A multipath route's `nexthop` lines are indented: one read per route line.
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if line.starts_with(char::is_whitespace) {
                    continue;
                }
                let (t, hops) = (SystemTime::now(), next_hops(&rt, VIP));
                let mut c = seen.lock().unwrap_or_else(|e| e.into_inner());
                if c.last().is_none_or(|(_, h)| *h != hops) {
                    c.push((t, hops));
                }
            }
        });
        Self {
            monitor,
            changes,
            thread: Some(thread),
        }
    }

    /// The changes so far.
    pub fn changes(&self) -> RouteChanges {
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until the next hops are `want` (sorted addresses), up to `limit`: when they
    /// became so.
    pub fn wait(&self, want: &[String], limit: Duration) -> Option<SystemTime> {
        let start = Instant::now();
        loop {
            if let Some((t, h)) = self.changes().last()
                && h.as_slice() == want
            {
                return Some(*t);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops; the changes.
    pub fn stop(mut self) -> RouteChanges {
        self.halt();
        self.changes()
    }

    fn halt(&mut self) {
        let _ = self.monitor.kill();
        let _ = self.monitor.wait();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RouteWatch {
    fn drop(&mut self) {
        self.halt();
    }
}
