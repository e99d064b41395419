# Type declarations of the NixOS test driver, for type-checking the rendered
# VM tests' script with mypy as the driver does before it runs a test
# (`nixos/lib/testing/driver.nix`: mypy --no-implicit-optional over
# `test-script-prepend.py`, one `<machine>: Machine` per node, the script).
# The driver itself is not available here, so this file declares what the
# script uses, with the signatures of nixpkgs' nixos/lib/test-driver
# (Machine) and nixos/lib/test-script-prepend.py (the globals).
from pathlib import Path
from typing import Callable, ContextManager, List


class Machine:
    name: str
    shared_dir: Path

    def succeed(self, *commands: str, timeout: int | None = None) -> str:
        raise NotImplementedError

    def fail(self, *commands: str, timeout: int | None = None) -> str:
        raise NotImplementedError

    def execute(
        self,
        command: str,
        check_return: bool = True,
        check_output: bool = True,
        timeout: int | None = 900,
    ) -> tuple[int, str]:
        raise NotImplementedError

    def wait_until_succeeds(self, command: str, timeout: int = 900) -> str:
        raise NotImplementedError

    def wait_for_unit(self, unit: str, user: str | None = None, timeout: int = 900) -> None:
        raise NotImplementedError

    def wait_for_open_port(self, port: int, addr: str = "localhost", timeout: int = 900) -> None:
        raise NotImplementedError

    def copy_from_host(self, source: str, target: str) -> None:
        raise NotImplementedError

    def systemctl(self, q: str, user: str | None = None) -> tuple[int, str]:
        raise NotImplementedError


start_all: Callable[[], None]
subtest: Callable[[str], ContextManager[None]]
machines: List[Machine]
