"""The compatibility handshake (e3_handshake.py) with real parties on 127.0.0.1:
parties that run the same program go on to run it; any difference stops every
party, each saying who differs in what."""

import json
import os
import shutil
import subprocess
import sys

from test_programs import PROC_TIMEOUT, PROGRAMS_DIR, free_ports, kill_group

HANDSHAKE = os.path.join(PROGRAMS_DIR, 'e3_handshake.py')


def copy_programs(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    for f in ('secure-sum.py', 'e3_common.py'):
        shutil.copy(os.path.join(PROGRAMS_DIR, f), d / f)
    return d


def run_through_handshake(dirs, args_of=lambda i: []):
    """One party per directory, each running its secure-sum.py through the
    handshake; returns [(rc, stdout, stderr)] by index."""
    ports = free_ports(len(dirs))
    peers = [a for p in ports for a in ('-P', f'127.0.0.1:{p}')]
    env = dict(os.environ, E3_TIMEOUT='30')
    procs = []
    try:
        for i, d in enumerate(dirs):
            cmd = [sys.executable, HANDSHAKE, str(d / 'secure-sum.py')] + peers + [
                '-I', str(i), '--no-log'] + args_of(i)
            procs.append(subprocess.Popen(cmd, cwd=d, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True,
                                          start_new_session=True))
        results = []
        for p in procs:
            out, err = p.communicate(timeout=PROC_TIMEOUT)
            results.append((p.returncode, out, err))
        return results
    finally:
        for p in procs:
            kill_group(p)
            if p.poll() is None:
                p.wait()


def test_same_program_runs(tmp_path):
    d = copy_programs(tmp_path, 'a')
    results = run_through_handshake([d, d, d], lambda i: ['--seed', '3'])
    for i, (rc, out, err) in enumerate(results):
        assert rc == 0, f'party {i}: {out} {err}'
        assert 'agrees with all 3 parties' in err
        record = json.loads(out.strip().splitlines()[-1])
        assert record['ok'] is True and record['party'] == i


def test_a_different_program_stops_every_party(tmp_path):
    same, other = copy_programs(tmp_path, 'same'), copy_programs(tmp_path, 'other')
    with open(other / 'secure-sum.py', 'a') as f:
        f.write('\n# an edit on one party only\n')
    results = run_through_handshake([same, same, other])
    for i, (rc, out, err) in enumerate(results):
        assert rc == 4, f'party {i}: {out} {err}'
        assert out == '', 'nothing ran'
        assert 'in files:' in err, err
    assert 'party 2 differs from party 0 in files' in results[0][2]
    assert 'party 0 differs from party 2 in files' in results[2][2]


def test_different_arguments_are_named(tmp_path):
    d = copy_programs(tmp_path, 'a')
    results = run_through_handshake([d, d], lambda i: ['--seed', str(i)])
    for rc, out, err in results:
        assert rc == 4 and out == ''
        assert 'in args: ' in err and '"--seed", "0"' in err and '"--seed", "1"' in err, err
