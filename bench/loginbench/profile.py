"""``--profile DIR``: py-spy samples every gunicorn worker during a flow's measured window;
per flow the merged stacks (``FLOW.collapsed``), a flame graph (``FLOW.svg``) and the top
functions by own and by total time (``FLOW-top.txt``)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

#: Samples per second and per worker (py-spy's default is 100).
RATE = 100
TOP = 25
#: Leaves py-spy counts as active though the thread waits in C: the idle threads of a
#: ThreadPoolExecutor (idp.background) blocked in their queue's ``get``, and threads blocked in
#: a timed ``Condition.wait`` (the audit sealer's batching pause, the mail queue's sweep), which
#: are never CPU. Dropped.
IDLE_LEAVES = frozenset({"_worker (concurrent/futures/thread.py)", "Condition.wait (threading.py)"})
LINE_RE = re.compile(r":\d+\)$")
#: Up to the package: site-packages/, the standard library's folder, or the repository.
PATH_RE = re.compile(
    r"\((?:[^()]*/(?:site-packages|lib/python3\.\d+)/|[^()]*/(?=(?:idp|policies|brokers)/))"
)


def py_spy() -> str | None:
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def frame_name(frame: str) -> str:
    """``handle (/…/site-packages/gunicorn/workers/sync.py:135)`` → ``handle
    (gunicorn/workers/sync.py)``: one entry per function, paths from the package."""
    return PATH_RE.sub("(", LINE_RE.sub(")", frame))


class Profiler:
    def __init__(self, directory: Path) -> None:
        binary = py_spy()
        if binary is None:
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.binary = binary
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.flow = ""

    def start(self, flow: str, pids: list[int], seconds: float) -> None:
        """Starts one ``py-spy record`` per worker for ``seconds`` (the measured window)."""
        self.flow = flow
        for pid in pids:
            out = self.dir / f"{flow}-{pid}.raw"
            process = subprocess.Popen(
                [
                    self.binary,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, round(seconds))),
                    "--rate",
                    str(RATE),
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            self.running.append((process, out))

    def finish(self) -> dict[str, object]:
        """Waits for the samplers; merges their stacks; writes the SVG and the top list."""
        stacks: Counter[str] = Counter()
        failures = []
        idle = 0
        for process, out in self.running:
            _, err = process.communicate(timeout=120)
            if process.returncode != 0 or not out.exists():
                failures.append(err.decode(errors="replace").strip()[-300:])
                continue
            idle += merge_raw(out.read_text(errors="replace"), stacks)
            out.unlink()
        self.running = []
        flow = self.flow
        (self.dir / f"{flow}.collapsed").write_text(
            "".join(f"{stack} {count}\n" for stack, count in sorted(stacks.items()))
        )
        total = sum(stacks.values())
        (self.dir / f"{flow}.svg").write_text(flame_svg(stacks, f"{flow}: {total} samples"))
        top = top_functions(stacks, idle)
        (self.dir / f"{flow}-top.txt").write_text(top)
        return {
            "samples": total,
            "idle_samples_dropped": idle,
            "files": f"{flow}.svg, {flow}-top.txt",
            "failures": failures,
        }


def merge_raw(raw: str, stacks: Counter[str]) -> int:
    """Adds py-spy's ``--format raw`` lines (``frame;frame;… count``) to ``stacks``, one name
    per function; returns the samples dropped as idle (``IDLE_LEAVES``)."""
    idle = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = [frame_name(f) for f in stack.split(";")]
            if frames[-1] in IDLE_LEAVES:
                idle += int(count)
            else:
                stacks[";".join(frames)] += int(count)
    return idle


def top_functions(stacks: Counter[str], idle: int = 0, count: int = TOP) -> str:
    """The functions with the most samples at the top of the stack (own time), then with the
    most samples anywhere in the stack (total time), as percentages of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, samples in stacks.items():
        frames = stack.split(";")
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    total = sum(stacks.values()) or 1
    lines = [
        f"{total} samples (py-spy, {RATE}/s per worker; idle threads excluded, and {idle} "
        "samples of threads blocked waiting: thread pool, sealer, mail sweep)",
        "",
    ]
    for title, counter in (("own time", own), ("total time (incl. callees)", inclusive)):
        lines.append(f"top {count} functions by {title}:")
        lines.append(f"{'%':>6} {'samples':>8}  function")
        for frame, samples in counter.most_common(count):
            lines.append(f"{100 * samples / total:6.1f} {samples:8d}  {frame}")
        lines.append("")
    return "\n".join(lines)


def flame_svg(stacks: Counter[str], title: str, width: int = 1200) -> str:
    """A plain flame graph (root at the bottom); each box's tooltip names the function and
    its share of the samples."""
    counts: Counter[tuple[str, ...]] = Counter()
    for stack, samples in stacks.items():
        path: tuple[str, ...] = ()
        for frame in stack.split(";"):
            path += (frame,)
            counts[path] += samples
    below: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for path in sorted(counts):
        below.setdefault(path[:-1], []).append(path)
    total = sum(stacks.values()) or 1
    depth = max((len(p) for p in counts), default=0)
    row = 16
    height = (depth + 2) * row + 10
    boxes: list[str] = []

    def draw(prefix: tuple[str, ...], x: float) -> None:
        for path in below.get(prefix, []):
            w = counts[path] * width / total
            if w >= 0.5:
                frame = path[-1]
                y = height - (len(path) + 1) * row
                hue = zlib.crc32(frame.split(" (")[-1].encode()) % 60
                label = html.escape(frame)
                share = 100 * counts[path] / total
                text = ""
                if w > 30:
                    shown = html.escape(frame[: int(w / 7)])
                    text = f'<text x="{x + 2:.1f}" y="{y + 12}">{shown}</text>'
                boxes.append(
                    f"<g><title>{label} — {counts[path]} samples, {share:.1f} %</title>"
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" '
                    f'fill="hsl({hue},80%,60%)"/>{text}</g>'
                )
                draw(path, x)
            x += w

    draw((), 0.0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="monospace" font-size="11">'
        f'<text x="4" y="14" font-size="13">{html.escape(title)}</text>'
        + "".join(boxes)
        + "</svg>\n"
    )
