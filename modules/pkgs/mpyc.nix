# MPyC is not in nixpkgs. Built from the wheel on PyPI (pure Python), so no
# build backend is involved; the hash below was computed with `nix hash file`
# from the wheel PyPI serves.
#
# Use with a Python package set: `python3Packages.callPackage ./mpyc.nix { }`.
{
  lib,
  buildPythonPackage,
  fetchPypi,
  gmpy2,
  numpy,
}:

buildPythonPackage rec {
  pname = "mpyc";
  version = "0.11";
  format = "wheel";

  src = fetchPypi {
    inherit pname version format;
    dist = "py3";
    python = "py3";
    hash = "sha256-BZ/6M5YInrt3vrQ+ovgEDyog8/x/9tPIOd87Pzwo044=";
  };

  # MPyC runs without them and only prints a hint; with them it is faster
  # (gmpy2) and supports secure arrays (numpy).
  optional-dependencies = {
    gmpy2 = [ gmpy2 ];
    numpy = [ numpy ];
  };

  # `import mpyc` only; `mpyc.runtime` parses sys.argv when imported.
  pythonImportsCheck = [ "mpyc" ];

  meta = {
    description = "Secure multiparty computation in Python";
    homepage = "https://github.com/lschoe/mpyc";
    license = lib.licenses.mit;
    platforms = lib.platforms.all;
  };
}
