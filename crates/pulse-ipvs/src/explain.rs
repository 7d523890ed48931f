//! Kernel errnos from IPVS requests, as sentences naming the object.
//!
//! Which errno means what was read from the kernel, not guessed: `ip_vs_genl_set_cmd` (`ESRCH`
//! when the service of a non-add command does not exist, `EEXIST` from `NEW_SERVICE` on an
//! existing one, `EAFNOSUPPORT` for a family the kernel lacks, `EINVAL` for a mixed-family real
//! server that is not tunnelled), `ip_vs_add_service`/`ip_vs_edit_service` (`ENOENT` when the
//! scheduler or persistence-engine module is missing, `EINVAL` for an IPv6 prefix outside
//! 1..=128, `ENOPROTOOPT` while the module unloads), `ip_vs_add_dest`/`ip_vs_edit_dest`
//! (`ERANGE` for a negative weight or lower threshold above upper, `EINVAL` for an upper
//! threshold above `INT_MAX`, `EEXIST`/`ENOENT` for present/absent real servers),
//! `ip_vs_new_dest` (`EINVAL` for a non-unicast address), `ip_vs_del_dest` (`ENOENT`),
//! `start_sync_thread` (`EEXIST` when running, `ENODEV` for an unknown interface),
//! `stop_sync_thread` (`ESRCH` when not running), `ip_vs_set_timeout` (`EINVAL` out of range),
//! and `GENL_ADMIN_PERM` on every IPVS operation (`EPERM` without `CAP_NET_ADMIN`). ipvsadm's
//! `ipvs_strerror` table agrees.

use crate::codec::{Request, role_name};
use crate::types::{Family, IpvsOp, Netmask};

/// The errno numbers this crate names (asm-generic numbering: x86, ARM, arm64, RISC-V, ...;
/// alpha, MIPS, PA-RISC and SPARC differ for some, but IPVS users there are rare).
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i32 = 1;
    /// No such file or directory.
    pub const ENOENT: i32 = 2;
    /// No such process.
    pub const ESRCH: i32 = 3;
    /// Interrupted system call.
    pub const EINTR: i32 = 4;
    /// Input/output error.
    pub const EIO: i32 = 5;
    /// Resource temporarily unavailable.
    pub const EAGAIN: i32 = 11;
    /// Cannot allocate memory.
    pub const ENOMEM: i32 = 12;
    /// Permission denied.
    pub const EACCES: i32 = 13;
    /// Bad address.
    pub const EFAULT: i32 = 14;
    /// Device or resource busy.
    pub const EBUSY: i32 = 16;
    /// File exists.
    pub const EEXIST: i32 = 17;
    /// No such device.
    pub const ENODEV: i32 = 19;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// No space left on device.
    pub const ENOSPC: i32 = 28;
    /// Numerical result out of range.
    pub const ERANGE: i32 = 34;
    /// Message too long.
    pub const EMSGSIZE: i32 = 90;
    /// Protocol not available.
    pub const ENOPROTOOPT: i32 = 92;
    /// Protocol not supported.
    pub const EPROTONOSUPPORT: i32 = 93;
    /// Operation not supported.
    pub const EOPNOTSUPP: i32 = 95;
    /// Address family not supported by protocol.
    pub const EAFNOSUPPORT: i32 = 97;
    /// No buffer space available.
    pub const ENOBUFS: i32 = 105;
    /// Connection timed out.
    pub const ETIMEDOUT: i32 = 110;
}

use errno::*;

/// glibc's `strerror` text for the errnos above, `"Unknown error"` otherwise.
pub fn strerror(errno: i32) -> &'static str {
    match errno {
        EPERM => "Operation not permitted",
        ENOENT => "No such file or directory",
        ESRCH => "No such process",
        EINTR => "Interrupted system call",
        EIO => "Input/output error",
        EAGAIN => "Resource temporarily unavailable",
        ENOMEM => "Cannot allocate memory",
        EACCES => "Permission denied",
        EFAULT => "Bad address",
        EBUSY => "Device or resource busy",
        EEXIST => "File exists",
        ENODEV => "No such device",
        EINVAL => "Invalid argument",
        ENOSPC => "No space left on device",
        ERANGE => "Numerical result out of range",
        EMSGSIZE => "Message too long",
        ENOPROTOOPT => "Protocol not available",
        EPROTONOSUPPORT => "Protocol not supported",
        EOPNOTSUPP => "Operation not supported",
        EAFNOSUPPORT => "Address family not supported by protocol",
        ENOBUFS => "No buffer space available",
        ETIMEDOUT => "Connection timed out",
        _ => "Unknown error",
    }
}

/// One line saying why the kernel refused `req` with `errno` (positive; a negative one is
/// negated), naming the service, real server, scheduler or daemon involved:
/// `service TCP 10.0.0.1:80 already exists`, `no such real server 10.0.0.2:80 in TCP 10.0.0.1:80`,
/// `scheduler "foo" not found (is module ip_vs_foo available?)`. Errnos without a specific
/// meaning for the request read `<request>: <strerror> (errno N)`.
pub fn explain(req: &Request, errno: i32) -> String {
    let errno = if errno < 0 {
        errno.saturating_neg()
    } else {
        errno
    };
    specific(req, errno).unwrap_or_else(|| generic(req, errno))
}

fn generic(req: &Request, errno: i32) -> String {
    match errno {
        EPERM => format!("{req}: permission denied (IPVS needs CAP_NET_ADMIN) (errno {errno})"),
        ENOMEM => format!("{req}: the kernel is out of memory (errno {errno})"),
        ENOPROTOOPT => format!("{req}: the ip_vs module is being unloaded (errno {errno})"),
        EAFNOSUPPORT => format!(
            "{req}: address family not supported by the kernel (IPv6 disabled, or IPVS built \
             without CONFIG_IP_VS_IPV6) (errno {errno})"
        ),
        _ => format!("{req}: {} (errno {errno})", strerror(errno)),
    }
}

fn specific(req: &Request, errno: i32) -> Option<String> {
    let text = match (req, errno) {
        (Request::Op(IpvsOp::AddService(s)), EEXIST) => {
            format!("service {} already exists", s.key)
        }
        (Request::Op(IpvsOp::EditService(s)), ESRCH) => format!("no such service {}", s.key),
        (
            Request::Op(IpvsOp::DeleteService(k))
            | Request::GetService(k)
            | Request::GetDests(k)
            | Request::Zero(Some(k)),
            ESRCH,
        ) => format!("no such service {k}"),
        (Request::Op(IpvsOp::AddService(s) | IpvsOp::EditService(s)), ENOENT) => {
            let sched = &s.scheduler;
            match s.pe_name.as_deref().filter(|pe| !pe.is_empty()) {
                Some(pe) => format!(
                    "scheduler \"{sched}\" or persistence engine \"{pe}\" not found (are \
                     modules ip_vs_{sched} and ip_vs_pe_{pe} available?)"
                ),
                None => {
                    format!("scheduler \"{sched}\" not found (is module ip_vs_{sched} available?)")
                }
            }
        }
        (Request::Op(IpvsOp::AddService(s) | IpvsOp::EditService(s)), EINVAL) => {
            let why = match s.netmask {
                Netmask::V6Prefix(p) if s.key.family() == Family::V6 && !(1..=128).contains(&p) => {
                    format!("IPv6 persistence netmask /{p} is outside 1..128")
                }
                _ if s.scheduler.is_empty() || s.scheduler.len() > 15 => {
                    format!("scheduler name \"{}\" is not 1 to 15 bytes", s.scheduler)
                }
                _ => "the kernel rejected its attributes (scheduler or persistence engine name \
                      too long, or a malformed request)"
                    .to_owned(),
            };
            format!("invalid service {}: {why} (errno {errno})", s.key)
        }
        (Request::Op(IpvsOp::AddDest(k, d) | IpvsOp::EditDest(k, d)), ESRCH) => {
            format!("no such service {k} (for real server {})", d.key)
        }
        (Request::Op(IpvsOp::DeleteDest(k, d)), ESRCH) => {
            format!("no such service {k} (for real server {d})")
        }
        (Request::Op(IpvsOp::AddDest(k, d)), EEXIST) => {
            format!("real server {} already exists in {k}", d.key)
        }
        (Request::Op(IpvsOp::EditDest(k, d)), ENOENT) => {
            format!("no such real server {} in {k}", d.key)
        }
        (Request::Op(IpvsOp::DeleteDest(k, d)), ENOENT) => {
            format!("no such real server {d} in {k}")
        }
        (Request::Op(IpvsOp::AddDest(k, d) | IpvsOp::EditDest(k, d)), ERANGE) => {
            let why = if d.weight < 0 {
                format!("weight {} is negative", d.weight)
            } else if d.lower_threshold > d.upper_threshold {
                format!(
                    "lower threshold {} is above upper threshold {}",
                    d.lower_threshold, d.upper_threshold
                )
            } else {
                "weight or thresholds out of range".to_owned()
            };
            format!("real server {} in {k}: {why} (errno {errno})", d.key)
        }
        (Request::Op(IpvsOp::AddDest(k, d) | IpvsOp::EditDest(k, d)), EINVAL) => {
            let why = if d.upper_threshold > i32::MAX.unsigned_abs() {
                format!("upper threshold {} is above 2147483647", d.upper_threshold)
            } else if Family::of(&d.key.addr) != k.family() {
                "its address family differs from the service's, which the kernel allows only \
                 with tunnel forwarding and no sync daemon running"
                    .to_owned()
            } else {
                "the kernel accepts only unicast or local addresses".to_owned()
            };
            format!(
                "invalid real server {} in {k}: {why} (errno {errno})",
                d.key
            )
        }
        (Request::SetTimeouts(_), EINVAL) => {
            format!("{req}: a timeout is out of range (at most INT_MAX/HZ seconds) (errno {errno})")
        }
        (Request::StartDaemon(d), EEXIST) => {
            format!("{} sync daemon is already running", role_name(d.role))
        }
        (Request::StartDaemon(d), ENODEV) => {
            format!("sync daemon interface \"{}\" not found", d.interface)
        }
        (Request::StartDaemon(d), EINVAL) => format!(
            "cannot start {} sync daemon on \"{}\": interface name longer than 15 bytes, or \
             real servers of mixed address families exist (errno {errno})",
            role_name(d.role),
            d.interface
        ),
        (Request::StopDaemon(role), ESRCH) => {
            format!("no {} sync daemon is running", role_name(*role))
        }
        _ => return None,
    };
    Some(text)
}
