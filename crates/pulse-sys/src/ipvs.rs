//! The kernel's IPVS table over generic netlink: `pulse_ipvs`'s bytes on a neli socket.
//!
//! Requests are pipelined: up to [`WINDOW`] messages are in flight, packed into sends of up to
//! [`BATCH_BYTES`], and each acknowledgement is matched to its request by sequence number. The
//! kernel handles every message of a send in order and acknowledges each (a failed one does not
//! stop the rest), so a 40,000-destination table loads in a few hundred sends instead of 40,000
//! round trips (keepalived and ipvsadm wait for each ACK, docs/reference/peers.md §2.3).
//!
//! Dumps cannot be pipelined: netlink runs one dump per socket at a time (`-EBUSY`).

use neli::consts::socket::{Msg, NlFamily};
use neli::router::synchronous::NlRouter;
use neli::socket::NlSocket;
use neli::utils::Groups;
use pulse_ipvs::codec::{self, Body, Request};
use pulse_ipvs::{
    Dest, DestCounters, Info, IpvsOp, Service, ServiceKey, ServiceStats, SyncDaemon, Timeouts,
};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Most requests in flight at once: each acknowledgement occupies receive-buffer space until read.
pub const WINDOW: usize = 1024;
/// Receive buffer asked for.
const RECV_BUFFER: usize = 4 << 20;
/// What one queued acknowledgement costs the receive buffer, rounded up generously.
const ACK_TRUESIZE: usize = 2048;
/// Most bytes per send (the kernel refuses a send larger than the socket's send buffer).
pub const BATCH_BYTES: usize = 64 * 1024;
/// How long to wait for the kernel to answer before giving up on the socket.
/// Stopping a sync daemon waits for its kernel thread, which can take seconds on a busy machine.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong talking to IPVS, naming the object.
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    /// The generic-netlink family `IPVS` is missing even after `modprobe ip_vs`.
    #[error(
        "IPVS is not available in this kernel or network namespace: {0} (is the ip_vs module loaded?)"
    )]
    Unavailable(String),
    /// The socket failed.
    #[error("IPVS netlink socket: {context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A request the kernel would refuse, caught before sending.
    #[error("{request}: {reason}")]
    Invalid {
        /// The request.
        request: String,
        /// Why.
        reason: pulse_ipvs::codec::InvalidRequest,
    },
    /// The kernel refused a request.
    #[error("{message}")]
    Kernel {
        /// The readable message, naming the object (`service TCP 10.0.0.1:80 already exists`).
        message: String,
        /// The errno (positive).
        errno: i32,
    },
    /// A reply we could not read.
    #[error("malformed IPVS reply: {0}")]
    Decode(String),
    /// No reply came for a request.
    #[error("no reply from the kernel for: {0}")]
    NoReply(String),
}

impl IpvsError {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// The kernel's errno, if the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// A connection to the kernel's IPVS in the current network namespace.
pub struct Ipvs {
    sock: NlSocket,
    family: u16,
    /// Requests in flight at most (≤ [`WINDOW`], less if the receive buffer is small).
    window: usize,
    seq: u32,
    send: Vec<u8>,
    recv: Vec<u8>,
}

impl std::fmt::Debug for Ipvs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ipvs")
            .field("family", &self.family)
            .finish()
    }
}

fn resolve_family() -> Result<u16, String> {
    let (router, _) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())
        .map_err(|e| format!("cannot open generic netlink: {e}"))?;
    router
        .resolve_genl_family(codec::FAMILY_NAME)
        .map_err(|e| e.to_string())
}

impl Ipvs {
    /// Resolves the `IPVS` family (running `modprobe ip_vs` once if it is missing, as ipvsadm
    /// does) and opens the socket.
    pub fn connect() -> Result<Self, IpvsError> {
        let family = match resolve_family() {
            Ok(f) => f,
            Err(_) => {
                let _ = std::process::Command::new("modprobe")
                    .arg("ip_vs")
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
                resolve_family().map_err(IpvsError::Unavailable)?
            }
        };
        let sock = NlSocket::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| IpvsError::io("connect", e))?;
        // Room for a window of acknowledgements: each is an skb of about 1 KiB (truesize) until
        // read. SO_RCVBUFFORCE goes past net.core.rmem_max (needs CAP_NET_ADMIN, which IPVS needs
        // anyway); the window is then sized to what the kernel granted, so a full window can
        // never overflow the buffer (ENOBUFS: acknowledgements lost).
        let fd = borrow_fd(&sock);
        use nix::sys::socket::{getsockopt, setsockopt, sockopt};
        if setsockopt(&fd, sockopt::RcvBufForce, &RECV_BUFFER).is_err() {
            let _ = setsockopt(&fd, sockopt::RcvBuf, &RECV_BUFFER);
        }
        let granted = getsockopt(&fd, sockopt::RcvBuf).unwrap_or(212_992);
        let window = (granted / ACK_TRUESIZE).clamp(16, WINDOW);
        // Bound every wait: a kernel that never answers must not hang lvsd.
        let tv = nix::sys::time::TimeVal::new(REPLY_TIMEOUT.as_secs() as _, 0);
        nix::sys::socket::setsockopt(
            &borrow_fd(&sock),
            nix::sys::socket::sockopt::ReceiveTimeout,
            &tv,
        )
        .map_err(|e| IpvsError::io("set receive timeout", e.into()))?;
        Ok(Self {
            sock,
            family,
            window,
            seq: 1,
            send: Vec::with_capacity(BATCH_BYTES + 4096),
            recv: vec![0; 64 * 1024],
        })
    }

    /// The resolved generic-netlink family id.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// Applies `ops` in order, pipelined; one result per op.
    pub fn apply(&mut self, ops: &[IpvsOp]) -> Vec<Result<(), IpvsError>> {
        let reqs: Vec<Request> = ops.iter().cloned().map(Request::Op).collect();
        self.execute(&reqs)
    }

    /// Sends non-dump requests, pipelined; one result per request, in order.
    pub fn execute(&mut self, reqs: &[Request]) -> Vec<Result<(), IpvsError>> {
        let n = reqs.len();
        let mut results: Vec<Option<Result<(), IpvsError>>> = (0..n).map(|_| None).collect();
        let base = self.seq;
        self.seq = self.seq.wrapping_add(n as u32 + 1);
        let mut next = 0;
        let mut pending = 0usize;
        let mut fatal: Option<String> = None;
        while (next < n || pending > 0) && fatal.is_none() {
            self.send.clear();
            while next < n && pending < self.window && self.send.len() < BATCH_BYTES {
                if let Err(reason) = codec::validate(&reqs[next]) {
                    results[next] = Some(Err(IpvsError::Invalid {
                        request: reqs[next].to_string(),
                        reason,
                    }));
                    next += 1;
                    continue;
                }
                codec::encode(
                    &reqs[next],
                    self.family,
                    base.wrapping_add(next as u32),
                    &mut self.send,
                );
                next += 1;
                pending += 1;
            }
            if !self.send.is_empty()
                && let Err(e) = self.sock.send(&self.send, Msg::empty())
            {
                fatal = Some(format!("send: {e}"));
                break;
            }
            // Read acknowledgements until the window has room again (or all are in).
            while pending > 0 && (next == n || pending >= self.window / 2) {
                let len = match self.sock.recv(&mut self.recv[..], Msg::empty()) {
                    Ok((len, _)) => len,
                    Err(e) => {
                        fatal = Some(format!("receive: {e}"));
                        break;
                    }
                };
                for m in codec::messages(&self.recv[..len]) {
                    let m = match m {
                        Ok(m) => m,
                        Err(e) => {
                            fatal = Some(format!("malformed reply: {e}"));
                            break;
                        }
                    };
                    let i = m.seq.wrapping_sub(base) as usize;
                    if i >= n || results[i].is_some() {
                        continue; // not ours (a stale reply of an earlier call)
                    }
                    let r = match m.body {
                        Body::Ack => Ok(()),
                        Body::Error { errno } => Err(IpvsError::Kernel {
                            message: codec::explain(&reqs[i], errno),
                            errno,
                        }),
                        _ => continue,
                    };
                    results[i] = Some(r);
                    pending -= 1;
                }
                if fatal.is_some() {
                    break;
                }
            }
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    Err(match &fatal {
                        Some(f) => IpvsError::io(
                            format!("{} ({f})", reqs[i]),
                            std::io::Error::other("request not acknowledged"),
                        ),
                        None => IpvsError::NoReply(reqs[i].to_string()),
                    })
                })
            })
            .collect()
    }

    /// Runs one request and fails with its error.
    fn one(&mut self, req: Request) -> Result<(), IpvsError> {
        self.execute(std::slice::from_ref(&req))
            .pop()
            .unwrap_or(Ok(()))
    }

    /// One dump: every data message's attributes, decoded by `f`.
    fn dump<T>(
        &mut self,
        req: &Request,
        mut f: impl FnMut(&[u8]) -> Result<T, codec::DecodeError>,
    ) -> Result<Vec<T>, IpvsError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.send.clear();
        codec::encode(req, self.family, seq, &mut self.send);
        self.sock
            .send(&self.send, Msg::empty())
            .map_err(|e| IpvsError::io(req.to_string(), e))?;
        let mut out = Vec::new();
        loop {
            let (len, _) = self
                .sock
                .recv(&mut self.recv[..], Msg::empty())
                .map_err(|e| IpvsError::io(req.to_string(), e))?;
            for m in codec::messages(&self.recv[..len]) {
                let m = m.map_err(|e| IpvsError::Decode(e.to_string()))?;
                if m.seq != seq {
                    continue;
                }
                match m.body {
                    Body::Data { attrs, .. } => {
                        out.push(f(attrs).map_err(|e| IpvsError::Decode(e.to_string()))?)
                    }
                    Body::Done { errno: 0 } | Body::Ack => return Ok(out),
                    Body::Done { errno } | Body::Error { errno } if errno != 0 => {
                        return Err(IpvsError::Kernel {
                            message: codec::explain(req, errno),
                            errno,
                        });
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every service in the table.
    pub fn services(&mut self) -> Result<Vec<Service>, IpvsError> {
        self.dump(&Request::GetServices, |a| {
            codec::decode_service(a).map(|(s, _)| s)
        })
    }

    /// Every service in the table, with its traffic counters.
    pub fn services_with_stats(&mut self) -> Result<Vec<(Service, ServiceStats)>, IpvsError> {
        self.dump(&Request::GetServices, codec::decode_service)
    }

    /// Every destination of a service, with its connection counters.
    pub fn dests(&mut self, key: &ServiceKey) -> Result<Vec<(Dest, DestCounters)>, IpvsError> {
        let family = key.family();
        self.dump(&Request::GetDests(*key), move |a| {
            codec::decode_dest(a, family)
        })
    }

    /// The protocol timeouts.
    pub fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        let mut t = self.dump(&Request::GetTimeouts, codec::decode_timeouts)?;
        t.pop()
            .ok_or_else(|| IpvsError::Decode("no timeouts in the reply".into()))
    }

    /// `ipvsadm --set TCP TCPFIN UDP` (0 leaves a value unchanged).
    pub fn set_timeouts(&mut self, t: Timeouts) -> Result<(), IpvsError> {
        self.one(Request::SetTimeouts(t))
    }

    /// Version and connection-table size.
    pub fn info(&mut self) -> Result<Info, IpvsError> {
        let mut i = self.dump(&Request::GetInfo, codec::decode_info)?;
        i.pop()
            .ok_or_else(|| IpvsError::Decode("no info in the reply".into()))
    }

    /// Running sync daemons.
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.dump(&Request::GetDaemons, codec::decode_daemon)
    }

    /// Starts a sync daemon.
    pub fn start_daemon(&mut self, d: &SyncDaemon) -> Result<(), IpvsError> {
        self.one(Request::StartDaemon(d.clone()))
    }

    /// Stops the sync daemon of a role.
    pub fn stop_daemon(&mut self, d: &SyncDaemon) -> Result<(), IpvsError> {
        self.one(Request::StopDaemon(d.role))
    }

    /// Makes `d` the only running sync daemon (docs/reference/piranha.md §4.8 stops both roles, then starts
    /// one). Nothing is restarted when `d` already runs alone, so repeated calls do not
    /// interrupt the connection sync.
    pub fn sync_as(&mut self, d: &SyncDaemon) -> Result<(), IpvsError> {
        let running = self.daemons()?;
        if running.as_slice() == std::slice::from_ref(d) {
            return Ok(());
        }
        for r in &running {
            self.stop_daemon(r)?;
        }
        self.start_daemon(d)
    }

    /// `ipvsadm -C`.
    pub fn flush(&mut self) -> Result<(), IpvsError> {
        self.one(Request::Flush)
    }
}

/// The socket's fd as a `BorrowedFd` for nix (neli's `NlSocket` implements only `AsRawFd`).
fn borrow_fd(sock: &NlSocket) -> std::os::fd::BorrowedFd<'_> {
    #[allow(unsafe_code)]
    // SAFETY: the fd stays open for as long as `sock` lives, and the borrow cannot outlive it.
    unsafe {
        std::os::fd::BorrowedFd::borrow_raw(sock.as_raw_fd())
    }
}
