# SPDX-License-Identifier: MIT OR Apache-2.0
# bench/stall_clients.py: hostile and idle TLS clients for bench/loop_probe.sh.
#
#   python3 stall_clients.py PORT MODE N HOLD_SECS [SRC,SRC,...] [CAFILE]
#
# MODE partial: send the first 11 bytes of a ClientHello and wait;
#      flight:  send a whole ClientHello, read the server's flight, never
#               send the client's Finished;
#      idle:    a complete TLS handshake and one GET /bytes?n=1024 (needs
#               CAFILE), then keep the connection open and silent.
# Connections come round-robin from the source addresses (default
# 127.0.0.1). Prints "HELD n" once all are open, then holds them for
# HOLD_SECS (or until killed). Loopback only.
import asyncio, socket, ssl, sys

port, mode, n, hold = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
srcs = sys.argv[5].split(",") if len(sys.argv) > 5 and sys.argv[5] else ["127.0.0.1"]
cafile = sys.argv[6] if len(sys.argv) > 6 else None
keep = []


def connect(i):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((srcs[i % len(srcs)], 0))
    s.connect(("127.0.0.1", port))
    return s


def partial(i):
    s = connect(i)
    s.send(bytes([0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]))
    return s


def flight(i):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = connect(i)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    s.sendall(out.read())  # ClientHello
    s.settimeout(2)
    data = b""
    try:
        while len(data) < 200:
            data += s.recv(65536)  # the server's flight
    except OSError:
        pass
    inc.write(data)
    try:
        o.do_handshake()  # makes the client's Finished: never sent
    except (ssl.SSLWantReadError, ssl.SSLError):
        pass
    return s


async def idle_all():
    ctx = ssl.create_default_context(cafile=cafile)
    sem = asyncio.Semaphore(128)
    req = b"GET /bytes?n=1024 HTTP/1.1\r\nHost: localhost\r\n\r\n"

    async def one(i):
        async with sem:
            try:
                sock = connect(i)
                sock.setblocking(False)
                r, w = await asyncio.wait_for(asyncio.open_connection(
                    sock=sock, ssl=ctx, server_hostname="localhost"), 20)
                w.write(req)
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 20)
                cl = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        cl = int(line.split(b":")[1])
                await asyncio.wait_for(r.readexactly(cl), 20)
                keep.append((r, w))
            except Exception:
                pass
    await asyncio.gather(*(one(i) for i in range(n)))
    print("HELD %d" % len(keep), flush=True)
    await asyncio.sleep(hold)


if mode == "idle":
    asyncio.run(idle_all())
else:
    f = partial if mode == "partial" else flight
    for i in range(n):
        try:
            keep.append(f(i))
        except OSError:
            pass
    print("HELD %d" % len(keep), flush=True)
    import time
    time.sleep(hold)
