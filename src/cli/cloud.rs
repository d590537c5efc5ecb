//! The command-line options of the UDP mirror encapsulations (VXLAN, GENEVE,
//! GRE-in-UDP): their ports, the nesting rule, the VNI filter and `--udp`. Turned into
//! a [`MirrorPorts`], filter values and a [`UdpInput`]; only [`UdpInput::open`] opens
//! anything (the sockets, once the whole command line was validated).

use spandump::capture::udp::{self, UdpOptions, UdpSource};
use spandump::wire::udp::MirrorPorts;
use spandump::wire::vxlan::Vni;
use std::net::{IpAddr, SocketAddr};

#[derive(Clone, Debug, Default, clap::Args)]
pub struct CloudArgs {
    /// Also read UDP to PORT as VXLAN (4789 always is; Linux's legacy port is 8472).
    #[arg(long = "vxlan-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub vxlan_ports: Vec<u16>,

    /// Also read UDP to PORT as GENEVE (6081 always is).
    #[arg(long = "geneve-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub geneve_ports: Vec<u16>,

    /// Also read UDP to PORT as GRE-in-UDP (4754 always is).
    #[arg(long = "gre-udp-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub gre_udp_ports: Vec<u16>,

    /// Do not strip a mirror packet nested in a GENEVE packet's bare IP (AWS Traffic
    /// Mirroring through a Gateway Load Balancer): write the GENEVE payload as it is.
    #[arg(long = "no-nested")]
    pub no_nested: bool,

    /// Keep VXLAN / GENEVE frames with this 24-bit VNI.
    #[arg(long = "vni", value_name = "VNI", value_parser = parse_vni)]
    pub vnis: Vec<Vni>,

    /// Receive UDP mirrors (VXLAN, GENEVE, GRE-in-UDP) on plain UDP sockets bound to
    /// ADDR (every mirror port) or ADDR:PORT ([V6]:PORT). Needs no privilege.
    #[arg(long = "udp", value_name = "ADDR[:PORT]", value_parser = parse_bind,
          conflicts_with_all = ["read", "listen", "interface", "raw_socket"])]
    pub udp: Vec<UdpBind>,
}

/// A `--udp` argument: an address, and a port or every mirror port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpBind {
    pub addr: IpAddr,
    pub port: Option<u16>,
}

fn parse_bind(s: &str) -> Result<UdpBind, String> {
    if let Ok(addr) = s.parse::<IpAddr>() {
        return Ok(UdpBind { addr, port: None });
    }
    match s.parse::<SocketAddr>() {
        Ok(sa) if sa.port() != 0 => Ok(UdpBind {
            addr: sa.ip(),
            port: Some(sa.port()),
        }),
        _ => Err(format!(
            "'{s}' is not ADDR or ADDR:PORT (e.g. 198.51.100.2, 0.0.0.0:4789, [2001:db8::2]:6081)"
        )),
    }
}

/// Live capture on `--udp` sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpInput {
    /// Every socket address to bind (each once).
    pub addrs: Vec<SocketAddr>,
    pub threads: u16,
    pub recv_buffer: usize,
}

impl UdpInput {
    /// The sources: one per thread, each reading a socket on every address
    /// (`SO_REUSEPORT` when several threads share them).
    pub fn open(&self) -> Result<Vec<UdpSource>, String> {
        let options = UdpOptions {
            addrs: self.addrs.clone(),
            recv_buffer: self.recv_buffer,
            reuse_port: self.threads > 1,
        };
        (0..self.threads)
            .map(|_| UdpSource::open(&options).map_err(|e| e.to_string()))
            .collect()
    }
}

/// The socket addresses of `--udp` arguments: ADDR alone binds every mirror port.
pub fn udp_addrs(binds: &[UdpBind], ports: &MirrorPorts) -> Vec<SocketAddr> {
    let mut addrs = Vec::new();
    for b in binds {
        let list = match b.port {
            Some(p) => vec![p],
            None => ports.all(),
        };
        for port in list {
            let a = SocketAddr::new(b.addr, port);
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
    }
    addrs
}

/// Default receive buffer of a `--udp` socket.
pub const DEFAULT_UDP_BUFFER: usize = udp::DEFAULT_RECV_BUFFER;

impl CloudArgs {
    /// The ports to read, the IANA ones first, each once.
    pub fn ports(&self) -> MirrorPorts {
        let mut ports = MirrorPorts {
            nested: !self.no_nested,
            ..MirrorPorts::default()
        };
        let add = |list: &mut Vec<u16>, more: &[u16]| {
            for p in more {
                if !list.contains(p) {
                    list.push(*p);
                }
            }
        };
        add(&mut ports.vxlan, &self.vxlan_ports);
        add(&mut ports.geneve, &self.geneve_ports);
        add(&mut ports.gre_in_udp, &self.gre_udp_ports);
        ports
    }
}

fn parse_vni(s: &str) -> Result<Vni, String> {
    let n = super::parse_number(s)?;
    u32::try_from(n)
        .ok()
        .and_then(Vni::new)
        .ok_or_else(|| format!("VNI {s} does not fit in 24 bits (0-16777215)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vni_range_and_ports() {
        assert_eq!(parse_vni("5569041").map(Vni::get), Ok(5_569_041));
        assert_eq!(parse_vni("0xFFFFFF").map(Vni::get), Ok(0xFF_FFFF));
        assert!(parse_vni("16777216").unwrap_err().contains("24 bits"));
        let args = CloudArgs {
            vxlan_ports: vec![8472, 4789],
            no_nested: true,
            ..CloudArgs::default()
        };
        let ports = args.ports();
        assert_eq!(ports.vxlan, vec![4789, 8472]);
        assert_eq!(ports.geneve, vec![6081]);
        assert!(!ports.nested);
        let binds = [
            parse_bind("198.51.100.2").unwrap(),
            parse_bind("[2001:db8::2]:8472").unwrap(),
            parse_bind("198.51.100.2:4789").unwrap(),
        ];
        let addrs: Vec<String> = udp_addrs(&binds, &MirrorPorts::default())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            addrs,
            [
                "198.51.100.2:4754",
                "198.51.100.2:4789",
                "198.51.100.2:6081",
                "[2001:db8::2]:8472"
            ]
        );
        assert!(parse_bind("198.51.100.2:0").is_err());
        assert!(parse_bind("host:4789").is_err());
    }
}
