#!/usr/bin/python3
"""An independent mDNS client for the discovery tests (python-zeroconf, not the box's mdns-sd).

  client.py browse TYPE             one JSON line per instance added, updated or removed
  client.py resolve HOST [SECS]     one JSON line with HOST's A and AAAA addresses
  client.py announce NAME TYPE HOST ADDRESS   announce a service (a tablet that announces itself)
  client.py flood COUNT PREFIX      multicast COUNT made-up service instances, each with its own
                                    host name and address in PREFIX (10.9: 10.9.x.y; fd09:: : fd09::f:N), unasked: a
                                    hostile device filling every cache on the LAN

Every line carries "t", the wall-clock time it was seen, for the tests to measure against.
"""
import json
import socket
import sys
import threading
import time

from zeroconf import (DNSOutgoing, DNSQuestion, IPVersion, ServiceBrowser,
                      ServiceInfo, ServiceStateChange, Zeroconf)
from zeroconf import const


def emit(**fields):
    fields["t"] = time.time()
    print(json.dumps(fields), flush=True)


def browse(service_type):
    zc = Zeroconf(ip_version=IPVersion.All)
    pending = []
    cond = threading.Condition()

    def on_change(zeroconf, service_type, name, state_change):
        if state_change is ServiceStateChange.Removed:
            emit(event="removed", name=name)
            return
        with cond:
            pending.append((name, state_change.name.lower()))
            cond.notify()

    ServiceBrowser(zc, service_type, handlers=[on_change])
    emit(event="ready")
    # Resolving blocks: not in the browser's thread.
    while True:
        with cond:
            while not pending:
                cond.wait()
            name, what = pending.pop(0)
        info = zc.get_service_info(service_type, name, timeout=3000)
        if info is None:
            emit(event=what, name=name, resolved=False)
            continue
        emit(event=what, name=name, resolved=True, server=info.server, port=info.port,
             txt={k.decode(): (v.decode() if v is not None else None)
                  for k, v in info.properties.items()},
             addresses=info.parsed_addresses(IPVersion.All))


def resolve(host, secs):
    zc = Zeroconf(ip_version=IPVersion.All)
    name = host.rstrip(".") + "."
    found = {}
    deadline = time.time() + secs
    while time.time() < deadline:
        out = DNSOutgoing(const._FLAGS_QR_QUERY)
        out.add_question(DNSQuestion(name, const._TYPE_A, const._CLASS_IN))
        out.add_question(DNSQuestion(name, const._TYPE_AAAA, const._CLASS_IN))
        zc.send(out)
        time.sleep(0.3)
        for rtype, family in ((const._TYPE_A, socket.AF_INET), (const._TYPE_AAAA, socket.AF_INET6)):
            for record in zc.cache.get_all_by_details(name, rtype, const._CLASS_IN):
                found.setdefault(socket.inet_ntop(family, record.address), True)
        if any(":" in a for a in found) and any("." in a for a in found):
            break
    emit(event="resolved", host=host, addresses=sorted(found))
    zc.close()


def announce(name, service_type, host, address):
    zc = Zeroconf(ip_version=IPVersion.All)
    info = ServiceInfo(service_type, f"{name}.{service_type}", port=49152,
                       parsed_addresses=[address], server=host.rstrip(".") + ".")
    zc.register_service(info)
    emit(event="announced", name=info.name)
    try:
        while True:
            time.sleep(3600)
    finally:
        zc.unregister_service(info)
        zc.close()


def flood(count, prefix):
    from zeroconf import DNSAddress, DNSPointer, DNSService, DNSText
    zc = Zeroconf(ip_version=IPVersion.V4Only)
    ttl = 4500
    flood_type = "_flood._tcp.local."
    sent = 0
    out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
    out.add_answer_at_time(DNSPointer("_services._dns-sd._udp.local.", const._TYPE_PTR,
                                      const._CLASS_IN, ttl, flood_type), 0)
    zc.send(out)
    for i in range(count):
        if i % 8 == 0:
            if i:
                zc.send(out)
                sent += 1
                if sent % 50 == 0:
                    time.sleep(0.01)
            out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
        name = f"flood-{i}.{flood_type}"
        host = f"flood-{i}.local."
        if prefix.endswith("::"):
            rtype, address = const._TYPE_AAAA, socket.inet_pton(socket.AF_INET6, f"{prefix}f:{i % 65536:x}")
        else:
            rtype, address = const._TYPE_A, socket.inet_aton(f"{prefix}.{(i // 250) % 250}.{i % 250 + 1}")
        out.add_answer_at_time(DNSPointer(flood_type, const._TYPE_PTR, const._CLASS_IN, ttl, name), 0)
        out.add_answer_at_time(DNSService(name, const._TYPE_SRV, const._CLASS_IN, ttl, 0, 0, 80, host), 0)
        out.add_answer_at_time(DNSText(name, const._TYPE_TXT, const._CLASS_IN, ttl, b"\x00"), 0)
        out.add_answer_at_time(DNSAddress(host, rtype, const._CLASS_IN, ttl, address), 0)
    zc.send(out)
    emit(event="flooded", instances=count, packets=sent + 2)
    zc.close()


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "browse" and len(sys.argv) == 3:
        browse(sys.argv[2])
    elif cmd == "resolve" and len(sys.argv) in (3, 4):
        resolve(sys.argv[2], float(sys.argv[3]) if len(sys.argv) == 4 else 5.0)
    elif cmd == "announce" and len(sys.argv) == 6:
        announce(*sys.argv[2:])
    elif cmd == "flood" and len(sys.argv) == 4:
        flood(int(sys.argv[2]), sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
