#!/bin/sh
# Fills seeds/loader/ with the bundled scenarios and every fixture input, the
# seed corpus of the `loader` target. The seeds are generated, not committed:
# they are copies of files that live elsewhere in the repository.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$here/seeds/loader"
rm -rf "$out"
mkdir -p "$out"
for f in "$root"/scenarios/*.yaml; do
    cp "$f" "$out/bundled-$(basename "$f")"
done
for f in "$root"/generator/tests/fixtures/*/*.yaml "$root"/generator/tests/fixtures/*/*.yml; do
    [ -f "$f" ] || continue
    case=$(basename "$(dirname "$f")")
    cp "$f" "$out/fixture-$case-$(basename "$f")"
done
echo "$(ls "$out" | wc -l) seeds in $out"
