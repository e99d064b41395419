"""secure-sum: the secure sum of one secret integer per party, opened to all parties.

Every party runs the same command with the same ordered party list:

    python secure-sum.py -P HOST:PORT -P HOST:PORT ... -I INDEX [--no-log] [ARGS]

Program arguments (identical for all parties):

  --seed S        party i's input is derived from (S, i): 0 <= input < 1000,
                  SHA-256 of "e3/secure-sum/S/i" (default S = 0)
  --inputs A,B,.. the inputs of all parties in party order (overrides --seed)
  --expect JSON   override the expected sum (to test that a wrong result is caught)
  --timeout SEC   give up after SEC seconds, exit 3 (default 300, 0 = never)

Each party inputs its own value as a secure integer (MPyC's secint, -L bits,
default 32); the sum is computed on secret shares and opened to every party,
which compares it with the sum of the inputs it derived itself.

Prints one JSON line:
  {"program": "secure-sum", "party": 0, "parties": 3, "threshold": 1, "seed": 0,
   "input": 123, "result": 1500, "expected": 1500, "ok": true, "elapsed_s": 0.05,
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
    for value in inputs + [sum(inputs)]:
        problem = e3_common.fits_secint(mpc, value, 'value')
        if problem:
            return problem
    return None


def expected(args, inputs):
    return sum(inputs)


async def compute(mpc, args, inputs):
    secint = mpc.SecInt()
    shares = mpc.input(secint(inputs[mpc.pid]))  # one secure integer per party
    total = await mpc.output(mpc.sum(shares))
    return int(total), {}


PROGRAM = e3_common.Program(
    name='secure-sum',
    doc=__doc__,
    low=0,
    high=1000,
    expected=expected,
    compute=compute,
    check_inputs=check_inputs,
)

if __name__ == '__main__':
    e3_common.main(PROGRAM)
