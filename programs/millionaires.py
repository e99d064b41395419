"""millionaires: Yao's millionaires problem for m parties -- who is richest, and how rich.

Every party runs the same command with the same ordered party list:

    python millionaires.py -P HOST:PORT -P HOST:PORT ... -I INDEX [--no-log] [ARGS]

Program arguments (identical for all parties):

  --seed S        party i's wealth is derived from (S, i): 0 <= wealth < 1000000,
                  SHA-256 of "e3/millionaires/S/i" (default S = 0)
  --inputs A,B,.. the wealths of all parties in party order (overrides --seed)
  --expect JSON   override the expected result, e.g. '{"index": 0, "wealth": 5}'
  --timeout SEC   give up after SEC seconds, exit 3 (default 300, 0 = never)

Each party inputs its wealth as a secure integer (MPyC's secint, -L bits, default
32); mpc.argmax finds the maximum and its position with secure comparisons; both
are opened to every party, which checks them against the inputs it derived
itself. On a tie the lowest party index wins.

Prints one JSON line:
  {"program": "millionaires", "party": 0, "parties": 3, "threshold": 1, "seed": 0,
   "input": 4711, "result": {"index": 2, "wealth": 98765},
   "expected": {"index": 2, "wealth": 98765}, "ok": true, "elapsed_s": 0.2,
   "error": null}
Exit status: 0 ok, 1 wrong result, 2 usage error, 3 failure (timeout, exception).
"""

import os
import sys

_HERE = os.path.dirname(os.path.realpath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import e3_common  # noqa: E402


def check_inputs(args, inputs, mpc):
    for value in inputs:
        if value < 0:
            return f'wealth {value} is negative'
        problem = e3_common.fits_secint(mpc, value, 'wealth')
        if problem:
            return problem
    return None


def expected(args, inputs):
    wealth = max(inputs)
    return {'index': inputs.index(wealth), 'wealth': wealth}


async def compute(mpc, args, inputs):
    secint = mpc.SecInt()
    wealths = mpc.input(secint(inputs[mpc.pid]))  # one secure integer per party
    index, wealth = mpc.argmax(wealths)
    index, wealth = await mpc.output([index, wealth])
    return {'index': int(index), 'wealth': int(wealth)}, {}


PROGRAM = e3_common.Program(
    name='millionaires',
    doc=__doc__,
    low=0,
    high=1_000_000,
    expected=expected,
    compute=compute,
    check_inputs=check_inputs,
)

if __name__ == '__main__':
    e3_common.main(PROGRAM)
