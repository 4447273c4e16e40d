#!/usr/bin/env python3
"""Records Kafka request/response frames between real clients and a real broker.

    capture_proxy.py LISTEN_PORT BROKER_PORT OUT_FILE [LABEL]

Listens on 127.0.0.1:LISTEN_PORT, forwards every connection to 127.0.0.1:BROKER_PORT and appends
one line per request/response pair to OUT_FILE:

    LABEL API_KEY API_VERSION REQUEST_HEX RESPONSE_HEX

(frames without the 4-byte size prefix; RESPONSE_HEX is '-' for acks=0 Produce). Point the broker's
advertised.listeners at LISTEN_PORT so clients keep talking through the proxy. The captures become
golden test data for the protocol decoders (tests/unit/protocol/captured/). Frames over 64 KiB are
not recorded. The label can be changed while running by writing it to OUT_FILE + '.label'.
"""
import os
import socket
import struct
import sys
import threading

MAX_RECORDED = 64 * 1024


def read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(sock):
    size = read_exact(sock, 4)
    if size is None:
        return None
    (n,) = struct.unpack(">i", size)
    body = read_exact(sock, n)
    return body


class capture:
    def __init__(self, out_path, label):
        self.out_path = out_path
        self.label = label
        self.lock = threading.Lock()

    def current_label(self):
        try:
            with open(self.out_path + ".label") as f:
                return f.read().strip() or self.label
        except OSError:
            return self.label

    def record(self, label, key, version, req, resp):
        if len(req) > MAX_RECORDED or (resp is not None and len(resp) > MAX_RECORDED):
            return
        line = f"{label} {key} {version} {req.hex()} {resp.hex() if resp is not None else '-'}\n"
        with self.lock, open(self.out_path, "a") as f:
            f.write(line)


def pump(client, broker, cap):
    pending = {}
    label = cap.current_label()
    done = threading.Event()

    def responses():
        try:
            while True:
                frame = read_frame(broker)
                if frame is None:
                    break
                (corr,) = struct.unpack(">i", frame[:4])
                info = pending.pop(corr, None)
                if info:
                    cap.record(label, info[0], info[1], info[2], frame)
                client.sendall(struct.pack(">i", len(frame)) + frame)
        except OSError:
            pass
        finally:
            done.set()
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    t = threading.Thread(target=responses, daemon=True)
    t.start()
    try:
        while not done.is_set():
            frame = read_frame(client)
            if frame is None:
                break
            key, version, corr = struct.unpack(">hhi", frame[:8])
            acks_zero = False
            if key == 0:
                # acks sits after transactional_id (v3+); find it cheaply by decoding the header.
                acks_zero = produce_acks_zero(frame, version)
            if acks_zero:
                cap.record(label, key, version, frame, None)
            else:
                pending[corr] = (key, version, frame)
            broker.sendall(struct.pack(">i", len(frame)) + frame)
    except OSError:
        pass
    finally:
        for s in (broker, client):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        t.join(timeout=5)
        client.close()
        broker.close()


def produce_acks_zero(frame, version):
    pos = 8
    (cid_len,) = struct.unpack(">h", frame[pos:pos + 2])
    pos += 2 + max(cid_len, 0)
    flexible = version >= 9
    if flexible:
        pos += 1  # empty header tagged fields (clients send none)
    if version >= 3:
        if flexible:
            n, pos = uvarint(frame, pos)
            pos += max(n - 1, 0)
        else:
            (n,) = struct.unpack(">h", frame[pos:pos + 2])
            pos += 2 + max(n, 0)
    (acks,) = struct.unpack(">h", frame[pos:pos + 2])
    return acks == 0


def uvarint(b, pos):
    shift = value = 0
    while True:
        byte = b[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def main():
    listen_port, broker_port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    label = sys.argv[4] if len(sys.argv) > 4 else "client"
    cap = capture(out, label)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(64)
    while True:
        client, _ = srv.accept()
        broker = socket.create_connection(("127.0.0.1", broker_port))
        threading.Thread(target=pump, args=(client, broker, cap), daemon=True).start()


if __name__ == "__main__":
    main()
