"""Shared plumbing for the e3 MPyC programs (secure-sum, millionaires, rounds,
max-chain, bulk).

Not a program itself. Each program script puts its own directory on sys.path and
calls ``e3_common.main(Program(...))``; this module does everything around the
actual MPC computation:

- imports MPyC with stdout redirected to stderr, so that MPyC's log lines and its
  setup messages never reach stdout (MPyC 0.11 logs to *stdout* unless --no-log);
- parses the program's own arguments from what MPyC leaves in ``sys.argv``;
- validates the party index (MPyC 0.11 accepts ``-P`` without ``-I`` and any
  ``-I``, even one out of range);
- derives every party's input deterministically from ``--seed`` (or takes them
  from ``--inputs``), so that every party can compute the expected result;
- times the run from before ``mpc.start()`` to after ``mpc.shutdown()``, with a
  watchdog (``--timeout``, default ``$E3_TIMEOUT`` or 300 s) because MPyC
  retries connecting forever and waits forever for a peer that died;
- prints exactly one JSON line on stdout and exits with a status code.

It also has the pieces programs share for their own arguments and inputs:
``positive_int``, ``count_option`` (one ``--NAME N`` count parameter),
``inputs_below`` and ``fits_secint`` (range checks of the inputs).

Exit status: 0 result correct; 1 result wrong (ok:false); 2 usage error (bad
MPyC or program arguments; message on stderr, no JSON); 3 run failed (timeout,
exception; JSON line with ok:false and "error").
"""

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import sys
import time

EXIT_OK = 0
EXIT_WRONG = 1
EXIT_USAGE = 2
EXIT_ERROR = 3

def _default_timeout():
    """E3_TIMEOUT (seconds; e3 sets it, since it passes a program nothing but
    MPyC's options and the scenario's arguments), else 300."""
    try:
        value = float(os.environ.get('E3_TIMEOUT', ''))
    except ValueError:
        return 300.0
    return value if math.isfinite(value) and value >= 0 else 300.0


DEFAULT_TIMEOUT = _default_timeout()

_UNSET = object()  # --expect not given (JSON null is a valid expectation)


class Program:
    """What distinguishes one program from another.

    name:      program name, printed as "program" in the JSON line.
    doc:       the program's docstring (used for --help).
    low, high: seeded inputs are drawn from range(low, high).
    add_args:  function(parser) adding program-specific arguments.
    params:    function(args) -> dict of program parameters, put in the JSON line
               before "input" (keys in a stable order).
    expected:  function(args, inputs) -> the expected result (JSON-serialisable).
    compute:   async function(mpc, args, inputs) -> (result, extra); called
               between mpc.start() and mpc.shutdown(); extra is a dict of
               measurements put in the JSON line after "elapsed_s".
    extra_keys: the keys of extra, in order (filled with null on failure).
    check_inputs: function(args, inputs, mpc) -> error message or None.
    """

    def __init__(self, name, doc, low, high, expected, compute, add_args=None,
                 params=None, extra_keys=(), check_inputs=None):
        self.name = name
        self.doc = doc
        self.low = low
        self.high = high
        self.expected = expected
        self.compute = compute
        self.add_args = add_args or (lambda parser: None)
        self.params = params or (lambda args: {})
        self.extra_keys = tuple(extra_keys)
        self.check_inputs = check_inputs or (lambda args, inputs, mpc: None)


def usage_error(prog, message):
    print(f'{prog}: error: {message}', file=sys.stderr)
    sys.exit(EXIT_USAGE)


def import_mpyc(prog):
    """Import MPyC's runtime (which parses and rewrites sys.argv) with stdout -> stderr.

    MPyC 0.11 configures logging at import time with stream=sys.stdout (unless
    --no-log) and prints setup errors with print(); binding both to stderr keeps
    stdout for the single JSON line.
    """
    with contextlib.redirect_stdout(sys.stderr):
        try:
            from mpyc.runtime import mpc
        except ModuleNotFoundError as exc:
            print(f'{prog}: error: MPyC is not installed: {exc}', file=sys.stderr)
            sys.exit(EXIT_ERROR)
        except ImportError:
            # mpyc.runtime.setup() failed (e.g. threshold too large) and printed why.
            usage_error(prog, 'invalid MPyC options (see the message above)')
    return mpc


def derive_input(program, seed, index, low, high):
    """Deterministic input of party `index`: SHA-256 of "e3/<program>/<seed>/<index>".

    Stable across Python versions and machines, so every party (and any checker)
    computes the same inputs.
    """
    digest = hashlib.sha256(f'e3/{program}/{seed}/{index}'.encode()).digest()
    return low + int.from_bytes(digest[:8], 'big') % (high - low)


def parse_int_list(text):
    try:
        return [int(v) for v in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected comma-separated integers, got {text!r}')


def parse_json(text):
    try:
        return json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a JSON value, got {text!r}')


def make_parser(program):
    parser = argparse.ArgumentParser(
        prog=program.name,
        description=program.doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        epilog='MPyC options (-P, -I, -M, -T, --no-log, ...): run with -H.')
    parser.add_argument('--seed', type=int, default=0,
                        help='derive all inputs from this seed (default 0)')
    parser.add_argument('--inputs', type=parse_int_list, metavar='V0,V1,...',
                        help='the inputs of all parties, one per party in party order '
                             '(overrides --seed)')
    parser.add_argument('--expect', type=parse_json, default=_UNSET, metavar='JSON',
                        help='override the expected result (for testing the check)')
    parser.add_argument('--timeout', type=float, default=DEFAULT_TIMEOUT, metavar='SECONDS',
                        help='give up after this many seconds, exit 3 '
                             f'(default {DEFAULT_TIMEOUT:g}; 0 = never)')
    program.add_args(parser)
    return parser


def main(program):
    """Run `program` as this party; never returns."""
    mpc = import_mpyc(program.name)
    parser = make_parser(program)
    args = parser.parse_args()  # what MPyC left in sys.argv; exits 2 on error

    m = len(mpc.parties)
    pid = mpc.pid
    if pid is None:
        usage_error(program.name, f'{m} parties given with -P but no own index: pass -I')
    if not 0 <= pid < m:
        usage_error(program.name,
                    f'party index {pid} (-I/--index) out of range for {m} parties')
    if not (math.isfinite(args.timeout) and args.timeout >= 0):
        usage_error(program.name, '--timeout must be a number >= 0')

    if args.inputs is not None:
        if len(args.inputs) != m:
            usage_error(program.name,
                        f'--inputs has {len(args.inputs)} values but there are {m} parties')
        inputs = args.inputs
        seed = None
    else:
        seed = args.seed
        inputs = [derive_input(program.name, seed, i, program.low, program.high)
                  for i in range(m)]
    problem = program.check_inputs(args, inputs, mpc)
    if problem:
        usage_error(program.name, problem)

    expected = program.expected(args, inputs) if args.expect is _UNSET else args.expect

    record = {
        'program': program.name,
        'party': pid,
        'parties': m,
        'threshold': mpc.threshold,
        'seed': seed,
    }
    record.update(program.params(args))
    record.update({
        'input': inputs[pid],
        'result': None,
        'expected': expected,
        'ok': False,
        'elapsed_s': None,
    })
    record.update({k: None for k in program.extra_keys})
    record['error'] = None

    start = time.perf_counter()

    async def run():
        await mpc.start()
        result, extra = await program.compute(mpc, args, inputs)
        await mpc.shutdown()
        return result, extra

    try:
        coro = run()
        if args.timeout:
            coro = asyncio.wait_for(coro, args.timeout)
        result, extra = mpc.run(coro)
    except (asyncio.TimeoutError, TimeoutError):
        record['elapsed_s'] = round(time.perf_counter() - start, 6)
        record['error'] = f'timeout after {args.timeout:g} s'
        emit(record)
        os._exit(EXIT_ERROR)  # MPyC may hold pending tasks and open transports
    except Exception as exc:  # noqa: BLE001 -- any failure is reported the same way
        record['elapsed_s'] = round(time.perf_counter() - start, 6)
        record['error'] = f'{type(exc).__name__}: {exc}'
        emit(record)
        os._exit(EXIT_ERROR)
    record['elapsed_s'] = round(time.perf_counter() - start, 6)
    record['result'] = result
    record.update(extra)
    record['ok'] = result == expected
    if not record['ok']:
        record['error'] = 'result differs from expected'
    emit(record)
    sys.exit(EXIT_OK if record['ok'] else EXIT_WRONG)


def emit(record):
    sys.stdout.write(json.dumps(record) + '\n')
    sys.stdout.flush()


def positive_int(text):
    """argparse type of a count option (--rounds, --steps, --size): an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected an integer >= 1, got {text!r}')
    return value


def count_option(name, default, help):
    """(add_args, params) of a program whose one parameter is the count `--name N`.

    `help` names what is counted; the default is appended, e.g.
    count_option('rounds', 100, 'number of sequential secure multiplications').
    The parameter goes into the JSON line under `name`.
    """
    def add_args(parser):
        parser.add_argument(f'--{name}', type=positive_int, default=default, metavar='N',
                            help=f'{help} (default {default})')

    def params(args):
        return {name: getattr(args, name)}

    return add_args, params


def inputs_below(limit, what, limit_text):
    """check_inputs of a program whose inputs lie in [0, limit): the message names the
    first one outside, e.g. "key 4294967296 is not in [0, 2**32)"."""
    def check_inputs(args, inputs, mpc):
        for value in inputs:
            if not 0 <= value < limit:
                return f'{what} {value} is not in [0, {limit_text})'
        return None

    return check_inputs


def fits_secint(mpc, value, what):
    """None if |value| < 2**(l-1), l = MPyC's -L (default 32); else an error message."""
    bits = mpc.options.bit_length
    if not -(1 << (bits - 1)) < value < (1 << (bits - 1)):
        return f'{what} {value} does not fit a {bits}-bit secure integer (MPyC option -L)'
    return None
