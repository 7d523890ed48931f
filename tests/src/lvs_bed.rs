//! An LVS test bed for real IPVS (inside the VM, `tests/vm/`): a director, a real-server host
//! and a client in their own network namespaces.
//!
//! `{p}dir` holds bridge `br0` (10.0.0.1/24, and the VIPs 10.0.0.100–.103) with IPVS and lvsd;
//! `{p}rs` has `eth0` with the real-server addresses 10.0.0.2–.9 and the VIPs on `lo` (direct
//! routing: it accepts the VIP's packets but never answers ARP for them); `{p}cl` is the client
//! 10.0.0.50. IPVS tables are per namespace, so beds in parallel do not see each other. Nothing
//! is created outside the bed's namespaces; dropping it deletes them.

use crate::netns::{Topology, ip_cmd, must, spawn_logged, wait_for};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The VIPs the director holds.
pub const VIPS: [&str; 4] = ["10.0.0.100", "10.0.0.101", "10.0.0.102", "10.0.0.103"];
/// Real-server addresses on `{p}rs`.
pub const RIPS: [&str; 8] = [
    "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9",
];

/// Are we inside the project's VM (`tests/vm/run-tests.sh` sets `PULSE_IN_VM=1`)?
pub fn in_vm() -> bool {
    std::env::var_os("PULSE_IN_VM").is_some_and(|v| v == "1")
}

/// The lvsd binary to test: `PULSE_LVSD`, else the one cargo built next to the test binary.
pub fn lvsd_binary() -> String {
    std::env::var("PULSE_LVSD").unwrap_or_else(|_| {
        let exe = std::env::current_exe().expect("current_exe");
        let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
        dir.join("lvsd").display().to_string()
    })
}

/// An executable script in `dir` that runs lvsd in test mode (`lvsd -t ARGS…`: checks run for
/// real, the kernel's table is not touched), for `pulse --lvsd`; returns its path.
pub fn test_mode_lvsd(dir: &std::path::Path) -> String {
    let wrapper = dir.join("lvsd-test-mode");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} -t \"$@\"\n", lvsd_binary()),
    )
    .expect("write the lvsd wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod the lvsd wrapper");
    wrapper.to_string_lossy().into_owned()
}

/// A bed; `Drop` tears it down.
#[derive(Debug)]
pub struct LvsBed {
    /// The namespace-name prefix.
    pub prefix: String,
    children: Vec<Child>,
    /// Declared last: dropped after the children are killed.
    topology: Topology,
}

/// Hosts of the bed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// The director (IPVS, lvsd).
    Director,
    /// The real servers.
    Servers,
    /// The client.
    Client,
}

impl Node {
    fn suffix(self) -> &'static str {
        match self {
            Self::Director => "dir",
            Self::Servers => "rs",
            Self::Client => "cl",
        }
    }
}

impl LvsBed {
    /// Builds the bed.
    pub fn new() -> Self {
        let mut topology = Topology::new("lv");
        for n in [Node::Director, Node::Servers, Node::Client] {
            topology.namespace(n.suffix());
        }
        // The director's namespace holds the bridge, its own address and the VIPs.
        let dir_suffix = Node::Director.suffix();
        topology.bridge(dir_suffix, "br0");
        let dir = topology.ns(dir_suffix);
        must(&["-n", &dir, "addr", "add", "10.0.0.1/24", "dev", "br0"]);
        for v in VIPS {
            must(&["-n", &dir, "addr", "add", &format!("{v}/32"), "dev", "br0"]);
        }
        for n in [Node::Servers, Node::Client] {
            topology.plug(
                n.suffix(),
                "eth0",
                n.suffix(),
                (dir_suffix, "br0"),
                None,
                &[],
            );
        }
        let bed = Self {
            prefix: topology.prefix.clone(),
            children: Vec::new(),
            topology,
        };
        let rs = bed.ns(Node::Servers);
        for (i, r) in RIPS.iter().enumerate() {
            let cidr = if i == 0 {
                format!("{r}/24")
            } else {
                format!("{r}/32")
            };
            must(&["-n", &rs, "addr", "add", &cidr, "dev", "eth0"]);
        }
        for v in VIPS {
            must(&["-n", &rs, "addr", "add", &format!("{v}/32"), "dev", "lo"]);
        }
        // Direct routing: the real servers hold the VIPs but must not answer ARP for them.
        bed.sysctl(Node::Servers, "net/ipv4/conf/all/arp_ignore", "1");
        bed.sysctl(Node::Servers, "net/ipv4/conf/all/arp_announce", "2");
        must(&[
            "-n",
            &bed.ns(Node::Client),
            "addr",
            "add",
            "10.0.0.50/24",
            "dev",
            "eth0",
        ]);
        bed
    }

    /// The namespace of a node.
    pub fn ns(&self, n: Node) -> String {
        self.topology.ns(n.suffix())
    }

    /// Writes a sysctl inside a node's namespace.
    pub fn sysctl(&self, n: Node, key: &str, value: &str) {
        let path = format!("/proc/sys/{key}");
        let value = value.to_string();
        self.in_ns(n, move || std::fs::write(&path, value))
            .unwrap_or_else(|e| panic!("sysctl {key}: {e}"));
    }

    /// Runs `f` on a thread that has joined a node's namespace.
    pub fn in_ns<T: Send + 'static>(&self, n: Node, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_ns(&self.ns(n), f)
    }

    /// Runs a command in a node's namespace and waits for it.
    pub fn exec(&self, n: Node, program: &str, args: &[&str]) -> Output {
        Command::new(ip_cmd())
            .args(["netns", "exec", &self.ns(n), program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// `ipvsadm ARGS` on the director; panics on failure; returns stdout.
    pub fn ipvsadm(&self, args: &[&str]) -> String {
        let o = self.exec(Node::Director, "ipvsadm", args);
        assert!(
            o.status.success(),
            "ipvsadm {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Starts lvsd on the director in the foreground; returns its pid. It is killed with the bed.
    pub fn spawn_lvsd(&mut self, config: &std::path::Path, dir: &std::path::Path) -> u32 {
        let config = config.display().to_string();
        let control = dir.join("lvsd.sock").display().to_string();
        let pidfile = dir.join("lvs.pid").display().to_string();
        self.spawn_program(
            &lvsd_binary(),
            &[
                "--nodaemon",
                "-v",
                "-c",
                &config,
                "--control",
                &control,
                "--pidfile",
                &pidfile,
            ],
            &dir.join("lvsd.log"),
        )
    }

    /// Starts a program on the director (stdout and stderr to `log`, `RUST_LOG=info`); returns
    /// its pid (`ip netns exec` execs it in place). It is killed with the bed.
    pub fn spawn_program(&mut self, program: &str, args: &[&str], log: &std::path::Path) -> u32 {
        let child = spawn_logged(
            &self.ns(Node::Director),
            program,
            args,
            &[("RUST_LOG", "info")],
            log,
        );
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Waits for a program started with [`spawn_program`](Self::spawn_program) or
    /// [`spawn_lvsd`](Self::spawn_lvsd) to exit; its status.
    pub fn wait_lvsd(&mut self, pid: u32, limit: Duration) -> Option<std::process::ExitStatus> {
        let child = self.children.iter_mut().find(|c| c.id() == pid)?;
        let mut status = None;
        wait_for(limit, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// A TCP server on a real-server address: see [`serve_tcp_in`].
    pub fn serve_tcp(&self, addr: SocketAddr) -> Server {
        serve_tcp_in(&self.ns(Node::Servers), addr)
    }

    /// A UDP echo server on a real-server address.
    pub fn serve_udp(&self, addr: SocketAddr) -> Server {
        self.serve(move |stop| {
            let s = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
            s.set_read_timeout(Some(Duration::from_millis(20)))
                .expect("timeout");
            let mut buf = [0u8; 1500];
            move || {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    let _ = s.send_to(&buf[..n], from);
                }
                !stop.load(Ordering::Relaxed)
            }
        })
    }

    /// Runs a server on a thread in the servers' namespace: `setup` binds (in the namespace)
    /// and returns one step of the serving loop, repeated while it returns `true`.
    fn serve<S, F>(&self, setup: S) -> Server
    where
        S: FnOnce(Arc<AtomicBool>) -> F + Send + 'static,
        F: FnMut() -> bool,
    {
        serve_in(&self.ns(Node::Servers), setup)
    }

    /// Opens `n` TCP connections from the client to `to` and completes one request on each;
    /// returns how many got an answer.
    pub fn client_requests(&self, to: SocketAddr, n: usize) -> usize {
        self.in_ns(Node::Client, move || {
            (0..n)
                .filter(|_| {
                    // 3 s: a first SYN lost to neighbour resolution is resent after 1 s.
                    let Ok(mut s) = TcpStream::connect_timeout(&to, Duration::from_secs(3)) else {
                        return false;
                    };
                    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
                    let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
                    let mut buf = [0u8; 64];
                    matches!(s.read(&mut buf), Ok(k) if k > 0)
                })
                .count()
        })
    }
}

impl Default for LvsBed {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `f` on a thread that has joined network namespace `ns` (a name under `/var/run/netns`).
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        enter(&path);
        f()
    })
    .join()
    .expect("namespace thread panicked")
}

/// Runs a server on a thread in network namespace `ns`: `setup` binds (in the namespace) and
/// returns one step of the serving loop, repeated while it returns `true`.
pub fn serve_in<S, F>(ns: &str, setup: S) -> Server
where
    S: FnOnce(Arc<AtomicBool>) -> F + Send + 'static,
    F: FnMut() -> bool,
{
    let stop = Arc::new(AtomicBool::new(false));
    let path = format!("/var/run/netns/{ns}");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        enter(&path);
        let mut step = setup(flag);
        let _ = ready_tx.send(());
        while step() {}
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("server did not start");
    Server {
        stop,
        thread: Some(thread),
    }
}

/// A TCP server on `addr` in network namespace `ns`: answers every connection with
/// `HTTP/1.0 200 OK\r\n\r\n` (after reading what the client sent, if anything), which passes
/// both a connect check and the default web check. Stops when the returned handle is dropped;
/// connections are then refused.
pub fn serve_tcp_in(ns: &str, addr: SocketAddr) -> Server {
    serve_connections(ns, addr, |mut s, _| {
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
    })
}

/// A TCP server on `addr` in network namespace `ns` that hands each accepted connection
/// (blocking, with a 200 ms read timeout) to `handle`, with the server's stop flag. Stops when
/// the returned handle is dropped.
pub fn serve_connections<H>(ns: &str, addr: SocketAddr, mut handle: H) -> Server
where
    H: FnMut(TcpStream, &Arc<AtomicBool>) + Send + 'static,
{
    serve_in(ns, move |stop| {
        let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        l.set_nonblocking(true).expect("nonblocking");
        move || {
            match l.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                    handle(s, &stop);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
            !stop.load(Ordering::Relaxed)
        }
    })
}

/// Moves the calling thread into the network namespace at `path` (`/var/run/netns/NAME`).
pub(crate) fn enter(path: &str) {
    let ns = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
        .unwrap_or_else(|e| panic!("setns {path}: {e}"));
}

impl Drop for LvsBed {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The topology then kills what is left in the namespaces and deletes them.
    }
}

/// A running test server; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
