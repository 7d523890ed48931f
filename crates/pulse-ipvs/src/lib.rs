//! `pulse-ipvs`: the kernel's IPVS generic-netlink family, sans-IO.
//!
//! `types` is the table as typed values (services, destinations, timeouts, sync daemons, and
//! `IpvsOp`, one change). `codec` turns requests into netlink bytes and kernel replies back into
//! those types; it reads no socket and no clock, so every byte is pinned by golden tests.
//! `pulse-sys` sends the bytes (neli), `pulse-lvs` decides which ops to send.

#![warn(missing_docs)]

pub mod types;

pub use types::*;
