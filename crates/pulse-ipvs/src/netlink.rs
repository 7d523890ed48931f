//! Netlink and generic-netlink framing, sans-IO: writing request headers and attributes into a
//! caller's buffer, and walking the messages and attributes of a received datagram.
//!
//! Layouts are those of the kernel's uapi `include/uapi/linux/netlink.h` (`struct nlmsghdr`,
//! `struct nlmsgerr`, `struct nlattr`, `NLMSG_ALIGN`/`NLA_ALIGN` = 4) and
//! `include/uapi/linux/genetlink.h` (`struct genlmsghdr`, the `nlctrl` family). Netlink integers
//! are in the host's byte order; only payloads the kernel declares `__be16`/`__be32` (IPVS ports,
//! the IPv4 netmask) are big-endian, and the callers in `codec` write those themselves.
//!
//! Nothing here reads a socket: the transport hands whole datagrams to [`messages`], and
//! [`begin_message`]/[`end_message`] append complete requests to a `Vec` it sends as one batch.

use thiserror::Error;

/// `sizeof(struct nlmsghdr)`: `len u32, type u16, flags u16, seq u32, pid u32`.
pub const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct genlmsghdr)`: `cmd u8, version u8, reserved u16`.
pub const GENL_HDRLEN: usize = 4;
/// `sizeof(struct nlattr)`: `len u16, type u16`.
pub const NLA_HDRLEN: usize = 4;

/// `NLM_F_REQUEST`: every message to the kernel carries it.
pub const NLM_F_REQUEST: u16 = 0x01;
/// `NLM_F_MULTI`: part of a multipart reply (every dump message), ended by `NLMSG_DONE`.
pub const NLM_F_MULTI: u16 = 0x02;
/// `NLM_F_ACK`: ask for an `NLMSG_ERROR` with error 0 on success.
pub const NLM_F_ACK: u16 = 0x04;
/// `NLM_F_DUMP_INTR`: the table changed while it was being dumped; the dump is inconsistent.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// `NLM_F_DUMP` = `NLM_F_ROOT | NLM_F_MATCH`.
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_CAPPED` (on `NLMSG_ERROR`): only the request's header is echoed, not its payload.
pub const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS` (on `NLMSG_ERROR`/`NLMSG_DONE`): extended-ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;

/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 0x1;
/// `NLMSG_ERROR`: an ack (error 0) or an error (negative errno).
pub const NLMSG_ERROR: u16 = 0x2;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = 0x3;
/// `NLMSG_OVERRUN`.
pub const NLMSG_OVERRUN: u16 = 0x4;
/// `NLMSG_MIN_TYPE`: types below are netlink control messages, at or above a family's data.
pub const NLMSG_MIN_TYPE: u16 = 0x10;

/// `NLA_F_NESTED`: set on a nest's header (the kernel masks it off when parsing).
pub const NLA_F_NESTED: u16 = 1 << 15;
/// `NLA_F_NET_BYTEORDER`.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// `NLA_TYPE_MASK`: the attribute number without the two flag bits.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// `NLMSGERR_ATTR_MSG`: the extended-ack error string.
pub const NLMSGERR_ATTR_MSG: u16 = 1;

/// `GENL_ID_CTRL`: the fixed message type of the generic-netlink controller (`nlctrl`).
pub const GENL_ID_CTRL: u16 = NLMSG_MIN_TYPE;
/// `CTRL_CMD_GETFAMILY`.
pub const CTRL_CMD_GETFAMILY: u8 = 3;
/// `CTRL_ATTR_FAMILY_ID` (u16).
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// `CTRL_ATTR_FAMILY_NAME` (NUL-terminated string).
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// `NLMSG_ALIGN` / `NLA_ALIGN`: round up to a multiple of 4.
pub const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Why received bytes could not be decoded. Every variant names what was being read.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A fixed-size header did not fit.
    #[error("{what}: need {need} bytes, got {got}")]
    Header {
        /// `nlmsghdr`, `genlmsghdr`, `nlmsgerr`, `NLMSG_DONE payload`.
        what: &'static str,
        /// Bytes required.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// A message's `nlmsg_len` is below the header size or beyond the datagram.
    #[error("netlink message at byte {offset} claims {len} bytes, {available} available")]
    MessageLength {
        /// Offset of the message in the datagram.
        offset: usize,
        /// Its `nlmsg_len`.
        len: u32,
        /// Bytes left in the datagram from `offset`.
        available: usize,
    },
    /// An attribute header or its payload ran past the end of its container.
    #[error("{context}: attribute at byte {offset} is truncated ({remaining} bytes left)")]
    AttrTruncated {
        /// The container: a nest's name, or `top-level attributes`.
        context: &'static str,
        /// Offset of the attribute within the container.
        offset: usize,
        /// Bytes left in the container from `offset`.
        remaining: usize,
    },
    /// An attribute's payload has the wrong size.
    #[error("{attr}: expected {expected} bytes, got {got}")]
    AttrLength {
        /// Attribute name, as in the uapi header.
        attr: &'static str,
        /// Payload size required.
        expected: usize,
        /// Payload size present.
        got: usize,
    },
    /// An attribute's payload has neither of two accepted sizes.
    #[error("{attr}: expected {a} or {b} bytes, got {got}")]
    AttrLengthEither {
        /// Attribute name.
        attr: &'static str,
        /// One accepted size.
        a: usize,
        /// The other accepted size.
        b: usize,
        /// Payload size present.
        got: usize,
    },
    /// A required attribute is absent.
    #[error("missing attribute {attr}")]
    Missing {
        /// Attribute name.
        attr: &'static str,
    },
    /// An attribute holds a value this crate cannot represent.
    #[error("{attr}: unsupported value {value}")]
    BadValue {
        /// Attribute name.
        attr: &'static str,
        /// The value.
        value: u64,
    },
    /// A string attribute is not UTF-8.
    #[error("{attr}: not a UTF-8 string")]
    BadString {
        /// Attribute name.
        attr: &'static str,
    },
    /// A generic-netlink reply carried a command other than the one the request gets back.
    #[error("unexpected reply command {got} (expected {expected})")]
    UnexpectedCommand {
        /// The command the request's reply uses.
        expected: u8,
        /// The command received.
        got: u8,
    },
    /// A data reply arrived for a request that gets only an ack.
    #[error("unexpected data reply (command {cmd}) to a request that expects only an ack")]
    UnexpectedData {
        /// The command received.
        cmd: u8,
    },
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Appends an `nlmsghdr` (length patched by [`end_message`]) and a `genlmsghdr`; returns the
/// message's start offset in `out`. `pid` is 0: the kernel fills in the sender's port id.
pub fn begin_message(
    out: &mut Vec<u8>,
    msg_type: u16,
    flags: u16,
    seq: u32,
    cmd: u8,
    version: u8,
) -> usize {
    // A message always starts aligned: earlier ones end padded (NLMSG_ALIGN).
    pad4(out);
    let start = out.len();
    out.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, patched in end_message
    out.extend_from_slice(&msg_type.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
    out.extend_from_slice(&[cmd, version, 0, 0]); // genlmsghdr: cmd, version, reserved u16
    start
}

/// Patches the length of the message started at `start` (attributes are already padded, so the
/// length is a multiple of 4).
pub fn end_message(out: &mut [u8], start: usize) {
    let len = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Appends one attribute: header (`nla_len` = 4 + payload, without padding), payload, zero
/// padding to 4 bytes. A payload above 65531 bytes cannot be framed; its length saturates and
/// the kernel rejects the message.
pub fn put_attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = u16::try_from(NLA_HDRLEN + payload.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    pad4(out);
}

/// Appends a `u16` attribute in host order (`NLA_U16`).
pub fn put_u16(out: &mut Vec<u8>, kind: u16, value: u16) {
    put_attr(out, kind, &value.to_ne_bytes());
}

/// Appends a `u32` attribute in host order (`NLA_U32`).
pub fn put_u32(out: &mut Vec<u8>, kind: u16, value: u32) {
    put_attr(out, kind, &value.to_ne_bytes());
}

/// Appends a NUL-terminated string attribute (`NLA_NUL_STRING`, as `nla_put_string` writes it).
pub fn put_str(out: &mut Vec<u8>, kind: u16, value: &str) {
    let len = u16::try_from(NLA_HDRLEN + value.len() + 1).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    pad4(out);
}

/// Opens a nested attribute (`NLA_F_NESTED` set on its type); returns its start for [`end_nest`].
pub fn begin_nest(out: &mut Vec<u8>, kind: u16) -> usize {
    let start = out.len();
    out.extend_from_slice(&0u16.to_ne_bytes()); // nla_len, patched in end_nest
    out.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    start
}

/// Closes a nest: its length covers its header and every child including their padding (as the
/// kernel's `nla_nest_end`).
pub fn end_nest(out: &mut [u8], start: usize) {
    let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
    out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

fn pad4(out: &mut Vec<u8>) {
    let padded = align4(out.len());
    out.resize(padded, 0);
}

/// Appends a `CTRL_CMD_GETFAMILY` request for `name` (e.g. `"IPVS"`) to the `nlctrl` family, for a
/// transport that resolves the family id itself. The reply is a [`Body::Data`] whose attributes
/// [`decode_family_id`] reads, then an ack.
pub fn encode_get_family(name: &str, seq: u32, out: &mut Vec<u8>) {
    // genetlink.h: CTRL_CMD_GETFAMILY with CTRL_ATTR_FAMILY_NAME; controller version 1 (what
    // libnl's genl_ctrl_resolve sends; the controller ignores it).
    let start = begin_message(
        out,
        GENL_ID_CTRL,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        CTRL_CMD_GETFAMILY,
        1,
    );
    put_str(out, CTRL_ATTR_FAMILY_NAME, name);
    end_message(out, start);
}

/// The family id in an `nlctrl` `CTRL_CMD_NEWFAMILY` reply's attributes.
pub fn decode_family_id(attrs: &[u8]) -> Result<u16, DecodeError> {
    let tb = parse::<3>(attrs, "nlctrl attributes")?;
    let raw = tb[usize::from(CTRL_ATTR_FAMILY_ID)].ok_or(DecodeError::Missing {
        attr: "CTRL_ATTR_FAMILY_ID",
    })?;
    get_u16("CTRL_ATTR_FAMILY_ID", raw)
}

// ---------------------------------------------------------------------------------------------
// Reading messages
// ---------------------------------------------------------------------------------------------

/// One netlink message of a received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`: a control type (`NLMSG_ERROR`, `NLMSG_DONE`, ...) or the family id.
    pub msg_type: u16,
    /// `nlmsg_flags` (`NLM_F_MULTI` on dump parts, `NLM_F_DUMP_INTR`, `NLM_F_CAPPED`, ...).
    pub flags: u16,
    /// `nlmsg_seq`: the sequence number of the request this answers.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub pid: u32,
    /// What it says.
    pub body: Body<'a>,
    /// The extended-ack message (`NLMSGERR_ATTR_MSG`) of an error, if the socket enabled
    /// `NETLINK_EXT_ACK` and the kernel gave one (policy failures do; IPVS's own checks don't).
    pub ext_msg: Option<&'a str>,
}

/// The payload of a [`Message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// `NLMSG_ERROR` with error 0: the request with this `seq` succeeded.
    Ack,
    /// `NLMSG_ERROR` with a negative error: the request with this `seq` failed (see also
    /// [`Message::ext_msg`]).
    Error {
        /// The errno, positive (`EEXIST` = 17).
        errno: i32,
    },
    /// `NLMSG_DONE`: the dump with this `seq` is complete.
    Done {
        /// The dump's final status from the int the kernel puts in `NLMSG_DONE` (0 = complete;
        /// otherwise a positive errno: the dump failed part-way).
        errno: i32,
    },
    /// A family message (`nlmsg_type >= NLMSG_MIN_TYPE`): its generic-netlink header and
    /// attributes.
    Data {
        /// `genlmsghdr.cmd`.
        cmd: u8,
        /// `genlmsghdr.version`.
        version: u8,
        /// The attributes after the generic-netlink header.
        attrs: &'a [u8],
    },
    /// Any other control message (`NLMSG_NOOP`, `NLMSG_OVERRUN`, ...), by type.
    Other(u16),
}

/// Iterator over the messages of one datagram; see [`messages`].
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

/// Walks the netlink messages of one received datagram (`NLMSG_OK`/`NLMSG_NEXT`). After the
/// first error the iterator ends: a bad length leaves no way to find the next message.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages {
        buf,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let result = parse_message(rest, self.pos);
        match &result {
            Ok((_, len)) => {
                self.pos = self.pos.saturating_add(align4(*len));
            }
            Err(_) => self.failed = true,
        }
        Some(result.map(|(m, _)| m))
    }
}

fn parse_message(rest: &[u8], offset: usize) -> Result<(Message<'_>, usize), DecodeError> {
    if rest.len() < NLMSG_HDRLEN {
        return Err(DecodeError::Header {
            what: "nlmsghdr",
            need: NLMSG_HDRLEN,
            got: rest.len(),
        });
    }
    let len32 = read_u32(rest, 0);
    let len = usize::try_from(len32).unwrap_or(usize::MAX);
    if len < NLMSG_HDRLEN || len > rest.len() {
        return Err(DecodeError::MessageLength {
            offset,
            len: len32,
            available: rest.len(),
        });
    }
    let msg_type = read_u16(rest, 4);
    let flags = read_u16(rest, 6);
    let seq = read_u32(rest, 8);
    let pid = read_u32(rest, 12);
    let payload = &rest[NLMSG_HDRLEN..len];
    let mut ext_msg = None;
    let body = match msg_type {
        NLMSG_ERROR => {
            let (body, msg) = parse_error(payload, flags)?;
            ext_msg = msg;
            body
        }
        NLMSG_DONE => {
            // netlink_dump_done: an int with the dump's status; tolerate an empty payload.
            let status = if payload.is_empty() {
                0
            } else if payload.len() < 4 {
                return Err(DecodeError::Header {
                    what: "NLMSG_DONE payload",
                    need: 4,
                    got: payload.len(),
                });
            } else {
                read_i32(payload, 0)
            };
            Body::Done {
                errno: status.saturating_neg().max(0),
            }
        }
        t if t >= NLMSG_MIN_TYPE => {
            if payload.len() < GENL_HDRLEN {
                return Err(DecodeError::Header {
                    what: "genlmsghdr",
                    need: GENL_HDRLEN,
                    got: payload.len(),
                });
            }
            Body::Data {
                cmd: payload[0],
                version: payload[1],
                attrs: &payload[GENL_HDRLEN..],
            }
        }
        t => Body::Other(t),
    };
    Ok((
        Message {
            msg_type,
            flags,
            seq,
            pid,
            body,
            ext_msg,
        },
        len,
    ))
}

/// `struct nlmsgerr { int error; struct nlmsghdr msg; }`, then the request's payload unless the
/// ack is capped or a success, then extended-ack TLVs if `NLM_F_ACK_TLVS`.
fn parse_error(payload: &[u8], flags: u16) -> Result<(Body<'_>, Option<&str>), DecodeError> {
    if payload.len() < 4 {
        return Err(DecodeError::Header {
            what: "nlmsgerr",
            need: 4,
            got: payload.len(),
        });
    }
    let error = read_i32(payload, 0);
    if error == 0 {
        return Ok((Body::Ack, None));
    }
    // Always negative from the kernel (netlink_ack); a positive value is taken as the errno.
    let errno = if error < 0 {
        error.saturating_neg()
    } else {
        error
    };
    let mut ext_msg = None;
    if flags & NLM_F_ACK_TLVS != 0 && payload.len() >= 4 + NLMSG_HDRLEN {
        let echoed_len = usize::try_from(read_u32(payload, 4)).unwrap_or(usize::MAX);
        let echoed = if flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            align4(echoed_len.max(NLMSG_HDRLEN))
        };
        if let Some(tlvs) = payload.get(4usize.saturating_add(echoed)..) {
            // Best effort: a malformed TLV area never hides the errno itself.
            for attr in Attrs::new(tlvs, "extended ack").flatten() {
                if attr.kind == NLMSGERR_ATTR_MSG {
                    ext_msg = std::str::from_utf8(trim_nul(attr.payload)).ok();
                }
            }
        }
    }
    Ok((Body::Error { errno }, ext_msg))
}

// ---------------------------------------------------------------------------------------------
// Reading attributes
// ---------------------------------------------------------------------------------------------

/// One attribute: its number (flags masked off), whether `NLA_F_NESTED` was set, its payload
/// without padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// Attribute number (`nla_type & NLA_TYPE_MASK`).
    pub kind: u16,
    /// `NLA_F_NESTED` was set (the kernel's IPVS replies never set it: `nla_nest_start_noflag`).
    pub nested: bool,
    /// The payload (`nla_len - 4` bytes).
    pub payload: &'a [u8],
}

/// Iterator over the attributes of one container (`nla_for_each_attr`). Yields an error and
/// ends at the first truncated attribute.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    buf: &'a [u8],
    pos: usize,
    context: &'static str,
    failed: bool,
}

impl<'a> Attrs<'a> {
    /// Attributes of `buf`; `context` names the container in errors.
    pub fn new(buf: &'a [u8], context: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            context,
            failed: false,
        }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let truncated = DecodeError::AttrTruncated {
            context: self.context,
            offset: self.pos,
            remaining: rest.len(),
        };
        if rest.len() < NLA_HDRLEN {
            self.failed = true;
            return Some(Err(truncated));
        }
        let len = usize::from(read_u16(rest, 0));
        let raw_type = read_u16(rest, 2);
        if len < NLA_HDRLEN || len > rest.len() {
            self.failed = true;
            return Some(Err(truncated));
        }
        self.pos = self.pos.saturating_add(align4(len));
        Some(Ok(Attr {
            kind: raw_type & NLA_TYPE_MASK,
            nested: raw_type & NLA_F_NESTED != 0,
            payload: &rest[NLA_HDRLEN..len],
        }))
    }
}

/// `nla_parse`: the payload of each attribute `0..N` by number, the last one winning; numbers
/// `>= N` (newer kernels' additions) are skipped.
pub(crate) fn parse<'a, const N: usize>(
    buf: &'a [u8],
    context: &'static str,
) -> Result<[Option<&'a [u8]>; N], DecodeError> {
    let mut tb = [None; N];
    for attr in Attrs::new(buf, context) {
        let attr = attr?;
        if let Some(slot) = tb.get_mut(usize::from(attr.kind)) {
            *slot = Some(attr.payload);
        }
    }
    Ok(tb)
}

pub(crate) fn get_u16(attr: &'static str, p: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(fixed::<2>(attr, p)?))
}

pub(crate) fn get_be16(attr: &'static str, p: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(fixed::<2>(attr, p)?))
}

pub(crate) fn get_u32(attr: &'static str, p: &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(fixed::<4>(attr, p)?))
}

/// A counter sent as `u32` (`IPVS_SVC_ATTR_STATS`) or `u64` (`..._STATS64`, byte counters).
pub(crate) fn get_uint(attr: &'static str, p: &[u8]) -> Result<u64, DecodeError> {
    match p.len() {
        4 => Ok(u64::from(u32::from_ne_bytes([p[0], p[1], p[2], p[3]]))),
        8 => Ok(u64::from_ne_bytes([
            p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
        ])),
        got => Err(DecodeError::AttrLengthEither {
            attr,
            a: 4,
            b: 8,
            got,
        }),
    }
}

/// A NUL-terminated string (`nla_put_string`); bytes after the first NUL are ignored, a missing
/// NUL is tolerated.
pub(crate) fn get_str<'a>(attr: &'static str, p: &'a [u8]) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(trim_nul(p)).map_err(|_| DecodeError::BadString { attr })
}

pub(crate) fn fixed<const N: usize>(attr: &'static str, p: &[u8]) -> Result<[u8; N], DecodeError> {
    <[u8; N]>::try_from(p).map_err(|_| DecodeError::AttrLength {
        attr,
        expected: N,
        got: p.len(),
    })
}

fn trim_nul(p: &[u8]) -> &[u8] {
    match p.iter().position(|&b| b == 0) {
        Some(end) => &p[..end],
        None => p,
    }
}

fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn read_i32(b: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
