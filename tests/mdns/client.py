#!/usr/bin/python3
"""An independent mDNS client for the discovery tests (python-zeroconf, not the box's mdns-sd).

  client.py browse TYPE             one JSON line per instance added, updated or removed
  client.py resolve HOST [SECS]     one JSON line with HOST's A and AAAA addresses
  client.py announce NAME TYPE HOST ADDRESS   announce a service (a tablet that announces itself)

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


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "browse" and len(sys.argv) == 3:
        browse(sys.argv[2])
    elif cmd == "resolve" and len(sys.argv) in (3, 4):
        resolve(sys.argv[2], float(sys.argv[3]) if len(sys.argv) == 4 else 5.0)
    elif cmd == "announce" and len(sys.argv) == 6:
        announce(*sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
