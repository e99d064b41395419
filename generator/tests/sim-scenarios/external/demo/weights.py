"""The sibling module tally.py imports."""


def load(path):
    with open(path) as f:
        return [int(line) for line in f if line.strip()]
