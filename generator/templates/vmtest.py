# The test script of an e3 VM test (tests/nat.nix). Everything particular to
# the scenario is in the facts file: the plan's parties, sites and NAT types,
# and each host's overlay units as e3's NixOS modules set them.
#
# All of it is one function: the driver makes a global of every machine,
# named after its host, which no name here may shadow.


def _main() -> None:
    import json
    import os
    import subprocess
    import tempfile
    import time
    from typing import Any

    with open("@FACTS_FILE@") as facts_file:
        facts = json.load(facts_file)

    vm = {m.name: m for m in machines}
    backend = facts["backend"]
    parties = facts["parties"]
    names = [p["host"] for p in parties]
    tailscale = backend in ("tailscale", "headscale")
    started = time.monotonic()
    summary: dict[str, Any] = {
        "scenario": facts["scenario"],
        "backend": backend,
        "program": facts["program"],
        "expected_failure": facts["expectFailure"],
        "nat": [],
        "overlay_up_s": None,
        "pairs": [],
        "parties": [],
        "ok": False,
    }


    def elapsed() -> float:
        return round(time.monotonic() - started, 2)


    def write_summary() -> None:
        path = os.path.join(os.environ.get("out", os.getcwd()), "e3-summary.json")
        with open(path, "w") as out:
            json.dump(summary, out, indent=2)
            out.write("\n")


    def tcp_opens(source: str, address: str, port: int) -> bool:
        """Whether `source` opens a TCP connection to address:port within 5 s."""
        status, _ = vm[source].execute(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{address}/{port}'")
        return status == 0


    def dropped(router: str) -> int:
        """Packets the router's `unsolicited` counter dropped so far."""
        words = vm[router].succeed("nft list counter ip e3 unsolicited").split()
        return int(words[words.index("packets") + 1])


    def mappings(router: str, source: str, port: int) -> list[tuple[str, int]]:
        """(address, port) the router maps each UDP flow from source:port to."""
        lines = vm[router].succeed(
            f"conntrack -L -p udp --orig-src {source} --orig-port-src {port} 2>/dev/null"
        ).splitlines()
        found: list[tuple[str, int]] = []
        for line in lines:
            dsts = [w[4:] for w in line.split() if w.startswith("dst=")]
            dports = [w[6:] for w in line.split() if w.startswith("dport=")]
            if len(dsts) == 2 and len(dports) == 2:
                found.append((dsts[1], int(dports[1])))
        return found


    def answered(host: str) -> set[str]:
        """Destinations of the host's answered flows (conntrack, original direction)."""
        out = vm[host].succeed("conntrack -L 2>/dev/null")
        seen: set[str] = set()
        for line in out.splitlines():
            if "[UNREPLIED]" in line:
                continue
            for word in line.split():
                if word.startswith("dst="):
                    seen.add(word[4:])
                    break
        return seen


    def party(host: str) -> dict:
        return next(p for p in parties if p["host"] == host)


    start_all()

    with subtest("the topology boots"):
        for m in machines:
            if tailscale and m.name in names:
                # tailscaled-autoconnect waits for the auth key, which comes below.
                m.wait_for_unit("tailscaled.service")
            else:
                m.wait_for_unit("multi-user.target")
        for router in facts["routers"]:
            vm[router].wait_for_unit("nftables.service")
        for host in facts["shaped"]:
            vm[host].wait_for_unit("e3-netem.service")

    with subtest("each router implements its site's NAT type"):
        for site in facts["sites"]:
            inside = party(site["hosts"][0])
            source = inside["addresses"][0]
            record: dict[str, Any] = {"site": site["name"], "nat": site["nat"], "router": site["router"]}
            summary["nat"].append(record)
            # Hosts on the internet segment outside this site: e3's hosts (with
            # SSH) first, then other sites' routers.
            outside = [i for i in facts["internet"] if i["host"] not in (site["router"], site["carrier"])]
            if not outside:
                record["skipped"] = "no other host on the internet segment"
                continue
            # Mapping: UDP from one source port to two destinations (two ports of
            # one host, and a second host when there is one).
            targets = [(outside[0]["address"], 40001), (outside[0]["address"], 40002)]
            if len(outside) > 1:
                targets.append((outside[1]["address"], 40001))
            for address, port in targets:
                vm[inside["host"]].succeed(f"echo e3 | socat -u - UDP4-SENDTO:{address}:{port},sourceport=40000")
            mapped = mappings(site["router"], source, 40000)
            record["mapped"] = [f"{a}:{p}" for a, p in mapped]
            assert len(mapped) == len(targets), f"{site['router']}: expected {len(targets)} UDP flows from {source}:40000 in conntrack, got {mapped}"
            if site["nat"] == "hard":
                assert len({p for _, p in mapped}) == len(targets), f"hard NAT {site['router']} reused a port across destinations: {mapped}"
            elif site["nat"] == "firewall":
                assert all(a == source and p == 40000 for a, p in mapped), f"firewall {site['router']} translated: {mapped}"
            else:
                wan = site["carrierSide"] or site["public"]
                assert all(a == wan and p == 40000 for a, p in mapped), f"{site['nat']} NAT {site['router']} is not endpoint-independent and port-preserving: {mapped}"
            if site["carrier"]:
                carried = mappings(site["carrier"], site["carrierSide"], 40000)
                record["carried"] = [f"{a}:{p}" for a, p in carried]
                assert len(carried) == len(targets) and all(a == site["public"] and p == 40000 for a, p in carried), f"carrier {site['carrier']} is not endpoint-independent and port-preserving: {carried}"
            # Filtering: the party opens connections out and its router reaches
            # it on the LAN, but nothing on the internet opens one to it.
            prober = outside[0]["host"]
            if outside[0]["ssh"]:
                assert tcp_opens(inside["host"], outside[0]["address"], 22), f"{inside['host']} cannot reach {prober} at all"
            assert tcp_opens(site["router"], source, 22), f"{site['router']} cannot reach {inside['host']} on its LAN"
            edge = site["carrier"] or site["router"]
            before = dropped(edge) if site["nat"] != "one2one" else 0
            opens = tcp_opens(prober, inside["public"], 22)
            if site["nat"] == "one2one":
                assert opens, f"one2one NAT {site['router']} does not forward {inside['public']} to {inside['host']}"
                continue
            assert not opens, f"{prober} opened a connection to {inside['host']} at {inside['public']}: {site['nat']} {site['router']} does not filter"
            if site["nat"] != "firewall" and not site["carrier"]:
                # Even given a route to the site's LAN, the router drops it.
                vm[prober].succeed(f"ip route add {site['lan']} via {site['public']}")
                reached = tcp_opens(prober, source, 22)
                vm[prober].succeed(f"ip route del {site['lan']} via {site['public']}")
                assert not reached, f"{prober} reached {inside['host']} at {source} through {site['router']}"
            record["dropped"] = dropped(edge) - before
            assert record["dropped"] > 0, f"{edge} counted no unsolicited packet"

    if backend == "nebula":
        with subtest("Nebula certificates, made here for this test alone"):
            with tempfile.TemporaryDirectory() as pki:
                nebula_cert = "@NEBULA_CERT@"
                subprocess.run([nebula_cert, "ca", "-name", f"e3 VM test {facts['scenario']}", "-out-crt", f"{pki}/ca.crt", "-out-key", f"{pki}/ca.key"], check=True)
                for member in facts["overlay"]:
                    host = member["host"]
                    subprocess.run([nebula_cert, "sign", "-ca-crt", f"{pki}/ca.crt", "-ca-key", f"{pki}/ca.key", "-name", host, "-ip", member["cidr"], "-out-crt", f"{pki}/{host}.crt", "-out-key", f"{pki}/{host}.key"], check=True)
                    # What `colmena upload-keys` does, then the restart.
                    vm[host].copy_from_host(f"{pki}/ca.crt", "/run/keys/nebula-ca.crt")
                    vm[host].copy_from_host(f"{pki}/{host}.crt", "/run/keys/nebula-host.crt")
                    vm[host].copy_from_host(f"{pki}/{host}.key", "/run/keys/nebula-host.key")
                    vm[host].succeed("chmod 0600 /run/keys/nebula-ca.crt /run/keys/nebula-host.crt /run/keys/nebula-host.key")
                    for unit in facts["units"][host]:
                        vm[host].succeed(f"systemctl reset-failed {unit} || true", f"systemctl restart {unit}")

    if backend == "openvpn":
        with subtest("OpenVPN certificates, made here for this test alone"):
            with tempfile.TemporaryDirectory() as pki:
                openssl = "@OPENSSL@"
                ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
                subprocess.run([openssl, "req", "-x509", "-sha256", *ec, "-keyout", f"{pki}/ca.key", "-out", f"{pki}/ca.crt", "-days", "2", "-subj", f"/CN=e3 VM test {facts['scenario']} CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], check=True)
                for serial, member in enumerate(facts["overlay"], start=2):
                    host = member["host"]
                    usage = "serverAuth" if host == facts["coordinator"] else "clientAuth"
                    with open(f"{pki}/{host}.ext", "w") as ext:
                        ext.write(f"basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = {usage}\n")
                    subprocess.run([openssl, "req", "-new", "-sha256", *ec, "-keyout", f"{pki}/{host}.key", "-out", f"{pki}/{host}.csr", "-subj", f"/CN={host}"], check=True)
                    subprocess.run([openssl, "x509", "-req", "-sha256", "-in", f"{pki}/{host}.csr", "-CA", f"{pki}/ca.crt", "-CAkey", f"{pki}/ca.key", "-set_serial", str(serial), "-days", "2", "-extfile", f"{pki}/{host}.ext", "-out", f"{pki}/{host}.crt"], check=True)
                    # What `colmena upload-keys` does, then the restart.
                    vm[host].copy_from_host(f"{pki}/ca.crt", "/run/keys/openvpn-ca.crt")
                    vm[host].copy_from_host(f"{pki}/{host}.crt", "/run/keys/openvpn-host.crt")
                    vm[host].copy_from_host(f"{pki}/{host}.key", "/run/keys/openvpn-host.key")
                    vm[host].succeed("chmod 0600 /run/keys/openvpn-ca.crt /run/keys/openvpn-host.crt /run/keys/openvpn-host.key")
                    for unit in facts["units"][host]:
                        vm[host].succeed(f"systemctl reset-failed {unit} || true", f"systemctl restart {unit}")

    if tailscale:
        with subtest("parties join the tailnet with a Headscale pre-auth key made here"):
            control = vm[facts["coordinator"]]
            control.wait_for_unit("headscale.service")
            control.wait_for_unit("nginx.service")
            control.wait_for_open_port(443)
            key = control.succeed("e3-headscale-authkey 1h").strip()
            with tempfile.TemporaryDirectory() as keys:
                path = os.path.join(keys, "tailscale-authkey")
                with open(path, "w") as key_file:
                    key_file.write(key + "\n")
                for host in names:
                    vm[host].copy_from_host(path, "/run/keys/tailscale-authkey")
                    vm[host].succeed("chmod 0600 /run/keys/tailscale-authkey", "systemctl restart --no-block tailscaled-autoconnect.service")

    if backend != "direct":
        with subtest("every pair of parties reaches each other over the overlay"):
            if tailscale:
                for host in names:
                    vm[host].wait_until_succeeds("tailscale status --json --peers=false | jq -e '.BackendState == \"Running\"'", timeout=300)
                overlay = {h: vm[h].succeed("tailscale ip -4").strip() for h in names}
            else:
                for host in facts["units"]:
                    for unit in facts["units"][host]:
                        vm[host].wait_for_unit(unit, timeout=300)
                overlay = {h: party(h)["overlay"] for h in names}
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    vm[a].wait_until_succeeds(f"ping -c 1 -W 2 {overlay[b]}", timeout=300)
                    vm[b].wait_until_succeeds(f"ping -c 1 -W 2 {overlay[a]}", timeout=300)
                    summary["pairs"].append({"a": a, "b": b, "up_s": elapsed()})
            summary["overlay_up_s"] = elapsed()

    with subtest(f"run {facts['program']} on every party"):
        for host in names:
            vm[host].succeed("systemctl start --no-block e3-party.service")
        for host in names:
            vm[host].wait_until_succeeds(
                'test "$(systemctl show -P ExecMainExitTimestampMonotonic e3-party.service)" != 0',
                timeout=900,
            )
        for host in names:
            result = vm[host].succeed("systemctl show -P Result e3-party.service").strip()
            # e3-party.service writes e3's JSON line, or for any other
            # program its exit status and output tails.
            line = vm[host].succeed("cat /var/lib/e3/result.json 2>/dev/null || true").strip()
            try:
                run = json.loads(line)
            except ValueError:
                run = {"error": f"no result.json from e3-party.service (Result={result})"}
            summary["parties"].append(
                {
                    "host": host,
                    "index": party(host)["index"],
                    "unit_result": result,
                    "ok": result == "success" and run.get("ok") is True,
                    "result": run.get("result"),
                    "expected": run.get("expected"),
                    "elapsed_s": run.get("elapsed_s"),
                    "error": run.get("error"),
                    "stdout_tail": run.get("stdout_tail"),
                }
            )

    route: str
    via: str | None
    evidence: str
    with subtest("record for each pair whether its path is direct or relayed"):
        ran = all(p["ok"] for p in summary["parties"])
        pairs = {(p["a"], p["b"]): p for p in summary["pairs"]}
        summary["pairs"] = []
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                pair = pairs.get((a, b), {"a": a, "b": b, "up_s": None})
                if backend == "direct":
                    route, via = ("direct" if ran else "none"), None
                    evidence = "plain TCP between the underlay addresses" if ran else "MPyC did not connect"
                elif facts["hub"]:
                    route, via, evidence = "relayed", facts["relay"], "hub topology: spokes peer only with the hub"
                elif tailscale:
                    status = json.loads(vm[a].succeed("tailscale status --json"))
                    peer: dict[str, Any] = next(
                        (p for p in (status.get("Peer") or {}).values() if p.get("HostName") == b),
                        {},
                    )
                    if peer.get("CurAddr"):
                        route, via, evidence = "direct", None, f"tailscale status: {b} at {peer['CurAddr']}"
                    else:
                        route, via = "relayed", facts["relay"]
                        evidence = f"tailscale status: {b} through DERP region {peer.get('Relay') or '?'}"
                else:
                    direct = answered(a) & set(party(b)["addresses"]) or answered(b) & set(party(a)["addresses"])
                    if direct:
                        route, via, evidence = "direct", None, f"conntrack: answered underlay flow to {sorted(direct)[0]}"
                    else:
                        route, via = "relayed", facts["relay"]
                        evidence = "overlay answered, no direct underlay flow in conntrack"
                pair.update({"route": route, "via": via, "evidence": evidence})
                summary["pairs"].append(pair)

    failed = [p for p in summary["parties"] if not p["ok"]]
    if facts["expectFailure"] is None:
        summary["ok"] = not failed
        write_summary()
        assert not failed, f"{facts['program']} failed on {len(failed)} of {len(names)} parties: {failed}"
        for p in summary["parties"]:
            assert p["result"] == p["expected"], f"{p['host']}: result {p['result']}, expected {p['expected']}"
        tails = {json.dumps(p["stdout_tail"]) for p in summary["parties"] if p["stdout_tail"] is not None}
        summary["outputs_agree"] = len(tails) <= 1
        print(f"ok: {facts['program']} succeeded on all {len(names)} parties")
    else:
        # The baseline: plain TCP across the NAT fails, and the NAT is why.
        blocked = facts["expectFailure"]
        drops = dropped(blocked["router"])
        summary["ok"] = len(failed) == len(names) and drops > 0
        write_summary()
        assert len(failed) == len(names), f"expected MPyC to fail across the NAT, but it succeeded on {[p['host'] for p in summary['parties'] if p['ok']]}"
        assert drops > 0, f"MPyC failed, but {blocked['router']} dropped no unsolicited packet: the failure is not the NAT's"
        print(f"as expected, MPyC cannot connect across the NAT: {blocked['reason']}; {blocked['router']} dropped {drops} unsolicited inbound packets")


_main()
