//! The command-line options of the UDP mirror encapsulations (VXLAN, GENEVE,
//! GRE-in-UDP): their ports, the nesting rule and the VNI filter. Turned into a
//! [`MirrorPorts`] and filter values; never opens anything.

use spandump::wire::udp::MirrorPorts;
use spandump::wire::vxlan::Vni;

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
}

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
    }
}
