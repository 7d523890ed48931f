//! `pulse-proto`: the heartbeat between two directors, sans-IO.
//!
//! - [`wire`]: piranha 0.8.6's 4-byte heartbeat (byte-identical, so a Pulse node and a piranha
//!   node form a pair) and Pulse's authenticated heartbeat (format 2: HMAC-SHA256 with one key
//!   per direction over the packet and its link's addresses, sequence numbers, a challenge and
//!   an echo, the sender's `serial_no` and configuration digest).
//! - [`fsm`]: the failover state machine ([`Heartbeat`]): piranha's rules (docs/reference/piranha.md §4.5)
//!   with its bugs fixed, over any number of redundant links.
//!
//! - [`group`]: `ecmp = 1`'s group datagram (which VIPs a director announces, its
//!   configuration), informational, HMAC-SHA256 over it and both directors' addresses.
//! - [`arp`] and [`ndisc`]: the frames that announce a VIP (gratuitous ARP, unsolicited
//!   neighbour advertisement), built as bytes for the daemon to send.
//!
//! Invariants: no sockets, no clocks (every input carries `now`), no threads, no panics on
//! input. The daemon drives it: feed datagrams, timeouts and commands; drain
//! [`Heartbeat::poll_transmit`] and [`Heartbeat::poll_event`]; sleep until
//! [`Heartbeat::poll_timeout`].

#![warn(missing_docs)]

pub mod arp;
pub mod fsm;
pub mod group;
pub mod ndisc;
pub mod wire;

pub use fsm::{
    ActivateReason, Command, CommandError, Config, DeactivateReason, Event, Heartbeat, Link,
    LinkCounters, Rejection, Status, TRANSITIONS_KEPT, Transition, Transmit, WireMode,
};
pub use group::{GroupDatagram, GroupDecodeError, GroupPath};
pub use wire::{AuthHeartbeat, DecodeError, Direction, HeartbeatKey, LegacyMagic, LinkPath};
