"""bulk: the element-wise square of the sum of every party's secret vector --
a bandwidth-bound workload (few rounds of large messages).

Every party runs the same command with the same ordered party list:

    python bulk.py -P HOST:PORT -P HOST:PORT ... -I INDEX [--no-log] [ARGS]

Program arguments (identical for all parties):

  --size N        length of every vector (default 10000, >= 1)
  --lists         use lists of field elements even where numpy is installed
                  (MPyC's own --no-numpy disables numpy in MPyC as well)
  --seed S        party i's key is derived from (S, i) (default S = 0)
  --inputs A,B,.. the keys of all parties in party order, 0 <= key < 2**32
                  (overrides --seed)
  --expect JSON   override the expected checksum (to test that a wrong result is caught)
  --timeout SEC   give up after SEC seconds, exit 3 (default 300, 0 = never)

Party i's vector v_i has N elements of GF(2**31-1), drawn from Python's
random.Random(KEY) (Mersenne Twister, the same on every machine) with KEY that
party's key. The computation has three rounds, each a message of N field
elements from every party to every other one: every party inputs its vector
(secret-shared to all), the parties add the shares (local) and square the sum
element-wise (one resharing, MPyC's multiplication with threshold t >= 1; none
with t = 0, i.e. for 2 parties), and the squared vector w is opened to all.
The result is the checksum sum_k (k + 1) * w_k mod 2**31-1, checked against
the plain computation (a wrong element changes it). With numpy, MPyC's
finite-field arrays carry the vectors; without it (or with --lists), lists.

Prints one JSON line (keys as for every e3 program, then):
  "size", "numpy" (whether arrays were used), "bytes_per_vector" (N * 4, the
  payload of one vector) and "compute_s" (seconds from the input to the opened
  vector).
Exit status: 0 ok, 1 wrong result, 2 usage error, 3 failure (timeout, exception).
"""

import os
import random
import sys
import time

_HERE = os.path.dirname(os.path.realpath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import e3_common  # noqa: E402

MODULUS = 2**31 - 1  # a Mersenne prime
KEY_LIMIT = 2**32

try:
    import numpy
except ImportError:  # numpy is optional
    numpy = None


add_size, params = e3_common.count_option('size', 10000, 'length of every vector')


def add_args(parser):
    add_size(parser)
    parser.add_argument('--lists', action='store_true',
                        help='use lists of field elements even where numpy is installed')


check_inputs = e3_common.inputs_below(KEY_LIMIT, 'key', '2**32')


def vector(key, size):
    rng = random.Random(key)
    return [rng.randrange(MODULUS) for _ in range(size)]


def checksum(w):
    return sum((k + 1) * x for k, x in enumerate(w)) % MODULUS


def expected(args, inputs):
    vectors = [vector(key, args.size) for key in inputs]
    return checksum([sum(col) % MODULUS * (sum(col) % MODULUS) % MODULUS
                     for col in zip(*vectors)])


async def compute(mpc, args, inputs):
    # MPyC's --no-numpy (or no numpy at all) leaves MPyC without arrays.
    use_numpy = numpy is not None and not args.lists and mpc.options.no_numpy is False
    secfld = mpc.SecFld(MODULUS)
    mine = vector(inputs[mpc.pid], args.size)
    start = time.perf_counter()
    if use_numpy:
        shared = mpc.input(secfld.array(numpy.array(mine, dtype=numpy.int64)))
        total = shared[0]
        for x in shared[1:]:
            total = total + x
        w = await mpc.output(total * total)
        values = [int(x) for x in w.value.tolist()]
    else:
        shared = mpc.input([secfld(x) for x in mine])
        total = shared[0]
        for x in shared[1:]:
            total = mpc.vector_add(total, x)
        w = await mpc.output(mpc.schur_prod(total, total))
        values = [int(x.value) for x in w]
    compute_s = time.perf_counter() - start
    return checksum(values), {
        'numpy': use_numpy,
        'bytes_per_vector': 4 * args.size,
        'compute_s': round(compute_s, 6),
    }


PROGRAM = e3_common.Program(
    name='bulk',
    doc=__doc__,
    low=0,
    high=KEY_LIMIT,
    expected=expected,
    compute=compute,
    add_args=add_args,
    params=params,
    extra_keys=('numpy', 'bytes_per_vector', 'compute_s'),
    check_inputs=check_inputs,
)

if __name__ == '__main__':
    e3_common.main(PROGRAM)
