//! `pulse-ipvs`: the kernel's IPVS generic-netlink family, sans-IO.
//!
//! `types` is the table as typed values (services, destinations, timeouts, sync daemons, and
//! `IpvsOp`, one change). `codec` turns requests into netlink bytes and kernel replies back into
//! those types, on top of `netlink` (message and attribute framing); `explain` turns a kernel
//! errno into a sentence naming the object. Nothing here reads a socket or a clock, so every
//! byte is pinned by golden tests.
//!
//! A transport's loop: resolve the family id of [`FAMILY_NAME`]; [`encode`] requests into one
//! buffer (each with its own `seq`) and send it; feed every received datagram to [`messages`];
//! match each [`Message`] to its request by `seq`; a non-dump request is finished by
//! [`Body::Ack`] or [`Body::Error`] (a `Get*` one gets its [`Body::Data`] first), a dump
//! ([`Request::is_dump`]) by [`Body::Done`] or [`Body::Error`]; decode data with
//! [`decode_reply`] and errors with [`explain()`].
//! `pulse-sys` sends the bytes (neli), `pulse-lvs` decides which ops to send.

#![warn(missing_docs)]

pub mod codec;
pub mod explain;
pub mod netlink;
pub mod types;

pub use codec::{
    FAMILY_NAME, InvalidRequest, Reply, Request, decode_daemon, decode_dest, decode_info,
    decode_reply, decode_service, decode_timeouts, encode, validate,
};
pub use explain::explain;
pub use netlink::{Body, DecodeError, Message, messages};
pub use types::*;
