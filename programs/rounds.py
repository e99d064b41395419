"""rounds: N sequential secure multiplications -- a latency-bound benchmark.

Every party runs the same command with the same ordered party list:

    python rounds.py -P HOST:PORT -P HOST:PORT ... -I INDEX [--no-log] [ARGS]

Program arguments (identical for all parties):

  --rounds N      number of sequential multiplications (default 100, >= 1)
  --seed S        party i's factor is derived from (S, i): 2 <= factor < 2**61-1,
                  SHA-256 of "e3/rounds/S/i" (default S = 0)
  --inputs A,B,.. the factors of all parties in party order, 0 <= factor < 2**61-1
                  (overrides --seed)
  --expect JSON   override the expected product (to test that a wrong result is caught)
  --timeout SEC   give up after SEC seconds, exit 3 (default 300, 0 = never)

Each party inputs its factor a_i as an element of the secure prime field
GF(2**61-1) (MPyC's SecFld). Starting from x = a_0, round k computes
x = x * a_((k+1) mod m) and waits until this party holds its share of the new x,
so each round depends on the previous one. The final x is opened to every party
and checked against a_0 * prod_k a_((k+1) mod m) mod 2**61-1.

With threshold t >= 1 (3 or more parties) every secure multiplication costs one
all-to-all exchange (MPyC's resharing). With t = 0 -- always the case for 2
parties -- MPyC multiplies locally without any communication, so each round then
also does one all-to-all exchange of the round number (mpc.transfer) to keep the
benchmark latency-bound; "sync" in the output says whether that happened.

Prints one JSON line:
  {"program": "rounds", "party": 0, "parties": 3, "threshold": 1, "seed": 0,
   "rounds": 100, "input": 123456789, "result": 987654321, "expected": 987654321,
   "ok": true, "elapsed_s": 0.3, "sync": false, "rounds_s": 0.2,
   "per_round_ms": 2.0, "error": null}
elapsed_s covers mpc.start() to mpc.shutdown() (connection set-up included);
rounds_s covers only the N rounds, per_round_ms = 1000 * rounds_s / N.
Exit status: 0 ok, 1 wrong result, 2 usage error, 3 failure (timeout, exception).
"""

import os
import sys
import time

_HERE = os.path.dirname(os.path.realpath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import e3_common  # noqa: E402

MODULUS = 2**61 - 1  # a Mersenne prime


add_args, params = e3_common.count_option(
    'rounds', 100, 'number of sequential secure multiplications')
check_inputs = e3_common.inputs_below(MODULUS, 'factor', '2**61-1')


def expected(args, inputs):
    m = len(inputs)
    x = inputs[0]
    for k in range(args.rounds):
        x = x * inputs[(k + 1) % m] % MODULUS
    return x


async def compute(mpc, args, inputs):
    m = len(mpc.parties)
    sync = m > 1 and mpc.threshold == 0
    secfld = mpc.SecFld(MODULUS)
    factors = mpc.input(secfld(inputs[mpc.pid]))  # one secure field element per party
    await mpc.gather(factors)  # inputs distributed: the rounds start here for everyone
    x = factors[0]
    start = time.perf_counter()
    for k in range(args.rounds):
        x = x * factors[(k + 1) % m]
        await mpc.gather(x)  # this party's share of the product is ready
        if sync:
            await mpc.transfer(k)  # one all-to-all exchange per round also when t = 0
    rounds_s = time.perf_counter() - start
    result = await mpc.output(x)
    return int(result.value), {
        'sync': sync,
        'rounds_s': round(rounds_s, 6),
        'per_round_ms': round(1000 * rounds_s / args.rounds, 6),
    }


PROGRAM = e3_common.Program(
    name='rounds',
    doc=__doc__,
    low=2,
    high=MODULUS,
    expected=expected,
    compute=compute,
    add_args=add_args,
    params=params,
    extra_keys=('sync', 'rounds_s', 'per_round_ms'),
    check_inputs=check_inputs,
)

if __name__ == '__main__':
    e3_common.main(PROGRAM)
