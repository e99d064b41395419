//! Packets of a capture file: the classic pcap format tcpdump writes (`-w`),
//! read down to what the lab's privacy and cost figures need ([`super::privacy`]):
//! each packet's time, its length on the wire, and its IPv4 addresses,
//! protocol, ports and transport payload length.
//!
//! Captures are taken with a short snap length (headers only), so every
//! length here comes from the headers (IPv4 total length, TCP data offset,
//! UDP length), not from the bytes captured.

use std::fmt;
use std::net::Ipv4Addr;

/// A capture that is not a classic pcap file, or is cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcapError {
    /// Shorter than the 24-byte file header.
    TooShort,
    /// The first four bytes are not a pcap magic number (pcapng is not read).
    BadMagic(u32),
    /// A link type this reader does not know.
    LinkType(u32),
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::TooShort => write!(f, "not a pcap file: shorter than its 24-byte header"),
            PcapError::BadMagic(m) => write!(f, "not a classic pcap file (magic {m:#010x})"),
            PcapError::LinkType(l) => write!(f, "pcap link type {l} is not one e3 reads"),
        }
    }
}

impl std::error::Error for PcapError {}

/// Transport protocol numbers.
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

/// One captured packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Capture time, seconds since the Unix epoch.
    pub time: f64,
    /// The packet's length on the wire (the capture's `orig_len`: the whole
    /// frame, link header included).
    pub wire_len: u32,
    /// Its IPv4 header, when it is an IPv4 packet.
    pub ip: Option<Ipv4>,
}

/// What an IPv4 packet says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    /// TCP or UDP ports (a first fragment or an unfragmented packet).
    pub ports: Option<(u16, u16)>,
    /// TCP or UDP payload bytes, from the headers.
    pub payload: Option<u32>,
}

impl Ipv4 {
    /// Whether either port is `port` (TCP or UDP as `protocol` says).
    pub fn has_port(&self, protocol: u8, port: u16) -> bool {
        self.protocol == protocol && self.ports.is_some_and(|(s, d)| s == port || d == port)
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Parses an IPv4 header (and the TCP or UDP header after it) from `b`.
fn ipv4(b: &[u8]) -> Option<Ipv4> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(b[0] & 15) * 4;
    let total = u32::from(u16_at(b, 2)?);
    let fragment_offset = u16_at(b, 6)? & 0x1fff;
    let protocol = b[9];
    let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
    let l4 = b.get(ihl..).filter(|_| fragment_offset == 0);
    let ports = l4
        .filter(|_| protocol == TCP || protocol == UDP)
        .and_then(|t| Some((u16_at(t, 0)?, u16_at(t, 2)?)));
    let payload = l4.and_then(|t| match protocol {
        TCP => {
            let offset = u32::from(*t.get(12)? >> 4) * 4;
            total.checked_sub(ihl as u32 + offset)
        }
        UDP => u32::from(u16_at(t, 4)?).checked_sub(8),
        _ => None,
    });
    Some(Ipv4 {
        src,
        dst,
        protocol,
        ports,
        payload,
    })
}

/// The IPv4 packet inside a frame of `linktype`, if there is one.
fn network_layer(linktype: u32, frame: &[u8]) -> Result<Option<&[u8]>, PcapError> {
    let ethertype_then = |at: usize| -> Option<&[u8]> {
        let mut at = at;
        let mut ethertype = u16_at(frame, at)?;
        // 802.1Q tags
        while ethertype == 0x8100 || ethertype == 0x88a8 {
            at += 4;
            ethertype = u16_at(frame, at)?;
        }
        (ethertype == 0x0800).then(|| frame.get(at + 2..)).flatten()
    };
    Ok(match linktype {
        // Ethernet
        1 => ethertype_then(12),
        // Linux cooked capture v1 (`-i any`): protocol at 14, 16-byte header
        113 => (u16_at(frame, 14) == Some(0x0800))
            .then(|| frame.get(16..))
            .flatten(),
        // Linux cooked capture v2: protocol at 0, 20-byte header
        276 => (u16_at(frame, 0) == Some(0x0800))
            .then(|| frame.get(20..))
            .flatten(),
        // raw IP (TUN devices)
        12 | 101 | 228 => Some(frame),
        // BSD loopback: a 4-byte address family
        0 => frame.get(4..),
        other => return Err(PcapError::LinkType(other)),
    })
}

/// Reads every packet of a classic pcap file (either byte order,
/// microsecond or nanosecond timestamps). A record cut short at the end (a
/// capture stopped while writing) ends the list.
pub fn read_pcap(bytes: &[u8]) -> Result<Vec<Packet>, PcapError> {
    if bytes.len() < 24 {
        return Err(PcapError::TooShort);
    }
    let magic = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
    let (little, nanos) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xd4c3_b2a1 => (false, false),
        0xa1b2_3c4d => (true, true),
        0x4d3c_b2a1 => (false, true),
        m => return Err(PcapError::BadMagic(m)),
    };
    let word = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let linktype = word(20).ok_or(PcapError::TooShort)? & 0x0fff_ffff;
    network_layer(linktype, &[])?;
    let mut packets = Vec::new();
    let mut at = 24;
    while let (Some(sec), Some(frac), Some(incl), Some(orig)) =
        (word(at), word(at + 4), word(at + 8), word(at + 12))
    {
        let start = at + 16;
        let Some(frame) = bytes.get(start..start + incl as usize) else {
            break;
        };
        let time = f64::from(sec) + f64::from(frac) / if nanos { 1e9 } else { 1e6 };
        let ip = network_layer(linktype, frame)?.and_then(ipv4);
        packets.push(Packet {
            time,
            wire_len: orig,
            ip,
        });
        at = start + incl as usize;
    }
    Ok(packets)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A pcap file (little-endian, microseconds) of `linktype` with `frames`
    /// as (time, orig_len, captured bytes).
    pub(crate) fn pcap(linktype: u32, frames: &[(f64, u32, Vec<u8>)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(0xa1b2_c3d4u32.to_le_bytes());
        b.extend(2u16.to_le_bytes());
        b.extend(4u16.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(262_144u32.to_le_bytes());
        b.extend(linktype.to_le_bytes());
        for (t, orig, bytes) in frames {
            b.extend((t.trunc() as u32).to_le_bytes());
            b.extend(((t.fract() * 1e6).round() as u32).to_le_bytes());
            b.extend((bytes.len() as u32).to_le_bytes());
            b.extend(orig.to_le_bytes());
            b.extend(bytes);
        }
        b
    }

    /// An IPv4 header and a TCP (20-byte header plus 12 of options) or UDP
    /// header for `payload` bytes, the payload itself left out (snap length).
    pub(crate) fn ip_packet(
        protocol: u8,
        src: [u8; 4],
        dst: [u8; 4],
        ports: (u16, u16),
        payload: u16,
    ) -> Vec<u8> {
        let l4 = if protocol == TCP { 32 } else { 8 };
        let total = 20 + l4 + payload;
        let mut b = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, protocol, 0, 0];
        b[2..4].copy_from_slice(&total.to_be_bytes());
        b.extend(src);
        b.extend(dst);
        b.extend(ports.0.to_be_bytes());
        b.extend(ports.1.to_be_bytes());
        if protocol == TCP {
            b.extend([0u8; 8]);
            b.extend([8 << 4, 0x18]);
            b.extend([0u8; 18]);
        } else {
            b.extend((8 + payload).to_be_bytes());
            b.extend([0, 0]);
        }
        b
    }

    pub(crate) fn ethernet(ip: Vec<u8>) -> Vec<u8> {
        let mut b = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];
        b.extend(ip);
        b
    }

    #[test]
    fn ethernet_tcp_and_udp() {
        let tcp = ip_packet(TCP, [198, 18, 0, 1], [198, 18, 0, 2], (40000, 11365), 100);
        let udp = ip_packet(UDP, [198, 18, 0, 2], [198, 18, 0, 1], (4242, 4242), 60);
        let arp = vec![0xff; 12]
            .into_iter()
            .chain([8, 6])
            .chain([0; 28])
            .collect();
        let file = pcap(
            1,
            &[
                (10.5, 14 + 152, ethernet(tcp)),
                (10.75, 14 + 88, ethernet(udp)),
                (11.0, 42, arp),
            ],
        );
        let p = read_pcap(&file).expect("reads");
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].time, 10.5);
        assert_eq!(p[0].wire_len, 166);
        let ip = p[0].ip.expect("ipv4");
        assert_eq!(
            (ip.src, ip.dst),
            ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap())
        );
        assert_eq!(ip.ports, Some((40000, 11365)));
        assert_eq!(ip.payload, Some(100));
        assert!(ip.has_port(TCP, 11365) && !ip.has_port(UDP, 11365));
        assert_eq!(p[1].ip.expect("ipv4").payload, Some(60));
        assert_eq!(p[2].ip, None, "ARP has no IPv4 header");
    }

    #[test]
    fn cooked_captures_and_raw_ip() {
        let tcp = ip_packet(TCP, [10, 9, 0, 1], [10, 9, 0, 2], (11365, 50000), 7);
        let mut sll = vec![0, 4, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0];
        sll.extend(tcp.clone());
        let mut sll2 = vec![8, 0, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        sll2.extend(tcp.clone());
        for (linktype, frame) in [(113, sll), (276, sll2), (101, tcp)] {
            let p = read_pcap(&pcap(linktype, &[(1.0, 99, frame)])).expect("reads");
            assert_eq!(
                p[0].ip.expect("ipv4").payload,
                Some(7),
                "linktype {linktype}"
            );
        }
    }

    #[test]
    fn a_capture_cut_short_keeps_its_whole_records() {
        let frame = ethernet(ip_packet(UDP, [1, 1, 1, 1], [2, 2, 2, 2], (1, 2), 3));
        let mut file = pcap(1, &[(1.0, 45, frame.clone()), (2.0, 45, frame)]);
        file.truncate(file.len() - 5);
        assert_eq!(read_pcap(&file).expect("reads").len(), 1);
    }

    #[test]
    fn what_is_not_a_pcap_is_an_error() {
        assert_eq!(read_pcap(b"short"), Err(PcapError::TooShort));
        let ng = [0x0a, 0x0d, 0x0d, 0x0a].repeat(8);
        assert!(matches!(read_pcap(&ng), Err(PcapError::BadMagic(_))));
        let mut file = pcap(1, &[]);
        file[20] = 200;
        assert_eq!(read_pcap(&file), Err(PcapError::LinkType(200)));
        // garbage frames are packets without an IPv4 header, not a panic
        let p = read_pcap(&pcap(1, &[(0.0, 3, vec![1, 2, 3])])).expect("reads");
        assert_eq!(p[0].ip, None);
    }
}
