"""Mininet's side of e3-bench's "peer" figure: N hosts, each behind its own
NAT router, and one public host -- the topology of Mininet's own example
mininet/examples/natnet.py -- brought up, checked and torn down once.

    /usr/bin/python3 mininet_nat.py N

Prints one JSON line: build_s (Mininet(): nodes, links, addresses, NAT rules),
start_s (net.start(): bridges up), reach_s (every private host pings the
public host once), stop_s (net.stop()), and `unreachable`.

Deviations from a stock Mininet run, each so that the benchmark does not
change the shared machine:
- switches are Linux bridges (LinuxBridge, no controller): no Open vSwitch;
- NAT nodes skip NAT.setManualConfig, which appends to
  /etc/network/interfaces and restarts network-manager/netplan -- meant for
  a NAT node in the root namespace; here every NAT node has its own;
- Mininet.init() is skipped (ensureRoot + fixLimits, which raises
  system-wide sysctls such as net.ipv4.tcp_rmem); e3-bench checks root.
"""

import json
import sys
import time

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import NAT, LinuxBridge
from mininet.topo import Topo


class NamespacedNAT(NAT):
    def setManualConfig(self, intf):
        pass


class InternetTopo(Topo):
    """natnet.py's topology: s0 is the internet with the public host h0;
    nat<i> joins s0 to the LAN switch s<i> of host h<i>."""

    def build(self, n=2, **_opts):
        inet = self.addSwitch('s0')
        self.addLink(inet, self.addHost('h0'))
        for i in range(1, n + 1):
            lan_ip = '192.168.%d.1' % i
            nat = self.addNode('nat%d' % i, cls=NamespacedNAT, subnet='192.168.%d.0/24' % i,
                               inetIntf='nat%d-eth0' % i, localIntf='nat%d-eth1' % i)
            lan = self.addSwitch('s%d' % i)
            self.addLink(nat, inet, intfName1='nat%d-eth0' % i)
            self.addLink(nat, lan, intfName1='nat%d-eth1' % i, params1={'ip': lan_ip + '/24'})
            host = self.addHost('h%d' % i, ip='192.168.%d.100/24' % i, defaultRoute='via ' + lan_ip)
            self.addLink(host, lan)


def main():
    n = int(sys.argv[1])
    setLogLevel('error')
    Mininet.inited = True
    result = {'hosts': n}
    net = None
    try:
        t = time.monotonic()
        net = Mininet(topo=InternetTopo(n=n), switch=LinuxBridge, controller=None, build=False)
        net.build()
        result['build_s'] = time.monotonic() - t
        t = time.monotonic()
        net.start()
        result['start_s'] = time.monotonic() - t
        t = time.monotonic()
        public = net.get('h0').IP()
        unreachable = []
        for i in range(1, n + 1):
            out = net.get('h%d' % i).cmd('ping -c1 -W1 %s' % public)
            if ' 1 received' not in out:
                unreachable.append('h%d' % i)
        result['reach_s'] = time.monotonic() - t
        result['unreachable'] = unreachable
    finally:
        if net is not None:
            t = time.monotonic()
            net.stop()
            result['stop_s'] = time.monotonic() - t
    print(json.dumps(result))


if __name__ == '__main__':
    main()
