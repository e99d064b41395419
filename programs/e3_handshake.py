"""e3's compatibility handshake, run by every party before its MPyC program.

    python e3_handshake.py PROGRAM.py -P HOST:PORT ... -I INDEX [MPyC and program args]

Before the program itself runs, every party tells every other one what it is
about to run, over the same ``-P`` addresses and ports MPyC will use: a digest
of the program's directory (the program and the files that travel with it),
the arguments (all but ``-I``), and the MPyC and Python versions. If any two
parties differ, every party stops with a message naming who differs in what,
and exits 4; otherwise the program replaces this process (``os.execv``), with
exactly the arguments given, in the same working directory.

The exchange follows MPyC's own pattern: party i listens on its own port and
connects to every party with a higher index. Each connection carries one JSON
line each way, then (round two) a "ready" line each way once a party has all
its connections; a party execs the program only when every other party is
ready, so no MPyC connection can ever reach a handshake listener (a party
closes its listener once every lower party has connected). The program's
MPyC server then binds the same port.

Not a program itself: no MPyC import (its version is read from the package
metadata), all output on stderr (stdout stays the program's). The time bound
is ``E3_TIMEOUT`` (seconds, default 300), the same one e3's programs read.
"""

import concurrent.futures
import hashlib
import json
import os
import socket
import sys
import threading
import time

EXIT_USAGE = 2
EXIT_INCOMPATIBLE = 4
MAX_FILES = 10000
MAX_BYTES = 256 << 20
MAX_LINE = 1 << 16


def fail(message, status=EXIT_USAGE):
    print(f'e3 handshake: error: {message}', file=sys.stderr)
    sys.exit(status)


def timeout():
    try:
        t = float(os.environ.get('E3_TIMEOUT', '300'))
    except ValueError:
        fail('E3_TIMEOUT must be a number of seconds')
    return t if t > 0 else 300.0


def parse(argv):
    """(program, parties as (host, port), own index, args without -I)."""
    if not argv or argv[0].startswith('-'):
        fail('usage: e3_handshake.py PROGRAM.py -P HOST:PORT ... -I INDEX [ARGS]')
    program, rest = argv[0], argv[1:]
    parties, index, kept = [], None, []
    i = 0
    while i < len(rest):
        a = rest[i]
        value = rest[i + 1] if i + 1 < len(rest) else None
        if a in ('-P', '--party') and value is not None:
            host, _, port = value.rpartition(':')
            if not host or not port.isdigit():
                fail(f'-P {value}: expected HOST:PORT')
            parties.append((host, int(port)))
            kept += [a, value]
            i += 2
        elif a in ('-I', '--index') and value is not None:
            if not value.isdigit():
                fail(f'-I {value}: expected a party index')
            index = int(value)
            i += 2
        else:
            kept.append(a)
            i += 1
    if index is None or not 0 <= index < len(parties):
        fail(f'-I must name one of the {len(parties)} parties given with -P')
    return program, parties, index, kept


def tree_digest(root):
    """SHA-256 over every regular file below `root` (relative path and content)."""
    h = hashlib.sha256()
    count = total = 0
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__')
        for name in sorted(files):
            path = os.path.join(directory, name)
            if not os.path.isfile(path) or name.endswith('.pyc'):
                continue
            count += 1
            total += os.path.getsize(path)
            if count > MAX_FILES or total > MAX_BYTES:
                fail(f'the program directory {root} is too large to compare')
            rel = os.path.relpath(path, root)
            h.update(f'{len(rel)}:{rel}'.encode())
            with open(path, 'rb') as f:
                data = f.read()
            h.update(f'{len(data)}:'.encode())
            h.update(data)
    return h.hexdigest()


def mpyc_version():
    try:
        from importlib.metadata import version
        return version('mpyc')
    except Exception:  # noqa: BLE001 -- any failure means "not installed"
        return 'not installed'


def description(program, args):
    """What this party is about to run."""
    return {
        'program': os.path.basename(program),
        'files': tree_digest(os.path.dirname(os.path.abspath(program)) or '.'),
        'args': args,
        'mpyc': mpyc_version(),
        'python': '.'.join(map(str, sys.version_info[:3])),
    }


def differences(mine, theirs):
    """The fields that differ, with both values (digests shortened)."""
    out = []
    for key in ('program', 'files', 'args', 'mpyc', 'python'):
        a, b = mine.get(key), theirs.get(key)
        if a != b:
            if key == 'files':
                a, b = str(a)[:12], str(b)[:12]
            out.append(f'{key}: {json.dumps(a)} here, {json.dumps(b)} there')
    return out


def send(conn, record):
    conn.sendall((json.dumps(record, sort_keys=True) + '\n').encode())


class Peer:
    """One connection of the handshake, read line by line."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = b''

    def receive(self, deadline):
        while b'\n' not in self.buf:
            self.conn.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.conn.recv(4096)
            if not chunk:
                raise ConnectionError('the peer closed the connection (it stopped)')
            self.buf += chunk
            if len(self.buf) > MAX_LINE:
                raise ConnectionError('the peer sent too much')
        line, self.buf = self.buf.split(b'\n', 1)
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or record.get('e3-handshake') != 1:
            raise ConnectionError('the peer is not an e3 handshake (is an MPyC program already listening?)')
        return record


def connect(host, port, deadline, given_up):
    """A connection to the party at (host, port), tried again until it
    listens, `deadline` passes or `given_up` (a threading.Event) is set."""
    while True:
        try:
            return socket.create_connection((host, port), timeout=2)
        except OSError:
            if time.monotonic() > deadline or given_up.is_set():
                raise
            time.sleep(0.1)


def exchange(parties, index, mine, deadline):
    """Round one: `mine` to every other party and theirs back, over one
    connection per pair (kept open); returns ({index: record}, {index: Peer})."""
    hello = {'e3-handshake': 1, 'party': index, **mine}
    heard, peers = {}, {}
    lower = set(range(index))
    listener = None
    if lower:
        listener = socket.socket(socket.AF_INET6 if ':' in parties[index][0] else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(('', parties[index][1]))
        listener.listen(len(parties))
    given_up = threading.Event()

    def outgoing(j):
        peer = Peer(connect(*parties[j], deadline, given_up))
        try:
            send(peer.conn, hello)
            return j, peer, peer.receive(deadline)
        except BaseException:
            peer.conn.close()
            raise

    # The connections to the higher parties and the accepts of the lower
    # ones at once: one after the other, every party would wait for the
    # higher ones to finish theirs first, a chain of round trips that grows
    # with the square of the parties (seconds across regions).
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(parties) - index - 1))
    try:
        outgoing_done = [pool.submit(outgoing, j) for j in range(index + 1, len(parties))]
        while lower - set(heard):
            listener.settimeout(max(0.1, deadline - time.monotonic()))
            conn, _ = listener.accept()
            peer = Peer(conn)
            theirs = peer.receive(deadline)
            send(conn, hello)
            j = theirs.get('party')
            if isinstance(j, int) and j in lower and j not in heard:
                heard[j], peers[j] = theirs, peer
            else:
                conn.close()
        for done in outgoing_done:
            j, peer, record = done.result()
            heard[j], peers[j] = record, peer
    finally:
        # Every lower party has connected: nobody connects here again
        # before this party's own MPyC server listens.
        if listener is not None:
            listener.close()
        # On a failure the connections still being tried stop too (else
        # the exit would wait for them until the deadline).
        given_up.set()
        pool.shutdown(wait=False, cancel_futures=True)
    return heard, peers


def barrier(peers, index, deadline):
    """Round two: every party tells every other one it has all its
    connections, and waits to hear the same from all. Only then may MPyC
    start anywhere: no handshake connection is made after it, so no MPyC
    connection can reach a handshake listener."""
    for peer in peers.values():
        send(peer.conn, {'e3-handshake': 1, 'party': index, 'ready': True})
    for j, peer in peers.items():
        if peer.receive(deadline).get('ready') is not True:
            raise ConnectionError(f'party {j} is not ready')


def main():
    program, parties, index, args = parse(sys.argv[1:])
    if not os.path.isfile(program):
        fail(f'no program {program}')
    mine = description(program, args)
    deadline = time.monotonic() + timeout()
    try:
        heard, peers = exchange(parties, index, mine, deadline)
    except (OSError, ValueError, ConnectionError) as exc:
        fail(f'party {index} could not compare with every party within {timeout():g} s: {exc}',
             EXIT_INCOMPATIBLE)
    problems = []
    for j in sorted(heard):
        for d in differences(mine, heard[j]):
            problems.append(f'party {j} differs from party {index} in {d}')
    if problems:
        for p in problems:
            print(f'e3 handshake: incompatible: {p}', file=sys.stderr)
        n = len(problems)
        fail(f'the parties are not running the same program; nothing was run '
             f'({n} difference{"s" if n > 1 else ""})', EXIT_INCOMPATIBLE)
    try:
        barrier(peers, index, deadline)
    except (OSError, ValueError, ConnectionError) as exc:
        fail(f'party {index} agreed, but not every party got ready: {exc}', EXIT_INCOMPATIBLE)
    finally:
        for peer in peers.values():
            peer.conn.close()
    # The time is what e3 measures the program's wall time from.
    print(f'e3 handshake: party {index} agrees with all {len(parties)} parties '
          f'(program {mine["program"]}, files {mine["files"][:12]}, MPyC {mine["mpyc"]}, '
          f'Python {mine["python"]}) at {time.time():.6f}', file=sys.stderr)
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, program] + sys.argv[2:])


if __name__ == '__main__':
    main()
