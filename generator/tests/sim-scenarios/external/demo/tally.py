"""A program in the style of one written outside e3: plain-text output, a
sibling module, a data file read relative to its working directory, and a
strict argparse (an argument e3 added would be an error)."""

import argparse

from mpyc.runtime import mpc

import weights

parser = argparse.ArgumentParser(description='weighted sum of one secret per party')
parser.add_argument('--scale', type=int, required=True)
args = parser.parse_args()  # what MPyC left in sys.argv


async def main():
    table = weights.load('data/weights.txt')
    await mpc.start()
    secint = mpc.SecInt(32)
    mine = secint(table[mpc.pid] * args.scale)
    total = await mpc.output(mpc.sum(mpc.input(mine)))
    await mpc.shutdown()
    print(f'weighted total: {total}')


mpc.run(main())
