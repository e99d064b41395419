"""unprivileged: the secure sum of secure-sum, plus what the party process
may do on the host. Its result is the sum and a report; the expected report
is that of an unprivileged process: not root, and unable to read root-only
files (`/etc/shadow`, `/run/e3`, the lab's own keys). Used by
`generator/tests/sim.rs` to show that `e3 sim` runs programs unprivileged
while MPyC's TCP connections still work."""

import os
import sys

_HERE = os.path.dirname(os.path.realpath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import e3_common  # noqa: E402


def readable(path):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, 'rb') as f:
                f.read(1)
        return True
    except OSError:
        return False


def expected(args, inputs):
    return {'sum': sum(inputs), 'root': False, 'reads': []}


async def compute(mpc, args, inputs):
    secint = mpc.SecInt()
    total = await mpc.output(mpc.sum(mpc.input(secint(inputs[mpc.pid]))))
    # The lab directory (keys, configurations, logs) is the programs
    # directory's name without `.programs`.
    # (e3's helpers are there; a program given by path runs from `user/`
    # below it.)
    programs = os.path.dirname(os.path.realpath(e3_common.__file__))
    probes = ['/etc/shadow', '/run/e3', '/root', programs[:-len('.programs')]]
    return {
        'sum': int(total),
        'root': os.geteuid() == 0 or os.getuid() == 0,
        'reads': [p for p in probes if readable(p)],
    }, {}


PROGRAM = e3_common.Program(
    name='unprivileged',
    doc=__doc__,
    low=0,
    high=1000,
    expected=expected,
    compute=compute,
)

if __name__ == '__main__':
    e3_common.main(PROGRAM)
