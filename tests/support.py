"""What the tests share: lmsform's CLI run in this process, config directories to run it on,
a virtual clock, and the simulators one test serves (fixtures for them: tests/conftest.py)."""

from __future__ import annotations

import re
import shutil
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from lmsform import snapshot
from lmsform.cli import cli
from lmsform.providers import pacing
from lmsform_simulators.base import Simulator

RUNNER = CliRunner()


def lmsform(*args: str, input: str | None = None, **options: Any) -> Result:
    """`lmsform ARGS...` run in this process, as a user would type it; `options` go to
    click's CliRunner.invoke (env, terminal_width, prog_name...)."""
    return invoke(cli, args, input=input, **options)


def invoke(command: click.Command, args: Sequence[str], **options: Any) -> Result:
    """Any click command (a simulator's, say) run in this process."""
    return RUNNER.invoke(command, list(args), **options)


# --- config directories -------------------------------------------------------------------

BASE = """\
version: 1
provider:
  type: local
  path: lms.sqlite
state:
  path: state.json
"""

ORG = """\
hierarchy:
  - region: Americas
    divisions:
      - division: Sales
        departments: [Inside Sales, Field Sales]
courses:
  - key: security-101
    title: Security Awareness
    published: true
    credits: 2
    categories: [Compliance]
    pricing:
      - {plan: standard, amount: 49.00, currency: USD}
groups:
  - name: Managers
    description: People managers
    courses: [security-101]
users:
  - email: ada@example.com
    first_name: Ada
    last_name: Lovelace
    department: Americas/Sales/Inside Sales
    groups: [Managers]
    enrollments: [security-101]
    password: ${env:ADA_PASSWORD:-initial-Secret-1}
  - email: bob@example.com
    first_name: Bob
    department: Americas/Sales/Field Sales
coupons:
  - code: WELCOME10
    discount: {percent: 10}
    courses: [security-101]
"""


class ConfigDir:
    """A config directory, with helpers to edit it and run lmsform on it."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(textwrap.dedent(text))
        return path

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.dir / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new))

    def run(self, *args: str, input: str | None = None, **options: Any) -> Result:
        return lmsform(*args, "-C", str(self.dir), input=input, **options)

    def apply(self) -> Result:
        result = self.run("apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        return result


def copy_example(example: Path, directory: Path, replace: dict[str, str]) -> Path:
    """An example config copied to `directory`, its `lmsform.yaml` edited (the simulator's
    URL and the state path, say)."""
    shutil.copytree(example, directory)
    for old, new in replace.items():
        ConfigDir(directory).edit("lmsform.yaml", old, new)
    return directory


EXAMPLES = Path(__file__).parent.parent / "examples"
EXAMPLE_URL = re.compile(r"\$\{env:(\w+):-http://127\.0\.0\.1:\d+(\S*)\}")


def vendor_example(vendor: str, sim: Simulator, directory: Path,
                   monkeypatch: pytest.MonkeyPatch) -> ConfigDir:
    """A vendor's example config in `directory`, pointed at `sim` (a started simulator)
    through the environment variable its URL names, unpaced, its state in the directory."""
    shutil.copytree(EXAMPLES / vendor, directory)
    config = ConfigDir(directory)
    text = (directory / "lmsform.yaml").read_text()
    found = EXAMPLE_URL.search(text)
    assert found is not None, "the example names the simulator's URL"
    monkeypatch.setenv(found.group(1), sim.base_url + found.group(2))
    config.edit("lmsform.yaml", f"  type: {vendor}\n",
                f"  type: {vendor}\n  requests_per_second: 1000\n")
    config.edit("lmsform.yaml", f"../../state/{vendor}.json", "state.json")
    return config


class Org(ConfigDir):
    """The small organisation most tests use, in tmp_path, on the `local` LMS."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / "org")
        self.dir.mkdir()
        self.write("main.yaml", BASE)
        self.write("org.yaml", ORG)

    def give_bob(self, fields: str) -> None:
        """Add fields (YAML lines under his entry, each ending in a newline) to Bob, the
        org's second user."""
        self.edit("org.yaml", "    first_name: Bob\n", "    first_name: Bob\n" + fields)

    @property
    def state_path(self) -> Path:
        return self.dir / "state.json"

    @property
    def db_path(self) -> Path:
        return self.dir / "lms.sqlite"


def assert_export_round_trips(source: ConfigDir, out: Path, *extra: str) -> str:
    """Export the LMS `source` names into `out`, then plan there: nothing to do. Returns what
    export printed (its 'not exported' lines included)."""
    exported = source.run("export", "--out", str(out), *extra)
    assert exported.exit_code == 0, exported.output
    plan = lmsform("plan", "--detailed-exitcode", "-C", str(out))
    assert plan.exit_code == 0, plan.output
    return exported.output


# --- time ---------------------------------------------------------------------------------


class Clock(Protocol):
    def __call__(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


C = TypeVar("C", bound=Clock)


def use_clock(monkeypatch: pytest.MonkeyPatch, clock: C) -> C:
    """`clock` read by every HttpClient (and OAuth2 token) made from now on in this test
    without a clock of its own (lmsform.providers.pacing's default)."""
    monkeypatch.setattr(pacing, "default_clock", clock)
    monkeypatch.setattr(pacing, "default_sleep", clock.sleep)
    return clock


class VirtualClock:
    """Time that passes only when someone waits, and then at once: for lmsform's HTTP layer
    (its pace, retries and token lifetimes, through lmsform.providers.pacing) and the
    simulators (their rate limits and tokens), so that a test sees the waits computed, never
    waits them.

    A thread that sleeps `seconds` wakes `seconds` after it last read the clock (the wait it
    computed is from that reading), and the clock shows the latest time any thread woke at:
    threads waiting together overlap as they would in real time. Every wait is kept in
    `slept`."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._read = threading.local()  # per thread: the time it last read, or woke at
        self.slept: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            self._read.at = self._now
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            woke = getattr(self._read, "at", self._now) + max(seconds, 0.0)
            self._now = max(self._now, woke)
            self._read.at = self._now

    def advance(self, seconds: float) -> None:
        """Time passes, as it would while the test did something else."""
        with self._lock:
            self._now += seconds


class FastClock:
    """Real time, run `factor` times faster: a sleep lasts `seconds / factor`, the clock
    shows `factor` seconds for each real one. Where what is tested is threads and a server
    racing each other in time (a pace learnt from 429s under concurrency), this keeps the
    race real and makes it short."""

    def __init__(self, factor: float, start: float = 1_000_000.0) -> None:
        self.factor = factor
        self._start = start
        self._real_start = time.monotonic()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self._start + (time.monotonic() - self._real_start) * self.factor

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        time.sleep(max(seconds, 0.0) / self.factor)


# --- simulators ---------------------------------------------------------------------------

S = TypeVar("S", bound=Simulator)


class Simulators:
    """The simulators one test serves (the `simulators` fixture): each started on the test's
    virtual clock, with one HTTP client for the test's own calls to it, and every one stopped
    (its client closed) when the test ends."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._served: list[Simulator] = []
        self._clients: dict[int, httpx.Client] = {}

    def start(self, simulator: S, clock: Clock | None = None) -> S:
        """`simulator` serving, on the test's virtual clock or on `clock`."""
        simulator.clock = clock or self.clock
        simulator.poll_interval = 0.002  # stopped after each test: no 50 ms wait each time
        simulator.start()
        self._served.append(simulator)
        return simulator

    def http(self, simulator: Simulator) -> httpx.Client:
        """The test's HTTP client for `simulator` (its base URL the simulator's): one per
        simulator, made once, kept alive between calls."""
        client = self._clients.get(id(simulator))
        if client is None:
            client = httpx.Client(base_url=simulator.base_url, timeout=10)
            self._clients[id(simulator)] = client
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        for simulator in reversed(self._served):
            simulator.stop()


def recorded(path: Path) -> dict[str, dict[str, Any]]:
    """The resources a state file records, by address, each as the journal writes an entry
    (kind, id, attributes, prevent_destroy, removed): what a test asserts on, whatever the
    snapshot's layout."""
    return {address: entry.dump()
            for address, entry in snapshot.decode(path.read_text()).resources.items()}
