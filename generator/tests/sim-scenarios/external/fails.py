"""Exits 1 on party 1 with a message, 0 elsewhere: how a failing program of
any kind looks to e3."""

import sys

index = sys.argv[sys.argv.index('-I') + 1]
if index == '1':
    print('tally: cannot open the input table', file=sys.stderr)
    sys.exit(1)
print('done')
