"""Real runs of the e3 MPyC programs: parties are subprocesses on 127.0.0.1.

Every subprocess has a timeout (and the programs get --timeout too), so a hung
MPyC run fails the test instead of hanging it. Parties run with the test's
Python (sys.executable), which must have mpyc installed, from a temporary cwd
to check that the programs find their helper module from anywhere.
"""

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys

import pytest

PROGRAMS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = ['secure-sum', 'millionaires', 'rounds', 'max-chain', 'bulk']
PROC_TIMEOUT = 60  # seconds, per subprocess; the programs themselves get --timeout 30

COMMON_KEYS = ['program', 'party', 'parties', 'threshold', 'seed']
KEYS = {
    'secure-sum': COMMON_KEYS + ['input', 'result', 'expected', 'ok', 'elapsed_s', 'error'],
    'millionaires': COMMON_KEYS + ['input', 'result', 'expected', 'ok', 'elapsed_s', 'error'],
    'rounds': COMMON_KEYS + ['rounds', 'input', 'result', 'expected', 'ok', 'elapsed_s',
                             'sync', 'rounds_s', 'per_round_ms', 'error'],
    'max-chain': COMMON_KEYS + ['steps', 'input', 'result', 'expected', 'ok', 'elapsed_s',
                                'sync', 'steps_s', 'per_step_ms', 'error'],
    'bulk': COMMON_KEYS + ['size', 'input', 'result', 'expected', 'ok', 'elapsed_s',
                           'numpy', 'bytes_per_vector', 'compute_s', 'error'],
}

sys.path.insert(0, PROGRAMS_DIR)
import e3_common  # noqa: E402  (does not import MPyC by itself)


def program_path(name):
    return os.path.join(PROGRAMS_DIR, f'{name}.py')


def _port_floor_and_ceiling():
    """Ports to pick from: below the kernel's ephemeral range, so that no outgoing
    connection (not even MPyC's own connection retries) can occupy a chosen port and
    a retrying client can never end up connected to itself."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (10000, low) if low > 12000 else (max(low, 61000), 65536)


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(('0.0.0.0', port))  # MPyC listens on all interfaces
        except OSError:
            return False
    return True


def free_ports(n, consecutive=False):
    """n distinct TCP ports that are free right now (consecutive ones for MPyC's -B)."""
    floor, ceiling = _port_floor_and_ceiling()
    rng = random.Random()
    for _ in range(500):
        if consecutive:
            base = rng.randrange(floor, ceiling - n)
            ports = list(range(base, base + n))
        else:
            ports = rng.sample(range(floor, ceiling), n)
        if all(_bindable(p) for p in ports):
            return ports
    raise RuntimeError(f'no {n} free ports found in [{floor}, {ceiling})')


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(cmd_args, cwd, timeout=PROC_TIMEOUT):
    """Run one program invocation; returns (returncode, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable] + cmd_args, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        pytest.fail(f'{cmd_args} did not finish within {timeout} s')
    finally:
        kill_group(proc)  # also any children MPyC spawned (-M without -I)
    return proc.returncode, out, err


def run_parties(name, m, args, cwd, timeout=PROC_TIMEOUT, attempts=3):
    """Run m parties of program `name` on loopback; returns [(rc, stdout, stderr)] by index.

    If a party could not bind its port (another process took it between our check and
    MPyC's bind), the run is repeated on other ports: that is a race in the test set-up,
    not a fault of the program.
    """
    for _ in range(attempts):
        results = _run_parties_once(name, m, args, cwd, timeout)
        if not any(rc == 3 and 'address already in use' in out for rc, out, _ in results):
            return results
    return results


def _run_parties_once(name, m, args, cwd, timeout):
    ports = free_ports(m)
    peers = [a for p in ports for a in ('-P', f'127.0.0.1:{p}')]
    procs = []
    try:
        for i in range(m):
            cmd = [sys.executable, program_path(name)] + peers + ['-I', str(i), '--no-log',
                                                                   '--timeout', '30'] + args
            procs.append(subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True,
                                          start_new_session=True))
        results = []
        for i, proc in enumerate(procs):
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                pytest.fail(f'{name} party {i} of {m} did not finish within {timeout} s')
            results.append((proc.returncode, out, err))
        return results
    finally:
        for proc in procs:
            kill_group(proc)
            if proc.poll() is None:
                proc.wait()


def json_line(stdout):
    lines = stdout.splitlines()
    assert len(lines) == 1, f'expected exactly one line on stdout, got {stdout!r}'
    return json.loads(lines[0])


def records(results, expected_rc=0):
    recs = []
    for i, (rc, out, err) in enumerate(results):
        assert rc == expected_rc, f'party {i}: exit {rc}\nstdout: {out}\nstderr: {err}'
        recs.append(json_line(out))
    return recs


@pytest.mark.parametrize('m', [2, 3])
@pytest.mark.parametrize('name', PROGRAMS)
def test_parties_agree(name, m, tmp_path):
    recs = records(run_parties(name, m, ['--seed', '42'], tmp_path))
    for i, rec in enumerate(recs):
        assert list(rec) == KEYS[name]
        assert rec['program'] == name
        assert rec['party'] == i
        assert rec['parties'] == m
        assert rec['threshold'] == (m - 1) // 2
        assert rec['seed'] == 42
        assert rec['ok'] is True
        assert rec['error'] is None
        assert rec['result'] == rec['expected']
        assert rec['elapsed_s'] > 0
    assert len({json.dumps(r['result']) for r in recs}) == 1
    # each party reports its own seeded input, and they are the documented derivation
    lo, hi = {'secure-sum': (0, 1000), 'millionaires': (0, 10**6),
              'rounds': (2, 2**61 - 1), 'max-chain': (0, 2**32), 'bulk': (0, 2**32)}[name]
    assert [r['input'] for r in recs] == [e3_common.derive_input(name, 42, i, lo, hi)
                                         for i in range(m)]
    if name == 'rounds':
        for rec in recs:
            assert rec['rounds'] == 100
            assert rec['sync'] is (m == 2)  # t = 0: MPyC multiplies without communicating
            assert rec['rounds_s'] > 0
            assert rec['per_round_ms'] == pytest.approx(rec['rounds_s'] * 10, rel=1e-3)
    if name == 'max-chain':
        for rec in recs:
            assert rec['steps'] == 16
            assert rec['sync'] is (m == 2)  # t = 0: MPyC compares without communicating
            assert rec['per_step_ms'] == pytest.approx(rec['steps_s'] * 1000 / 16, rel=1e-3)
    if name == 'bulk':
        for rec in recs:
            assert rec['size'] == 10000 and rec['bytes_per_vector'] == 40000
            assert rec['compute_s'] > 0


def plain_max_chain(keys, steps):
    """The documented stream, computed here independently of the program."""
    values = []
    for k in range(steps + 1):
        digest = hashlib.sha256(f'e3/max-chain/{keys[k % len(keys)]}/{k}'.encode()).digest()
        values.append(int.from_bytes(digest[:8], 'big') % 2**20)
    return max(values)


def plain_bulk(keys, size):
    p = 2**31 - 1
    vectors = []
    for key in keys:
        rng = random.Random(key)
        vectors.append([rng.randrange(p) for _ in range(size)])
    total = [sum(column) % p for column in zip(*vectors)]
    return sum((k + 1) * (x * x % p) for k, x in enumerate(total)) % p


@pytest.mark.parametrize('m', [2, 3])
@pytest.mark.parametrize('steps', [1, 7])
def test_max_chain_is_the_plain_maximum(m, steps, tmp_path):
    keys = [11, 2**32 - 1, 0][:m]
    args = ['--inputs', ','.join(map(str, keys)), '--steps', str(steps)]
    recs = records(run_parties('max-chain', m, args, tmp_path))
    for rec in recs:
        assert rec['result'] == plain_max_chain(keys, steps)
        assert rec['ok'] is True


@pytest.mark.parametrize('extra', [[], ['--lists'], ['--no-numpy']],
                         ids=['numpy', 'lists', 'mpyc-no-numpy'])
def test_bulk_is_the_plain_checksum_with_and_without_numpy(extra, tmp_path):
    keys = [5, 2**32 - 1, 77]
    args = ['--inputs', ','.join(map(str, keys)), '--size', '300'] + extra
    recs = records(run_parties('bulk', 3, args, tmp_path))
    for rec in recs:
        assert rec['result'] == plain_bulk(keys, 300)
        assert rec['ok'] is True
        assert rec['numpy'] is (extra == [])


@pytest.mark.parametrize('name, args, expected', [
    ('secure-sum', ['--inputs', '5,7,11'], 23),
    ('secure-sum', ['--inputs=-5,7,-11'], -9),
    # a tie: the lowest index holding the maximum wins
    ('millionaires', ['--inputs', '5,9,9'], {'index': 1, 'wealth': 9}),
    ('millionaires', ['--inputs', '0,0,3'], {'index': 2, 'wealth': 3}),
    # x = 2; *3 = 6; *5 = 30; *2 = 60; *3 = 180
    ('rounds', ['--inputs', '2,3,5', '--rounds', '4'], 180),
    ('rounds', ['--inputs', f'{2**61 - 2},{2**61 - 2},1', '--rounds', '1'], 1),
])
def test_explicit_inputs(name, args, expected, tmp_path):
    recs = records(run_parties(name, 3, args, tmp_path))
    for rec in recs:
        assert rec['result'] == expected
        assert rec['expected'] == expected
        assert rec['seed'] is None
        assert rec['ok'] is True


@pytest.mark.parametrize('name, wrong', [
    ('secure-sum', '-1'),
    ('millionaires', '{"index": 0, "wealth": -1}'),
    ('rounds', '0'),
    ('max-chain', '-1'),
    ('bulk', '-1'),
])
def test_wrong_result_exits_1(name, wrong, tmp_path):
    recs = records(run_parties(name, 2, ['--expect', wrong], tmp_path), expected_rc=1)
    results = {json.dumps(r['result']) for r in recs}
    assert len(results) == 1  # the computation itself still agrees
    for rec in recs:
        assert rec['ok'] is False
        assert rec['expected'] == json.loads(wrong)
        assert rec['result'] != rec['expected']
        assert rec['error'] == 'result differs from expected'


@pytest.mark.parametrize('name', PROGRAMS)
@pytest.mark.parametrize('mpyc_args', [['-M1'], [], ['-P', '127.0.0.1:11365', '-I', '0']],
                         ids=['M1', 'no-options', 'one-P'])
def test_single_party(name, mpyc_args, tmp_path):
    rc, out, err = run([program_path(name)] + mpyc_args + ['--no-log', '--seed', '1'], tmp_path)
    assert rc == 0, err
    rec = json_line(out)
    assert list(rec) == KEYS[name]
    assert (rec['party'], rec['parties'], rec['threshold']) == (0, 1, 0)
    assert rec['ok'] is True and rec['result'] == rec['expected']


@pytest.mark.parametrize('name', PROGRAMS)
def test_mpyc_local_launcher(name, tmp_path):
    """-M3 without -I: MPyC itself starts parties 1 and 2 with the same argv (program
    args included) and discards their output; party 0's line is checked."""
    base = free_ports(3, consecutive=True)[0]
    rc, out, err = run([program_path(name), '-M3', '-B', str(base), '--no-log',
                        '--timeout', '30', '--seed', '5'], tmp_path)
    assert rc == 0, err
    rec = json_line(out)
    assert (rec['party'], rec['parties'], rec['threshold']) == (0, 3, 1)
    assert rec['ok'] is True


def test_logging_goes_to_stderr(tmp_path):
    """Without --no-log MPyC 0.11 logs to stdout; the programs move it to stderr."""
    rc, out, err = run([program_path('secure-sum'), '-M1'], tmp_path)
    assert rc == 0, err
    assert json_line(out)['ok'] is True
    assert 'Start MPyC runtime' in err


def test_unreachable_peer_times_out(tmp_path):
    """MPyC retries connecting forever; --timeout turns that into exit 3 with a JSON line."""
    p0, p1 = free_ports(2)
    rc, out, err = run([program_path('secure-sum'), '-P', f'127.0.0.1:{p0}',
                        '-P', f'127.0.0.1:{p1}', '-I', '0', '--no-log', '--timeout', '1'],
                       tmp_path, timeout=30)
    assert rc == 3, err
    rec = json_line(out)
    assert rec['ok'] is False
    assert rec['result'] is None
    assert rec['error'] == 'timeout after 1 s'
    assert 1 <= rec['elapsed_s'] < 10


@pytest.mark.parametrize('args, message', [
    (['-P', '127.0.0.1:1', '-P', '127.0.0.1:2'], 'no own index'),
    (['-P', '127.0.0.1:1', '-P', '127.0.0.1:2', '-I', '2'], 'out of range'),
    (['-M1', '--in', '3'], 'out of range'),  # MPyC expands --in to its own --index
    (['-M1', '--inputs', '1,2'], '--inputs has 2 values but there are 1 parties'),
    (['-M1', '--inputs', 'x'], 'comma-separated integers'),
    (['-M1', '--inputs', '3000000000'], 'does not fit a 32-bit secure integer'),
    (['-M1', '--expect', '{'], 'expected a JSON value'),
    (['-M1', '--bogus'], 'unrecognized arguments: --bogus'),
    (['-M1', '--timeout', '-1'], '--timeout must be a number >= 0'),
    (['-M1', '--timeout', 'nan'], '--timeout must be a number >= 0'),
    (['-P', '127.0.0.1:1', '-P', '127.0.0.1:2', '-P', '127.0.0.1:3', '-I', '0', '-T', '2'],
     'invalid MPyC options'),
])
def test_usage_errors_exit_2(args, message, tmp_path):
    rc, out, err = run([program_path('secure-sum'), '--no-log'] + args, tmp_path, timeout=30)
    assert rc == 2
    assert out == ''  # no JSON line for usage errors, and nothing else on stdout
    assert message in err


@pytest.mark.parametrize('name, args, message', [
    ('millionaires', ['--inputs', '-1'], 'wealth -1 is negative'),
    ('rounds', ['--inputs', str(2**61 - 1)], 'is not in [0, 2**61-1)'),
    ('rounds', ['--rounds', '0'], 'expected an integer >= 1'),
    ('max-chain', ['--steps', '0'], 'expected an integer >= 1'),
    ('max-chain', ['--inputs', str(2**32)], 'is not in [0, 2**32)'),
    ('bulk', ['--size', 'x'], 'expected an integer >= 1'),
    ('bulk', ['--inputs', '-1'], 'is not in [0, 2**32)'),
])
def test_program_specific_usage_errors(name, args, message, tmp_path):
    rc, out, err = run([program_path(name), '-M1', '--no-log'] + args, tmp_path, timeout=30)
    assert rc == 2
    assert out == ''
    assert message in err


def test_help_mentions_program_args(tmp_path):
    rc, out, err = run([program_path('rounds'), '-h'], tmp_path, timeout=30)
    assert rc == 0
    assert '--rounds N' in out and '--seed' in out


def test_derive_input_is_stable():
    """Golden values: every party on every machine must derive the same inputs."""
    derive = e3_common.derive_input
    assert [derive('secure-sum', 0, i, 0, 1000) for i in range(3)] == [931, 17, 611]
    assert [derive('millionaires', 7, i, 0, 10**6) for i in range(3)] == [99022, 706337, 412228]
    assert [derive('rounds', 0, i, 2, 2**61 - 1) for i in range(2)] == \
        [2075029837680648855, 1254805933375478623]


def test_shared_argument_and_input_checks():
    """The helpers rounds, max-chain and bulk share, without MPyC."""
    import argparse
    assert e3_common.positive_int('3') == 3
    for bad in ('0', '-2', 'x', '1.5'):
        with pytest.raises(argparse.ArgumentTypeError, match='expected an integer >= 1'):
            e3_common.positive_int(bad)
    add_args, params = e3_common.count_option('steps', 16, 'number of steps')
    parser = argparse.ArgumentParser()
    add_args(parser)
    assert params(parser.parse_args([])) == {'steps': 16}
    assert params(parser.parse_args(['--steps', '5'])) == {'steps': 5}
    assert '(default 16)' in parser.format_help()
    check = e3_common.inputs_below(2**32, 'key', '2**32')
    assert check(None, [0, 2**32 - 1], None) is None
    assert check(None, [1, 2**32, -1], None) == 'key 4294967296 is not in [0, 2**32)'
    assert check(None, [-1], None) == 'key -1 is not in [0, 2**32)'


def test_port_in_use_exits_3(tmp_path):
    """A party that cannot listen on its port fails at once with exit 3 and a JSON line."""
    p0, p1 = free_ports(2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(('0.0.0.0', p1))
        blocker.listen()
        rc, out, err = run([program_path('secure-sum'), '-P', f'127.0.0.1:{p0}',
                            '-P', f'127.0.0.1:{p1}', '-I', '1', '--no-log', '--timeout', '20'],
                           tmp_path, timeout=30)
    assert rc == 3, err
    rec = json_line(out)
    assert rec['ok'] is False and rec['result'] is None
    assert 'address already in use' in rec['error']
    assert rec['elapsed_s'] < 10
