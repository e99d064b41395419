"""max-chain: the maximum of a stream of secret values, one secure comparison
after another -- a latency-bound workload (many sequential rounds of small
messages).

Every party runs the same command with the same ordered party list:

    python max-chain.py -P HOST:PORT -P HOST:PORT ... -I INDEX [--no-log] [ARGS]

Program arguments (identical for all parties):

  --steps N       number of sequential secure comparisons (default 16, >= 1);
                  the stream has N + 1 values
  --seed S        party i's key is derived from (S, i) (default S = 0)
  --inputs A,B,.. the keys of all parties in party order, 0 <= key < 2**32
                  (overrides --seed)
  --expect JSON   override the expected maximum (to test that a wrong result is caught)
  --timeout SEC   give up after SEC seconds, exit 3 (default 300, 0 = never)

The stream x_0 .. x_N is dealt round-robin: x_k belongs to party k mod m, and
is 0 <= x_k < 2**20, the low 20 bits of SHA-256("e3/max-chain/KEY/k") with
KEY that party's key. Every party inputs its values as 32-bit secure integers
(one input round), then m = x_0 and step k computes m = max(m, x_k) (MPyC's
secure comparison: a few rounds of one small message per pair each) and waits
until this party holds its share of the new m, so every step depends on the
previous one. The maximum is opened and checked against the plain maximum.

With threshold t = 0 (always for 2 parties) MPyC compares without any
communication, so each step then also does one all-to-all exchange of the step
number (mpc.transfer) to stay latency-bound; "sync" says whether it did.

Prints one JSON line (keys as for every e3 program, then):
  "steps", "sync", "steps_s" (seconds of the N steps alone) and
  "per_step_ms" (1000 * steps_s / N).
Exit status: 0 ok, 1 wrong result, 2 usage error, 3 failure (timeout, exception).
"""

import hashlib
import os
import sys
import time

_HERE = os.path.dirname(os.path.realpath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import e3_common  # noqa: E402

KEY_LIMIT = 2**32
VALUE_BITS = 20


add_args, params = e3_common.count_option(
    'steps', 16, 'number of sequential secure comparisons')
check_inputs = e3_common.inputs_below(KEY_LIMIT, 'key', '2**32')


def stream_value(key, k):
    """x_k of the party whose key is `key`."""
    digest = hashlib.sha256(f'e3/max-chain/{key}/{k}'.encode()).digest()
    return int.from_bytes(digest[:8], 'big') % (1 << VALUE_BITS)


def stream(args, inputs):
    m = len(inputs)
    return [stream_value(inputs[k % m], k) for k in range(args.steps + 1)]


def expected(args, inputs):
    return max(stream(args, inputs))


async def compute(mpc, args, inputs):
    m = len(mpc.parties)
    sync = m > 1 and mpc.threshold == 0
    secint = mpc.SecInt(32)
    n = args.steps + 1
    per_party = -(-n // m)  # every party inputs the same number of values
    values = stream(args, inputs)
    mine = [values[k] if k < n else 0 for k in range(mpc.pid, per_party * m, m)]
    dealt = mpc.input([secint(v) for v in mine])  # dealt[i][j] = x_(i + j*m)
    xs = [dealt[k % m][k // m] for k in range(n)]
    await mpc.gather(xs[0])  # inputs distributed: the steps start here for everyone
    best = xs[0]
    start = time.perf_counter()
    for k in range(1, n):
        best = mpc.max(best, xs[k])
        await mpc.gather(best)  # this party's share of the new maximum is ready
        if sync:
            await mpc.transfer(k)  # one all-to-all exchange per step also when t = 0
    steps_s = time.perf_counter() - start
    result = await mpc.output(best)
    return int(result), {
        'sync': sync,
        'steps_s': round(steps_s, 6),
        'per_step_ms': round(1000 * steps_s / args.steps, 6),
    }


PROGRAM = e3_common.Program(
    name='max-chain',
    doc=__doc__,
    low=0,
    high=KEY_LIMIT,
    expected=expected,
    compute=compute,
    add_args=add_args,
    params=params,
    extra_keys=('sync', 'steps_s', 'per_step_ms'),
    check_inputs=check_inputs,
)

if __name__ == '__main__':
    e3_common.main(PROGRAM)
